// NEON depthwise 3x3 convolution, stride 1 and 2, output width in lanes (4 pixels of one row per
// vector), two output rows per pass so each loaded tap vector feeds both rows that use it. With
// padding 1 and more than 4 outputs a row (every MobileNetV2 depthwise layer) the taps are read
// straight from the input (channels_inplace: edge columns by ext and a mask, see there). Other
// paddings copy each channel plane into a zero-bordered scratch plane (depthwise_padded_geom), so
// every tap is a whole-vector load with no bounds test or lane mask (NEON has no masked loads).
// The nine weights sit in three registers and are read by element (fmla ..., v.s[i]).
// Other kernel sizes, dilations and strides take the portable path.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

// The padded plane: the image at row ph, column pw, zeros around it up to p.cols x p.rows (plus
// 8 floats of slack, so the zeroing runs in whole vectors). The zeros are written
// once per call (zero_plane); each channel then rewrites only the image rows' image columns.
size_t plane_floats(const PaddedPlane& p) { return p.rows * p.cols + 8; }

void zero_plane(const PaddedPlane& p, float* dst) {
  const float32x4_t zero = vdupq_n_f32(0.f);
  for (size_t i = 0; i < plane_floats(p); i += 4) vst1q_f32(dst + i, zero);
}

void fill_padded(const float* xc, const ConvGeom& g, const PaddedPlane& p, float* dst) {
  float* d = dst + g.ph * p.cols + g.pw;
  const size_t whole = (g.w_in + 3) / 4 * 4;  // a row as whole vectors
  for (size_t iy = 0; iy < g.h_in; ++iy, d += p.cols, xc += g.w_in) {
    if (iy + 1 < g.h_in) {
      // Whole vectors: the last one reads the next input row's first floats (there is a next
      // row) and writes them past the image, where zeros belong: those (at most 3) are zeroed
      // again. 5 instructions for a 7-float row instead of 10.
      size_t i = 0;
      // 16 floats per step: paired loads and stores (ldp/stp), the loop's own cost amortised.
      for (; i + 16 <= whole; i += 16) {
        const float32x4_t v0 = vld1q_f32(xc + i), v1 = vld1q_f32(xc + i + 4);
        const float32x4_t v2 = vld1q_f32(xc + i + 8), v3 = vld1q_f32(xc + i + 12);
        vst1q_f32(d + i, v0);
        vst1q_f32(d + i + 4, v1);
        vst1q_f32(d + i + 8, v2);
        vst1q_f32(d + i + 12, v3);
      }
      for (; i < whole; i += 4) vst1q_f32(d + i, vld1q_f32(xc + i));
      for (i = g.w_in; i < whole; ++i) d[i] = 0.f;
      continue;
    }
    // The plane's last row: nothing may be read past it.
    size_t i = 0;
    for (; i + 4 <= g.w_in; i += 4) vst1q_f32(d + i, vld1q_f32(xc + i));
    for (; i < g.w_in; ++i) d[i] = xc[i];
  }
}

// One tap row (three taps t0..t2 times weights I..I + 2) into acc.
template <int I>
inline float32x4_t fma_row(float32x4_t acc, float32x4_t t0, float32x4_t t1, float32x4_t t2,
                           const float32x4_t* w) {
  acc = vfmaq_laneq_f32(acc, t0, w[I / 4], I % 4);
  acc = vfmaq_laneq_f32(acc, t1, w[(I + 1) / 4], (I + 1) % 4);
  return vfmaq_laneq_f32(acc, t2, w[(I + 2) / 4], (I + 2) % 4);
}

struct RowOut {
  float* y;
  const float* res;  // or nullptr
};

// vld2q_f32 and a pointer step: GCC 12 emits ld2 with a separate add for the address (ld2 has no
// register-offset form and it does not fold the step into a post-increment); this is the
// post-incremented form, one instruction.
inline float32x4x2_t ld2_post(const float*& p) {
  float32x4x2_t v;
  __asm__("ld2 {%S0.4s - %T0.4s}, [%1], #32"
          : "=w"(v), "+r"(p)
          : "m"(*reinterpret_cast<const float(*)[8]>(p)));
  return v;
}

