// NEON (ASIMD, ARMv8.0) GEMM micro-kernel 12x8, the shape of ncnn's and KleidiAI's Cortex-A sgemm:
// 24 q-register accumulators (12 rows x two 4-lane vectors), per k one load of the packed A
// panel (12 rows as three vectors, each read by element: fmla v.4s, v.4s, v.s[i]) and one of the
// B strip, so 29 of the 32 registers are live and nothing spills. Whole 8-column tiles of 4, 8 or
// 12 rows run in assembly (strips_x8_asm), a run of strips per call (gemm_strips); other row
// counts and partial widths in intrinsics.
// Also fills the NEON entries of the dispatch table; every aarch64 CPU runs these, entries left
// alone stay portable.
#include <arm_neon.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

constexpr size_t kNR = 8;

// Where B row k starts: packed strips or in-place rows, a fixed stride apart. (A class, as in
// gemm_avx512.cpp, so a per-row-offset variant for a direct convolution can reuse the tiles.)
struct StridedRows {
  const float* b;
  size_t ldb;
  const float* row(size_t k) const { return b + k * ldb; }
};

// N (1..4) consecutive rows of A at one k, in the low lanes. Reads exactly N floats: a partial
// tile may start inside a panel (row % 12 != 0), and the last k of the last panel has nothing
// after it.
template <int N>
inline float32x4_t load_a(const float* p) {
  if constexpr (N >= 4) {
    return vld1q_f32(p);
  } else if constexpr (N == 3) {
    return vcombine_f32(vld1_f32(p), vld1_dup_f32(p + 2));
  } else if constexpr (N == 2) {
    const float32x2_t lo = vld1_f32(p);
    return vcombine_f32(lo, lo);
  } else {
    return vld1q_dup_f32(p);
  }
}

// One k step of an R-row tile: acc[r][v] += A[r] * B[v], A read by element from vectors a[r / 4].
template <int V, size_t... I>
inline void fma_rows(float32x4_t (*acc)[2], const float32x4_t* a, float32x4_t b0, float32x4_t b1,
                     std::index_sequence<I...>) {
  ((acc[I][0] = vfmaq_laneq_f32(acc[I][0], b0, a[I / 4], I % 4)), ...);
  if constexpr (V == 2) ((acc[I][1] = vfmaq_laneq_f32(acc[I][1], b1, a[I / 4], I % 4)), ...);
}

template <int R, int V>
inline void k_step(float32x4_t (*acc)[2], const float* a, const float* bk) {
  constexpr int G = (R + 3) / 4;
  float32x4_t av[3];
  av[0] = load_a<(R < 4 ? R : 4)>(a);
  if constexpr (G > 1) av[1] = load_a<(R - 4 < 4 ? R - 4 : 4)>(a + 4);
  if constexpr (G > 2) av[2] = load_a<R - 8>(a + 8);
  const float32x4_t b0 = vld1q_f32(bk);
  const float32x4_t b1 = V == 2 ? vld1q_f32(bk + 4) : b0;
  fma_rows<V>(acc, av, b0, b1, std::make_index_sequence<R>{});
}

static_assert(kPrefetchA * kMR * sizeof(float) == 2304, "the prfm offsets below");

