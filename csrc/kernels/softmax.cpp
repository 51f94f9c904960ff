// Softmax over channels: the public entry (dispatch) and the portable version.
#include <algorithm>
#include <cmath>

#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {
namespace {

// Pixels per pass: the running max and sum stay on the stack while the channel planes stream.
constexpr size_t kPixelBlock = 256;

}  // namespace

void softmax_portable(const float* x, float* y, size_t c, size_t hw, size_t p0, size_t p1) {
  for (; p0 < p1; p0 += kPixelBlock) {
    const size_t n = std::min(kPixelBlock, p1 - p0);
    float mx[kPixelBlock], sum[kPixelBlock];
    std::fill(mx, mx + n, -INFINITY);
    std::fill(sum, sum + n, 0.f);
    for (size_t k = 0; k < c; ++k)
      for (size_t i = 0; i < n; ++i) mx[i] = std::max(mx[i], x[k * hw + p0 + i]);
    for (size_t k = 0; k < c; ++k)
      for (size_t i = 0; i < n; ++i) {
        const float e = std::exp(x[k * hw + p0 + i] - mx[i]);
        y[k * hw + p0 + i] = e;
        sum[i] += e;
      }
    for (size_t i = 0; i < n; ++i) sum[i] = 1.f / sum[i];
    for (size_t k = 0; k < c; ++k)
      for (size_t i = 0; i < n; ++i) y[k * hw + p0 + i] *= sum[i];
  }
}

}  // namespace detail

void softmax_channels(const float* x, float* y, size_t c, size_t hw, size_t p0, size_t p1) {
  if (c > 0 && p0 < p1) detail::table().softmax(x, y, c, hw, p0, p1);
}

}  // namespace aio
