// NEON depthwise 5x5 convolution, stride 1 and 2 (EfficientNet's and MobileNetV3's 5x5 layers),
// output width in lanes (4 pixels of one row per vector). Each channel plane is first copied into
// a zero-bordered scratch plane (depthwise_padded_geom), so every tap is a whole-vector load with
// no bounds test or lane mask. Four output rows per pass: each loaded tap row feeds every output
// row that uses it (8 input rows for 4 output rows at stride 1, 11 at stride 2, instead of 20),
// so the loads (one per cycle on Cortex-A72) keep pace with the two FMA pipes. The 25 weights,
// scaled by the channel's epilogue scale, sit in 7 registers and are read by element
// (fmla ..., v.s[i]); the bias is the accumulators' start. Other geometries take the portable path.
#include <arm_neon.h>

#include <algorithm>
#include <utility>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

// Everything of one vector step inlined into the row loop, so the 25 weights and the
// accumulators stay in registers (out of line, GCC passed them through memory: a store and a
// reload per kernel row).
#define AIO_DW5_INLINE inline __attribute__((always_inline))

constexpr int kK = 5;     // kernel side
constexpr int kRows = 4;  // output rows per pass

size_t plane_floats(const PaddedPlane& p) { return p.rows * p.cols + 8; }

// The image at row ph, column pw of the zeroed plane; only the image's columns keep what is
// written, so the border zeroed once per call stays zero for every channel. Rows go as whole
// vectors: the last one reads into the next input row (there is one: the plane's last row takes
// a partial load instead) and writes up to 3 floats past the image, which one vector of zeros
// at column w_in puts back. That store reaches at most 4 floats past the row's image: the right
// border, or the next padded row's left border and image, which is written after it (the last
// row's reaches the bottom border or the plane's 8 floats of slack). A 7-float row: 5
// instructions instead of 8.
void fill_padded(const float* xc, const ConvGeom& g, const PaddedPlane& p, float* dst) {
  const float32x4_t zero = vdupq_n_f32(0.f);
  const size_t whole = g.w_in / 4 * 4, rest = g.w_in - whole;
  float* d = dst + g.ph * p.cols + g.pw;
  for (size_t iy = 0; iy < g.h_in; ++iy, d += p.cols, xc += g.w_in) {
    size_t i = 0;
    for (; i + 8 <= whole; i += 8) {
      const float32x4_t a = vld1q_f32(xc + i), b = vld1q_f32(xc + i + 4);
      vst1q_f32(d + i, a);
      vst1q_f32(d + i + 4, b);
    }
    if (i < whole) vst1q_f32(d + i, vld1q_f32(xc + i));
    if (rest) {
      const bool last = iy + 1 == g.h_in;
      vst1q_f32(d + whole, last ? neon::load_partial(xc + whole, rest) : vld1q_f32(xc + whole));
      vst1q_f32(d + g.w_in, zero);
    }
  }
}

// The five taps of one padded row for 4 outputs starting at p (column S * ox): stride 1 five
// shifted loads, stride 2 three de-interleaving ones (even columns 0, 2, 4 and odd 1, 3).
template <int S>
AIO_DW5_INLINE void load_taps(const float* p, float32x4_t* t) {
  if constexpr (S == 1) {
    for (int j = 0; j < kK; ++j) t[j] = vld1q_f32(p + j);
  } else {
    const float32x4x2_t a = vld2q_f32(p), b = vld2q_f32(p + 2), c = vld2q_f32(p + 4);
    t[0] = a.val[0];
    t[1] = a.val[1];
    t[2] = b.val[0];
    t[3] = b.val[1];
    t[4] = c.val[0];
  }
}

// Kernel row I's five taps into acc (weights I * 5 .. I * 5 + 4).
template <int I>
AIO_DW5_INLINE float32x4_t fma_row(float32x4_t acc, const float32x4_t* t, const float32x4_t* w) {
  constexpr int b = I * kK;
  acc = vfmaq_laneq_f32(acc, t[0], w[b / 4], b % 4);
  acc = vfmaq_laneq_f32(acc, t[1], w[(b + 1) / 4], (b + 1) % 4);
  acc = vfmaq_laneq_f32(acc, t[2], w[(b + 2) / 4], (b + 2) % 4);
  acc = vfmaq_laneq_f32(acc, t[3], w[(b + 3) / 4], (b + 3) % 4);
  return vfmaq_laneq_f32(acc, t[4], w[(b + 4) / 4], (b + 4) % 4);
}

// Padded row Q of the pass feeds output row R with kernel row Q - S R, if that is a kernel row.
template <int S, int Q, int R>
AIO_DW5_INLINE void feed_one(float32x4_t* acc, const float32x4_t* t, const float32x4_t* w) {
  constexpr int i = Q - S * R;
  if constexpr (i >= 0 && i < kK) acc[R] = fma_row<i>(acc[R], t, w);
}

template <int S, int Q, int... Rs>
AIO_DW5_INLINE void feed(float32x4_t* acc, const float32x4_t* t, const float32x4_t* w,
                 std::integer_sequence<int, Rs...>) {
  (feed_one<S, Q, Rs>(acc, t, w), ...);
}