// Whole 8-column tiles of 4, 8 or 12 rows (nearly every tile) in one assembly block, for a run of
// `strips` consecutive B strips against the same rows of A: accumulation and epilogue, so no
// accumulator is ever spilled (with the k loop alone in assembly and the epilogue in C++, GCC
// moved all 24 accumulators through the stack, 300+ instructions per tile), and the per-tile
// set-up that a call per tile costs (driver, dispatch, saving d8-d15, the epilogue's mode tests:
// about 180 instructions a tile, 9 M of MobileNetV2's 115 M) paid once per run.
// Per k (macro aio_kstep): one load of the tile's rows of A (one to three vectors), one 2-register
// load of the B row (row stride as post-increment), R x 2 FMAs by element. The first four k are
// peeled (the first one's products initialise the accumulators: no zeroing), so a K that is a
// multiple of 4 (every layer's here) leaves no remainder steps; then per 4 k one loop branch and
// three prefetches of A (one per 64-byte line of the panel consumed, kPrefetchA k ahead): 27.25
// instructions per k for 12 rows (a packed B strip, rows 32 bytes apart, loads two k at once:
// 26.75; B then takes v3-v6). Within a run A's K block (at most 12 KiB) stays in L1 while the
// B strips stream past it, so only the first strip prefetches A (the later ones would only
// prefetch lines already in L1: 0.75 instructions per k, 2 M of MobileNetV2's count, issued on
// the load pipes beside FMAs that keep both FP pipes busy). The epilogue covers what the models use: an optional add of C (a later
// K block), then either a plain store, or y = act(scale * acc + bias [+ residual]) with scale and
// bias both given and act None, ReLU or ReLU6 (macro aio_epirow; mode bits: 1 accumulate, 2
// epilogue, 4 residual, 8 ReLU, 16 ReLU6); the caller handles anything else. Without a residual
// (macro aio_epiv) the tile's scales and biases are loaded as whole vectors (two loads per tile)
// and used by element: 4 instructions a row for the multiply-add where the broadcast loads
// (aio_epirow) take 5; ReLU's zero and ReLU6's six go to the first row's accumulators once that
// row is done. Strip s reads B at
// b + s * b_step, writes C (and reads the residual) 8 columns further per strip. Accumulators live
// in v8-v31 (declared clobbered, so GCC saves the callee-saved halves once per run), A in v0-v2, B
// in v3-v4. The macros are defined by the first block the assembler meets (.ifndef), once per
// translation unit.
#define AIO_NEON_GEMM_MACROS \
  ".ifndef aio_neon_gemm_macros\n" \
  ".set aio_neon_gemm_macros, 1\n" \
  ".macro aio_kstepb R, op, b0, b1\n" \
  ".if \\R == 4\n" \
  "ld1 {v0.4s}, [x10], x16\n" \
  ".elseif \\R == 8\n" \
  "ld1 {v0.4s, v1.4s}, [x10], x16\n" \
  ".else\n" \
  "ld1 {v0.4s, v1.4s, v2.4s}, [x10], x16\n" \
  ".endif\n" \
  "\\op v8.4s, \\b0\\().4s, v0.s[0]\n" \
  "\\op v10.4s, \\b0\\().4s, v0.s[1]\n" \
  "\\op v12.4s, \\b0\\().4s, v0.s[2]\n" \
  "\\op v14.4s, \\b0\\().4s, v0.s[3]\n" \
  ".if \\R >= 8\n" \
  "\\op v16.4s, \\b0\\().4s, v1.s[0]\n" \
  "\\op v18.4s, \\b0\\().4s, v1.s[1]\n" \
  "\\op v20.4s, \\b0\\().4s, v1.s[2]\n" \
  "\\op v22.4s, \\b0\\().4s, v1.s[3]\n" \
  ".endif\n" \
  ".if \\R >= 12\n" \
  "\\op v24.4s, \\b0\\().4s, v2.s[0]\n" \
  "\\op v26.4s, \\b0\\().4s, v2.s[1]\n" \
  "\\op v28.4s, \\b0\\().4s, v2.s[2]\n" \
  "\\op v30.4s, \\b0\\().4s, v2.s[3]\n" \
  ".endif\n" \
  "\\op v9.4s, \\b1\\().4s, v0.s[0]\n" \
  "\\op v11.4s, \\b1\\().4s, v0.s[1]\n" \
  "\\op v13.4s, \\b1\\().4s, v0.s[2]\n" \
  "\\op v15.4s, \\b1\\().4s, v0.s[3]\n" \
  ".if \\R >= 8\n" \
  "\\op v17.4s, \\b1\\().4s, v1.s[0]\n" \
  "\\op v19.4s, \\b1\\().4s, v1.s[1]\n" \
  "\\op v21.4s, \\b1\\().4s, v1.s[2]\n" \
  "\\op v23.4s, \\b1\\().4s, v1.s[3]\n" \
  ".endif\n" \
  ".if \\R >= 12\n" \
  "\\op v25.4s, \\b1\\().4s, v2.s[0]\n" \
  "\\op v27.4s, \\b1\\().4s, v2.s[1]\n" \
  "\\op v29.4s, \\b1\\().4s, v2.s[2]\n" \
  "\\op v31.4s, \\b1\\().4s, v2.s[3]\n" \
  ".endif\n" \
  ".endm\n" \
  ".macro aio_kstep R, op\n" \
  "ld1 {v3.4s, v4.4s}, [x11], x17\n" \
  "aio_kstepb \\R, \\op, v3, v4\n" \
  ".endm\n" \
  ".macro aio_kstep2 R\n" \
  "ld1 {v3.4s, v4.4s, v5.4s, v6.4s}, [x11], #64\n" \
  "aio_kstepb \\R, fmla, v3, v4\n" \
  "aio_kstepb \\R, fmla, v5, v6\n" \
  ".endm\n" \
  ".macro aio_zero a0, a1, unused:vararg\n" \
  "movi \\a0\\().4s, #0\n" \
  "movi \\a1\\().4s, #0\n" \
  ".endm\n" \
  ".macro aio_addc a0, a1, unused:vararg\n" \
  "ld1 {v0.4s, v1.4s}, [x9], x12\n" \
  "fadd \\a0\\().4s, \\a0\\().4s, v0.4s\n" \
  "fadd \\a1\\().4s, \\a1\\().4s, v1.4s\n" \
  ".endm\n" \
  ".macro aio_store a0, a1, unused:vararg\n" \
  "st1 {\\a0\\().4s, \\a1\\().4s}, [x9], x12\n" \
  ".endm\n" \
  ".macro aio_epirow a0, a1, res, act\n" \
  "ld1r {v5.4s}, [x13], #4\n" \
  "ld1r {v6.4s}, [x14], #4\n" \
  "mov v7.16b, v6.16b\n" \
  "fmla v6.4s, \\a0\\().4s, v5.4s\n" \
  "fmla v7.4s, \\a1\\().4s, v5.4s\n" \
  ".if \\res\n" \
  "ld1 {v3.4s, v4.4s}, [x15], x12\n" \
  "fadd v6.4s, v6.4s, v3.4s\n" \
  "fadd v7.4s, v7.4s, v4.4s\n" \
  ".endif\n" \
  ".if \\act\n" \
  "fmax v6.4s, v6.4s, v2.4s\n" \
  "fmax v7.4s, v7.4s, v2.4s\n" \
  ".endif\n" \
  ".if \\act - 1\n" \
  ".if \\act\n" \
  "fmin v6.4s, v6.4s, v1.4s\n" \
  "fmin v7.4s, v7.4s, v1.4s\n" \
  ".endif\n" \
  ".endif\n" \
  "st1 {v6.4s, v7.4s}, [x9], x12\n" \
  ".endm\n" \
  ".macro aio_epiv a0, a1, s, b, i, act, first\n" \
  "dup v6.4s, \\b\\().s[\\i]\n" \
  "dup v7.4s, \\b\\().s[\\i]\n" \
  "fmla v6.4s, \\a0\\().4s, \\s\\().s[\\i]\n" \
  "fmla v7.4s, \\a1\\().4s, \\s\\().s[\\i]\n" \
  ".if \\first\n" \
  ".if \\act\n" \
  "movi v8.4s, #0\n" \
  ".endif\n" \
  ".if \\act - 1\n" \
  ".if \\act\n" \
  "fmov v9.4s, #6.0\n" \
  ".endif\n" \
  ".endif\n" \
  ".endif\n" \
  ".if \\act\n" \
  "fmax v6.4s, v6.4s, v8.4s\n" \
  "fmax v7.4s, v7.4s, v8.4s\n" \
  ".endif\n" \
  ".if \\act - 1\n" \
  ".if \\act\n" \
  "fmin v6.4s, v6.4s, v9.4s\n" \
  "fmin v7.4s, v7.4s, v9.4s\n" \
  ".endif\n" \
  ".endif\n" \
  "st1 {v6.4s, v7.4s}, [x9], x12\n" \
  ".endm\n" \
  ".macro aio_rowsv R, act\n" \
  ".if \\R == 4\n" \
  "ld1 {v0.4s}, [x13]\n" \
  "ld1 {v3.4s}, [x14]\n" \
  ".elseif \\R == 8\n" \
  "ld1 {v0.4s, v1.4s}, [x13]\n" \
  "ld1 {v3.4s, v4.4s}, [x14]\n" \
  ".else\n" \
  "ld1 {v0.4s, v1.4s, v2.4s}, [x13]\n" \
  "ld1 {v3.4s, v4.4s, v5.4s}, [x14]\n" \
  ".endif\n" \
  "aio_epiv v8, v9, v0, v3, 0, \\act, 1\n" \
  "aio_epiv v10, v11, v0, v3, 1, \\act, 0\n" \
  "aio_epiv v12, v13, v0, v3, 2, \\act, 0\n" \
  "aio_epiv v14, v15, v0, v3, 3, \\act, 0\n" \
  ".if \\R >= 8\n" \
  "aio_epiv v16, v17, v1, v4, 0, \\act, 0\n" \
  "aio_epiv v18, v19, v1, v4, 1, \\act, 0\n" \
  "aio_epiv v20, v21, v1, v4, 2, \\act, 0\n" \
  "aio_epiv v22, v23, v1, v4, 3, \\act, 0\n" \
  ".endif\n" \
  ".if \\R >= 12\n" \
  "aio_epiv v24, v25, v2, v5, 0, \\act, 0\n" \
  "aio_epiv v26, v27, v2, v5, 1, \\act, 0\n" \
  "aio_epiv v28, v29, v2, v5, 2, \\act, 0\n" \
  "aio_epiv v30, v31, v2, v5, 3, \\act, 0\n" \
  ".endif\n" \
  ".endm\n" \
  ".macro aio_rows R, what, p:vararg\n" \
  "\\what v8, v9, \\p\n" \
  "\\what v10, v11, \\p\n" \
  "\\what v12, v13, \\p\n" \
  "\\what v14, v15, \\p\n" \
  ".if \\R >= 8\n" \
  "\\what v16, v17, \\p\n" \
  "\\what v18, v19, \\p\n" \
  "\\what v20, v21, \\p\n" \
  "\\what v22, v23, \\p\n" \
  ".endif\n" \
  ".if \\R >= 12\n" \
  "\\what v24, v25, \\p\n" \
  "\\what v26, v27, \\p\n" \
  "\\what v28, v29, \\p\n" \
  "\\what v30, v31, \\p\n" \
  ".endif\n" \
  ".endm\n" \
  ".endif\n"

