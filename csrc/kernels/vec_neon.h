// NEON helpers shared by the *_neon.cpp files only (aarch64: ASIMD is baseline ARMv8.0, so these
// need no flags). `static inline` keeps one copy per translation unit, as the x86 helpers do.
#pragma once

#include <arm_neon.h>

#include <cstddef>

#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {
namespace neon {

// exp(x): Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial (Cephes expf
// coefficients, as vec_avx512.h): ~1-2 ulp, well inside silu's 1e-5 budget. Clamped so 2^n is
// always a normal float: n in [-126, 127] (exp(88) = 1.65e38; silu of anything below -88 is
// -5e-37 instead of the exact -3e-37, an absolute error no float comparison can see).
__attribute__((always_inline)) static inline float32x4_t exp(float32x4_t x) {
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.3f)), vdupq_n_f32(88.0f));
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.f)), p, vmulq_f32(r, r));
  // 2^n from the exponent bits: n + 127 in [1, 254].
  const int32_t bias = 127;
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(bias)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

// The activations with a vector form, one function each, always inlined: a caller that knows
// the activation (a functor per Act, a switch outside its loop) gets straight-line code; act()
// below is the same expressions behind a switch. The division by 6 is the portable path's, so
// hardswish and hard-sigmoid round as it does. Sigmoid and HardSigmoid are the squeeze-excite
// gates (the excite conv's epilogue); lane by lane through apply_act they cost a libm expf call
// per element.
#define AIO_NEON_INLINE __attribute__((always_inline)) static inline
AIO_NEON_INLINE float32x4_t relu6(float32x4_t v) {
  return vminq_f32(vmaxq_f32(v, vdupq_n_f32(0.f)), vdupq_n_f32(6.f));
}
AIO_NEON_INLINE float32x4_t silu(float32x4_t v) {
  return vdivq_f32(v, vaddq_f32(vdupq_n_f32(1.f), exp(vnegq_f32(v))));
}
AIO_NEON_INLINE float32x4_t hardswish(float32x4_t v) {
  return vdivq_f32(vmulq_f32(v, relu6(vaddq_f32(v, vdupq_n_f32(3.f)))), vdupq_n_f32(6.f));
}
AIO_NEON_INLINE float32x4_t sigmoid(float32x4_t v) {
  return vdivq_f32(vdupq_n_f32(1.f), vaddq_f32(vdupq_n_f32(1.f), exp(vnegq_f32(v))));
}
AIO_NEON_INLINE float32x4_t hardsigmoid(float32x4_t v) {
  return vdivq_f32(relu6(vaddq_f32(v, vdupq_n_f32(3.f))), vdupq_n_f32(6.f));
}
#undef AIO_NEON_INLINE

// The activation of 4 lanes. Acts without a vector form here (any added later) go lane by lane
// through the scalar apply_act, so they are right on NEON the day they exist.
static inline float32x4_t act(float32x4_t v, Act a) {
  switch (a) {
    case Act::None:
      return v;
    case Act::Relu:
      return vmaxq_f32(v, vdupq_n_f32(0.f));
    case Act::Relu6:
      return relu6(v);
    case Act::Silu:
      return silu(v);
    case Act::Hardswish:
      return hardswish(v);
    case Act::Sigmoid:
      return sigmoid(v);
    case Act::HardSigmoid:
      return hardsigmoid(v);
    default:
      break;
  }
  float l[4];
  vst1q_f32(l, v);
  for (float& x : l) x = apply_act(x, a);
  return vld1q_f32(l);
}

// Calls body(f) with f the activation as a function object of one vector, the switch taken
// once, outside body's loops: for the activations with many constants (SiLU's exp, hardswish,
// the gates), so each gets straight-line code instead of act()'s out-of-line call and switch
// per vector. The cheap ones (None, ReLU, ReLU6) go through act(), as callers have their own
// inline paths for those.
template <class Body>
static inline void with_act(Act a, Body body) {
  switch (a) {
    case Act::Silu:
      return body([](float32x4_t x) { return silu(x); });
    case Act::Hardswish:
      return body([](float32x4_t x) { return hardswish(x); });
    case Act::Sigmoid:
      return body([](float32x4_t x) { return sigmoid(x); });
    case Act::HardSigmoid:
      return body([](float32x4_t x) { return hardsigmoid(x); });
    default:
      return body([a](float32x4_t x) { return act(x, a); });
  }
}

// with_act for kernels without inline paths of their own: None, ReLU and ReLU6 inline too, so
// every activation reaches body as straight-line code (the depthwise kernels' row loops).
template <class Body>
static inline void with_any_act(Act a, Body body) {
  switch (a) {
    case Act::None:
      return body([](float32x4_t x) { return x; });
    case Act::Relu:
      return body([](float32x4_t x) { return vmaxq_f32(x, vdupq_n_f32(0.f)); });
    case Act::Relu6:
      return body(
          [](float32x4_t x) { return vminq_f32(vmaxq_f32(x, vdupq_n_f32(0.f)), vdupq_n_f32(6.f)); });
    default:
      return with_act(a, body);
  }
}

