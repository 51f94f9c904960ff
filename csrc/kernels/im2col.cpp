// im2col for the GEMM path of k x k convolutions (1x1 stride-1 convs skip it and use x as B).
#include <algorithm>
#include <cstring>

#include "kernels/kernels_internal.h"

namespace aio {

void im2col(const float* x, const ConvGeom& g, float* col, size_t ldcol, size_t p0, size_t p1) {
  if (p0 >= p1 || g.w_out == 0) return;
  for (size_t ch = 0; ch < g.c_in; ++ch) {
    const float* xc = x + ch * g.h_in * g.w_in;
    for (size_t i = 0; i < g.kh; ++i) {
      for (size_t j = 0; j < g.kw; ++j) {
        float* dst = col + ((ch * g.kh + i) * g.kw + j) * ldcol;
        // Walk output rows so each row's in-bounds span is one contiguous (stride 1) copy.
        size_t p = p0;
        while (p < p1) {
          const size_t oy = p / g.w_out, ox0 = p % g.w_out;
          const size_t ox1 = (p1 - p < g.w_out - ox0) ? ox0 + (p1 - p) : g.w_out;
          const long iy = static_cast<long>(oy * g.sh + i * g.dh) - static_cast<long>(g.ph);
          float* d = dst + p;
          if (iy < 0 || iy >= static_cast<long>(g.h_in)) {
            std::memset(d, 0, (ox1 - ox0) * sizeof(float));
          } else {
            // In-bounds outputs are ox in [lo, hi): ix = ox * sw + off in [0, w_in). Zero the
            // sides and copy the middle without per-element tests.
            const long sw = static_cast<long>(g.sw);
            const long off = static_cast<long>(j * g.dw) - static_cast<long>(g.pw);
            const long w_in = static_cast<long>(g.w_in);
            const long first = off >= 0 ? 0 : (-off + sw - 1) / sw;
            const long last = w_in - off <= 0 ? 0 : (w_in - off + sw - 1) / sw;
            const size_t lo = std::min(std::max(static_cast<size_t>(first), ox0), ox1);
            const size_t hi = std::max(std::min(static_cast<size_t>(last), ox1), lo);
            std::fill(d, d + (lo - ox0), 0.f);
            const float* src = xc + static_cast<size_t>(iy) * g.w_in;
            if (g.sw == 1 && hi > lo) {
              std::memcpy(d + (lo - ox0), src + (static_cast<long>(lo) + off),
                          (hi - lo) * sizeof(float));
            } else if (g.sw != 1) {
              for (size_t ox = lo; ox < hi; ++ox)
                d[ox - ox0] = src[static_cast<long>(ox) * sw + off];
            }
            std::fill(d + (hi - ox0), d + (ox1 - ox0), 0.f);
          }
          p += ox1 - ox0;
        }
      }
    }
  }
}

}  // namespace aio