template <int R>
__attribute__((always_inline)) inline void strips_x8_asm(const float* a, const float* b,
                                                         size_t b_step_bytes, size_t ldb_bytes,
                                                         size_t kc, size_t strips, float* c,
                                                         size_t ldc_bytes, const float* scale,
                                                         const float* bias, const float* res,
                                                         uint32_t mode) {
  static_assert(R == 4 || R == 8 || R == 12, "whole vectors of rows");
  size_t first = 1;  // prefetch A in the first strip only: later strips find it in L1
  __asm__ volatile(
      AIO_NEON_GEMM_MACROS
      "mov x16, #48\n"
      "mov x17, %[ldb]\n"
      "mov x12, %[ldc]\n"
      "0:\n"
      "mov x10, %[a]\n"
      "mov x11, %[b]\n"
      "cbnz %[kc], 10f\n"
      "aio_rows %c[R], aio_zero\n"
      "b 4f\n"
      "10:\n"
      "aio_kstep %c[R], fmul\n"
      "cmp %[kc], #4\n"
      "b.lo 11f\n"
      "aio_kstep %c[R], fmla\n"
      "aio_kstep %c[R], fmla\n"
      "aio_kstep %c[R], fmla\n"
      "lsr x9, %[kc], #2\n"
      "subs x9, x9, #1\n"
      "b.eq 2f\n"
      "cmp x17, #32\n"
      "b.eq 13f\n"
      "cbz %[first], 12f\n"
      "1:\n"
      "prfm pldl1keep, [x10, #2304]\n"
      "prfm pldl1keep, [x10, #2368]\n"
      "prfm pldl1keep, [x10, #2432]\n"
      "aio_kstep %c[R], fmla\n"
      "aio_kstep %c[R], fmla\n"
      "aio_kstep %c[R], fmla\n"
      "aio_kstep %c[R], fmla\n"
      "subs x9, x9, #1\n"
      "b.ne 1b\n"
      "b 2f\n"
      "12:\n"
      "aio_kstep %c[R], fmla\n"
      "aio_kstep %c[R], fmla\n"
      "aio_kstep %c[R], fmla\n"
      "aio_kstep %c[R], fmla\n"
      "subs x9, x9, #1\n"
      "b.ne 12b\n"
      "b 2f\n"
      // A packed strip (rows 32 bytes apart): two k of B per 4-register load.
      // Here 8 k per loop branch (4 k alone first for an odd count of 4-k groups): one
      // instruction less per 4 k, about 1 % of every 12-row tile.
      "13:\n"
      "tbz x9, #0, 16f\n"
      "cbz %[first], 17f\n"
      "prfm pldl1keep, [x10, #2304]\n"
      "prfm pldl1keep, [x10, #2368]\n"
      "prfm pldl1keep, [x10, #2432]\n"
      "17:\n"
      "aio_kstep2 %c[R]\n"
      "aio_kstep2 %c[R]\n"
      "subs x9, x9, #1\n"
      "b.eq 2f\n"
      "16:\n"
      "lsr x9, x9, #1\n"
      "cbz %[first], 15f\n"
      "14:\n"
      "prfm pldl1keep, [x10, #2304]\n"
      "prfm pldl1keep, [x10, #2368]\n"
      "prfm pldl1keep, [x10, #2432]\n"
      "aio_kstep2 %c[R]\n"
      "aio_kstep2 %c[R]\n"
      "prfm pldl1keep, [x10, #2304]\n"
      "prfm pldl1keep, [x10, #2368]\n"
      "prfm pldl1keep, [x10, #2432]\n"
      "aio_kstep2 %c[R]\n"
      "aio_kstep2 %c[R]\n"
      "subs x9, x9, #1\n"
      "b.ne 14b\n"
      "b 2f\n"
      "15:\n"
      "aio_kstep2 %c[R]\n"
      "aio_kstep2 %c[R]\n"
      "aio_kstep2 %c[R]\n"
      "aio_kstep2 %c[R]\n"
      "subs x9, x9, #1\n"
      "b.ne 15b\n"
      "2:\n"
      "ands x9, %[kc], #3\n"
      "b.eq 4f\n"
      "b 3f\n"
      "11:\n"
      "subs x9, %[kc], #1\n"
      "b.eq 4f\n"
      "3:\n"
      "aio_kstep %c[R], fmla\n"
      "subs x9, x9, #1\n"
      "b.ne 3b\n"
      "4:\n"
      "mov x9, %[c]\n"
      "tbz %w[mode], #0, 5f\n"
      "aio_rows %c[R], aio_addc\n"
      "mov x9, %[c]\n"
      "5:\n"
      "tbnz %w[mode], #1, 6f\n"
      "aio_rows %c[R], aio_store\n"
      "b 9f\n"
      "6:\n"
      "mov x13, %[sc]\n"
      "mov x14, %[bi]\n"
      "tbnz %w[mode], #2, 60f\n"
      "tbnz %w[mode], #3, 51f\n"
      "tbnz %w[mode], #4, 52f\n"
      "aio_rowsv %c[R], 0\n"
      "b 9f\n"
      "51:\n"
      "aio_rowsv %c[R], 1\n"
      "b 9f\n"
      "52:\n"
      "aio_rowsv %c[R], 2\n"
      "b 9f\n"
      "60:\n"
      "movi v2.4s, #0\n"
      "fmov v1.4s, #6.0\n"
      "mov x15, %[res]\n"
      "tbnz %w[mode], #3, 61f\n"
      "tbnz %w[mode], #4, 62f\n"
      "aio_rows %c[R], aio_epirow, 1, 0\n"
      "b 8f\n"
      "61:\n"
      "aio_rows %c[R], aio_epirow, 1, 1\n"
      "b 8f\n"
      "62:\n"
      "aio_rows %c[R], aio_epirow, 1, 2\n"
      "8:\n"
      "add %[res], %[res], #32\n"
      "9:\n"
      "mov %[first], #0\n"
      "add %[b], %[b], %[bstep]\n"
      "add %[c], %[c], #32\n"
      "subs %[strips], %[strips], #1\n"
      "b.ne 0b\n"
      : [b] "+r"(b), [c] "+r"(c), [res] "+r"(res), [strips] "+r"(strips),
        [first] "+r"(first)
      : [a] "r"(a), [kc] "r"(kc), [ldb] "r"(ldb_bytes), [ldc] "r"(ldc_bytes), [sc] "r"(scale),
        [bi] "r"(bias), [mode] "r"(mode), [bstep] "r"(b_step_bytes), [R] "i"(R)
      : "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17",
        "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11",
        "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23",
        "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31",
        "cc", "memory");
}
#undef AIO_NEON_GEMM_MACROS

