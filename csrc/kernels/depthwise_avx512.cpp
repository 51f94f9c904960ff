// AVX-512 depthwise convolution, output width in lanes (16 pixels of one row per vector).
// Each channel plane is first copied into a zero-bordered scratch plane (depthwise_padded_geom),
// so every tap is an unmasked load with no bounds tests; then each output row accumulates kh*kw
// broadcast-weight FMAs per vector. Stride 1 loads directly, stride 2 de-interleaves two loads,
// other strides gather.
#include <immintrin.h>

#include <cstdint>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx512.h"

namespace aio {
namespace detail {
namespace {

using Padded = PaddedPlane;

// masks[c]: the in-image lanes of chunk c (columns 16c..16c+15 of a padded row).
__mmask16 chunk_mask(const ConvGeom& g, size_t c) {
  const size_t lo = g.pw > c ? g.pw - c : 0, end = g.pw + g.w_in;
  const size_t hi = end > c ? (end - c < 16 ? end - c : 16) : 0;
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

void fill_padded(const float* xc, const ConvGeom& g, const Padded& p, const __mmask16* masks,
                 float* dst) {
  const __m512 zero = _mm512_setzero_ps();
  for (size_t r = 0; r < p.rows; ++r) {
    float* d = dst + r * p.cols;
    const size_t iy = r - g.ph;  // wraps for r < ph: then iy >= h_in
    if (r < g.ph || iy >= g.h_in) {
      for (size_t c = 0; c < p.cols; c += 16) _mm512_storeu_ps(d + c, zero);
      continue;
    }
    // Lane l of chunk c holds input column c + l - pw; the row pointer is offset by -pw through
    // integer arithmetic and only dereferenced in unmasked (in-row) lanes.
    const uintptr_t row = reinterpret_cast<uintptr_t>(xc + iy * g.w_in) - g.pw * sizeof(float);
    for (size_t c = 0; c < p.cols; c += 16) {
      const float* src = reinterpret_cast<const float*>(row + c * sizeof(float));
      _mm512_storeu_ps(d + c, _mm512_maskz_loadu_ps(masks[c / 16], src));
    }
  }
}

// Sixteen consecutive outputs' inputs for one tap, starting at src (already at ox*stride).
template <int S>
inline __m512 load_taps(const float* src, size_t stride, __m512i gather_idx) {
  if (S == 1) return _mm512_loadu_ps(src);
  if (S == 2) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(src), even, _mm512_loadu_ps(src + 16));
  }
  return _mm512_i32gather_ps(gather_idx, src, 4);
}

// One channel. K > 0: the kernel is K x K with unit dilation, unrolled at compile time; K == 0:
// any kh x kw and dilation, runtime loops.
template <int K, int S>
void channel(const float* plane, const Padded& p, const float* wc, const ConvGeom& g, float* yc,
             const float* rc, float scale, float bias, Act act) {
  const size_t kh = K ? K : g.kh, kw = K ? K : g.kw, dh = K ? 1 : g.dh, dw = K ? 1 : g.dw;
  const size_t stride = S ? S : g.sw;
  const __m512i gidx = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(static_cast<int>(stride)));
  const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(bias);
  // The taps' weights stay in registers: the output stores may alias wc as far as the compiler
  // knows, so it re-broadcast every weight from memory for every vector (9 more loads per 16
  // outputs at 3x3).
  __m512 wv[K ? K * K : 1];
  if (K)
    for (size_t t = 0; t < K * K; ++t) wv[t] = _mm512_set1_ps(wc[t]);
  for (size_t oy = 0; oy < g.h_out; ++oy) {
    const float* top = plane + oy * g.sh * p.cols;
    float* yrow = yc + oy * g.w_out;
    const float* rrow = rc ? rc + oy * g.w_out : nullptr;
    for (size_t ox = 0; ox < g.w_out; ox += 16) {
      const size_t n = g.w_out - ox;
      const __mmask16 m = n >= 16 ? static_cast<__mmask16>(0xFFFF)
                                  : static_cast<__mmask16>((1u << n) - 1u);
      const float* src = top + ox * stride;
      // Two accumulators halve the FMA dependency chain for 3x3 (9 taps).
      __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
      size_t t = 0;
#pragma GCC unroll 7
      for (size_t i = 0; i < kh; ++i) {
        const float* r = src + i * dh * p.cols;
#pragma GCC unroll 7
        for (size_t j = 0; j < kw; ++j, ++t) {
          const __m512 v = load_taps<S>(r + j * dw, stride, gidx);
          const __m512 wt = K ? wv[t] : _mm512_set1_ps(wc[t]);
          if (t & 1)
            acc1 = _mm512_fmadd_ps(wt, v, acc1);
          else
            acc0 = _mm512_fmadd_ps(wt, v, acc0);
        }
      }
      __m512 v = _mm512_fmadd_ps(_mm512_add_ps(acc0, acc1), vs, vb);
      if (rrow) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, rrow + ox));
      _mm512_mask_storeu_ps(yrow + ox, m, avx512::act(v, act));
    }
  }
}

