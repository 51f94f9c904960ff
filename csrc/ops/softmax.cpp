// SOFTMAX over the channels at each pixel, over the first c(level) channels (the sliced model's
// softmax at that level). Classifier heads: one pixel; segmentation heads: every pixel.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/ops.h"

namespace aio {
namespace {

// Pixels per pass: the running max and sum stay on the stack while the channel planes stream.
constexpr size_t kPixelBlock = 256;

class Softmax final : public Op {
 public:
  Softmax(const ModelFile& m, const NodeDesc& n) : in_(n.in0), out_(n.out) {
    const ValueDesc& v = m.values[n.out];
    hw_ = size_t(v.h) * v.w;
    for (size_t k = 0; k < m.num_levels(); ++k) channels_.push_back(m.channels(n.out, k));
  }
  void run(const OpContext& ctx) const override {
    const size_t C = channels_[ctx.level];
    const float* x = ctx.in(in_);
    float* y = ctx.out(out_);
    const size_t blocks = (hw_ + kPixelBlock - 1) / kPixelBlock;
    const bool serial = C * hw_ * 8 < kSerialFlops;
    ctx.parallel(
        blocks,
        [&](size_t b, size_t) {
          const size_t p0 = b * kPixelBlock, p1 = std::min(hw_, p0 + kPixelBlock), n = p1 - p0;
          float mx[kPixelBlock], sum[kPixelBlock];
          std::fill(mx, mx + n, -INFINITY);
          std::fill(sum, sum + n, 0.f);
          for (size_t c = 0; c < C; ++c)
            for (size_t i = 0; i < n; ++i) mx[i] = std::max(mx[i], x[c * hw_ + p0 + i]);
          for (size_t c = 0; c < C; ++c)
            for (size_t i = 0; i < n; ++i) {
              const float e = std::exp(x[c * hw_ + p0 + i] - mx[i]);
              y[c * hw_ + p0 + i] = e;
              sum[i] += e;
            }
          for (size_t i = 0; i < n; ++i) sum[i] = 1.f / sum[i];
          for (size_t c = 0; c < C; ++c)
            for (size_t i = 0; i < n; ++i) y[c * hw_ + p0 + i] *= sum[i];
        },
        serial);
  }

 private:
  uint32_t in_, out_;
  size_t hw_ = 1;
  std::vector<uint32_t> channels_;
};

}  // namespace

std::unique_ptr<Op> make_softmax(const ModelFile& m, const NodeDesc& n) {
  return std::make_unique<Softmax>(m, n);
}

}  // namespace aio
