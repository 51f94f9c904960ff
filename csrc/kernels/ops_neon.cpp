// NEON kernels of the format-2 operators that are not convolutions: the squeeze-excite gate
// (scale_channels), softmax over channels, and integer-scale upsampling (resize). On aarch64 the
// portable versions compile to a libm expf call per element (softmax) and a table lookup per
// output element (resize); here exp is neon::exp and the resize writes whole vectors, its
// phases interleaved by st2/st3/st4.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

// ---- scale_channels: y[c][i] = act(x[c][i] * gate[c]) ----

template <class F>
void scale_rows(const float* x, const float* gate, float* y, size_t hw, size_t c0, size_t c1,
                F act) {
  for (size_t c = c0; c < c1; ++c) {
    const float32x4_t g = vld1q_dup_f32(gate + c);
    const float* xc = x + c * hw;
    float* yc = y + c * hw;
    size_t i = 0;
    // 16 floats a step: paired loads and stores, the loop's own cost amortised.
    for (; i + 16 <= hw; i += 16) {
      const float32x4_t v0 = vld1q_f32(xc + i), v1 = vld1q_f32(xc + i + 4);
      const float32x4_t v2 = vld1q_f32(xc + i + 8), v3 = vld1q_f32(xc + i + 12);
      vst1q_f32(yc + i, act(vmulq_f32(v0, g)));
      vst1q_f32(yc + i + 4, act(vmulq_f32(v1, g)));
      vst1q_f32(yc + i + 8, act(vmulq_f32(v2, g)));
      vst1q_f32(yc + i + 12, act(vmulq_f32(v3, g)));
    }
    for (; i + 4 <= hw; i += 4) vst1q_f32(yc + i, act(vmulq_f32(vld1q_f32(xc + i), g)));
    if (i < hw) {
      const size_t n = hw - i;
      neon::store_partial(yc + i, act(vmulq_f32(neon::load_partial(xc + i, n), g)), n);
    }
  }
}

void aio_f32_scale_channels__neon(const float* x, const float* gate, float* y, size_t hw,
                                  size_t c0, size_t c1, Act act) {
  // The gate's own activation ran in the excite conv; after the multiply there is usually none.
  if (act == Act::None)
    scale_rows(x, gate, y, hw, c0, c1, [](float32x4_t v) { return v; });
  else
    neon::with_act(act, [&](auto f) { scale_rows(x, gate, y, hw, c0, c1, f); });
}

// ---- softmax over channels ----

// One pixel (hw == 1): its c channels are contiguous, so the lanes run along the channels.
void softmax_contiguous(const float* x, float* y, size_t c) {
  size_t k = 0;
  float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
  for (; k + 8 <= c; k += 8) {
    m0 = vmaxq_f32(m0, vld1q_f32(x + k));
    m1 = vmaxq_f32(m1, vld1q_f32(x + k + 4));
  }
  float mx = vmaxvq_f32(vmaxq_f32(m0, m1));
  for (; k < c; ++k) mx = std::max(mx, x[k]);
  const float32x4_t m = vdupq_n_f32(mx);
  float32x4_t s = vdupq_n_f32(0.f);
  k = 0;
  for (; k + 4 <= c; k += 4) {
    const float32x4_t e = neon::exp(vsubq_f32(vld1q_f32(x + k), m));
    vst1q_f32(y + k, e);
    s = vaddq_f32(s, e);
  }
  float sum = vaddvq_f32(s);
  if (k < c) {
    const size_t n = c - k;
    neon::store_partial(y + k, neon::exp(vsubq_f32(neon::load_partial(x + k, n), m)), n);
    for (; k < c; ++k) sum += y[k];
  }
  const float32x4_t inv = vdupq_n_f32(1.f / sum);
  for (k = 0; k + 4 <= c; k += 4) vst1q_f32(y + k, vmulq_f32(vld1q_f32(y + k), inv));
  if (k < c) neon::store_partial(y + k, vmulq_f32(neon::load_partial(y + k, c - k), inv), c - k);
}

// Pixels per pass: their running max and sum stay in a stack block while the channel planes
// stream (as the portable version).
constexpr size_t kPixelVectors = 64;