// The first n (< 4) floats of p, zeros after: never reads past p[n - 1].
static inline float32x4_t load_partial(const float* p, size_t n) {
  float32x4_t v = vdupq_n_f32(0.f);
  if (n > 0) v = vld1q_lane_f32(p, v, 0);
  if (n > 1) v = vld1q_lane_f32(p + 1, v, 1);
  if (n > 2) v = vld1q_lane_f32(p + 2, v, 2);
  return v;
}

// Stores the first n (< 4) lanes of v.
static inline void store_partial(float* p, float32x4_t v, size_t n) {
  if (n > 0) vst1q_lane_f32(p, v, 0);
  if (n > 1) vst1q_lane_f32(p + 1, v, 1);
  if (n > 2) vst1q_lane_f32(p + 2, v, 2);
}

// n strips of 8 contiguous floats from src, strip t to dst + t * dst_step_bytes (B packing: one
// run of a row into its strips): two strips per step (one 4-register load, two post-incremented
// stores: 2.5 instructions a strip where GCC's loop took 5 to 6; on ResNet-20's 32 x 32 layers
// at narrow levels this copy is most of the packing).
static inline void copy_strips8(const float* src, float* dst, size_t n, size_t dst_step_bytes) {
  __asm__ volatile(
      "tbz %[n], #0, 1f\n"
      "ld1 {v0.4s, v1.4s}, [%[s]], #32\n"
      "st1 {v0.4s, v1.4s}, [%[d]], %[st]\n"
      "1:\n"
      "lsr %[n], %[n], #1\n"
      "cbz %[n], 3f\n"
      "2:\n"
      "ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [%[s]], #64\n"
      "st1 {v0.4s, v1.4s}, [%[d]], %[st]\n"
      "st1 {v2.4s, v3.4s}, [%[d]], %[st]\n"
      "subs %[n], %[n], #1\n"
      "b.ne 2b\n"
      "3:\n"
      : [s] "+r"(src), [d] "+r"(dst), [n] "+r"(n)
      : [st] "r"(dst_step_bytes)
      : "v0", "v1", "v2", "v3", "cc", "memory");
}

// copy_strips8 at column stride 2: strip i takes the even floats of src[16 i, 16 i + 16), by
// whole loads and uzp1 (5 instructions a strip, where two de-interleaving ld2 and their address
// arithmetic took 9: ResNet-18's and MobileNetV2's stride-2 first layers).
static inline void copy_strips8_s2(const float* src, float* dst, size_t n, size_t dst_step_bytes) {
  __asm__ volatile(
      "tbz %[n], #0, 1f\n"
      "ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [%[s]], #64\n"
      "uzp1 v16.4s, v0.4s, v1.4s\n"
      "uzp1 v17.4s, v2.4s, v3.4s\n"
      "st1 {v16.4s, v17.4s}, [%[d]], %[st]\n"
      "1:\n"
      "lsr %[n], %[n], #1\n"
      "cbz %[n], 3f\n"
      "2:\n"
      "ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [%[s]], #64\n"
      "ld1 {v4.4s, v5.4s, v6.4s, v7.4s}, [%[s]], #64\n"
      "uzp1 v16.4s, v0.4s, v1.4s\n"
      "uzp1 v17.4s, v2.4s, v3.4s\n"
      "uzp1 v18.4s, v4.4s, v5.4s\n"
      "uzp1 v19.4s, v6.4s, v7.4s\n"
      "st1 {v16.4s, v17.4s}, [%[d]], %[st]\n"
      "st1 {v18.4s, v19.4s}, [%[d]], %[st]\n"
      "subs %[n], %[n], #1\n"
      "b.ne 2b\n"
      "3:\n"
      : [s] "+r"(src), [d] "+r"(dst), [n] "+r"(n)
      : [st] "r"(dst_step_bytes)
      : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16", "v17", "v18", "v19", "cc",
        "memory");
}

