// MAXPOOL / AVGPOOL over the first c(level) channels, split by channels.
#include <algorithm>
#include <vector>

#include "ops/ops.h"

namespace aio {
namespace {

class Pool final : public Op {
 public:
  Pool(const ModelFile& m, const NodeDesc& n)
      : in_(n.in0),
        out_(n.out),
        max_(n.op == OpCode::MaxPool),
        count_pad_((n.flags & kFlagCountIncludePad) != 0) {
    geom_ = window_geom(m, n);
    for (size_t k = 0; k < m.num_levels(); ++k) channels_.push_back(m.channels(n.out, k));
  }

  void run(const OpContext& ctx) const override {
    ConvGeom g = geom_;
    g.c_in = channels_[ctx.level];
    const size_t C = g.c_in;
    const uint64_t work = uint64_t(C) * g.h_out * g.w_out * g.kh * g.kw;
    const size_t tasks = work < kSerialFlops ? 1 : std::min(C, 4 * ctx.workers());
    const size_t per = (C + tasks - 1) / tasks;
    const float* x = ctx.in(in_);
    float* y = ctx.out(out_);
    ctx.parallel(tasks, [&](size_t task, size_t) {
      const size_t c0 = task * per, c1 = std::min(C, c0 + per);
      if (c0 >= c1) return;
      if (max_) {
        max_pool(x, g, y, c0, c1);
      } else {
        avg_pool(x, g, count_pad_, y, c0, c1);
      }
    });
  }

 private:
  uint32_t in_, out_;
  bool max_, count_pad_;
  ConvGeom geom_;
  std::vector<uint32_t> channels_;
};

}  // namespace

std::unique_ptr<Op> make_pool(const ModelFile& m, const NodeDesc& n) {
  return std::make_unique<Pool>(m, n);
}

}  // namespace aio
