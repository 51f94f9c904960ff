// Integer-scale upsampling: the taps (computed at load), the public entry (dispatch) and the
// portable version.
#include <algorithm>

#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {
namespace {

std::vector<ResizeTap> taps(size_t in, size_t scale, bool bilinear) {
  std::vector<ResizeTap> t(in * scale);
  for (size_t d = 0; d < t.size(); ++d) {
    if (!bilinear) {
      t[d] = {static_cast<uint32_t>(d / scale), static_cast<uint32_t>(d / scale), 0.f};
      continue;
    }
    const float src =
        std::max(0.f, (static_cast<float>(d) + 0.5f) / static_cast<float>(scale) - 0.5f);
    const size_t i0 = std::min(static_cast<size_t>(src), in - 1);
    const size_t i1 = std::min(i0 + 1, in - 1);
    t[d] = {static_cast<uint32_t>(i0), static_cast<uint32_t>(i1), src - static_cast<float>(i0)};
  }
  return t;
}

}  // namespace

void resize_portable(const ResizePlan& p, const float* x, float* y, size_t c0, size_t c1) {
  const size_t ho = p.rows.size(), wo = p.cols.size();
  for (size_t c = c0; c < c1; ++c) {
    const float* xc = x + c * p.h_in * p.w_in;
    float* yc = y + c * ho * wo;
    for (size_t oy = 0; oy < ho; ++oy) {
      const ResizeTap& r = p.rows[oy];
      const float* a = xc + r.i0 * p.w_in;
      const float* b = xc + r.i1 * p.w_in;
      float* yr = yc + oy * wo;
      if (!p.bilinear) {
        for (size_t ox = 0; ox < wo; ++ox) yr[ox] = a[p.cols[ox].i0];
        continue;
      }
      for (size_t ox = 0; ox < wo; ++ox) {
        const ResizeTap& t = p.cols[ox];
        const float top = a[t.i0] + t.w1 * (a[t.i1] - a[t.i0]);
        const float bot = b[t.i0] + t.w1 * (b[t.i1] - b[t.i0]);
        yr[ox] = top + r.w1 * (bot - top);
      }
    }
  }
}

}  // namespace detail

ResizePlan ResizePlan::make(size_t h_in, size_t w_in, size_t sh, size_t sw, bool bilinear) {
  ResizePlan p;
  p.h_in = h_in;
  p.w_in = w_in;
  p.sh = sh;
  p.sw = sw;
  p.bilinear = bilinear;
  p.rows = detail::taps(h_in, sh, bilinear);
  p.cols = detail::taps(w_in, sw, bilinear);
  return p;
}

void resize(const ResizePlan& p, const float* x, float* y, size_t c0, size_t c1) {
  if (c0 < c1 && !p.rows.empty() && !p.cols.empty()) detail::table().resize(p, x, y, c0, c1);
}

}  // namespace aio
