// NEON Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms (contracts in kernels_internal.h; the
// algorithm and the portable versions are in winograd.cpp), 4 tiles per vector: lane i holds tile
// tx0 + i. The structure loads split the columns by phase for free: F(2x2)'s 4 tiles read 10
// columns, vld2q gives columns 2i and 2i + 1 (and, 2 columns on, 2i + 2 and 2i + 3); F(4x4)'s read
// 18 (20 are loaded), vld4q gives 4i + k for k < 4 and, 4 columns on, the last two taps. The
// outputs go back with vst2q / vst4q, the residual read with vld2q / vld4q. F(2x2)'s windows that
// cross the image's edge (or the plane's end) are first copied into a zero-padded row; F(4x4)'s
// transforms are assembly over the driver's zero-bordered copy (WinogradFns::padded_input).
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

// SiLU (the YOLO-style net's 3x3 layers) and the gates: vector exp (vec_neon.h), not a libm
// call per lane. Out of line: inlined into act4 it made act4 too big to inline, a call per output
// vector for ReLU too (ResNet-20 L0 on NEON +0.63 M instructions, 15.0 -> 15.6 M).
__attribute__((noinline)) float32x4_t act4_exp(float32x4_t v, Act a) { return neon::act(v, a); }

inline float32x4_t act4(float32x4_t v, Act a) {
  switch (a) {
    case Act::None:
      return v;
    case Act::Relu:
      return vmaxq_f32(v, vdupq_n_f32(0.f));
    case Act::Relu6:
      return vminq_f32(vmaxq_f32(v, vdupq_n_f32(0.f)), vdupq_n_f32(6.f));
    case Act::Hardswish: {
      const float32x4_t t =
          vminq_f32(vmaxq_f32(vaddq_f32(v, vdupq_n_f32(3.f)), vdupq_n_f32(0.f)), vdupq_n_f32(6.f));
      return vmulq_f32(vmulq_f32(v, t), vdupq_n_f32(1.f / 6.f));
    }
    default:
      return act4_exp(v, a);
  }
}

// Row iy's columns [ix0, ix0 + width) (width <= 24), zero outside the image: straight from the
// plane when all are inside, else through `buf`.
const float* window_row(const float* plane, const ConvGeom& g, long iy, long ix0, long width,
                        float* buf) {
  const long w_in = static_cast<long>(g.w_in);
  const float* row = plane + iy * w_in;
  if (ix0 >= 0 && ix0 + width <= w_in) return row + ix0;
  const long s0 = std::clamp(-ix0, 0L, width), s1 = std::clamp(w_in - ix0, s0, width);
  std::fill(buf, buf + s0, 0.f);
  std::copy(row + ix0 + s0, row + ix0 + s1, buf + s0);
  std::fill(buf + s1, buf + width, 0.f);
  return buf;
}

// Lanes [0, nt) from src, the others zero.
inline float32x4_t load_lanes(const float* src, size_t nt) {
  if (nt == 4) return vld1q_f32(src);
  float32x4_t v = vld1q_lane_f32(src, vdupq_n_f32(0.f), 0);
  if (nt > 1) v = vld1q_lane_f32(src + 1, v, 1);
  if (nt > 2) v = vld1q_lane_f32(src + 2, v, 2);
  return v;
}

void input_f2_neon(const float* plane, const ConvGeom& g, size_t ty, size_t tx0, size_t n,
                   float* v, size_t stride) {
  const long h_in = static_cast<long>(g.h_in);
  float buf[10];
  for (size_t i0 = 0; i0 < n; i0 += 4) {
    const long ix0 = static_cast<long>(2 * (tx0 + i0)) - static_cast<long>(g.pw);
    float32x4_t h[4][4];
    #pragma GCC unroll 16
    for (size_t r = 0; r < 4; ++r) {
      const long iy = static_cast<long>(2 * ty + r) - static_cast<long>(g.ph);
      if (iy < 0 || iy >= h_in) {
        #pragma GCC unroll 16
        for (size_t s = 0; s < 4; ++s) h[r][s] = vdupq_n_f32(0.f);
        continue;
      }
      const float* src = window_row(plane, g, iy, ix0, 10, buf);
      const float32x4x2_t a = vld2q_f32(src), b = vld2q_f32(src + 2);
      h[r][0] = vsubq_f32(a.val[0], b.val[0]);  // d0 - d2
      h[r][1] = vaddq_f32(a.val[1], b.val[0]);  // d1 + d2
      h[r][2] = vsubq_f32(b.val[0], a.val[1]);  // d2 - d1
      h[r][3] = vsubq_f32(a.val[1], b.val[1]);  // d1 - d3
    }
    #pragma GCC unroll 16
    for (size_t s = 0; s < 4; ++s) {
      float* vs = v + s * stride + i0;
      vst1q_f32(vs, vsubq_f32(h[0][s], h[2][s]));
      vst1q_f32(vs + 4 * stride, vaddq_f32(h[1][s], h[2][s]));
      vst1q_f32(vs + 8 * stride, vsubq_f32(h[2][s], h[1][s]));
      vst1q_f32(vs + 12 * stride, vsubq_f32(h[1][s], h[3][s]));
    }
  }
}