// One padded input row's taps for successive vectors of 4 outputs: stride 1 loads from three
// pointers (columns +0, +1, +2), stride 2 de-interleaves from two (+0 for taps 0 and 1, +2 for
// tap 2); each pointer steps 4 S floats, so every load is one post-incremented instruction.
template <int S>
struct Cursor {
  const float* p0;
  const float* p1;
  const float* p2;
  explicit Cursor(const float* row) : p0(row), p1(row + 1), p2(row + 2) {}
  inline void next(float32x4_t& t0, float32x4_t& t1, float32x4_t& t2) {
    if constexpr (S == 1) {
      t0 = vld1q_f32(p0);
      t1 = vld1q_f32(p1);
      t2 = vld1q_f32(p2);
      p0 += 4;
      p1 += 4;
      p2 += 4;
    } else {
      const float32x4x2_t v = ld2_post(p0);
      t0 = v.val[0];
      t1 = v.val[1];
      t2 = ld2_post(p2).val[0];
    }
  }
};

template <bool Res, class F>
inline float32x4_t finish(float32x4_t acc, const float* res, size_t n, F act) {
  if constexpr (Res) acc = vaddq_f32(acc, n >= 4 ? vld1q_f32(res) : neon::load_partial(res, n));
  return act(acc);
}

inline void store(float* y, float32x4_t v, size_t n) {
  if (n >= 4)
    vst1q_f32(y, v);
  else
    neon::store_partial(y, v, n);
}

// Two output rows from padded rows r[0 .. S + 2] (input rows S apart per output row).
template <int S, bool Res, class F>
void two_rows(const float* const* r, const float32x4_t* w, size_t w_out, float32x4_t b,
              RowOut o0, RowOut o1, F act) {
  Cursor<S> c0(r[0]), c1(r[1]), c2(r[2]), c3(r[3]), c4(r[S == 2 ? 4 : 3]);
  const auto step = [&](float32x4_t& a0, float32x4_t& a1) {
    float32x4_t t0, t1, t2;
    a0 = a1 = b;
    c0.next(t0, t1, t2);
    a0 = fma_row<0>(a0, t0, t1, t2, w);
    c1.next(t0, t1, t2);
    a0 = fma_row<3>(a0, t0, t1, t2, w);
    if constexpr (S == 1) a1 = fma_row<0>(a1, t0, t1, t2, w);
    c2.next(t0, t1, t2);
    a0 = fma_row<6>(a0, t0, t1, t2, w);
    if constexpr (S == 1) {
      a1 = fma_row<3>(a1, t0, t1, t2, w);
    } else {
      a1 = fma_row<0>(a1, t0, t1, t2, w);
    }
    c3.next(t0, t1, t2);
    if constexpr (S == 1) {
      a1 = fma_row<6>(a1, t0, t1, t2, w);
    } else {
      a1 = fma_row<3>(a1, t0, t1, t2, w);
      c4.next(t0, t1, t2);
      a1 = fma_row<6>(a1, t0, t1, t2, w);
    }
  };
  size_t ox = 0;
  float32x4_t a0, a1;
  for (; ox + 4 <= w_out; ox += 4) {
    step(a0, a1);
    vst1q_f32(o0.y + ox, finish<Res>(a0, Res ? o0.res + ox : nullptr, 4, act));
    vst1q_f32(o1.y + ox, finish<Res>(a1, Res ? o1.res + ox : nullptr, 4, act));
  }
  if (ox < w_out) {
    const size_t n = w_out - ox;
    step(a0, a1);
    store(o0.y + ox, finish<Res>(a0, Res ? o0.res + ox : nullptr, n, act), n);
    store(o1.y + ox, finish<Res>(a1, Res ? o1.res + ox : nullptr, n, act), n);
  }
}

template <int S, bool Res, class F>
void one_row(const float* const* r, const float32x4_t* w, size_t w_out, float32x4_t b, RowOut o,
             F act) {
  Cursor<S> c0(r[0]), c1(r[1]), c2(r[2]);
  for (size_t ox = 0; ox < w_out; ox += 4) {
    float32x4_t t0, t1, t2, a = b;
    c0.next(t0, t1, t2);
    a = fma_row<0>(a, t0, t1, t2, w);
    c1.next(t0, t1, t2);
    a = fma_row<3>(a, t0, t1, t2, w);
    c2.next(t0, t1, t2);
    a = fma_row<6>(a, t0, t1, t2, w);
    const size_t n = w_out - ox;
    store(o.y + ox, finish<Res>(a, Res ? o.res + ox : nullptr, n, act), n);
  }
}