// Padded row Q of the pass: its taps loaded once, into every output row that uses them.
template <int S, int R, int Q>
AIO_DW5_INLINE void row_q(const float* const* rows, size_t col, float32x4_t* acc,
                          const float32x4_t* w) {
  float32x4_t t[kK];
  load_taps<S>(rows[Q] + col, t);
  feed<S, Q>(acc, t, w, std::make_integer_sequence<int, R>{});
}

// One vector of 4 outputs in each of the pass's R rows.
template <int S, int R, int... Qs>
AIO_DW5_INLINE void step(const float* const* rows, size_t col, float32x4_t* acc,
                         const float32x4_t* w, std::integer_sequence<int, Qs...>) {
  (row_q<S, R, Qs>(rows, col, acc, w), ...);
}

// R output rows from oy, every vector of each.
template <int S, int R, class F>
void rows_pass(const float* plane, size_t cols, const ConvGeom& g, size_t oy,
               const float32x4_t* w, float32x4_t b, float* yc, const float* rc, F act) {
  constexpr int kIn = S * (R - 1) + kK;
  const float* rows[kIn];
  for (int q = 0; q < kIn; ++q) rows[q] = plane + (oy * S + q) * cols;
  for (size_t ox = 0; ox < g.w_out; ox += 4) {
    float32x4_t acc[R];
    for (int r = 0; r < R; ++r) acc[r] = b;
    step<S, R>(rows, ox * S, acc, w, std::make_integer_sequence<int, kIn>{});
    const size_t n = std::min<size_t>(4, g.w_out - ox);
    for (int r = 0; r < R; ++r) {
      const size_t o = (oy + r) * g.w_out + ox;
      float32x4_t v = acc[r];
      if (rc) v = vaddq_f32(v, n == 4 ? vld1q_f32(rc + o) : neon::load_partial(rc + o, n));
      v = act(v);
      if (n == 4)
        vst1q_f32(yc + o, v);
      else
        neon::store_partial(yc + o, v, n);
    }
  }
}

template <int S, class F>
void channels(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0, size_t c1,
              const Epilogue& epi, F act) {
  const PaddedPlane p = depthwise_padded_geom(g, 4);
  float* plane = thread_scratch(Scratch::Plane, plane_floats(p));
  std::fill(plane, plane + plane_floats(p), 0.f);
  const size_t plane_in = g.h_in * g.w_in, plane_out = g.h_out * g.w_out;
  constexpr int kTaps = kK * kK;
  for (size_t ch = c0; ch < c1; ++ch) {
    fill_padded(x + ch * plane_in, g, p, plane);
    const float s = epi.scale ? epi.scale[ch] : 1.f, bias = epi.bias ? epi.bias[ch] : 0.f;
    const float* wc = w + ch * kTaps;
    float32x4_t wv[(kTaps + 3) / 4];
    for (int i = 0; i < kTaps / 4; ++i) wv[i] = vmulq_n_f32(vld1q_f32(wc + 4 * i), s);
    wv[kTaps / 4] = vmulq_n_f32(vld1q_dup_f32(wc + kTaps - 1), s);  // exactly the 25 taps
    const float32x4_t b = vdupq_n_f32(bias);
    float* yc = y + ch * plane_out;
    const float* rc = epi.residual ? epi.residual + ch * plane_out : nullptr;
    size_t oy = 0;
    for (; oy + kRows <= g.h_out; oy += kRows)
      rows_pass<S, kRows>(plane, p.cols, g, oy, wv, b, yc, rc, act);
    switch (g.h_out - oy) {
      case 3:
        rows_pass<S, 3>(plane, p.cols, g, oy, wv, b, yc, rc, act);
        break;
      case 2:
        rows_pass<S, 2>(plane, p.cols, g, oy, wv, b, yc, rc, act);
        break;
      case 1:
        rows_pass<S, 1>(plane, p.cols, g, oy, wv, b, yc, rc, act);
        break;
      default:
        break;
    }
  }
}

// The activation chosen once per call, every one inline in the row loops (neon::with_any_act).
template <int S>
void dispatch_act(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0,
                  size_t c1, const Epilogue& epi) {
  neon::with_any_act(epi.act, [&](auto f) { channels<S>(x, w, g, y, c0, c1, epi, f); });
}

void aio_f32_dwconv5x5_rows__neon(const float* x, const float* w, const ConvGeom& g, float* y,
                                  size_t c0, size_t c1, const Epilogue& epi) {
  const bool k5 = g.kh == 5 && g.kw == 5 && g.dh == 1 && g.dw == 1;
  if (!k5 || (g.sw != 1 && g.sw != 2) || g.sh != g.sw) {
    depthwise_conv_scalar(x, w, g, y, c0, c1, epi);
    return;
  }
  if (g.sw == 1)
    dispatch_act<1>(x, w, g, y, c0, c1, epi);
  else
    dispatch_act<2>(x, w, g, y, c0, c1, epi);
}

}  // namespace

void fill_table_depthwise5_neon(KernelTable& t) { t.depthwise5 = aio_f32_dwconv5x5_rows__neon; }

}  // namespace detail
}  // namespace aio