void output_f2_neon(const float* p, size_t stride, size_t n, float scale, float bias,
                    const float* const* res, float* const* y_rows, size_t cols, Act act) {
  const float32x4_t vs = vdupq_n_f32(scale), vb = vdupq_n_f32(bias);
  for (size_t i0 = 0; i0 < n; i0 += 4) {
    const size_t nt = std::min<size_t>(4, n - i0);
    float32x4_t m[16];
    #pragma GCC unroll 16
    for (size_t t = 0; t < 16; ++t) m[t] = load_lanes(p + t * stride + i0, nt);
    float32x4_t q[2][4];  // A^T M
    #pragma GCC unroll 16
    for (size_t s = 0; s < 4; ++s) {
      q[0][s] = vaddq_f32(vaddq_f32(m[s], m[4 + s]), m[8 + s]);
      q[1][s] = vsubq_f32(vsubq_f32(m[4 + s], m[8 + s]), m[12 + s]);
    }
    const size_t x0 = 2 * i0, w = std::min<size_t>(8, cols - x0);
    #pragma GCC unroll 16
    for (size_t dy = 0; dy < 2; ++dy) {
      float* y = y_rows[dy];
      if (y == nullptr) continue;
      const float* r = res ? res[dy] : nullptr;
      const float32x4_t* a = q[dy];
      float32x4x2_t o;
      o.val[0] = vfmaq_f32(vb, vaddq_f32(vaddq_f32(a[0], a[1]), a[2]), vs);
      o.val[1] = vfmaq_f32(vb, vsubq_f32(vsubq_f32(a[1], a[2]), a[3]), vs);
      float tmp[8];
      if (r) {
        const float* rr = r + x0;
        if (w < 8) {
          std::fill(std::copy(rr, rr + w, tmp), tmp + 8, 0.f);
          rr = tmp;
        }
        const float32x4x2_t rv = vld2q_f32(rr);
        o.val[0] = vaddq_f32(o.val[0], rv.val[0]);
        o.val[1] = vaddq_f32(o.val[1], rv.val[1]);
      }
      o.val[0] = act4(o.val[0], act);
      o.val[1] = act4(o.val[1], act);
      if (w == 8) {
        vst2q_f32(y + x0, o);
      } else {
        vst2q_f32(tmp, o);
        std::copy(tmp, tmp + w, y + x0);
      }
    }
  }
}

// F(4x4)'s input transform of `groups` 4-tile groups (tiles 4 columns apart, 16 floats from
// one group to the next) of a zero-bordered plane, in assembly: GCC's code for the intrinsics
// spent about 430 instructions a group (register copies around the accumulating FMAs, pointers
// spilled), this about 255. The row transform's six outputs come in three pairs that share
// their terms ({0, 5}, {1, 2}, {3, 4}); each pair is computed for the six rows (two ld4 a row:
// phases 4i + k for k < 4, and 4 columns on, the last two) and transformed down its columns at
// once. A row's second ld4 goes to the registers after the previous row's pair, so the pair
// accumulates where it was loaded: row r's pair ends in v(8 + 2r), v(9 + 2r). Each column's B^T
// (14 operations) is stored down its six positions by one pointer post-incremented by six
// positions. v31 holds {4, 5, 2, 0}.
#define AIO_IN_ROWS(ROW)                                                        \
  ROW("v8", "v9", "v10", "v11") ROW("v10", "v11", "v12", "v13")                 \
  ROW("v12", "v13", "v14", "v15") ROW("v14", "v15", "v16", "v17")               \
  ROW("v16", "v17", "v18", "v19") ROW("v18", "v19", "v20", "v21")               \
  "sub x9, x9, %[rs6]\n" "sub x12, x12, %[rs6]\n"
#define AIO_IN_LOAD(A, B, C, D)                                                 \
  "ld4 {v0.4s, v1.4s, v2.4s, v3.4s}, [x9], %[rs]\n"                             \
  "ld4 {" A ".4s, " B ".4s, " C ".4s, " D ".4s}, [x12], %[rs]\n"
// Columns 0 (in A) and 5 (in B): e4 + 4 e0 - 5 e2 and e5 + 4 e1 - 5 e3.
#define AIO_IN_ROW05(A, B, C, D) AIO_IN_LOAD(A, B, C, D)                        \
  "fmla " A ".4s, v0.4s, v31.s[0]\n" "fmls " A ".4s, v2.4s, v31.s[1]\n"         \
  "fmla " B ".4s, v1.4s, v31.s[0]\n" "fmls " B ".4s, v3.4s, v31.s[1]\n"
// Columns 1 (in B) and 2 (in A): a + b and a - b, a = e4 - 4 e2, b = e3 - 4 e1.
#define AIO_IN_ROW12(A, B, C, D) AIO_IN_LOAD(A, B, C, D)                        \
  "fmls " A ".4s, v2.4s, v31.s[0]\n" "fmls v3.4s, v1.4s, v31.s[0]\n"            \
  "fadd " B ".4s, " A ".4s, v3.4s\n" "fsub " A ".4s, " A ".4s, v3.4s\n"
// Columns 3 (in B) and 4 (in A): c + 2 d and c - 2 d, c = e4 - e2, d = e3 - e1.
#define AIO_IN_ROW34(A, B, C, D) AIO_IN_LOAD(A, B, C, D)                        \
  "fsub " A ".4s, " A ".4s, v2.4s\n" "fsub v3.4s, v3.4s, v1.4s\n"               \
  "fadd " B ".4s, " A ".4s, v3.4s\n" "fadd " B ".4s, " B ".4s, v3.4s\n"         \
  "fmls " A ".4s, v3.4s, v31.s[2]\n"
