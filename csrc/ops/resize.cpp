// RESIZE: upsampling by integer factors (sh, sw), nearest or bilinear (kernels.h: ResizePlan),
// over the first c(level) channels. The taps are the same for every channel, so they are computed
// once at load.
#include <algorithm>
#include <vector>

#include "ops/ops.h"

namespace aio {
namespace {

class Resize final : public Op {
 public:
  Resize(const ModelFile& m, const NodeDesc& n) : in_(n.in0), out_(n.out) {
    const ValueDesc& x = m.values[n.in0];
    plan_ = ResizePlan::make(x.h, x.w, n.sh, n.sw, (n.flags & kFlagBilinear) != 0);
    for (size_t k = 0; k < m.num_levels(); ++k) channels_.push_back(m.channels(n.out, k));
  }
  void run(const OpContext& ctx) const override {
    const size_t C = channels_[ctx.level];
    const float* x = ctx.in(in_);
    float* y = ctx.out(out_);
    const size_t ho = plan_.rows.size(), wo = plan_.cols.size();
    const size_t tasks = C * ho * wo * 4 < kSerialFlops ? 1 : std::min(C, 4 * ctx.workers());
    const size_t per = (C + tasks - 1) / tasks;
    ctx.parallel(tasks, [&](size_t task, size_t) {
      resize(plan_, x, y, std::min(C, task * per), std::min(C, (task + 1) * per));
    });
  }

 private:
  uint32_t in_, out_;
  ResizePlan plan_;
  std::vector<uint32_t> channels_;
};

}  // namespace

std::unique_ptr<Op> make_resize(const ModelFile& m, const NodeDesc& n) {
  return std::make_unique<Resize>(m, n);
}

}  // namespace aio