template <int R, int V, class Rows>
inline void k_loop(float32x4_t (*acc)[2], const float* a, Rows b, size_t kc) {
  size_t k = 0;
  // Four k per iteration: one prefetch per 64-byte line of A consumed (4 x 48 bytes = 3 lines),
  // the loop's own adds and branch amortised; see kPrefetchA for why A is prefetched at all.
  for (; k + 4 <= kc; k += 4) {
    __builtin_prefetch(a + kPrefetchA * kMR);
    __builtin_prefetch(a + kPrefetchA * kMR + 16);
    __builtin_prefetch(a + kPrefetchA * kMR + 32);
    k_step<R, V>(acc, a, b.row(k));
    k_step<R, V>(acc, a + kMR, b.row(k + 1));
    k_step<R, V>(acc, a + 2 * kMR, b.row(k + 2));
    k_step<R, V>(acc, a + 3 * kMR, b.row(k + 3));
    a += 4 * kMR;
  }
  for (; k < kc; ++k, a += kMR) k_step<R, V>(acc, a, b.row(k));
}

template <int R, int V>
inline void epilogue(float32x4_t (*acc)[2], size_t nc, float* c, size_t ldc, bool accumulate,
                     const TileEpilogue* epi) {
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    float* crow = c + r * ldc;
    const float* res = epi && epi->residual ? epi->residual + r * ldc : nullptr;
    const float32x4_t s = vdupq_n_f32(epi && epi->scale ? epi->scale[r] : 1.f);
    const float32x4_t bias = vdupq_n_f32(epi && epi->bias ? epi->bias[r] : 0.f);
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      const size_t lanes = nc > 4 * static_cast<size_t>(v) ? nc - 4 * v : 0;
      if (lanes == 0) break;
      const bool full = lanes >= 4;
      float32x4_t x = acc[r][v];
      if (accumulate)
        x = vaddq_f32(x, full ? vld1q_f32(crow + 4 * v) : neon::load_partial(crow + 4 * v, lanes));
      if (epi) {
        if (epi->scale || epi->bias) x = vfmaq_f32(bias, x, s);
        if (res)
          x = vaddq_f32(x, full ? vld1q_f32(res + 4 * v) : neon::load_partial(res + 4 * v, lanes));
        x = neon::act(x, epi->act);
      }
      if (full)
        vst1q_f32(crow + 4 * v, x);
      else
        neon::store_partial(crow + 4 * v, x, lanes);
    }
  }
}