// Pixels [p0, p0 + n) (n <= 4 * kPixelVectors), 4 per vector; a partial last vector's extra
// lanes compute on zeros and are never stored.
void softmax_pixels(const float* x, float* y, size_t c, size_t hw, size_t p0, size_t n) {
  const size_t whole = n / 4, rest = n % 4, vecs = whole + (rest != 0);
  float32x4_t mx[kPixelVectors], sum[kPixelVectors];
  const auto load = [&](const float* p, size_t v) {
    return v < whole ? vld1q_f32(p + 4 * v) : neon::load_partial(p + 4 * v, rest);
  };
  const auto store = [&](float* p, size_t v, float32x4_t val) {
    if (v < whole)
      vst1q_f32(p + 4 * v, val);
    else
      neon::store_partial(p + 4 * v, val, rest);
  };
  for (size_t v = 0; v < vecs; ++v) {
    mx[v] = vdupq_n_f32(-INFINITY);
    sum[v] = vdupq_n_f32(0.f);
  }
  for (size_t k = 0; k < c; ++k) {
    const float* xk = x + k * hw + p0;
    for (size_t v = 0; v < vecs; ++v) mx[v] = vmaxq_f32(mx[v], load(xk, v));
  }
  for (size_t k = 0; k < c; ++k) {
    const float* xk = x + k * hw + p0;
    float* yk = y + k * hw + p0;
    for (size_t v = 0; v < vecs; ++v) {
      const float32x4_t e = neon::exp(vsubq_f32(load(xk, v), mx[v]));
      store(yk, v, e);
      sum[v] = vaddq_f32(sum[v], e);
    }
  }
  for (size_t v = 0; v < vecs; ++v) sum[v] = vdivq_f32(vdupq_n_f32(1.f), sum[v]);
  for (size_t k = 0; k < c; ++k) {
    float* yk = y + k * hw + p0;
    for (size_t v = 0; v < vecs; ++v) store(yk, v, vmulq_f32(load(yk, v), sum[v]));
  }
}

void aio_f32_softmax__neon(const float* x, float* y, size_t c, size_t hw, size_t p0, size_t p1) {
  if (hw == 1) return softmax_contiguous(x, y, c);
  for (; p0 < p1; p0 += 4 * kPixelVectors)
    softmax_pixels(x, y, c, hw, p0, std::min(4 * kPixelVectors, p1 - p0));
}

// ---- resize ----

// dst and src do not overlap (consecutive output rows).
void copy_row(const float* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t a = vld1q_f32(src + i), b = vld1q_f32(src + i + 4);
    vst1q_f32(dst + i, a);
    vst1q_f32(dst + i + 4, b);
  }
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vld1q_f32(src + i));
  if (i < n && n >= 4)
    vst1q_f32(dst + n - 4, vld1q_f32(src + n - 4));
  else
    for (; i < n; ++i) dst[i] = src[i];
}

// Nearest, one output row from source row a: each source float written S times (st2/st3/st4
// interleave S copies of the same vector).
template <size_t S>
void nearest_row(const float* a, size_t w_in, float* yr) {
  const auto vec = [&](size_t i) {
    const float32x4_t v = vld1q_f32(a + i);
    float* d = yr + i * S;
    if constexpr (S == 2) vst2q_f32(d, (float32x4x2_t{{v, v}}));
    if constexpr (S == 3) vst3q_f32(d, (float32x4x3_t{{v, v, v}}));
    if constexpr (S == 4) vst4q_f32(d, (float32x4x4_t{{v, v, v, v}}));
  };
  size_t i = 0;
  for (; i + 4 <= w_in; i += 4) vec(i);
  if (i < w_in && w_in >= 4) {
    vec(w_in - 4);  // the rest as one vector overlapping the last (same values again)
    return;
  }
  for (; i < w_in; ++i)
    for (size_t j = 0; j < S; ++j) yr[i * S + j] = a[i];
}