// B^T down a column x0..x5 (as bt6), stored at positions 6 r + s, then x13 moves by DELTA.
#define AIO_IN_COL(X0, X1, X2, X3, X4, X5, DELTA)                               \
  "fsub v2.4s, " X4 ".4s, " X2 ".4s\n"                                          \
  "fsub v3.4s, " X3 ".4s, " X1 ".4s\n"                                          \
  "fsub " X0 ".4s, " X0 ".4s, " X2 ".4s\n"                                      \
  "fmul " X0 ".4s, " X0 ".4s, v31.s[0]\n"                                       \
  "fadd " X0 ".4s, " X0 ".4s, v2.4s\n"                                          \
  "fsub " X5 ".4s, " X5 ".4s, " X3 ".4s\n"                                      \
  "fmls " X5 ".4s, v3.4s, v31.s[0]\n"                                           \
  "fmls " X4 ".4s, " X2 ".4s, v31.s[0]\n"                                       \
  "fmls " X3 ".4s, " X1 ".4s, v31.s[0]\n"                                       \
  "fadd " X1 ".4s, " X4 ".4s, " X3 ".4s\n"                                      \
  "fsub " X2 ".4s, " X4 ".4s, " X3 ".4s\n"                                      \
  "fmul v1.4s, v3.4s, v31.s[2]\n"                                               \
  "fadd " X4 ".4s, v2.4s, v1.4s\n"                                              \
  "fsub " X3 ".4s, v2.4s, v1.4s\n"                                              \
  "st1 {" X0 ".4s}, [x13], %[s6]\n" "st1 {" X1 ".4s}, [x13], %[s6]\n"           \
  "st1 {" X2 ".4s}, [x13], %[s6]\n" "st1 {" X4 ".4s}, [x13], %[s6]\n"           \
  "st1 {" X3 ".4s}, [x13], %[s6]\n" "st1 {" X5 ".4s}, [x13], %[s6]\n"           \
  "add x13, x13, %[" DELTA "]\n"
#define AIO_IN_COL_(...) AIO_IN_COL(__VA_ARGS__)
#define AIO_IN_EVEN "v8", "v10", "v12", "v14", "v16", "v18"
#define AIO_IN_ODD "v9", "v11", "v13", "v15", "v17", "v19"
// Channels [0, channels): channel c's plane at src + c src_step, its matrices' columns at
// v + c v_step.
void input_f4_groups(const float* src, size_t src_step, size_t channels, size_t rs,
                     size_t groups, float* v, size_t v_step, size_t stride) {
  static const float kv[4] = {4.f, 5.f, 2.f, 0.f};
  const size_t sb = stride * sizeof(float);
  const ptrdiff_t d05 = -31 * static_cast<ptrdiff_t>(sb), d51 = -40 * static_cast<ptrdiff_t>(sb),
                  d35 = -35 * static_cast<ptrdiff_t>(sb);
  __asm__ volatile(
      "ld1 {v31.4s}, [%[kv]]\n"
      "0:\n"
      "mov x15, %[src]\n"
      "mov x16, %[v]\n"
      "mov x17, %[n]\n"
      "1:\n"
      "mov x9, x15\n"
      "add x12, x15, #16\n"
      "mov x13, x16\n"
      AIO_IN_ROWS(AIO_IN_ROW05)
      AIO_IN_COL_(AIO_IN_EVEN, "d05")
      AIO_IN_COL_(AIO_IN_ODD, "d51")
      AIO_IN_ROWS(AIO_IN_ROW12)
      AIO_IN_COL_(AIO_IN_ODD, "d35")
      AIO_IN_COL_(AIO_IN_EVEN, "d35")
      AIO_IN_ROWS(AIO_IN_ROW34)
      AIO_IN_COL_(AIO_IN_ODD, "d35")
      AIO_IN_COL_(AIO_IN_EVEN, "d35")
      "add x15, x15, #64\n"
      "add x16, x16, #16\n"
      "subs x17, x17, #1\n"
      "b.ne 1b\n"
      "add %[src], %[src], %[ss]\n"
      "add %[v], %[v], %[vs]\n"
      "subs %[c], %[c], #1\n"
      "b.ne 0b\n"
      : [src] "+r"(src), [v] "+r"(v), [c] "+r"(channels)
      : [n] "r"(groups), [rs] "r"(rs * sizeof(float)), [rs6] "r"(6 * rs * sizeof(float)),
        [s6] "r"(6 * sb), [d05] "r"(d05), [d51] "r"(d51), [d35] "r"(d35), [kv] "r"(kv),
        [ss] "r"(src_step * sizeof(float)), [vs] "r"(v_step * sizeof(float))
      : "x9", "x12", "x13", "x15", "x16", "x17", "v0", "v1", "v2", "v3", "v8", "v9", "v10",
        "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v31", "cc",
        "memory");
}
#undef AIO_IN_ROWS
#undef AIO_IN_LOAD
#undef AIO_IN_ROW05
#undef AIO_IN_ROW12
#undef AIO_IN_ROW34
#undef AIO_IN_COL
#undef AIO_IN_COL_
#undef AIO_IN_EVEN
#undef AIO_IN_ODD

// The input is zero-bordered (WinogradFns::padded_input), so every window lies inside it, and a
// partial group's lanes read the windows after it (whole vectors: see WinogradFns).
void input_f4_neon(const float* plane, const ConvGeom& g, size_t ty, size_t tx0, size_t n,
                   float* v, size_t stride) {
  input_f4_groups(plane + 4 * (ty * g.w_in + tx0), 0, 1, g.w_in, (n + 3) / 4, v, 0, stride);
}

void input_f4_run(const float* plane, size_t plane_step, size_t channels, const ConvGeom& g,
                  size_t ty, size_t tx0, size_t n, float* v, size_t v_step, size_t stride) {
  if (channels == 0) return;
  input_f4_groups(plane + 4 * (ty * g.w_in + tx0), plane_step, channels, g.w_in, (n + 3) / 4, v,
                  v_step, stride);
}

// A^T x of F(4x4) on vectors (as at6 in winograd.cpp).
inline void at6(const float32x4_t* x, float32x4_t* r) {
  const float32x4_t a = vaddq_f32(x[1], x[2]), b = vsubq_f32(x[1], x[2]);
  const float32x4_t c = vaddq_f32(x[3], x[4]), d = vsubq_f32(x[3], x[4]);
  r[0] = vaddq_f32(vaddq_f32(x[0], a), c);
  r[1] = vfmaq_n_f32(b, d, 2.f);
  r[2] = vfmaq_n_f32(a, c, 4.f);
  r[3] = vaddq_f32(vfmaq_n_f32(b, d, 8.f), x[5]);
}

