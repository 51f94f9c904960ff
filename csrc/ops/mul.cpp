// MUL: y[c] = act(x[c] * gate[c]) over the first c(level) channels: the squeeze-excite gate.
// The gate is in the group of the tensor it gates (the excite conv's outputs), so a level's gate
// is the prefix of the same channels; its sigmoid runs in that conv's epilogue, and the
// activation after the multiply (if any) runs here.
#include <algorithm>
#include <vector>

#include "ops/ops.h"

namespace aio {
namespace {

class Mul final : public Op {
 public:
  Mul(const ModelFile& m, const NodeDesc& n)
      : x_(n.in0), gate_(n.in1), out_(n.out), act_(act_of(n.act)) {
    const ValueDesc& v = m.values[n.out];
    hw_ = size_t(v.h) * v.w;
    for (size_t k = 0; k < m.num_levels(); ++k) channels_.push_back(m.channels(n.out, k));
  }
  void run(const OpContext& ctx) const override {
    const size_t C = channels_[ctx.level];
    const float* x = ctx.in(x_);
    const float* gate = ctx.in(gate_);
    float* y = ctx.out(out_);
    // Whole channel planes per task (one broadcast each); 2 FLOPs per element counted with the
    // activation, so MobileNetV3's 7 x 7 gates stay on one thread.
    const size_t tasks = C * hw_ * 2 < kSerialFlops ? 1 : std::min(C, 4 * ctx.workers());
    const size_t per = (C + tasks - 1) / tasks;
    ctx.parallel(tasks, [&](size_t task, size_t) {
      const size_t c0 = task * per, c1 = std::min(C, c0 + per);
      scale_channels(x, gate, y, hw_, c0, c1, act_);
    });
  }

 private:
  uint32_t x_, gate_, out_;
  Act act_;
  size_t hw_ = 1;
  std::vector<uint32_t> channels_;
};

}  // namespace

std::unique_ptr<Op> make_mul(const ModelFile& m, const NodeDesc& n) {
  return std::make_unique<Mul>(m, n);
}

}  // namespace aio