template <int S, class F>
void channel(const float* plane, const PaddedPlane& p, const float* wc, const ConvGeom& g,
             float* yc, const float* rc, float scale, float bias, F act) {
  float32x4_t w[3];
  // The channel's scale folded into its 9 taps and the bias as the accumulators' start: the
  // epilogue's multiply-add and the zeroing drop out (4 instructions per two-row step).
  w[0] = vmulq_n_f32(vld1q_f32(wc), scale);
  w[1] = vmulq_n_f32(vld1q_f32(wc + 4), scale);
  w[2] = vmulq_n_f32(vld1q_dup_f32(wc + 8), scale);  // exactly the 9 taps: the last channel's end
  const float32x4_t b = vdupq_n_f32(bias);
  const auto out = [&](size_t oy) {
    return RowOut{yc + oy * g.w_out, rc ? rc + oy * g.w_out : nullptr};
  };
  size_t oy = 0;
  for (; oy + 2 <= g.h_out; oy += 2) {
    const float* rows[S + 3];
    for (int q = 0; q < S + 3; ++q) rows[q] = plane + (oy * S + q) * p.cols;
    if (rc)
      two_rows<S, true>(rows, w, g.w_out, b, out(oy), out(oy + 1), act);
    else
      two_rows<S, false>(rows, w, g.w_out, b, out(oy), out(oy + 1), act);
  }
  if (oy < g.h_out) {
    const float* rows[3];
    for (int q = 0; q < 3; ++q) rows[q] = plane + (oy * S + q) * p.cols;
    if (rc)
      one_row<S, true>(rows, w, g.w_out, b, out(oy), act);
    else
      one_row<S, false>(rows, w, g.w_out, b, out(oy), act);
  }
}

// ---- In place: taps read straight from the input planes (padding 1, 5 or more outputs a row) ----
// The plane copy above loads, stores and reloads every input float; on MobileNetV2 it was a
// quarter of the depthwise count. With padding 1 only two things differ from plain loads: rows
// above or below the image (they point at a zero row) and the two edge columns. Stride 1: the
// first vector's left tap is `ext` of a zero vector and its centre tap; stride 2: the left tap
// (column 2 ox - 1) is always `ext` of the previous vector's odd columns (zero before the first),
// so one ld2 and one ext per tap row instead of two ld2. On the right, only the last vector's
// right tap can reach column w_in, in valid lanes: it is masked. Loads there run up to 8 floats
// past a row's end (into the next row: garbage only in discarded lanes); a plane's last row is
// read from a copy with zeros after it, so nothing is read past the tensor.

enum class Edge { First, Middle, Last };

template <int S>
struct InCursor {
  const float* p;          // stride 1: column ox - 1 (never read at ox = 0); stride 2: column 2 ox
  float32x4_t prev;        // stride 2: the previous vector's odd columns
  explicit InCursor(const float* row)
      : p(reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(row) -
                                         (S == 1 ? sizeof(float) : 0))),
        prev(vdupq_n_f32(0.f)) {}
  template <Edge E>
  inline void next(float32x4_t& t0, float32x4_t& t1, float32x4_t& t2, uint32x4_t mask) {
    if constexpr (S == 1) {
      if constexpr (E == Edge::First) {
        t1 = vld1q_f32(p + 1);
        t0 = vextq_f32(vdupq_n_f32(0.f), t1, 3);
      } else {
        t0 = vld1q_f32(p);
        t1 = vld1q_f32(p + 1);
      }
      t2 = vld1q_f32(p + 2);
      p += 4;
    } else {
      const float32x4x2_t v = ld2_post(p);
      t1 = v.val[0];
      t2 = v.val[1];
      t0 = vextq_f32(prev, t2, 3);
      prev = t2;
    }
    if constexpr (E == Edge::Last)
      t2 = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(t2), mask));
  }
};