// Whole 4-tile groups of F(4x4)'s output transform in assembly, for `groups` groups from p, y
// and res (4 output rows each, `ys` floats apart; res, if kRes, laid out as y), Act None or ReLU.
// GCC's code for the intrinsics below spent about 490 instructions a group (register copies
// around the accumulating FMAs, pointers spilled to the stack); here about 190: per column s of
// the product tile, six loads (one pointer, post-incremented by six positions) and A^T down the
// column (10 operations) into q[dy][s] = v(8 + 6 dy + s), all 24 in registers; then per output
// row dy, A^T along the row into v0-v3 (10), the scale (4 multiplies, or with the residual,
// loaded into the row's own dead registers by ld4, 4 multiply-adds), ReLU (4) and one st4. The
// bias costs one add a group: A^T E A is all ones for E = 1 at position (1, 1) alone, so
// scale * (A^T (M + E bias / scale) A) = scale * Y + bias. v7 holds {2, 4, 8, scale}, v6
// bias / scale.
#define AIO_OUT_COL(D0, D1, D2, D3, EXTRA)                   \
  "ld1 {v0.4s}, [x9], %[s6]\n"                               \
  "ld1 {v1.4s}, [x9], %[s6]\n"                               \
  "ld1 {v2.4s}, [x9], %[s6]\n"                               \
  "ld1 {v3.4s}, [x9], %[s6]\n"                               \
  "ld1 {v4.4s}, [x9], %[s6]\n"                               \
  "ld1 {v5.4s}, [x9], %[s6]\n"                               \
  "sub x9, x9, %[s35]\n"                                     \
  EXTRA                                                      \
  "fsub " D1 ".4s, v1.4s, v2.4s\n"                           \
  "fadd " D2 ".4s, v1.4s, v2.4s\n"                           \
  "fadd v1.4s, v3.4s, v4.4s\n"                               \
  "fsub v4.4s, v3.4s, v4.4s\n"                               \
  "fadd v0.4s, v0.4s, " D2 ".4s\n"                           \
  "fadd " D0 ".4s, v0.4s, v1.4s\n"                           \
  "fmla " D2 ".4s, v1.4s, v7.s[1]\n"                         \
  "fadd " D3 ".4s, v5.4s, " D1 ".4s\n"                       \
  "fmla " D3 ".4s, v4.4s, v7.s[2]\n"                         \
  "fmla " D1 ".4s, v4.4s, v7.s[0]\n"
// The epilogues: y = scale * (out + bias / scale) [+ residual], the bias folded into the
// products (below), then the activation and the store on the registers that hold the result.
#define AIO_OUT_EPI_BIAS(X0, X1, X2, X3, ACT, STORE)                           \
  "fmul v0.4s, v0.4s, v7.s[3]\n" "fmul v1.4s, v1.4s, v7.s[3]\n"                \
  "fmul v2.4s, v2.4s, v7.s[3]\n" "fmul v3.4s, v3.4s, v7.s[3]\n"                \
  ACT("v0", "v1", "v2", "v3") STORE("v0", "v1", "v2", "v3")
#define AIO_OUT_RES_ADD(X0, X1, X2, X3, ACT, STORE)                            \
  "fmla " X0 ".4s, v0.4s, v7.s[3]\n" "fmla " X1 ".4s, v1.4s, v7.s[3]\n"        \
  "fmla " X2 ".4s, v2.4s, v7.s[3]\n" "fmla " X3 ".4s, v3.4s, v7.s[3]\n"        \
  ACT(X0, X1, X2, X3) STORE(X0, X1, X2, X3)
#define AIO_OUT_EPI_RES(X0, X1, X2, X3, ACT, STORE)                            \
  "ld4 {" X0 ".4s, " X1 ".4s, " X2 ".4s, " X3 ".4s}, [x11], %[ys]\n"           \
  AIO_OUT_RES_ADD(X0, X1, X2, X3, ACT, STORE)
// A partial group: its first %[nr] (1-4) rows (the rest lie past the map: skipped), its first
// %[wt] (0-4) whole tiles by lane loads and stores (lane i is tile i's 4 columns), then %[rs]
// (0-3) more columns of tile %[wt] one float at a time; the other lanes are computed and dropped.
#define AIO_OUT_LANES(OP, REGS, PTR, L)                                        \
  "cbz %[wt], " L "f\n"                                                        \
  OP " {" REGS "}[0], [" PTR "]\n"                                             \
  "cmp %[wt], #2\n" "b.lt " L "f\n"                                            \
  "add x14, " PTR ", #16\n" OP " {" REGS "}[1], [x14]\n" "b.eq " L "f\n"      \
  "add x14, " PTR ", #32\n" OP " {" REGS "}[2], [x14]\n"                       \
  "cmp %[wt], #3\n" "b.eq " L "f\n"                                            \
  "add x14, " PTR ", #48\n" OP " {" REGS "}[3], [x14]\n"                       \
  L ":\n"
#define AIO_OUT_REST_LANE(OP, R0, R1, R2, I, E)                                 \
  OP " {" R0 ".s}[" I "], [x14], #4\n" "cmp %[rs], #2\n" "b.lt " E "f\n"         \
  OP " {" R1 ".s}[" I "], [x14], #4\n" "b.eq " E "f\n"                           \
  OP " {" R2 ".s}[" I "], [x14]\n"
