// AVX-512 max pooling, output width in lanes. Separable: the window's in-image rows are reduced
// element-wise into one row bordered with -inf (so padding never wins, and a window that is all
// padding gives -inf, as PyTorch), then each vector of 16 outputs takes kw (de-interleaved) loads.
#include <immintrin.h>

#include <limits>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx512.h"

namespace aio {
namespace detail {
namespace {

// max that lets NaN through from either side, like torch.max_pool2d. x86 max returns its second
// operand when either is NaN, so a NaN in a already survives and only b needs the blend.
inline __m512 nan_max(__m512 a, __m512 b) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q), _mm512_max_ps(b, a), b);
}

using avx512::even_lanes;
using avx512::odd_lanes;

template <int S>
inline __m512 load_taps(const float* src) {
  if (S == 1) return _mm512_loadu_ps(src);
  return _mm512_permutex2var_ps(_mm512_loadu_ps(src), even_lanes(), _mm512_loadu_ps(src + 16));
}

__mmask16 tail_mask(size_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Per channel, two passes: every output row's window rows are reduced into a -inf-bordered row of
// a scratch plane, then the horizontal taps are read from it. Reading taps right after their row
// was stored (one row at a time) stalled on store forwarding: the taps' unaligned loads span two
// of the just-stored vectors.
template <int S>
void max_pool_rows(const float* x, const ConvGeom& g, float* y, size_t c0, size_t c1, size_t oy0,
                   size_t oy1) {
  const size_t outs = (g.w_out + 15) / 16 * 16;
  size_t cols = (outs - 1) * S + (g.kw - 1) * g.dw + 1 + (S == 2);
  if (cols < g.pw + g.w_in) cols = g.pw + g.w_in;
  cols = (cols + 15) / 16 * 16;
  const size_t rows_out = oy1 - oy0;
  float* plane = thread_scratch(Scratch::Plane, rows_out * cols);
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  // Borders (and rows whose window is all padding) are -inf; the row bodies are rewritten per
  // channel, the borders never.
  for (size_t i = 0; i < rows_out * cols; i += 16) _mm512_storeu_ps(plane + i, ninf);
  for (size_t ch = c0; ch < c1; ++ch) {
    const float* xc = x + ch * g.h_in * g.w_in;
    float* yc = y + ch * g.h_out * g.w_out;
    for (size_t oy = oy0; oy < oy1; ++oy) {
      float* body = plane + (oy - oy0) * cols + g.pw;  // image column ix lives at body[ix]
      const float* rows[16];
      size_t n = 0;
      for (size_t t = 0; t < g.kh && n < 16; ++t) {
        const size_t iy = oy * g.sh + t * g.dh - g.ph;  // wraps above the image: then >= h_in
        if (oy * g.sh + t * g.dh >= g.ph && iy < g.h_in) rows[n++] = xc + iy * g.w_in;
      }
      if (n == 16) return max_pool_portable(x, g, y, ch, c1, oy0, oy1);  // taller than handled
      if (n == 0) continue;  // the window is all padding: the row stays -inf
      for (size_t ix = 0; ix < g.w_in; ix += 16) {
        const __mmask16 m = tail_mask(g.w_in - ix);
        __m512 v = _mm512_maskz_loadu_ps(m, rows[0] + ix);
        for (size_t r = 1; r < n; ++r) v = nan_max(v, _mm512_maskz_loadu_ps(m, rows[r] + ix));
        _mm512_mask_storeu_ps(body + ix, m, v);
      }
    }
    for (size_t oy = oy0; oy < oy1; ++oy) {
      const float* row = plane + (oy - oy0) * cols;
      float* yr = yc + oy * g.w_out;
      for (size_t ox = 0; ox < g.w_out; ox += 16) {
        const float* r = row + ox * S;
        __m512 m;
        if (S == 2 && g.kw == 3 && g.dw == 1) {
          // Taps 0, 1, 2 of 16 outputs: the even and odd columns of one 32-column load, and the
          // even ones shifted a lane (the 33rd column from a third load): 3 loads, not 6, and no
          // max against -inf first. The stem pool's 16 x 112 x 112 in isolation, 1 thread:
          // 0.040 -> 0.035 ms.
          const __m512 a = _mm512_loadu_ps(r), b = _mm512_loadu_ps(r + 16);
          const __m512 even = _mm512_permutex2var_ps(a, even_lanes(), b);
          const __m512 odd = _mm512_permutex2var_ps(a, odd_lanes(), b);
          const __m512i next = _mm512_castps_si512(_mm512_loadu_ps(r + 32));
          const __m512 even2 = _mm512_castsi512_ps(
              _mm512_alignr_epi32(next, _mm512_castps_si512(even), 1));
          m = nan_max(nan_max(even, odd), even2);
        } else {
          m = load_taps<S>(r);
          for (size_t j = 1; j < g.kw; ++j) m = nan_max(m, load_taps<S>(r + j * g.dw));
        }
        _mm512_mask_storeu_ps(yr + ox, tail_mask(g.w_out - ox), m);
      }
    }
  }
}

void aio_f32_maxpool_rows__avx512(const float* x, const ConvGeom& g, float* y, size_t c0,
                                  size_t c1, size_t oy0, size_t oy1) {
  if (c0 >= c1 || oy0 >= oy1 || g.w_out == 0) return;
  if (g.sw == 1) return max_pool_rows<1>(x, g, y, c0, c1, oy0, oy1);
  if (g.sw == 2) return max_pool_rows<2>(x, g, y, c0, c1, oy0, oy1);
  max_pool_portable(x, g, y, c0, c1, oy0, oy1);
}

}  // namespace

void fill_table_pool_avx512(KernelTable& t) { t.max_pool = aio_f32_maxpool_rows__avx512; }

}  // namespace detail
}  // namespace aio
