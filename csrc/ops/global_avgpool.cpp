// GLOBAL_AVGPOOL: y[c] = mean over H x W, for the first c(level) channels.
#include <algorithm>
#include <vector>

#include "ops/ops.h"

namespace aio {
namespace {

class GlobalAvgPool final : public Op {
 public:
  GlobalAvgPool(const ModelFile& m, const NodeDesc& n) : in_(n.in0), out_(n.out) {
    const ValueDesc& x = m.values[n.in0];
    hw_ = size_t(x.h) * x.w;
    for (size_t k = 0; k < m.num_levels(); ++k) channels_.push_back(m.channels(n.out, k));
  }

  void run(const OpContext& ctx) const override {
    const size_t C = channels_[ctx.level];
    const size_t tasks = C * hw_ < kSerialFlops ? 1 : std::min(C, 4 * ctx.workers());
    const size_t per = (C + tasks - 1) / tasks;
    const float* x = ctx.in(in_);
    float* y = ctx.out(out_);
    ctx.parallel(tasks, [&](size_t task, size_t) {
      const size_t c0 = task * per, c1 = std::min(C, c0 + per);
      if (c0 < c1) global_avg_pool(x, hw_, y, c0, c1);
    });
  }

 private:
  uint32_t in_, out_;
  size_t hw_ = 1;
  std::vector<uint32_t> channels_;
};

}  // namespace

std::unique_ptr<Op> make_global_avgpool(const ModelFile& m, const NodeDesc& n) {
  return std::make_unique<GlobalAvgPool>(m, n);
}

}  // namespace aio