#define AIO_OUT_REST(OP, R0, R1, R2, PTR, L1, L2, L3, E)                        \
  "cbz %[rs], " E "f\n"                                                        \
  "add x14, " PTR ", %[w16]\n"                                                 \
  "cmp %[wt], #2\n" "b.eq " L2 "f\n" "b.hi " L3 "f\n" "cbnz %[wt], " L1 "f\n"  \
  AIO_OUT_REST_LANE(OP, R0, R1, R2, "0", E) "b " E "f\n"                        \
  L1 ":\n" AIO_OUT_REST_LANE(OP, R0, R1, R2, "1", E) "b " E "f\n"               \
  L2 ":\n" AIO_OUT_REST_LANE(OP, R0, R1, R2, "2", E) "b " E "f\n"               \
  L3 ":\n" AIO_OUT_REST_LANE(OP, R0, R1, R2, "3", E)                            \
  E ":\n"
#define AIO_OUT_EPI_RES_PART(X0, X1, X2, X3, ACT, STORE)                       \
  "mov x16, x11\n" "add x11, x11, %[ys]\n"                                      \
  AIO_OUT_LANES("ld4", X0 ".s, " X1 ".s, " X2 ".s, " X3 ".s", "x16", "41")      \
  AIO_OUT_REST("ld1", X0, X1, X2, "x16", "42", "43", "44", "45")                \
  AIO_OUT_RES_ADD(X0, X1, X2, X3, ACT, STORE)
#define AIO_OUT_STORE(R0, R1, R2, R3)                                          \
  "st4 {" R0 ".4s, " R1 ".4s, " R2 ".4s, " R3 ".4s}, [x10], %[ys]\n"
#define AIO_OUT_STORE_PART(R0, R1, R2, R3)                                     \
  "mov x15, x10\n" "add x10, x10, %[ys]\n"                                      \
  AIO_OUT_LANES("st4", R0 ".s, " R1 ".s, " R2 ".s, " R3 ".s", "x15", "51")      \
  AIO_OUT_REST("st1", R0, R1, R2, "x15", "52", "53", "54", "55")
#define AIO_OUT_RELU(R0, R1, R2, R3)                                           \
  "fmax " R0 ".4s, " R0 ".4s, v4.4s\n" "fmax " R1 ".4s, " R1 ".4s, v4.4s\n"    \
  "fmax " R2 ".4s, " R2 ".4s, v4.4s\n" "fmax " R3 ".4s, " R3 ".4s, v4.4s\n"
#define AIO_OUT_NOACT(R0, R1, R2, R3)
#define AIO_OUT_ROW(PRE, X0, X1, X2, X3, X4, X5, EPI, ACT, STORE) \
  PRE                                                        \
  "fsub v1.4s, " X1 ".4s, " X2 ".4s\n"                       \
  "fadd v2.4s, " X1 ".4s, " X2 ".4s\n"                       \
  "fadd " X1 ".4s, " X3 ".4s, " X4 ".4s\n"                   \
  "fsub " X4 ".4s, " X3 ".4s, " X4 ".4s\n"                   \
  "fadd " X0 ".4s, " X0 ".4s, v2.4s\n"                       \
  "fadd v0.4s, " X0 ".4s, " X1 ".4s\n"                       \
  "fmla v2.4s, " X1 ".4s, v7.s[1]\n"                         \
  "fadd v3.4s, " X5 ".4s, v1.4s\n"                           \
  "fmla v3.4s, " X4 ".4s, v7.s[2]\n"                         \
  "fmla v1.4s, " X4 ".4s, v7.s[0]\n"                         \
  EPI(X0, X1, X2, X3, ACT, STORE)
