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

template <int S>
inline __m512 load_taps(const float* src) {
  if (S == 1) return _mm512_loadu_ps(src);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  return _mm512_permutex2var_ps(_mm512_loadu_ps(src), even, _mm512_loadu_ps(src + 16));
}

__mmask16 tail_mask(size_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Per channel, two passes: every output row's window rows are reduced into a -inf-bordered row of
// a scratch plane, then the horizontal taps are read from it. Reading taps right after their row
// was stored (one row at a time) stalled on store forwarding: the taps' unaligned loads span two
// of the just-stored vectors.
template <int S>
void max_pool_rows(const float* x, const ConvGeom& g, float* y, size_t c0, size_t c1) {
  const size_t outs = (g.w_out + 15) / 16 * 16;
  size_t cols = (outs - 1) * S + (g.kw - 1) * g.dw + 1 + (S == 2);
  if (cols < g.pw + g.w_in) cols = g.pw + g.w_in;
  cols = (cols + 15) / 16 * 16;
  float* plane = thread_scratch(Scratch::Plane, g.h_out * cols);
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  // Borders (and rows whose window is all padding) are -inf; the row bodies are rewritten per
  // channel, the borders never.
  for (size_t i = 0; i < g.h_out * cols; i += 16) _mm512_storeu_ps(plane + i, ninf);
  for (size_t ch = c0; ch < c1; ++ch) {
    const float* xc = x + ch * g.h_in * g.w_in;
    float* yc = y + ch * g.h_out * g.w_out;
    for (size_t oy = 0; oy < g.h_out; ++oy) {
      float* body = plane + oy * cols + g.pw;  // image column ix lives at body[ix]
      const float* rows[16];
      size_t n = 0;
      for (size_t t = 0; t < g.kh && n < 16; ++t) {
        const size_t iy = oy * g.sh + t * g.dh - g.ph;  // wraps above the image: then >= h_in
        if (oy * g.sh + t * g.dh >= g.ph && iy < g.h_in) rows[n++] = xc + iy * g.w_in;
      }
      if (n == 16) return max_pool_portable(x, g, y, ch, c1);  // taller than handled here
      if (n == 0) continue;  // the window is all padding: the row stays -inf
      for (size_t ix = 0; ix < g.w_in; ix += 16) {
        const __mmask16 m = tail_mask(g.w_in - ix);
        __m512 v = _mm512_maskz_loadu_ps(m, rows[0] + ix);
        for (size_t r = 1; r < n; ++r) v = nan_max(v, _mm512_maskz_loadu_ps(m, rows[r] + ix));
        _mm512_mask_storeu_ps(body + ix, m, v);
      }
    }
    for (size_t oy = 0; oy < g.h_out; ++oy) {
      const float* row = plane + oy * cols;
      float* yr = yc + oy * g.w_out;
      for (size_t ox = 0; ox < g.w_out; ox += 16) {
        __m512 m = ninf;
        for (size_t j = 0; j < g.kw; ++j) m = nan_max(m, load_taps<S>(row + ox * S + j * g.dw));
        _mm512_mask_storeu_ps(yr + ox, tail_mask(g.w_out - ox), m);
      }
    }
  }
}

void aio_f32_maxpool_rows__avx512(const float* x, const ConvGeom& g, float* y, size_t c0,
                                  size_t c1) {
  if (c0 >= c1 || g.w_out == 0) return;
  if (g.sw == 1) return max_pool_rows<1>(x, g, y, c0, c1);
  if (g.sw == 2) return max_pool_rows<2>(x, g, y, c0, c1);
  max_pool_portable(x, g, y, c0, c1);
}

}  // namespace

void fill_table_pool_avx512(KernelTable& t) { t.max_pool = aio_f32_maxpool_rows__avx512; }

}  // namespace detail
}  // namespace aio
