// ACT: y = act(x) over the first c(level) channels.
#include <vector>

#include "ops/elementwise_split.h"
#include "ops/ops.h"

namespace aio {
namespace {

class ActOp final : public Op {
 public:
  ActOp(const ModelFile& m, const NodeDesc& n) : in_(n.in0), out_(n.out), act_(act_of(n.act)) {
    const ValueDesc& v = m.values[n.out];
    for (size_t k = 0; k < m.num_levels(); ++k)
      elems_.push_back(size_t(m.channels(n.out, k)) * v.h * v.w);
  }
  void run(const OpContext& ctx) const override {
    const float* x = ctx.in(in_);
    float* y = ctx.out(out_);
    // SiLU and Hardswish cost several FLOPs per element; count 4 so big ones are split.
    split_range(ctx, elems_[ctx.level], 4,
                [&](size_t i0, size_t i1) { add_act(x, nullptr, y, i0, i1, act_); });
  }

 private:
  uint32_t in_, out_;
  Act act_;
  std::vector<size_t> elems_;
};

}  // namespace

std::unique_ptr<Op> make_act(const ModelFile& m, const NodeDesc& n) {
  return std::make_unique<ActOp>(m, n);
}

}  // namespace aio