// CHK(dy): the partial group's test that row dy lies on the map.
#define AIO_OUT_CHK(DY) "cmp %[nr], #" DY "\n" "b.le 8f\n"
#define AIO_OUT_NOCHK(DY) ""
#define AIO_OUT_GROUPS(EPI, ACT, STORE, CHK)                                            \
  __asm__ volatile(                                                                \
      "ld1 {v7.4s}, [%[kv]]\n"                                                     \
      "ld1r {v6.4s}, [%[bias]]\n"                                                  \
      "1:\n"                                                                       \
      "mov x9, %[p]\n"                                                             \
      AIO_OUT_COL("v8", "v14", "v20", "v26", "")                                   \
      AIO_OUT_COL("v9", "v15", "v21", "v27", "fadd v1.4s, v1.4s, v6.4s\n")          \
      AIO_OUT_COL("v10", "v16", "v22", "v28", "") AIO_OUT_COL("v11", "v17", "v23", "v29", "") \
      AIO_OUT_COL("v12", "v18", "v24", "v30", "") AIO_OUT_COL("v13", "v19", "v25", "v31", "") \
      "movi v4.4s, #0\n"                                                           \
      "mov x10, %[y]\n"                                                            \
      "mov x11, %[r]\n"                                                            \
      AIO_OUT_ROW(CHK("0"), "v8", "v9", "v10", "v11", "v12", "v13", EPI, ACT, STORE)    \
      AIO_OUT_ROW(CHK("1"), "v14", "v15", "v16", "v17", "v18", "v19", EPI, ACT, STORE)  \
      AIO_OUT_ROW(CHK("2"), "v20", "v21", "v22", "v23", "v24", "v25", EPI, ACT, STORE)  \
      AIO_OUT_ROW(CHK("3"), "v26", "v27", "v28", "v29", "v30", "v31", EPI, ACT, STORE)  \
      "8:\n"                                                                       \
      "add %[p], %[p], #16\n"                                                      \
      "add %[y], %[y], #64\n"                                                      \
      "add %[r], %[r], #64\n"                                                      \
      "subs %[n], %[n], #1\n"                                                      \
      "b.ne 1b\n"                                                                  \
      : [p] "+r"(p), [y] "+r"(y), [r] "+r"(res), [n] "+r"(groups)                   \
      : [s6] "r"(6 * sb), [s35] "r"(35 * sb), [ys] "r"(ys * sizeof(float)),       \
        [kv] "r"(kv), [bias] "r"(&folded), [wt] "r"(whole), [rs] "r"(rest),           \
        [w16] "r"(16 * whole), [nr] "r"(rows)                                      \
      : "x9", "x10", "x11", "x14", "x15", "x16", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", \
        "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20",   \
        "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31",   \
        "cc", "memory")
// y and res point at row 0's first column (rows ys floats apart). kPart: one group of `whole`
// tiles and `rest` columns on its first `rows` rows.
template <bool kRes, bool kRelu, bool kPart = false>
void output_f4_groups(const float* p, size_t stride, size_t groups, float scale, float folded,
                      const float* res, float* y, size_t ys, size_t whole = 4, size_t rest = 0,
                      size_t rows = 4) {
  const size_t sb = stride * sizeof(float);
  const float kv[4] = {2.f, 4.f, 8.f, scale};
  if constexpr (kPart) {
    if constexpr (kRes && kRelu)
      AIO_OUT_GROUPS(AIO_OUT_EPI_RES_PART, AIO_OUT_RELU, AIO_OUT_STORE_PART, AIO_OUT_CHK);
    if constexpr (kRes && !kRelu)
      AIO_OUT_GROUPS(AIO_OUT_EPI_RES_PART, AIO_OUT_NOACT, AIO_OUT_STORE_PART, AIO_OUT_CHK);
    if constexpr (!kRes && kRelu)
      AIO_OUT_GROUPS(AIO_OUT_EPI_BIAS, AIO_OUT_RELU, AIO_OUT_STORE_PART, AIO_OUT_CHK);
    if constexpr (!kRes && !kRelu)
      AIO_OUT_GROUPS(AIO_OUT_EPI_BIAS, AIO_OUT_NOACT, AIO_OUT_STORE_PART, AIO_OUT_CHK);
  } else {
    if constexpr (kRes && kRelu)
      AIO_OUT_GROUPS(AIO_OUT_EPI_RES, AIO_OUT_RELU, AIO_OUT_STORE, AIO_OUT_NOCHK);
    if constexpr (kRes && !kRelu)
      AIO_OUT_GROUPS(AIO_OUT_EPI_RES, AIO_OUT_NOACT, AIO_OUT_STORE, AIO_OUT_NOCHK);
    if constexpr (!kRes && kRelu)
      AIO_OUT_GROUPS(AIO_OUT_EPI_BIAS, AIO_OUT_RELU, AIO_OUT_STORE, AIO_OUT_NOCHK);
    if constexpr (!kRes && !kRelu)
      AIO_OUT_GROUPS(AIO_OUT_EPI_BIAS, AIO_OUT_NOACT, AIO_OUT_STORE, AIO_OUT_NOCHK);
  }
}
#undef AIO_OUT_COL
#undef AIO_OUT_EPI_BIAS
#undef AIO_OUT_EPI_RES
#undef AIO_OUT_RES_ADD
#undef AIO_OUT_LANES
#undef AIO_OUT_REST_LANE
#undef AIO_OUT_REST
#undef AIO_OUT_EPI_RES_PART
#undef AIO_OUT_STORE
#undef AIO_OUT_STORE_PART
#undef AIO_OUT_RELU
#undef AIO_OUT_NOACT
#undef AIO_OUT_ROW
#undef AIO_OUT_GROUPS
#undef AIO_OUT_CHK
#undef AIO_OUT_NOCHK

// One channel in intrinsics (ReLU6, the other activations, and a zero scale). kAct: the
// activation when it is None, ReLU or ReLU6 (chosen once per call, not per vector); Act::Silu
// stands for any other, through act4.
template <Act kAct>
void output_f4_intrinsics(const float* p, size_t stride, size_t n, float scale, float bias,
                   const float* const* res, float* const* y_rows, size_t cols, Act act) {
  const float32x4_t vs = vdupq_n_f32(scale), vb = vdupq_n_f32(bias);
  for (size_t i0 = 0; i0 < n; i0 += 4) {
    float32x4_t q[4][6];  // A^T M
    #pragma GCC unroll 16
    for (size_t s = 0; s < 6; ++s) {
      float32x4_t col[6], t[4];
      #pragma GCC unroll 16
      for (size_t r = 0; r < 6; ++r) col[r] = vld1q_f32(p + (6 * r + s) * stride + i0);
      at6(col, t);
      #pragma GCC unroll 16
      for (size_t r = 0; r < 4; ++r) q[r][s] = t[r];
    }
    const size_t x0 = 4 * i0, w = std::min<size_t>(16, cols - x0);
    #pragma GCC unroll 16
    for (size_t dy = 0; dy < 4; ++dy) {
      float* y = y_rows[dy];
      if (y == nullptr) continue;
      const float* r = res ? res[dy] : nullptr;
      float32x4x4_t o;
      at6(q[dy], o.val);
      #pragma GCC unroll 16
      for (size_t k = 0; k < 4; ++k) o.val[k] = vfmaq_f32(vb, o.val[k], vs);
      // A partial group (w < 16): its whole tiles through lane loads and stores (tile i's row
      // is lane i of the four phases), the last tile's columns that lie on the map one by one.
      const size_t whole = w / 4, rest = w % 4;
      if (r) {
        const float* rr = r + x0;
        float32x4x4_t rv;
        if (w == 16) {
          rv = vld4q_f32(rr);
        } else {
          const float32x4_t z = vdupq_n_f32(0.f);
          rv = {{z, z, z, z}};
          if (whole > 0) rv = vld4q_lane_f32(rr, rv, 0);
          if (whole > 1) rv = vld4q_lane_f32(rr + 4, rv, 1);
          if (whole > 2) rv = vld4q_lane_f32(rr + 8, rv, 2);
          if (rest) {
            float tmp[16] = {};
            vst4q_f32(tmp, rv);
            for (size_t k = 0; k < rest; ++k) tmp[4 * whole + k] = rr[4 * whole + k];
            rv = vld4q_f32(tmp);
          }
        }
        #pragma GCC unroll 16
        for (size_t k = 0; k < 4; ++k) o.val[k] = vaddq_f32(o.val[k], rv.val[k]);
      }
      #pragma GCC unroll 16
      for (size_t k = 0; k < 4; ++k) {
        if constexpr (kAct == Act::Relu || kAct == Act::Relu6)
          o.val[k] = vmaxq_f32(o.val[k], vdupq_n_f32(0.f));
        if constexpr (kAct == Act::Relu6) o.val[k] = vminq_f32(o.val[k], vdupq_n_f32(6.f));
        if constexpr (kAct == Act::Silu) o.val[k] = act4(o.val[k], act);
      }
      float* yy = y + x0;
      if (w == 16) {
        vst4q_f32(yy, o);
      } else {
        if (whole > 0) vst4q_lane_f32(yy, o, 0);
        if (whole > 1) vst4q_lane_f32(yy + 4, o, 1);
        if (whole > 2) vst4q_lane_f32(yy + 8, o, 2);
        if (rest) {
          float tmp[16];
          vst4q_f32(tmp, o);
          for (size_t k = 0; k < rest; ++k) yy[4 * whole + k] = tmp[4 * whole + k];
        }
      }
    }
  }
}

// Channels [0, mc) of one segment (channel o: products at p + o p_step, rows at y_rows[r] +
// o plane, residual likewise; scale and bias per channel, nullptr meaning 1 and 0), so that the
// per-call work (the driver's, the prologue saving d8-d15, the group counts) is paid once per
// segment rather than once per channel. ReLU and no activation in assembly: whole groups (16
// columns on the map, all 4 rows) by rows of 4 x 16 floats, the others (a segment's last
// tiles, the map's last rows) by lanes and single floats.
template <Act kAct>
void output_f4_act(const float* p, size_t stride, size_t p_step, size_t n, size_t mc,
                   const float* scale, const float* bias, const float* const* res,
                   float* const* y_rows, size_t plane, size_t cols, Act act) {
  constexpr bool kAsm = kAct == Act::None || kAct == Act::Relu, kRelu = kAct == Act::Relu;
  size_t rows = 0;
  while (rows < 4 && y_rows[rows]) ++rows;
  const size_t full = rows == 4 ? cols / 16 : 0;
  const size_t ys = rows > 1 ? static_cast<size_t>(y_rows[1] - y_rows[0]) : 0;
  for (size_t o = 0; o < mc; ++o, p += p_step) {
    const float so = scale ? scale[o] : 1.f, bo = bias ? bias[o] : 0.f;
    const size_t off = o * plane;
    // A zero scale (or one that makes bias / scale overflow) takes the intrinsics.
    const float folded = bo / so;
    if (!kAsm || !std::isfinite(folded)) {
      float* yo[4] = {};
      const float* ro[4] = {};
      for (size_t dy = 0; dy < rows; ++dy) {
        yo[dy] = y_rows[dy] + off;
        if (res) ro[dy] = res[dy] + off;
      }
      output_f4_intrinsics<kAct>(p, stride, n, so, bo, res ? ro : nullptr, yo, cols, act);
      continue;
    }
    float* const y0 = y_rows[0] + off;
    const float* const r0 = res ? res[0] + off : y0;
    if (full > 0) {
      if (res)
        output_f4_groups<true, kRelu>(p, stride, full, so, folded, r0, y0, ys);
      else
        output_f4_groups<false, kRelu>(p, stride, full, so, folded, r0, y0, ys);
    }
    for (size_t i0 = 4 * full; i0 < n; i0 += 4) {
      const size_t x0 = 4 * i0, w = std::min<size_t>(16, cols - x0);
      if (res)
        output_f4_groups<true, kRelu, true>(p + i0, stride, 1, so, folded, r0 + x0, y0 + x0, ys,
                                            w / 4, w % 4, rows);
      else
        output_f4_groups<false, kRelu, true>(p + i0, stride, 1, so, folded, r0 + x0, y0 + x0,
                                             ys, w / 4, w % 4, rows);
    }
  }
}

void output_f4_run(const float* p, size_t stride, size_t p_step, size_t n, size_t mc,
                   const float* scale, const float* bias, const float* const* res,
                   float* const* y_rows, size_t plane, size_t cols, Act act) {
  const auto f = act == Act::None    ? output_f4_act<Act::None>
                 : act == Act::Relu  ? output_f4_act<Act::Relu>
                 : act == Act::Relu6 ? output_f4_act<Act::Relu6>
                                     : output_f4_act<Act::Silu>;
  f(p, stride, p_step, n, mc, scale, bias, res, y_rows, plane, cols, act);
}

void output_f4_neon(const float* p, size_t stride, size_t n, float scale, float bias,
                    const float* const* res, float* const* y_rows, size_t cols, Act act) {
  output_f4_run(p, stride, 0, n, 1, &scale, &bias, res, y_rows, 0, cols, act);
}

// The products of a block of at most 4 tiles (a 7 x 7 map's 4 F(4x4) tiles), 12 rows x 4
// columns: 12 accumulators, 12 FMAs by element per k. B is 4 floats a row, so 4 k of it are one
// 4-register load, and 4 k of the panel's A (48 floats) three: 56 instructions per 4 k for 192
// multiply-adds (with three A prefetches, the transformed weights of a 7 x 7 x 512 layer, 1 MB
// per position, streaming from memory, and a loop branch per 8 k), where one A and one B load
// per k and a branch per 4 k took 61. All of K at once: B (at most 8 KB here) stays in L1, C is
// written once.
void narrow_product_neon(size_t k, const float* a, const float* b, float* c, size_t ldc) {
#define AIO_WINO_KSTEP(op, B, A0, A1, A2)                                 \
  op " v8.4s, " B ".4s, " A0 ".s[0]\n" op " v9.4s, " B ".4s, " A0 ".s[1]\n"   \
  op " v10.4s, " B ".4s, " A0 ".s[2]\n" op " v11.4s, " B ".4s, " A0 ".s[3]\n" \
  op " v12.4s, " B ".4s, " A1 ".s[0]\n" op " v13.4s, " B ".4s, " A1 ".s[1]\n" \
  op " v14.4s, " B ".4s, " A1 ".s[2]\n" op " v15.4s, " B ".4s, " A1 ".s[3]\n" \
  op " v16.4s, " B ".4s, " A2 ".s[0]\n" op " v17.4s, " B ".4s, " A2 ".s[1]\n" \
  op " v18.4s, " B ".4s, " A2 ".s[2]\n" op " v19.4s, " B ".4s, " A2 ".s[3]\n"
#define AIO_WINO_LOAD4                                  \
  "ld1 {v20.4s, v21.4s, v22.4s, v23.4s}, [x10], #64\n" \
  "ld1 {v24.4s, v25.4s, v26.4s, v27.4s}, [x10], #64\n" \
  "ld1 {v28.4s, v29.4s, v30.4s, v31.4s}, [x10], #64\n" \
  "ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [x11], #64\n"
#define AIO_WINO_STEP4(op0)                           \
  AIO_WINO_KSTEP(op0, "v0", "v20", "v21", "v22")     \
  AIO_WINO_KSTEP("fmla", "v1", "v23", "v24", "v25")  \
  AIO_WINO_KSTEP("fmla", "v2", "v26", "v27", "v28")  \
  AIO_WINO_KSTEP("fmla", "v3", "v29", "v30", "v31")
#define AIO_WINO_STORE(acc) "st1 {" acc ".4s}, [x12], %[ldc]\n"
#define AIO_WINO_PRFM                   \
  "prfm pldl1keep, [x10, #2304]\n"      \
  "prfm pldl1keep, [x10, #2368]\n"      \
  "prfm pldl1keep, [x10, #2432]\n"
  __asm__ volatile(
      "mov x10, %[a]\n"
      "mov x11, %[b]\n"
      "lsr x9, %[k], #2\n"
      "and x13, %[k], #3\n"
      "cbnz x9, 1f\n"
      // k < 4: the single steps accumulate from zero.
      "movi v8.4s, #0\n" "movi v9.4s, #0\n" "movi v10.4s, #0\n" "movi v11.4s, #0\n"
      "movi v12.4s, #0\n" "movi v13.4s, #0\n" "movi v14.4s, #0\n" "movi v15.4s, #0\n"
      "movi v16.4s, #0\n" "movi v17.4s, #0\n" "movi v18.4s, #0\n" "movi v19.4s, #0\n"
      "b 3f\n"
      "1:\n"
      AIO_WINO_LOAD4
      AIO_WINO_STEP4("fmul")
      "subs x9, x9, #1\n"
      "b.eq 3f\n"
      "tbz x9, #0, 6f\n"  // an odd count of 4-k groups left: one alone, then pairs
      AIO_WINO_PRFM
      AIO_WINO_LOAD4
      AIO_WINO_STEP4("fmla")
      "subs x9, x9, #1\n"
      "b.eq 3f\n"
      "6:\n"
      "lsr x9, x9, #1\n"
      "2:\n"
      AIO_WINO_PRFM
      AIO_WINO_LOAD4
      AIO_WINO_STEP4("fmla")
      AIO_WINO_PRFM
      AIO_WINO_LOAD4
      AIO_WINO_STEP4("fmla")
      "subs x9, x9, #1\n"
      "b.ne 2b\n"
      "3:\n"
      "cbz x13, 5f\n"
      "4:\n"
      "ld1 {v20.4s, v21.4s, v22.4s}, [x10], #48\n"
      "ld1 {v0.4s}, [x11], #16\n"
      AIO_WINO_KSTEP("fmla", "v0", "v20", "v21", "v22")
      "subs x13, x13, #1\n"
      "b.ne 4b\n"
      "5:\n"
      "mov x12, %[c]\n"
      AIO_WINO_STORE("v8") AIO_WINO_STORE("v9") AIO_WINO_STORE("v10") AIO_WINO_STORE("v11")
      AIO_WINO_STORE("v12") AIO_WINO_STORE("v13") AIO_WINO_STORE("v14") AIO_WINO_STORE("v15")
      AIO_WINO_STORE("v16") AIO_WINO_STORE("v17") AIO_WINO_STORE("v18") AIO_WINO_STORE("v19")
      :
      : [a] "r"(a), [b] "r"(b), [k] "r"(k), [c] "r"(c), [ldc] "r"(ldc * sizeof(float))
      : "x9", "x10", "x11", "x12", "x13", "v0", "v1", "v2", "v3", "v8", "v9", "v10", "v11", "v12",
        "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25",
        "v26", "v27", "v28", "v29", "v30", "v31", "cc", "memory");
#undef AIO_WINO_KSTEP
#undef AIO_WINO_LOAD4
#undef AIO_WINO_STEP4
#undef AIO_WINO_STORE
#undef AIO_WINO_PRFM
}

}  // namespace

void fill_table_winograd_neon(KernelTable& t) {
  t.winograd[winograd_index(2)] = {input_f2_neon, output_f2_neon, 4, true, narrow_product_neon};
  t.winograd[winograd_index(4)] = {input_f4_neon, output_f4_neon, 4, true, narrow_product_neon,
                                   output_f4_run, input_f4_run};
}

}  // namespace detail
}  // namespace aio
