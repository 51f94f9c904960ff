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
    const size_t C = g.c_in, H = g.h_out;
    const uint64_t work = uint64_t(C) * H * g.w_out * g.kh * g.kw;
    const float* x = ctx.in(in_);
    float* y = ctx.out(out_);
    // Max pooling splits output rows, one band per worker, down to an eighth of the usual serial
    // threshold: the layer before (a convolution split over rows or pixel columns) mostly left a
    // band's input rows in the cache of the core that takes the band, where a split by channels
    // reads half of every channel from the other core. ResNet-18's stem pool at L3, 2 threads
    // (16 channels, serial before): 0.042 -> 0.039 ms, A/B interleaved; at L0 and L2 no change.
    if (max_ && ctx.workers() > 1 && H >= 2 * ctx.workers() && work >= kSerialFlops / 8) {
      const size_t per = (H + ctx.workers() - 1) / ctx.workers();
      ctx.parallel(ctx.workers(), [&](size_t task, size_t) {
        max_pool(x, g, y, 0, C, task * per, std::min(H, task * per + per));
      });
      return;
    }
    const size_t tasks = work < kSerialFlops ? 1 : std::min(C, 4 * ctx.workers());
    const size_t per = (C + tasks - 1) / tasks;
    ctx.parallel(tasks, [&](size_t task, size_t) {
      const size_t c0 = task * per, c1 = std::min(C, c0 + per);
      if (c0 >= c1) return;
      if (max_) {
        max_pool(x, g, y, c0, c1, 0, H);
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