// Bilinear, one output row from the vertically blended source row t: phase j of S (output
// column i S + j) is t[i + o_j] + w_j (t[i + o_j + 1] - t[i + o_j]), o_j = -1 or 0, the same for
// every column whose taps are not clamped (source columns 1 .. w_in - 2); those go 4 at a time,
// the phases interleaved on the store. The edge columns follow the taps.
template <size_t S>
void bilinear_row(const float* t, const ResizePlan& p, float* yr) {
  const size_t w_in = p.w_in;
  const auto by_taps = [&](size_t i) {
    for (size_t d = i * S; d < (i + 1) * S; ++d) {
      const ResizeTap& c = p.cols[d];
      yr[d] = t[c.i0] + c.w1 * (t[c.i1] - t[c.i0]);
    }
  };
  size_t i = 0;
  if (w_in >= 3) {
    // Column 1's taps (unclamped there) give each phase's offset and weight.
    bool left[S];
    float32x4_t w[S];
    for (size_t j = 0; j < S; ++j) {
      left[j] = p.cols[S + j].i0 == 0;
      w[j] = vdupq_n_f32(p.cols[S + j].w1);
    }
    const auto vec = [&](size_t i4) {
      const float* q = t + i4;
      const float32x4_t l = vld1q_f32(q - 1), c = vld1q_f32(q), r = vld1q_f32(q + 1);
      const float32x4_t dl = vsubq_f32(c, l), dr = vsubq_f32(r, c);
      float32x4_t out[S];
      for (size_t j = 0; j < S; ++j)
        out[j] = left[j] ? vfmaq_f32(l, w[j], dl) : vfmaq_f32(c, w[j], dr);
      float* d = yr + i4 * S;
      if constexpr (S == 2) vst2q_f32(d, (float32x4x2_t{{out[0], out[1]}}));
      if constexpr (S == 3) vst3q_f32(d, (float32x4x3_t{{out[0], out[1], out[2]}}));
      if constexpr (S == 4) vst4q_f32(d, (float32x4x4_t{{out[0], out[1], out[2], out[3]}}));
    };
    by_taps(0);
    for (i = 1; i + 4 <= w_in - 1; i += 4) vec(i);
    // The columns left before the last: one more vector ending at w_in - 2, overlapping the
    // previous one (it writes the same values again).
    if (i < w_in - 1 && w_in >= 6) {
      vec(w_in - 5);
      i = w_in - 1;
    }
  }
  for (; i < w_in; ++i) by_taps(i);
}

template <size_t S>
void resize_channels(const ResizePlan& p, const float* x, float* y, size_t c0, size_t c1) {
  const size_t ho = p.rows.size(), wo = p.cols.size();
  float* blend = p.bilinear ? thread_scratch(Scratch::Plane, p.w_in) : nullptr;
  for (size_t c = c0; c < c1; ++c) {
    const float* xc = x + c * p.h_in * p.w_in;
    float* yc = y + c * ho * wo;
    for (size_t oy = 0; oy < ho; ++oy) {
      const ResizeTap& r = p.rows[oy];
      float* yr = yc + oy * wo;
      const float* a = xc + r.i0 * p.w_in;
      if (!p.bilinear) {
        // Rows of one source row after the first: a copy of the row just written.
        if (oy > 0 && p.rows[oy - 1].i0 == r.i0)
          copy_row(yr - wo, yr, wo);
        else
          nearest_row<S>(a, p.w_in, yr);
        continue;
      }
      const float* t = a;
      if (r.i1 != r.i0 && r.w1 != 0.f) {
        const float* b = xc + r.i1 * p.w_in;
        const float32x4_t w = vdupq_n_f32(r.w1);
        const auto vec = [&](size_t i) {
          const float32x4_t va = vld1q_f32(a + i);
          vst1q_f32(blend + i, vfmaq_f32(va, w, vsubq_f32(vld1q_f32(b + i), va)));
        };
        size_t i = 0;
        for (; i + 4 <= p.w_in; i += 4) vec(i);
        if (i < p.w_in && p.w_in >= 4)
          vec(p.w_in - 4);  // overlapping the last vector
        else
          for (; i < p.w_in; ++i) blend[i] = a[i] + r.w1 * (b[i] - a[i]);
        t = blend;
      }
      bilinear_row<S>(t, p, yr);
    }
  }
}

void aio_f32_resize__neon(const ResizePlan& p, const float* x, float* y, size_t c0, size_t c1) {
  switch (p.sw) {
    case 2:
      return resize_channels<2>(p, x, y, c0, c1);
    case 3:
      return resize_channels<3>(p, x, y, c0, c1);
    case 4:
      return resize_channels<4>(p, x, y, c0, c1);
    default:
      // Width scale 1 or above 4 (no network in the zoo): the portable gather.
      return resize_portable(p, x, y, c0, c1);
  }
}

}  // namespace

void fill_table_ops_neon(KernelTable& t) {
  t.scale_channels = aio_f32_scale_channels__neon;
  t.softmax = aio_f32_softmax__neon;
  t.resize = aio_f32_resize__neon;
}

}  // namespace detail
}  // namespace aio
