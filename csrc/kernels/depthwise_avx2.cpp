// AVX2/FMA depthwise convolution, output width in lanes (8 pixels of one row per vector): the
// AVX-512 kernel's scheme (depthwise_avx512.cpp) at half width, for CPUs without AVX-512.
#include <immintrin.h>

#include <cstdint>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx2.h"

namespace aio {
namespace detail {
namespace {

// Lanes of the 8-column chunk starting at padded column c that hold image columns.
__m256i chunk_mask(const ConvGeom& g, size_t c) {
  const __m256i col = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                       _mm256_set1_epi32(static_cast<int>(c)));
  const __m256i lo = _mm256_set1_epi32(static_cast<int>(g.pw) - 1);
  const __m256i hi = _mm256_set1_epi32(static_cast<int>(g.pw + g.w_in));
  return _mm256_and_si256(_mm256_cmpgt_epi32(col, lo), _mm256_cmpgt_epi32(hi, col));
}

void fill_padded(const float* xc, const ConvGeom& g, const PaddedPlane& p, float* dst) {
  const __m256 zero = _mm256_setzero_ps();
  for (size_t r = 0; r < p.rows; ++r) {
    float* d = dst + r * p.cols;
    const size_t iy = r - g.ph;  // wraps for r < ph: then iy >= h_in
    if (r < g.ph || iy >= g.h_in) {
      for (size_t c = 0; c < p.cols; c += 8) _mm256_storeu_ps(d + c, zero);
      continue;
    }
    // Offset by -pw through integer arithmetic; only in-row (unmasked) lanes are dereferenced.
    const uintptr_t row = reinterpret_cast<uintptr_t>(xc + iy * g.w_in) - g.pw * sizeof(float);
    for (size_t c = 0; c < p.cols; c += 8) {
      const float* src = reinterpret_cast<const float*>(row + c * sizeof(float));
      _mm256_storeu_ps(d + c, _mm256_maskload_ps(src, chunk_mask(g, c)));
    }
  }
}

template <int S>
inline __m256 load_taps(const float* src, __m256i gather_idx) {
  if (S == 1) return _mm256_loadu_ps(src);
  if (S == 2) {
    // Evens of each half into its low 128 bits, then the two low halves side by side.
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256 a = _mm256_permutevar8x32_ps(_mm256_loadu_ps(src), even);
    const __m256 b = _mm256_permutevar8x32_ps(_mm256_loadu_ps(src + 8), even);
    return _mm256_permute2f128_ps(a, b, 0x20);
  }
  return _mm256_i32gather_ps(src, gather_idx, 4);
}

template <int K, int S>
void channel(const float* plane, const PaddedPlane& p, const float* wc, const ConvGeom& g,
             float* yc, const float* rc, float scale, float bias, Act act) {
  const size_t kh = K ? K : g.kh, kw = K ? K : g.kw, dh = K ? 1 : g.dh, dw = K ? 1 : g.dw;
  const size_t stride = S ? S : g.sw;
  const __m256i gidx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                          _mm256_set1_epi32(static_cast<int>(stride)));
  const __m256 vs = _mm256_set1_ps(scale), vb = _mm256_set1_ps(bias);
  for (size_t oy = 0; oy < g.h_out; ++oy) {
    const float* top = plane + oy * g.sh * p.cols;
    float* yrow = yc + oy * g.w_out;
    const float* rrow = rc ? rc + oy * g.w_out : nullptr;
    for (size_t ox = 0; ox < g.w_out; ox += 8) {
      const size_t n = g.w_out - ox;
      const __m256i m = avx2::lane_mask(n < 8 ? n : 8);
      const float* src = top + ox * stride;
      __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
      size_t t = 0;
#pragma GCC unroll 7
      for (size_t i = 0; i < kh; ++i) {
        const float* r = src + i * dh * p.cols;
#pragma GCC unroll 7
        for (size_t j = 0; j < kw; ++j, ++t) {
          const __m256 v = load_taps<S>(r + j * dw, gidx);
          if (t & 1)
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(wc[t]), v, acc1);
          else
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(wc[t]), v, acc0);
        }
      }
      __m256 v = _mm256_fmadd_ps(_mm256_add_ps(acc0, acc1), vs, vb);
      if (rrow) v = _mm256_add_ps(v, _mm256_maskload_ps(rrow + ox, m));
      _mm256_maskstore_ps(yrow + ox, m, avx2::act(v, act));
    }
  }
}

using ChannelFn = void (*)(const float*, const PaddedPlane&, const float*, const ConvGeom&,
                           float*, const float*, float, float, Act);

ChannelFn pick(const ConvGeom& g) {
  const bool k3 = g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1;
  if (k3 && g.sw == 1) return channel<3, 1>;
  if (k3 && g.sw == 2) return channel<3, 2>;
  if (g.sw == 1) return channel<0, 1>;
  if (g.sw == 2) return channel<0, 2>;
  return channel<0, 0>;
}

void aio_f32_dwconv_rows__avx2(const float* x, const float* w, const ConvGeom& g, float* y,
                               size_t c0, size_t c1, const Epilogue& epi) {
  const PaddedPlane p = depthwise_padded_geom(g, 8);
  // Gathers use 32-bit offsets; absurdly wide planes take the portable path.
  if (p.rows * p.cols >= (size_t{1} << 28)) {
    depthwise_conv_scalar(x, w, g, y, c0, c1, epi);
    return;
  }
  float* plane = thread_scratch(Scratch::Plane, p.rows * p.cols);
  const ChannelFn fn = pick(g);
  const size_t plane_in = g.h_in * g.w_in, plane_out = g.h_out * g.w_out, taps = g.kh * g.kw;
  for (size_t ch = c0; ch < c1; ++ch) {
    fill_padded(x + ch * plane_in, g, p, plane);
    fn(plane, p, w + ch * taps, g, y + ch * plane_out,
       epi.residual ? epi.residual + ch * plane_out : nullptr, epi.scale ? epi.scale[ch] : 1.f,
       epi.bias ? epi.bias[ch] : 0.f, epi.act);
  }
}

}  // namespace

void fill_table_depthwise_avx2(KernelTable& t) {
  t.depthwise_name = "aio_f32_dwconv_rows__avx2";
  t.depthwise = aio_f32_dwconv_rows__avx2;
}

}  // namespace detail
}  // namespace aio
