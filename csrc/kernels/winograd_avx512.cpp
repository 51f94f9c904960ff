// AVX-512 Winograd F(2x2, 3x3) transforms (contracts in kernels_internal.h), 16 tiles per vector:
// lane i holds tile tx0 + i. A tile row of 16 tiles reads 34 consecutive input columns; even and
// odd columns are split with one permute each, so every tap of every tile is a whole vector.
#include <algorithm>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx512.h"

namespace aio {
namespace detail {
namespace {

__mmask16 lanes(long n) {
  if (n <= 0) return 0;
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Columns [lo, hi) of a 48-lane window, as the mask of its 16-lane chunk q.
__mmask16 window_mask(long lo, long hi, long q) {
  return static_cast<__mmask16>(lanes(hi - 16 * q) & ~lanes(lo - 16 * q));
}

__m512 shift_in(__m512 v, __m512 next) {  // v[1..15], next[0]
  return _mm512_castsi512_ps(
      _mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(v), 1));
}

void input_avx512(const float* plane, const ConvGeom& g, size_t ty, size_t tx0, size_t n,
                  float* v, size_t stride) {
  const __m512i even = avx512::even_lanes();
  const __m512i odd = avx512::odd_lanes();
  const long h_in = static_cast<long>(g.h_in), w_in = static_cast<long>(g.w_in);
  for (size_t i0 = 0; i0 < n; i0 += 16) {
    const __mmask16 out = lanes(static_cast<long>(n - i0));
    const long ix0 = static_cast<long>(2 * (tx0 + i0)) - static_cast<long>(g.pw);
    const long lo = std::clamp(-ix0, 0L, 48L), hi = std::clamp(w_in - ix0, lo, 48L);
    const __mmask16 m0 = window_mask(lo, hi, 0), m1 = window_mask(lo, hi, 1);
    const bool whole = m0 == 0xFFFF && m1 == 0xFFFF;  // then plain loads: no masked split loads
    // Of the third chunk only columns 32 and 33 are used (the last tiles' right taps).
    const bool has32 = lo <= 32 && 32 < hi, has33 = lo <= 33 && 33 < hi;
    __m512 h[4][4];
    for (size_t r = 0; r < 4; ++r) {
      const long iy = static_cast<long>(2 * ty + r) - static_cast<long>(g.ph);
      if (iy < 0 || iy >= h_in) {
        for (size_t s = 0; s < 4; ++s) h[r][s] = _mm512_setzero_ps();
        continue;
      }
      // Masked lanes are never read, so the window may start left of the row (ix0 = -pw).
      const float* src = plane + iy * w_in + ix0;
      const __m512 a = whole ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(m0, src);
      const __m512 b = whole ? _mm512_loadu_ps(src + 16) : _mm512_maskz_loadu_ps(m1, src + 16);
      const __m512 c32 = has32 ? _mm512_set1_ps(src[32]) : _mm512_setzero_ps();
      const __m512 c33 = has33 ? _mm512_set1_ps(src[33]) : _mm512_setzero_ps();
      const __m512 e0 = _mm512_permutex2var_ps(a, even, b);  // column 2i
      const __m512 e1 = _mm512_permutex2var_ps(a, odd, b);   // 2i + 1
      const __m512 e2 = shift_in(e0, c32);                   // 2i + 2
      const __m512 e3 = shift_in(e1, c33);                   // 2i + 3
      h[r][0] = _mm512_sub_ps(e0, e2);
      h[r][1] = _mm512_add_ps(e1, e2);
      h[r][2] = _mm512_sub_ps(e2, e1);
      h[r][3] = _mm512_sub_ps(e1, e3);
    }
    for (size_t s = 0; s < 4; ++s) {
      float* vs = v + s * stride + i0;
      _mm512_mask_storeu_ps(vs, out, _mm512_sub_ps(h[0][s], h[2][s]));
      _mm512_mask_storeu_ps(vs + 4 * stride, out, _mm512_add_ps(h[1][s], h[2][s]));
      _mm512_mask_storeu_ps(vs + 8 * stride, out, _mm512_sub_ps(h[2][s], h[1][s]));
      _mm512_mask_storeu_ps(vs + 12 * stride, out, _mm512_sub_ps(h[1][s], h[3][s]));
    }
  }
}

void output_avx512(const float* p, size_t stride, size_t n, float scale, float bias,
                   const float* res0, const float* res1, float* y0, float* y1, size_t cols,
                   Act act) {
  // Interleave two vectors of tiles' left and right pixels into 32 consecutive pixels.
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_idx =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(bias);
  for (size_t i0 = 0; i0 < n; i0 += 16) {
    const __mmask16 in = lanes(static_cast<long>(n - i0));
    __m512 m[16];
    for (size_t t = 0; t < 16; ++t) m[t] = _mm512_maskz_loadu_ps(in, p + t * stride + i0);
    __m512 q[2][4];  // A^T M
    for (size_t s = 0; s < 4; ++s) {
      q[0][s] = _mm512_add_ps(_mm512_add_ps(m[s], m[4 + s]), m[8 + s]);
      q[1][s] = _mm512_sub_ps(_mm512_sub_ps(m[4 + s], m[8 + s]), m[12 + s]);
    }
    const size_t x0 = 2 * i0;
    const long rem = static_cast<long>(cols - x0);
    const __mmask16 mlo = lanes(rem), mhi = lanes(rem - 16);
    for (size_t dy = 0; dy < 2; ++dy) {
      float* y = dy ? y1 : y0;
      const float* res = dy ? res1 : res0;
      if (y == nullptr) continue;
      const __m512* a = q[dy];
      const __m512 left = _mm512_fmadd_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), a[2]), vs, vb);
      const __m512 right = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_sub_ps(a[1], a[2]), a[3]), vs, vb);
      __m512 lo = _mm512_permutex2var_ps(left, lo_idx, right);
      __m512 hi = _mm512_permutex2var_ps(left, hi_idx, right);
      if (res) {
        lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(mlo, res + x0));
        hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(mhi, res + x0 + 16));
      }
      _mm512_mask_storeu_ps(y + x0, mlo, avx512::act(lo, act));
      _mm512_mask_storeu_ps(y + x0 + 16, mhi, avx512::act(hi, act));
    }
  }
}

}  // namespace

void fill_table_winograd_avx512(KernelTable& t) {
  t.winograd_input = input_avx512;
  t.winograd_output = output_avx512;
}

}  // namespace detail
}  // namespace aio