// copy_strips8 for `rows` runs of 2 * pairs strips each, run r at src + r * src_step_bytes, all
// strips one after another at dst_step_bytes (a block of whole output rows of a map whose width
// is a multiple of 16: every run the same length, nothing in between). One call per K row instead
// of one per output row: a run of 2 strips (16 columns) takes 6 instructions, of 4 (32 columns)
// 9, where the per-run call and its even/odd tests alone took 14 (ResNet-20's 32 x 32 and
// 16 x 16 layers at its narrow levels).
static inline void copy_runs_strips8(const float* src, size_t src_step_bytes, size_t rows,
                                     size_t pairs, float* dst, size_t dst_step_bytes) {
  if (pairs == 1) {
    __asm__ volatile(
        "1:\n"
        "ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [%[s]]\n"
        "add %[s], %[s], %[ss]\n"
        "st1 {v0.4s, v1.4s}, [%[d]], %[st]\n"
        "st1 {v2.4s, v3.4s}, [%[d]], %[st]\n"
        "subs %[r], %[r], #1\n"
        "b.ne 1b\n"
        : [s] "+r"(src), [d] "+r"(dst), [r] "+r"(rows)
        : [st] "r"(dst_step_bytes), [ss] "r"(src_step_bytes)
        : "v0", "v1", "v2", "v3", "cc", "memory");
    return;
  }
  if (pairs == 2) {
    __asm__ volatile(
        "1:\n"
        "ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [%[s]], #64\n"
        "ld1 {v4.4s, v5.4s, v6.4s, v7.4s}, [%[s]]\n"
        "add %[s], %[s], %[ss]\n"
        "st1 {v0.4s, v1.4s}, [%[d]], %[st]\n"
        "st1 {v2.4s, v3.4s}, [%[d]], %[st]\n"
        "st1 {v4.4s, v5.4s}, [%[d]], %[st]\n"
        "st1 {v6.4s, v7.4s}, [%[d]], %[st]\n"
        "subs %[r], %[r], #1\n"
        "b.ne 1b\n"
        : [s] "+r"(src), [d] "+r"(dst), [r] "+r"(rows)
        : [st] "r"(dst_step_bytes), [ss] "r"(src_step_bytes - 64)
        : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "cc", "memory");
    return;
  }
  __asm__ volatile(
      "1:\n"
      "mov x9, %[s]\n"
      "mov x10, %[p]\n"
      "2:\n"
      "ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [x9], #64\n"
      "st1 {v0.4s, v1.4s}, [%[d]], %[st]\n"
      "st1 {v2.4s, v3.4s}, [%[d]], %[st]\n"
      "subs x10, x10, #1\n"
      "b.ne 2b\n"
      "add %[s], %[s], %[ss]\n"
      "subs %[r], %[r], #1\n"
      "b.ne 1b\n"
      : [s] "+r"(src), [d] "+r"(dst), [r] "+r"(rows)
      : [st] "r"(dst_step_bytes), [ss] "r"(src_step_bytes), [p] "r"(pairs)
      : "x9", "x10", "v0", "v1", "v2", "v3", "cc", "memory");
}

// The activations with many constants (SiLU's exp, hardswish, any later one), out of line: inline,
// their registers made GCC spill the accumulators of every tile, whatever its activation.
template <int R, int V>
__attribute__((noinline)) static void act_tile(float32x4_t (*acc)[2], Act act) {
  with_act(act, [&](auto f) {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) acc[r][v] = f(acc[r][v]);
  });
}

// Whole-width tiles of R rows x 4 V columns (nearly all GEMM tiles; conv3x3_rows' uncommon
// epilogues): the epilogue in passes over the registers, each behind one branch (a per-vector
// test of accumulate/scale/residual/act cost about as much as the arithmetic), and the
// activation's switch taken once per tile, not per vector.
template <int R, int V>
static inline void epilogue_full(float32x4_t (*acc)[2], float* c, size_t ldc, bool accumulate,
                                 const TileEpilogue* epi) {
  if (accumulate) {
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[r][v] = vaddq_f32(acc[r][v], vld1q_f32(c + r * ldc + 4 * v));
  }
  if (epi) {
    if (epi->scale && epi->bias) {
#pragma GCC unroll 12
      for (int r = 0; r < R; ++r) {
        const float32x4_t s = vld1q_dup_f32(epi->scale + r), b = vld1q_dup_f32(epi->bias + r);
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) acc[r][v] = vfmaq_f32(b, acc[r][v], s);
      }
    } else if (epi->scale || epi->bias) {
#pragma GCC unroll 12
      for (int r = 0; r < R; ++r) {
        const float32x4_t s = vdupq_n_f32(epi->scale ? epi->scale[r] : 1.f);
        const float32x4_t b = vdupq_n_f32(epi->bias ? epi->bias[r] : 0.f);
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) acc[r][v] = vfmaq_f32(b, acc[r][v], s);
      }
    }
    if (epi->residual) {
#pragma GCC unroll 12
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v)
          acc[r][v] = vaddq_f32(acc[r][v], vld1q_f32(epi->residual + r * ldc + 4 * v));
    }
    const float32x4_t zero = vdupq_n_f32(0.f), six = vdupq_n_f32(6.f);
    switch (epi->act) {
      case Act::None:
        break;
      case Act::Relu:
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
          for (int v = 0; v < V; ++v) acc[r][v] = vmaxq_f32(acc[r][v], zero);
        break;
      case Act::Relu6:
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
          for (int v = 0; v < V; ++v) acc[r][v] = vminq_f32(vmaxq_f32(acc[r][v], zero), six);
        break;
      default: {
        // Through a copy: handing acc itself to the out-of-line call would keep it in memory
        // for the whole tile.
        float32x4_t tmp[R][2];
        for (int r = 0; r < R; ++r)
          for (int v = 0; v < V; ++v) tmp[r][v] = acc[r][v];
        act_tile<R, V>(tmp, epi->act);
        for (int r = 0; r < R; ++r)
          for (int v = 0; v < V; ++v) acc[r][v] = tmp[r][v];
        break;
      }
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) vst1q_f32(c + r * ldc + 4 * v, acc[r][v]);
}

}  // namespace neon
}  // namespace detail
}  // namespace aio