// The epilogue over a whole 8-column tile already in C (the assembly tile's raw sums); the
// activation's switch once per tile (with_act), not an out-of-line call per vector.
template <int R>
void epilogue_in_place(float* c, size_t ldc, const TileEpilogue* epi) {
  neon::with_act(epi->act, [&](auto act) {
    for (int r = 0; r < R; ++r) {
      float* crow = c + r * ldc;
      const float32x4_t s = vdupq_n_f32(epi->scale ? epi->scale[r] : 1.f);
      const float32x4_t b = vdupq_n_f32(epi->bias ? epi->bias[r] : 0.f);
      for (int v = 0; v < 2; ++v) {
        float32x4_t x = vfmaq_f32(b, vld1q_f32(crow + 4 * v), s);
        if (epi->residual) x = vaddq_f32(x, vld1q_f32(epi->residual + r * ldc + 4 * v));
        vst1q_f32(crow + 4 * v, act(x));
      }
    }
  });
}

template <int R>
__attribute__((noinline)) void epilogue_strips(size_t strips, float* c, size_t ldc,
                                               const TileEpilogue* epi) {
  for (size_t s = 0; s < strips; ++s) {
    TileEpilogue e = *epi;
    if (e.residual) e.residual += s * kNR;
    epilogue_in_place<R>(c + s * kNR, ldc, &e);
  }
}

