// NEON max pooling, output width in lanes (the AVX-512 kernel's scheme, pool_avx512.cpp, at 4
// lanes). Separable: the window's in-image rows are reduced element-wise into one row bordered
// with -inf (padding never wins; a window that is all padding gives -inf, as PyTorch), then each
// vector of 4 outputs takes kw loads (stride 2 de-interleaved by vld2q). FMAX returns NaN when
// either operand is NaN, which is torch.max_pool2d's rule, so no blend is needed.
#include <arm_neon.h>

#include <limits>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

template <int S>
inline float32x4_t load_taps(const float* src) {
  if constexpr (S == 1)
    return vld1q_f32(src);
  else
    return vld2q_f32(src).val[0];
}

// Per channel, two passes as in pool_avx512.cpp: window rows reduced into a -inf-bordered row of
// a scratch plane, then the horizontal taps read from it.
template <int S>
void max_pool_rows(const float* x, const ConvGeom& g, float* y, size_t c0, size_t c1, size_t oy0,
                   size_t oy1) {
  const size_t outs = (g.w_out + 3) / 4 * 4;
  // Read once: the loops' stores may alias g, and GCC then reloads its fields every step.
  const size_t w_in = g.w_in, w_out = g.w_out;
  size_t cols = (outs - 1) * S + (g.kw - 1) * g.dw + 1 + (S == 2);
  if (cols < g.pw + g.w_in) cols = g.pw + g.w_in;
  cols = (cols + 3) / 4 * 4;
  const size_t rows_out = oy1 - oy0;
  float* plane = thread_scratch(Scratch::Plane, rows_out * cols);
  const float ninf_s = -std::numeric_limits<float>::infinity();
  const float32x4_t ninf = vdupq_n_f32(ninf_s);
  // Borders (and rows whose window is all padding) are -inf; the row bodies are rewritten per
  // channel, the borders never.
  for (size_t i = 0; i < rows_out * cols; i += 4) vst1q_f32(plane + i, ninf);
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
      size_t ix = 0;
      if (n == 3) {  // the common window (3 rows inside the image): straight-line, 8 a step
        const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];
        for (; ix + 8 <= w_in; ix += 8) {
          vst1q_f32(body + ix, vmaxq_f32(vmaxq_f32(vld1q_f32(r0 + ix), vld1q_f32(r1 + ix)),
                                         vld1q_f32(r2 + ix)));
          vst1q_f32(body + ix + 4,
                    vmaxq_f32(vmaxq_f32(vld1q_f32(r0 + ix + 4), vld1q_f32(r1 + ix + 4)),
                              vld1q_f32(r2 + ix + 4)));
        }
      }
      for (; ix + 4 <= g.w_in; ix += 4) {
        float32x4_t v = vld1q_f32(rows[0] + ix);
        for (size_t r = 1; r < n; ++r) v = vmaxq_f32(v, vld1q_f32(rows[r] + ix));
        vst1q_f32(body + ix, v);
      }
      for (; ix < g.w_in; ++ix) {
        float v = rows[0][ix];
        for (size_t r = 1; r < n; ++r) {
          const float b = rows[r][ix];
          v = (b > v || b != b) ? b : v;  // NaN wins, as FMAX
        }
        body[ix] = v;
      }
    }
    for (size_t oy = oy0; oy < oy1; ++oy) {
      const float* row = plane + (oy - oy0) * cols;
      float* yr = yc + oy * g.w_out;
      size_t ox = 0;
      if (S == 2 && g.kw == 3 && g.dw == 1) {  // the common window: whole vectors first
        for (; ox + 4 <= w_out; ox += 4) {
          const float32x4x2_t v = vld2q_f32(row + 2 * ox);
          vst1q_f32(yr + ox,
                    vmaxq_f32(vmaxq_f32(v.val[0], v.val[1]), vld2q_f32(row + 2 * ox + 2).val[0]));
        }
      }
      for (; ox < g.w_out; ox += 4) {
        const float* r = row + ox * S;
        float32x4_t m;
        if (S == 2 && g.kw == 3 && g.dw == 1) {
          // Taps 0 and 1 from one de-interleaving load, tap 2 from a second: 2 loads, not 3.
          const float32x4x2_t v = vld2q_f32(r);
          m = vmaxq_f32(vmaxq_f32(v.val[0], v.val[1]), vld2q_f32(r + 2).val[0]);
        } else {
          m = load_taps<S>(r);
          for (size_t j = 1; j < g.kw; ++j) m = vmaxq_f32(m, load_taps<S>(r + j * g.dw));
        }
        const size_t n = g.w_out - ox;
        if (n >= 4)
          vst1q_f32(yr + ox, m);
        else
          neon::store_partial(yr + ox, m, n);
      }
    }
  }
}

void aio_f32_maxpool_rows__neon(const float* x, const ConvGeom& g, float* y, size_t c0, size_t c1,
                                size_t oy0, size_t oy1) {
  if (c0 >= c1 || oy0 >= oy1 || g.w_out == 0) return;
  if (g.sw == 1) return max_pool_rows<1>(x, g, y, c0, c1, oy0, oy1);
  if (g.sw == 2) return max_pool_rows<2>(x, g, y, c0, c1, oy0, oy1);
  max_pool_portable(x, g, y, c0, c1, oy0, oy1);
}

// Vertical sums of average pooling: 16 floats a step (paired loads), then 4, then singles.
void add_row_neon(float* acc, const float* x, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (size_t j = 0; j < 16; j += 4)
      vst1q_f32(acc + i + j, vaddq_f32(vld1q_f32(acc + i + j), vld1q_f32(x + i + j)));
  for (; i + 4 <= n; i += 4) vst1q_f32(acc + i, vaddq_f32(vld1q_f32(acc + i), vld1q_f32(x + i)));
  for (; i < n; ++i) acc[i] += x[i];
}

void aio_f32_avgpool_rows__neon(const float* x, const ConvGeom& g, bool count_pad, float* y,
                                size_t c0, size_t c1) {
  avg_pool_rows(x, g, count_pad, y, c0, c1, add_row_neon);
}

// One channel's mean: four accumulators of 4 lanes (16 floats a step, independent chains), then
// whole vectors, a horizontal add and the scalar tail.
void aio_f32_global_avgpool__neon(const float* x, size_t hw, float* y, size_t c0, size_t c1) {
  for (size_t ch = c0; ch < c1; ++ch) {
    const float* xc = x + ch * hw;
    float32x4_t s0 = vdupq_n_f32(0.f), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 16 <= hw; i += 16) {
      s0 = vaddq_f32(s0, vld1q_f32(xc + i));
      s1 = vaddq_f32(s1, vld1q_f32(xc + i + 4));
      s2 = vaddq_f32(s2, vld1q_f32(xc + i + 8));
      s3 = vaddq_f32(s3, vld1q_f32(xc + i + 12));
    }
    for (; i + 4 <= hw; i += 4) s0 = vaddq_f32(s0, vld1q_f32(xc + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < hw; ++i) sum += xc[i];
    y[ch] = hw ? sum / static_cast<float>(hw) : 0.f;
  }
}

}  // namespace

void fill_table_pool_neon(KernelTable& t) {
  t.max_pool = aio_f32_maxpool_rows__neon;
  t.avg_pool = aio_f32_avgpool_rows__neon;
  t.global_avg_pool = aio_f32_global_avgpool__neon;
}

}  // namespace detail
}  // namespace aio
