// NEON depthwise 3x3 convolution, stride 1 and 2, output width in lanes (4 pixels of one row per
// vector), two output rows per pass so each loaded tap vector feeds both rows that use it. Each
// channel plane is first copied into a zero-bordered scratch plane (depthwise_padded_geom), so
// every tap is a whole-vector load with no bounds test or lane mask (NEON has no masked loads);
// the copy is one load and one store per 4 input floats, against 9 to 12 loads and 9 FMAs per 4
// outputs. The nine weights sit in three registers and are read by element (fmla ..., v.s[i]).
// Other kernel sizes, dilations and strides take the portable path.
#include <arm_neon.h>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

// The plane with pw zero columns on the left, ph zero rows on top, zeros up to p.cols x p.rows.
void fill_padded(const float* xc, const ConvGeom& g, const PaddedPlane& p, float* dst) {
  const float32x4_t zero = vdupq_n_f32(0.f);
  for (size_t r = 0; r < p.rows; ++r) {
    float* d = dst + r * p.cols;
    const size_t iy = r - g.ph;  // wraps for r < ph: then iy >= h_in
    if (r < g.ph || iy >= g.h_in) {
      for (size_t c = 0; c < p.cols; c += 4) vst1q_f32(d + c, zero);
      continue;
    }
    const float* src = xc + iy * g.w_in;
    size_t c = 0;
    for (; c < g.pw; ++c) d[c] = 0.f;
    size_t i = 0;
    for (; i + 4 <= g.w_in; i += 4) vst1q_f32(d + c + i, vld1q_f32(src + i));
    for (; i < g.w_in; ++i) d[c + i] = src[i];
    for (c += g.w_in; c < p.cols; ++c) d[c] = 0.f;
  }
}

template <int I>
inline float32x4_t fma_w(float32x4_t acc, float32x4_t x, const float32x4_t* w) {
  return vfmaq_laneq_f32(acc, x, w[I / 4], I % 4);
}

inline float32x4_t finish(float32x4_t acc, float32x4_t s, float32x4_t b, const float* res,
                          size_t n, Act act) {
  float32x4_t v = vfmaq_f32(b, acc, s);
  if (res) v = vaddq_f32(v, n >= 4 ? vld1q_f32(res) : neon::load_partial(res, n));
  return neon::act(v, act);
}

inline void store(float* y, float32x4_t v, size_t n) {
  if (n >= 4)
    vst1q_f32(y, v);
  else
    neon::store_partial(y, v, n);
}

// R (1 or 2) output rows from padded rows rows[0 .. (R - 1) * S + 2].
template <int S, int R>
void row_block(const float* const* rows, const float32x4_t* w, size_t w_out, float32x4_t s,
               float32x4_t b, float* const* y, const float* const* res, Act act) {
  constexpr int Q = (R - 1) * S + 3;
  for (size_t ox = 0; ox < w_out; ox += 4) {
    const size_t n = w_out - ox;
    float32x4_t acc[R];
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) acc[r] = vdupq_n_f32(0.f);
#pragma GCC unroll 5
    for (int q = 0; q < Q; ++q) {
      const float* src = rows[q] + ox * S;
      float32x4_t t0, t1, t2;
      if constexpr (S == 1) {
        t0 = vld1q_f32(src);
        t1 = vld1q_f32(src + 1);
        t2 = vld1q_f32(src + 2);
      } else {
        // Even and odd columns of 8 floats (vld2q de-interleaves); tap 2 is tap 0 moved by 2.
        const float32x4x2_t v = vld2q_f32(src);
        t0 = v.val[0];
        t1 = v.val[1];
        t2 = vld2q_f32(src + 2).val[0];
      }
#pragma GCC unroll 2
      for (int r = 0; r < R; ++r) {
        const int i = q - r * S;
        if (i < 0 || i > 2) continue;
        if (i == 0) {
          acc[r] = fma_w<0>(acc[r], t0, w);
          acc[r] = fma_w<1>(acc[r], t1, w);
          acc[r] = fma_w<2>(acc[r], t2, w);
        } else if (i == 1) {
          acc[r] = fma_w<3>(acc[r], t0, w);
          acc[r] = fma_w<4>(acc[r], t1, w);
          acc[r] = fma_w<5>(acc[r], t2, w);
        } else {
          acc[r] = fma_w<6>(acc[r], t0, w);
          acc[r] = fma_w<7>(acc[r], t1, w);
          acc[r] = fma_w<8>(acc[r], t2, w);
        }
      }
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r)
      store(y[r] + ox, finish(acc[r], s, b, res[r] ? res[r] + ox : nullptr, n, act), n);
  }
}

template <int S>
void channel(const float* plane, const PaddedPlane& p, const float* wc, const ConvGeom& g,
             float* yc, const float* rc, float scale, float bias, Act act) {
  float32x4_t w[3];
  w[0] = vld1q_f32(wc);
  w[1] = vld1q_f32(wc + 4);
  w[2] = vld1q_dup_f32(wc + 8);  // reads exactly the 9 taps: the last channel's end
  const float32x4_t s = vdupq_n_f32(scale), b = vdupq_n_f32(bias);
  size_t oy = 0;
  for (; oy + 2 <= g.h_out; oy += 2) {
    const float* rows[S + 3];
    for (int q = 0; q < S + 3; ++q) rows[q] = plane + (oy * S + q) * p.cols;
    float* y[2] = {yc + oy * g.w_out, yc + (oy + 1) * g.w_out};
    const float* res[2] = {rc ? rc + oy * g.w_out : nullptr,
                           rc ? rc + (oy + 1) * g.w_out : nullptr};
    row_block<S, 2>(rows, w, g.w_out, s, b, y, res, act);
  }
  if (oy < g.h_out) {
    const float* rows[3];
    for (int q = 0; q < 3; ++q) rows[q] = plane + (oy * S + q) * p.cols;
    float* y[1] = {yc + oy * g.w_out};
    const float* res[1] = {rc ? rc + oy * g.w_out : nullptr};
    row_block<S, 1>(rows, w, g.w_out, s, b, y, res, act);
  }
}

void aio_f32_dwconv3x3_rows__neon(const float* x, const float* w, const ConvGeom& g, float* y,
                                  size_t c0, size_t c1, const Epilogue& epi) {
  const bool k3 = g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1;
  if (!k3 || (g.sw != 1 && g.sw != 2) || g.sh != g.sw) {
    depthwise_conv_scalar(x, w, g, y, c0, c1, epi);
    return;
  }
  const PaddedPlane p = depthwise_padded_geom(g, 4);
  float* plane = thread_scratch(Scratch::Plane, p.rows * p.cols);
  const size_t plane_in = g.h_in * g.w_in, plane_out = g.h_out * g.w_out;
  for (size_t ch = c0; ch < c1; ++ch) {
    fill_padded(x + ch * plane_in, g, p, plane);
    const float* rc = epi.residual ? epi.residual + ch * plane_out : nullptr;
    const float s = epi.scale ? epi.scale[ch] : 1.f, b = epi.bias ? epi.bias[ch] : 0.f;
    if (g.sw == 1)
      channel<1>(plane, p, w + ch * 9, g, y + ch * plane_out, rc, s, b, epi.act);
    else
      channel<2>(plane, p, w + ch * 9, g, y + ch * plane_out, rc, s, b, epi.act);
  }
}

}  // namespace

void fill_table_depthwise_neon(KernelTable& t) {
  t.depthwise_name = "aio_f32_dwconv3x3_rows__neon";
  t.depthwise = aio_f32_dwconv3x3_rows__neon;
}

}  // namespace detail
}  // namespace aio