// A run of whole 8-column strips for R = 4, 8 or 12 rows in assembly (see strips_x8_asm); strip
// s reads B at b + s * b_step and writes C at c + 8 s.
template <int R>
__attribute__((always_inline)) inline void strips_asm(size_t strips, size_t kc, const float* a,
                                                      const float* b, size_t b_step, size_t ldb,
                                                      float* c, size_t ldc, bool accumulate,
                                                      const TileEpilogue* epi) {
  uint32_t mode = accumulate ? 1u : 0u;
  bool fits = true;
  if (epi) {
    const Act act = epi->act;
    fits = epi->scale && epi->bias && (act == Act::None || act == Act::Relu || act == Act::Relu6);
    mode |= 2u | (epi->residual ? 4u : 0u) | (act == Act::Relu ? 8u : 0u) |
            (act == Act::Relu6 ? 16u : 0u);
  }
  // Any other epilogue (SiLU, hardswish, a missing scale or bias): the sums through the
  // assembly, then the epilogue in C++ over the R x 8 floats of each strip just written.
  strips_x8_asm<R>(a, b, b_step * sizeof(float), ldb * sizeof(float), kc, strips, c,
                   ldc * sizeof(float), fits && epi ? epi->scale : nullptr,
                   fits && epi ? epi->bias : nullptr, fits && epi ? epi->residual : nullptr,
                   fits ? mode : mode & 1u);
  if (!fits) epilogue_strips<R>(strips, c, ldc, epi);
}

// R rows (1..12, a compile-time count so the accumulators live in registers); V = 1 when the
// tile's stored width is <= 4, skipping the second accumulator column. (Whole 8-column tiles of
// 4, 8 or 12 rows take strips_asm instead.)
template <int R, int V, class Rows>
void tile(size_t nc, size_t kc, const float* a, Rows b, float* c, size_t ldc, bool accumulate,
          const TileEpilogue* epi) {
  float32x4_t acc[R][2];
  const auto sums = [&] {
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = vdupq_n_f32(0.f);
    k_loop<R, V>(acc, a, b, kc);
  };
  // Two copies of the accumulation, one per epilogue: with one copy GCC spilled all 24
  // accumulators right after it, to serve the partial epilogue's register needs.
  if (nc == 4 * V) {
    sums();
    neon::epilogue_full<R, V>(acc, c, ldc, accumulate, epi);
  } else {
    sums();
    epilogue<R, V>(acc, nc, c, ldc, accumulate, epi);
  }
}