// Two output rows (R = 2) or one (R = 1) from input rows r[0 .. S * (R - 1) + 2].
template <int S, int R, bool Res, class F>
void rows_inplace(const float* const* r, const float32x4_t* w, size_t w_out, uint32x4_t mask,
                  float32x4_t b, RowOut o0, RowOut o1, F act) {
  constexpr int kRows = S * (R - 1) + 3;
  InCursor<S> c0(r[0]), c1(r[1]), c2(r[2]), c3(r[kRows > 3 ? 3 : 2]), c4(r[kRows > 4 ? 4 : 2]);
  const auto step = [&](auto edge, float32x4_t& a0, float32x4_t& a1) {
    constexpr Edge E = decltype(edge)::value;
    float32x4_t t0, t1, t2;
    a0 = a1 = b;
    c0.template next<E>(t0, t1, t2, mask);
    a0 = fma_row<0>(a0, t0, t1, t2, w);
    c1.template next<E>(t0, t1, t2, mask);
    a0 = fma_row<3>(a0, t0, t1, t2, w);
    if constexpr (R == 2 && S == 1) a1 = fma_row<0>(a1, t0, t1, t2, w);
    c2.template next<E>(t0, t1, t2, mask);
    a0 = fma_row<6>(a0, t0, t1, t2, w);
    if constexpr (R == 2) {
      if constexpr (S == 1) {
        a1 = fma_row<3>(a1, t0, t1, t2, w);
      } else {
        a1 = fma_row<0>(a1, t0, t1, t2, w);
      }
      c3.template next<E>(t0, t1, t2, mask);
      if constexpr (S == 1) {
        a1 = fma_row<6>(a1, t0, t1, t2, w);
      } else {
        a1 = fma_row<3>(a1, t0, t1, t2, w);
        c4.template next<E>(t0, t1, t2, mask);
        a1 = fma_row<6>(a1, t0, t1, t2, w);
      }
    }
  };
  const auto put = [&](size_t ox, size_t n, float32x4_t a0, float32x4_t a1) {
    store(o0.y + ox, finish<Res>(a0, Res ? o0.res + ox : nullptr, n, act), n);
    if constexpr (R == 2) store(o1.y + ox, finish<Res>(a1, Res ? o1.res + ox : nullptr, n, act), n);
  };
  using First = std::integral_constant<Edge, Edge::First>;
  using Middle = std::integral_constant<Edge, Edge::Middle>;
  using Last = std::integral_constant<Edge, Edge::Last>;
  // w_out > 4 here, so the first and the last vector are different vectors.
  const size_t last = (w_out - 1) / 4 * 4;
  float32x4_t a0, a1;
  step(First{}, a0, a1);
  put(0, 4, a0, a1);
  for (size_t ox = 4; ox < last; ox += 4) {
    step(Middle{}, a0, a1);
    vst1q_f32(o0.y + ox, finish<Res>(a0, Res ? o0.res + ox : nullptr, 4, act));
    if constexpr (R == 2)
      vst1q_f32(o1.y + ox, finish<Res>(a1, Res ? o1.res + ox : nullptr, 4, act));
  }
  step(Last{}, a0, a1);
  put(last, w_out - last, a0, a1);
}

// Whether a geometry takes the in-place path: padding 1 on both axes and more than one vector
// of outputs per row (the first and the last vector are then different vectors). The edge work
// costs no more than the copy even at 7 x 7: the first vector's ext replaces a load, and the
// last vector's mask is one instruction per tap row.
bool inplace_geom(const ConvGeom& g) { return g.ph == 1 && g.pw == 1 && g.w_out > 4; }

// One channel. rows[1 + iy] is input row iy for iy in [-1, h_in], built by the caller: the zero
// row above and below the image, the copy of the last row for the last (a table, not a test per
// row: on 7 x 7 and 14 x 14 planes the per-row set-up was a third of the depthwise count).
template <int S, class F>
void channel_inplace(const float* const* rows, const float* wc, const ConvGeom& g,
                     uint32x4_t mask, float* yc, const float* rc, float scale, float bias, F act) {
  float32x4_t w[3];
  w[0] = vmulq_n_f32(vld1q_f32(wc), scale);
  w[1] = vmulq_n_f32(vld1q_f32(wc + 4), scale);
  w[2] = vmulq_n_f32(vld1q_dup_f32(wc + 8), scale);
  const float32x4_t b = vdupq_n_f32(bias);
  const auto out = [&](size_t oy) {
    return RowOut{yc + oy * g.w_out, rc ? rc + oy * g.w_out : nullptr};
  };
  size_t oy = 0;
  for (; oy + 2 <= g.h_out; oy += 2) {
    const float* const* r = rows + oy * S;
    if (rc)
      rows_inplace<S, 2, true>(r, w, g.w_out, mask, b, out(oy), out(oy + 1), act);
    else
      rows_inplace<S, 2, false>(r, w, g.w_out, mask, b, out(oy), out(oy + 1), act);
  }
  if (oy < g.h_out) {
    const float* const* r = rows + oy * S;
    if (rc)
      rows_inplace<S, 1, true>(r, w, g.w_out, mask, b, out(oy), out(oy), act);
    else
      rows_inplace<S, 1, false>(r, w, g.w_out, mask, b, out(oy), out(oy), act);
  }
}