// Narrow planes (w_out <= 8, e.g. MobileNet's 7x7 stage): output rows oy and oy+1 share one
// vector, lanes 0-7 and 8-15, so half the lanes are not idle. Stride 1 or 2 only.
template <int K, int S>
void channel_pair(const float* plane, const Padded& p, const float* wc, const ConvGeom& g,
                  float* yc, const float* rc, float scale, float bias, Act act) {
  static_assert(S == 1 || S == 2, "pair kernel loads two contiguous or two de-interleaved rows");
  const size_t kh = K ? K : g.kh, kw = K ? K : g.kw, dh = K ? 1 : g.dh, dw = K ? 1 : g.dw;
  const size_t w = g.w_out;
  const __mmask8 row_mask = static_cast<__mmask8>((1u << w) - 1u);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(bias);
  __m512 wv[K ? K * K : 1];  // as in channel(): the weights stay in registers
  if (K)
    for (size_t t = 0; t < K * K; ++t) wv[t] = _mm512_set1_ps(wc[t]);
  for (size_t oy = 0; oy < g.h_out; oy += 2) {
    // An odd last row pairs with itself; its upper half is computed and dropped.
    const __mmask8 m1 = oy + 1 < g.h_out ? row_mask : 0;
    const float* top0 = plane + oy * g.sh * p.cols;
    const float* top1 = m1 ? top0 + g.sh * p.cols : top0;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t t = 0;
#pragma GCC unroll 7
    for (size_t i = 0; i < kh; ++i) {
#pragma GCC unroll 7
      for (size_t j = 0; j < kw; ++j, ++t) {
        const float* r0 = top0 + i * dh * p.cols + j * dw;
        const float* r1 = top1 + i * dh * p.cols + j * dw;
        __m512 v;
        if (S == 1)
          v = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(r0)), _mm256_loadu_ps(r1), 1);
        else
          v = _mm512_permutex2var_ps(_mm512_loadu_ps(r0), even, _mm512_loadu_ps(r1));
        const __m512 wt = K ? wv[t] : _mm512_set1_ps(wc[t]);
        if (t & 1)
          acc1 = _mm512_fmadd_ps(wt, v, acc1);
        else
          acc0 = _mm512_fmadd_ps(wt, v, acc0);
      }
    }
    __m512 v = _mm512_fmadd_ps(_mm512_add_ps(acc0, acc1), vs, vb);
    float* y0 = yc + oy * w;
    if (rc) {
      const float* res0 = rc + oy * w;
      const __m256 lo = _mm256_maskz_loadu_ps(row_mask, res0);
      const __m256 hi = _mm256_maskz_loadu_ps(m1, res0 + w);
      v = _mm512_add_ps(v, _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1));
    }
    v = avx512::act(v, act);
    _mm256_mask_storeu_ps(y0, row_mask, _mm512_castps512_ps256(v));
    _mm256_mask_storeu_ps(y0 + w, m1, _mm512_extractf32x8_ps(v, 1));
  }
}

using ChannelFn = void (*)(const float*, const Padded&, const float*, const ConvGeom&, float*,
                           const float*, float, float, Act);

ChannelFn pick(const ConvGeom& g) {
  const bool square_unit = g.kh == g.kw && g.dh == 1 && g.dw == 1;
  if (g.w_out <= 8 && (g.sw == 1 || g.sw == 2)) {
    if (square_unit && g.kh == 3) return g.sw == 1 ? channel_pair<3, 1> : channel_pair<3, 2>;
    return g.sw == 1 ? channel_pair<0, 1> : channel_pair<0, 2>;
  }
  if (square_unit && g.kh == 3 && g.sw == 1) return channel<3, 1>;
  if (square_unit && g.kh == 3 && g.sw == 2) return channel<3, 2>;
  if (square_unit && g.kh == 5 && g.sw == 1) return channel<5, 1>;
  if (square_unit && g.kh == 5 && g.sw == 2) return channel<5, 2>;
  if (g.sw == 1) return channel<0, 1>;
  if (g.sw == 2) return channel<0, 2>;
  return channel<0, 0>;
}

}  // namespace

void depthwise_conv_avx512(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0,
                           size_t c1, const Epilogue& epi) {
  const Padded p = depthwise_padded_geom(g, 16);
  // Gathers use 32-bit offsets; absurdly wide planes take the portable path.
  if (p.rows * p.cols >= (size_t{1} << 28)) {
    depthwise_conv_scalar(x, w, g, y, c0, c1, epi);
    return;
  }
  // Chunk masks come after the plane in the same scratch (one per 16 columns, as floats' room).
  float* plane = thread_scratch(Scratch::Plane, p.rows * p.cols + p.cols / 16);
  __mmask16* masks = reinterpret_cast<__mmask16*>(plane + p.rows * p.cols);
  for (size_t c = 0; c < p.cols; c += 16) masks[c / 16] = chunk_mask(g, c);
  const ChannelFn fn = pick(g);
  const size_t plane_in = g.h_in * g.w_in, plane_out = g.h_out * g.w_out, taps = g.kh * g.kw;
  for (size_t ch = c0; ch < c1; ++ch) {
    fill_padded(x + ch * plane_in, g, p, masks, plane);
    fn(plane, p, w + ch * taps, g, y + ch * plane_out,
       epi.residual ? epi.residual + ch * plane_out : nullptr, epi.scale ? epi.scale[ch] : 1.f,
       epi.bias ? epi.bias[ch] : 0.f, epi.act);
  }
}

void fill_table_depthwise_avx512(KernelTable& t) {
  t.depthwise_name = "aio_f32_dwconv_rows__avx512";
  t.depthwise = depthwise_conv_avx512;
}

}  // namespace detail
}  // namespace aio