void column_sums(size_t mr, size_t K, const float* a, const float* b, size_t ldb, float* out) {
  float32x4_t x0 = vdupq_n_f32(0.f), x1 = x0, x2 = x0, y0 = x0, y1 = x0, y2 = x0;
  size_t k = 0;
  // Four k a step: their 48 floats of A in three 4-register loads (one instruction each, where
  // the two-k loop below issues six), 23 instructions per 4 k instead of 36. Never the last k,
  // whose panel row may hold only mr floats.
  for (; k + 5 <= K; k += 4) {
    const float* ak = a + k * kMR;
    const float32x4x4_t p = vld1q_f32_x4(ak), q = vld1q_f32_x4(ak + 16), u = vld1q_f32_x4(ak + 32);
    const float b0 = b[k * ldb], b1 = b[(k + 1) * ldb], b2 = b[(k + 2) * ldb],
                b3 = b[(k + 3) * ldb];
    x0 = vfmaq_n_f32(x0, p.val[0], b0);
    x1 = vfmaq_n_f32(x1, p.val[1], b0);
    x2 = vfmaq_n_f32(x2, p.val[2], b0);
    y0 = vfmaq_n_f32(y0, p.val[3], b1);
    y1 = vfmaq_n_f32(y1, q.val[0], b1);
    y2 = vfmaq_n_f32(y2, q.val[1], b1);
    x0 = vfmaq_n_f32(x0, q.val[2], b2);
    x1 = vfmaq_n_f32(x1, q.val[3], b2);
    x2 = vfmaq_n_f32(x2, u.val[0], b2);
    y0 = vfmaq_n_f32(y0, u.val[1], b3);
    y1 = vfmaq_n_f32(y1, u.val[2], b3);
    y2 = vfmaq_n_f32(y2, u.val[3], b3);
  }
  for (; k + 3 <= K; k += 2) {
    const float* ak = a + k * kMR;
    const float b0 = b[k * ldb], b1 = b[(k + 1) * ldb];
    x0 = vfmaq_n_f32(x0, vld1q_f32(ak), b0);
    x1 = vfmaq_n_f32(x1, vld1q_f32(ak + 4), b0);
    x2 = vfmaq_n_f32(x2, vld1q_f32(ak + 8), b0);
    y0 = vfmaq_n_f32(y0, vld1q_f32(ak + 12), b1);
    y1 = vfmaq_n_f32(y1, vld1q_f32(ak + 16), b1);
    y2 = vfmaq_n_f32(y2, vld1q_f32(ak + 20), b1);
  }
  for (; k + 1 < K; ++k) {
    const float* ak = a + k * kMR;
    const float b0 = b[k * ldb];
    x0 = vfmaq_n_f32(x0, vld1q_f32(ak), b0);
    x1 = vfmaq_n_f32(x1, vld1q_f32(ak + 4), b0);
    x2 = vfmaq_n_f32(x2, vld1q_f32(ak + 8), b0);
  }
  if (k < K) {
    alignas(16) float last[kMR] = {};
    for (size_t r = 0; r < mr; ++r) last[r] = a[k * kMR + r];
    const float b0 = b[k * ldb];
    x0 = vfmaq_n_f32(x0, vld1q_f32(last), b0);
    x1 = vfmaq_n_f32(x1, vld1q_f32(last + 4), b0);
    x2 = vfmaq_n_f32(x2, vld1q_f32(last + 8), b0);
  }
  vst1q_f32(out, vaddq_f32(x0, y0));
  vst1q_f32(out + 4, vaddq_f32(x1, y1));
  vst1q_f32(out + 8, vaddq_f32(x2, y2));
}

void aio_f32_gemv_ukernel_12__neon(size_t mr, size_t K, const float* a, const float* b,
                                   size_t ldb, float* c, size_t ldc, const TileEpilogue* epi) {
  alignas(16) float out[kMR];
  column_sums(mr, K, a, b, ldb, out);
  gemv_epilogue(mr, out, c, ldc, epi);
}


template <class Rows>
using TileFn = void (*)(size_t, size_t, const float*, Rows, float*, size_t, bool,
                        const TileEpilogue*);

template <int V, class Rows>
constexpr TileFn<Rows> kTiles[13] = {
    nullptr,           tile<1, V, Rows>,  tile<2, V, Rows>,  tile<3, V, Rows>, tile<4, V, Rows>,
    tile<5, V, Rows>,  tile<6, V, Rows>,  tile<7, V, Rows>,  tile<8, V, Rows>, tile<9, V, Rows>,
    tile<10, V, Rows>, tile<11, V, Rows>, tile<12, V, Rows>};

template <class Rows>
void dispatch_tile(size_t mr, size_t nc, size_t kc, const float* a, Rows b, float* c, size_t ldc,
                   bool accumulate, const TileEpilogue* epi) {
  if constexpr (std::is_same_v<Rows, StridedRows>) {
    if (nc == 1) {
      // A one-column tile (a 7 x 7 map's 49th pixel) with rows in lanes: 3 FMAs per k instead
      // of 12 lane-wise ones for one useful column.
      alignas(16) float out[kMR];
      column_sums(mr, kc, a, b.b, b.ldb, out);
      for (size_t r = 0; r < mr; ++r) {
        if (accumulate) out[r] += c[r * ldc];
        if (!epi) c[r * ldc] = out[r];
      }
      if (epi) gemv_epilogue(mr, out, c, ldc, epi);
      return;
    }
  }
  if (nc > 4)
    kTiles<2, Rows>[mr](nc, kc, a, b, c, ldc, accumulate, epi);
  else
    kTiles<1, Rows>[mr](nc, kc, a, b, c, ldc, accumulate, epi);
}