template <int S, class F>
void channels_inplace(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0,
                      size_t c1, const Epilogue& epi, F act) {
  // A zero row and a copy of the current plane's last row, each with 12 floats of zeros past
  // the row for the loads that run over its end (at most 8 floats), then the row table: input
  // rows -1 .. h_in, plus one more zero row that stride 2 may name but never reads.
  const size_t cols = (g.w_in + 12 + 3) / 4 * 4;
  float* zero_row = thread_scratch(Scratch::Plane, 2 * cols);
  float* last_row = zero_row + cols;
  std::memset(zero_row, 0, 2 * cols * sizeof(float));
  thread_local std::vector<const float*> table;  // grows once, then reused (no allocation)
  if (table.size() < g.h_in + 3) table.resize(g.h_in + 3);
  const float** rows = table.data();
  rows[0] = zero_row;
  rows[g.h_in] = last_row;
  rows[g.h_in + 1] = rows[g.h_in + 2] = zero_row;
  // Lanes of the last vector whose right tap (column S * ox + 1) is inside the row.
  const size_t last = (g.w_out - 1) / 4 * 4;
  uint32_t m[4];
  for (size_t l = 0; l < 4; ++l) m[l] = S * (last + l) + 1 < g.w_in ? ~0u : 0u;
  const uint32x4_t mask = vld1q_u32(m);
  const size_t plane_in = g.h_in * g.w_in, plane_out = g.h_out * g.w_out;
  for (size_t ch = c0; ch < c1; ++ch) {
    const float* xc = x + ch * plane_in;
    for (size_t iy = 0; iy + 1 < g.h_in; ++iy) rows[1 + iy] = xc + iy * g.w_in;
    std::memcpy(last_row, xc + (g.h_in - 1) * g.w_in, g.w_in * sizeof(float));
    const float* rc = epi.residual ? epi.residual + ch * plane_out : nullptr;
    const float s = epi.scale ? epi.scale[ch] : 1.f, b = epi.bias ? epi.bias[ch] : 0.f;
    channel_inplace<S>(rows, w + ch * 9, g, mask, y + ch * plane_out, rc, s, b, act);
  }
}

template <int S, class F>
void channels(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0, size_t c1,
              const Epilogue& epi, F act) {
  if (inplace_geom(g)) return channels_inplace<S>(x, w, g, y, c0, c1, epi, act);
  const PaddedPlane p = depthwise_padded_geom(g, 4);
  float* plane = thread_scratch(Scratch::Plane, plane_floats(p));
  zero_plane(p, plane);
  const size_t plane_in = g.h_in * g.w_in, plane_out = g.h_out * g.w_out;
  for (size_t ch = c0; ch < c1; ++ch) {
    fill_padded(x + ch * plane_in, g, p, plane);
    const float* rc = epi.residual ? epi.residual + ch * plane_out : nullptr;
    const float s = epi.scale ? epi.scale[ch] : 1.f, b = epi.bias ? epi.bias[ch] : 0.f;
    channel<S>(plane, p, w + ch * 9, g, y + ch * plane_out, rc, s, b, act);
  }
}

// The activation chosen once per call, every one inline in the row loops (neon::with_any_act).
template <int S>
void dispatch_act(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0,
                  size_t c1, const Epilogue& epi) {
  neon::with_any_act(epi.act, [&](auto f) { channels<S>(x, w, g, y, c0, c1, epi, f); });
}

void aio_f32_dwconv3x3_rows__neon(const float* x, const float* w, const ConvGeom& g, float* y,
                                  size_t c0, size_t c1, const Epilogue& epi) {
  const bool k3 = g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1;
  if (!k3 || (g.sw != 1 && g.sw != 2) || g.sh != g.sw) {
    depthwise_conv_scalar(x, w, g, y, c0, c1, epi);
    return;
  }
  if (g.sw == 1)
    dispatch_act<1>(x, w, g, y, c0, c1, epi);
  else
    dispatch_act<2>(x, w, g, y, c0, c1, epi);
}

}  // namespace

void fill_table_depthwise_neon(KernelTable& t) {
  t.depthwise_name = "aio_f32_dwconv3x3_rows__neon";
  t.depthwise = aio_f32_dwconv3x3_rows__neon;
}

}  // namespace detail
}  // namespace aio
