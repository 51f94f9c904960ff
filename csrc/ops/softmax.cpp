// SOFTMAX over the channels at each pixel, over the first c(level) channels (the sliced model's
// softmax at that level). Classifier heads: one pixel; segmentation heads: every pixel.
#include <algorithm>
#include <vector>

#include "ops/ops.h"

namespace aio {
namespace {

// Pixels per task (the kernel's own pass over the channel planes).
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
          const size_t p0 = b * kPixelBlock;
          softmax_channels(x, y, C, hw_, p0, std::min(hw_, p0 + kPixelBlock));
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