// Whole strips of other row counts, tile by tile (out of line: its registers would make every
// call of the assembly runs save x19-x28).
__attribute__((noinline)) void strips_tiles(size_t mr, size_t strips, size_t kc, const float* a,
                                            const float* b, size_t b_step, size_t ldb, float* c,
                                            size_t ldc, bool accumulate, const TileEpilogue* epi) {
  const TileFn<StridedRows> fn = kTiles<2, StridedRows>[mr];
  for (size_t s = 0; s < strips; ++s) {
    TileEpilogue e;
    if (epi) {
      e = *epi;
      if (e.residual) e.residual += s * kNR;
    }
    fn(kNR, kc, a, StridedRows{b + s * b_step, ldb}, c + s * kNR, ldc, accumulate,
       epi ? &e : nullptr);
  }
}

// Whole strips for any row count: 4, 8 and 12 rows in one assembly run, others tile by tile.
void aio_f32_gemm_strips_12x8__neon(size_t mr, size_t strips, size_t kc, const float* a,
                                    const float* b, size_t b_step, size_t ldb, float* c,
                                    size_t ldc, bool accumulate, const TileEpilogue* epi) {
  switch (mr) {
    case 12:
      return strips_asm<12>(strips, kc, a, b, b_step, ldb, c, ldc, accumulate, epi);
    case 8:
      return strips_asm<8>(strips, kc, a, b, b_step, ldb, c, ldc, accumulate, epi);
    case 4:
      return strips_asm<4>(strips, kc, a, b, b_step, ldb, c, ldc, accumulate, epi);
    default:
      return strips_tiles(mr, strips, kc, a, b, b_step, ldb, c, ldc, accumulate, epi);
  }
}

// Any other tile, out of line (the Winograd products call the micro-kernel once per tile: its
// fast path above stays a tail call).
__attribute__((noinline)) void tile_any(size_t mr, size_t nc, size_t kc, const float* a,
                                        const float* b, size_t ldb, float* c, size_t ldc,
                                        bool accumulate, const TileEpilogue* epi) {
  dispatch_tile(mr, nc, kc, a, StridedRows{b, ldb}, c, ldc, accumulate, epi);
}

void aio_f32_gemm_ukernel_12x8__neon(size_t mr, size_t nc, size_t kc, const float* a,
                                     const float* b, size_t ldb, float* c, size_t ldc,
                                     bool accumulate, const TileEpilogue* epi) {
  if (nc == kNR && mr % 4 == 0)
    return aio_f32_gemm_strips_12x8__neon(mr, 1, kc, a, b, 0, ldb, c, ldc, accumulate, epi);
  tile_any(mr, nc, kc, a, b, ldb, c, ldc, accumulate, epi);
}

// Row-outer so B is read once, sequentially along each row; the strips it fans out to are in
// L2 anyway (see the AVX-512 version).
void aio_f32_packb_8__neon(const float* b, size_t ldb, size_t kc, size_t nb, float* dst) {
  const size_t strips = (nb + kNR - 1) / kNR;
  const size_t tail = nb - (strips - 1) * kNR;
  const size_t t0 = tail < 4 ? tail : 4, t1 = tail > 4 ? tail - 4 : 0;
  for (size_t k = 0; k < kc; ++k) {
    const float* src = b + k * ldb;
    float* d = dst + k * kNR;
    neon::copy_strips8(src, d, strips - 1, kNR * kc * sizeof(float));
    src += (strips - 1) * kNR;
    d += (strips - 1) * kNR * kc;
    vst1q_f32(d, t0 == 4 ? vld1q_f32(src) : neon::load_partial(src, t0));
    vst1q_f32(d + 4, t1 == 4 ? vld1q_f32(src + 4) : neon::load_partial(src + 4, t1));
  }
}

// Rows in lanes: the panel's 12 rows per k as three vectors times one broadcast of B, two k at a
// time into two accumulator sets to hide the FMA latency. Whole 12-float rows are read for every
// k but the last (a tile starting at row r0 > 0 of a panel reads r0 floats of the next k, which
// exist); the last k reads exactly the tile's mr rows, since nothing may follow the last panel.
}  // namespace

void fill_table_neon(KernelTable& t) {
  t.isa = "neon";
  t.gemm_name = "aio_f32_gemm_ukernel_12x8__neon";
  t.gemm_nr = kNR;
  t.gemm = aio_f32_gemm_ukernel_12x8__neon;
  t.gemm_strips = aio_f32_gemm_strips_12x8__neon;
  t.pack_b = aio_f32_packb_8__neon;
  t.gemv = aio_f32_gemv_ukernel_12__neon;
  fill_table_depthwise_neon(t);
  fill_table_pool_neon(t);
  fill_table_elementwise_neon(t);
  fill_table_conv_pack_neon(t);
  fill_table_conv3x3_neon(t);
  fill_table_winograd_neon(t);
}

}  // namespace detail
}  // namespace aio
