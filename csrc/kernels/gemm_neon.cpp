// NEON (ASIMD, ARMv8.0) GEMM micro-kernel 12x8, the shape of ncnn's and KleidiAI's Cortex-A sgemm:
// 24 q-register accumulators (12 rows x two 4-lane vectors), per k three loads of the packed A
// panel (12 rows as three vectors, each read by element: fmla v.4s, v.4s, v.s[i]) and two of the
// B strip, so 29 of the 32 registers are live and nothing spills. Also fills the NEON entries of
// the dispatch table; every aarch64 CPU runs these, entries left alone stay portable.
#include <arm_neon.h>

#include <type_traits>
#include <utility>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

constexpr size_t kNR = 8;

// Where B row k starts: packed strips (a fixed stride), or per-row offsets from one base (the
// direct convolution's taps, see GemmOffsetsFn).
struct StridedRows {
  const float* b;
  size_t ldb;
  const float* row(size_t k) const { return b + k * ldb; }
};
struct OffsetRows {
  const float* base;
  const ptrdiff_t* off;
  const float* row(size_t k) const { return base + off[k]; }
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

// The accumulation of whole-width (8-column) tiles of 4, 8 or 12 rows in assembly: per k one
// load of the tile's rows of A (one to three vectors), one 2-register load of the B row with the
// row stride as post-increment, R x 2 FMAs; per 4 k one loop branch and three prefetches of A
// (one per 64-byte line of the panel consumed, kPrefetchA k ahead). For 12 rows, 26.9
// instructions per k where the compiler's loop took 31.5 (register moves and address arithmetic).
// The accumulators are outputs in registers the compiler picks (at most 24 of the 30 operands GCC
// allows; the pointers go through the clobbered x9-x11), so the epilogue is the same C++ as every
// other tile's. 4- and 8-row tiles are the panels' remainders (64 = 5 x 12 + 4 channels).
template <int R>
inline void k_loop_x8(float32x4_t (*c)[2], const float* a, const float* b, size_t ldb_bytes,
                      size_t kc);
static_assert(kPrefetchA * kMR * sizeof(float) == 2304, "the prfm offsets below");

template <>
inline void k_loop_x8<4>(float32x4_t (*c)[2], const float* a, const float* b, size_t ldb_bytes,
                          size_t kc) {
  __asm__ volatile(
      "movi %[c0_0].4s, #0\n"
      "movi %[c0_1].4s, #0\n"
      "movi %[c1_0].4s, #0\n"
      "movi %[c1_1].4s, #0\n"
      "movi %[c2_0].4s, #0\n"
      "movi %[c2_1].4s, #0\n"
      "movi %[c3_0].4s, #0\n"
      "movi %[c3_1].4s, #0\n"
      "mov x10, %[a]\n"
      "mov x11, %[b]\n"
      "lsr x9, %[kc], #2\n"
      "cbz x9, 2f\n"
      "1:\n"
      "prfm pldl1keep, [x10, #2304]\n"
      "prfm pldl1keep, [x10, #2368]\n"
      "prfm pldl1keep, [x10, #2432]\n"
      "ld1 {v0.4s}, [x10], %[astep]\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "ld1 {v0.4s}, [x10], %[astep]\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "ld1 {v0.4s}, [x10], %[astep]\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "ld1 {v0.4s}, [x10], %[astep]\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "subs x9, x9, #1\n"
      "b.ne 1b\n"
      "2:\n"
      "ands x9, %[kc], #3\n"
      "b.eq 4f\n"
      "3:\n"
      "ld1 {v0.4s}, [x10], %[astep]\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "subs x9, x9, #1\n"
      "b.ne 3b\n"
      "4:\n"
      :
        [c0_0] "=w"(c[0][0]),
        [c0_1] "=w"(c[0][1]),
        [c1_0] "=w"(c[1][0]),
        [c1_1] "=w"(c[1][1]),
        [c2_0] "=w"(c[2][0]),
        [c2_1] "=w"(c[2][1]),
        [c3_0] "=w"(c[3][0]),
        [c3_1] "=w"(c[3][1])
      : [a] "r"(a), [b] "r"(b), [kc] "r"(kc), [ldb] "r"(ldb_bytes), [astep] "r"(kMR * sizeof(float))
      : "x9", "x10", "x11", "v0", "v1", "v2", "v3", "v4", "cc", "memory");
}

template <>
inline void k_loop_x8<8>(float32x4_t (*c)[2], const float* a, const float* b, size_t ldb_bytes,
                          size_t kc) {
  __asm__ volatile(
      "movi %[c0_0].4s, #0\n"
      "movi %[c0_1].4s, #0\n"
      "movi %[c1_0].4s, #0\n"
      "movi %[c1_1].4s, #0\n"
      "movi %[c2_0].4s, #0\n"
      "movi %[c2_1].4s, #0\n"
      "movi %[c3_0].4s, #0\n"
      "movi %[c3_1].4s, #0\n"
      "movi %[c4_0].4s, #0\n"
      "movi %[c4_1].4s, #0\n"
      "movi %[c5_0].4s, #0\n"
      "movi %[c5_1].4s, #0\n"
      "movi %[c6_0].4s, #0\n"
      "movi %[c6_1].4s, #0\n"
      "movi %[c7_0].4s, #0\n"
      "movi %[c7_1].4s, #0\n"
      "mov x10, %[a]\n"
      "mov x11, %[b]\n"
      "lsr x9, %[kc], #2\n"
      "cbz x9, 2f\n"
      "1:\n"
      "prfm pldl1keep, [x10, #2304]\n"
      "prfm pldl1keep, [x10, #2368]\n"
      "prfm pldl1keep, [x10, #2432]\n"
      "ld1 {v0.4s, v1.4s}, [x10], %[astep]\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c4_0].4s, v3.4s, v1.s[0]\n"
      "fmla %[c5_0].4s, v3.4s, v1.s[1]\n"
      "fmla %[c6_0].4s, v3.4s, v1.s[2]\n"
      "fmla %[c7_0].4s, v3.4s, v1.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "fmla %[c4_1].4s, v4.4s, v1.s[0]\n"
      "fmla %[c5_1].4s, v4.4s, v1.s[1]\n"
      "fmla %[c6_1].4s, v4.4s, v1.s[2]\n"
      "fmla %[c7_1].4s, v4.4s, v1.s[3]\n"
      "ld1 {v0.4s, v1.4s}, [x10], %[astep]\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c4_0].4s, v3.4s, v1.s[0]\n"
      "fmla %[c5_0].4s, v3.4s, v1.s[1]\n"
      "fmla %[c6_0].4s, v3.4s, v1.s[2]\n"
      "fmla %[c7_0].4s, v3.4s, v1.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "fmla %[c4_1].4s, v4.4s, v1.s[0]\n"
      "fmla %[c5_1].4s, v4.4s, v1.s[1]\n"
      "fmla %[c6_1].4s, v4.4s, v1.s[2]\n"
      "fmla %[c7_1].4s, v4.4s, v1.s[3]\n"
      "ld1 {v0.4s, v1.4s}, [x10], %[astep]\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c4_0].4s, v3.4s, v1.s[0]\n"
      "fmla %[c5_0].4s, v3.4s, v1.s[1]\n"
      "fmla %[c6_0].4s, v3.4s, v1.s[2]\n"
      "fmla %[c7_0].4s, v3.4s, v1.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "fmla %[c4_1].4s, v4.4s, v1.s[0]\n"
      "fmla %[c5_1].4s, v4.4s, v1.s[1]\n"
      "fmla %[c6_1].4s, v4.4s, v1.s[2]\n"
      "fmla %[c7_1].4s, v4.4s, v1.s[3]\n"
      "ld1 {v0.4s, v1.4s}, [x10], %[astep]\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c4_0].4s, v3.4s, v1.s[0]\n"
      "fmla %[c5_0].4s, v3.4s, v1.s[1]\n"
      "fmla %[c6_0].4s, v3.4s, v1.s[2]\n"
      "fmla %[c7_0].4s, v3.4s, v1.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "fmla %[c4_1].4s, v4.4s, v1.s[0]\n"
      "fmla %[c5_1].4s, v4.4s, v1.s[1]\n"
      "fmla %[c6_1].4s, v4.4s, v1.s[2]\n"
      "fmla %[c7_1].4s, v4.4s, v1.s[3]\n"
      "subs x9, x9, #1\n"
      "b.ne 1b\n"
      "2:\n"
      "ands x9, %[kc], #3\n"
      "b.eq 4f\n"
      "3:\n"
      "ld1 {v0.4s, v1.4s}, [x10], %[astep]\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c4_0].4s, v3.4s, v1.s[0]\n"
      "fmla %[c5_0].4s, v3.4s, v1.s[1]\n"
      "fmla %[c6_0].4s, v3.4s, v1.s[2]\n"
      "fmla %[c7_0].4s, v3.4s, v1.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "fmla %[c4_1].4s, v4.4s, v1.s[0]\n"
      "fmla %[c5_1].4s, v4.4s, v1.s[1]\n"
      "fmla %[c6_1].4s, v4.4s, v1.s[2]\n"
      "fmla %[c7_1].4s, v4.4s, v1.s[3]\n"
      "subs x9, x9, #1\n"
      "b.ne 3b\n"
      "4:\n"
      :
        [c0_0] "=w"(c[0][0]),
        [c0_1] "=w"(c[0][1]),
        [c1_0] "=w"(c[1][0]),
        [c1_1] "=w"(c[1][1]),
        [c2_0] "=w"(c[2][0]),
        [c2_1] "=w"(c[2][1]),
        [c3_0] "=w"(c[3][0]),
        [c3_1] "=w"(c[3][1]),
        [c4_0] "=w"(c[4][0]),
        [c4_1] "=w"(c[4][1]),
        [c5_0] "=w"(c[5][0]),
        [c5_1] "=w"(c[5][1]),
        [c6_0] "=w"(c[6][0]),
        [c6_1] "=w"(c[6][1]),
        [c7_0] "=w"(c[7][0]),
        [c7_1] "=w"(c[7][1])
      : [a] "r"(a), [b] "r"(b), [kc] "r"(kc), [ldb] "r"(ldb_bytes), [astep] "r"(kMR * sizeof(float))
      : "x9", "x10", "x11", "v0", "v1", "v2", "v3", "v4", "cc", "memory");
}

template <>
inline void k_loop_x8<12>(float32x4_t (*c)[2], const float* a, const float* b, size_t ldb_bytes,
                          size_t kc) {
  __asm__ volatile(
      "movi %[c0_0].4s, #0\n"
      "movi %[c0_1].4s, #0\n"
      "movi %[c1_0].4s, #0\n"
      "movi %[c1_1].4s, #0\n"
      "movi %[c2_0].4s, #0\n"
      "movi %[c2_1].4s, #0\n"
      "movi %[c3_0].4s, #0\n"
      "movi %[c3_1].4s, #0\n"
      "movi %[c4_0].4s, #0\n"
      "movi %[c4_1].4s, #0\n"
      "movi %[c5_0].4s, #0\n"
      "movi %[c5_1].4s, #0\n"
      "movi %[c6_0].4s, #0\n"
      "movi %[c6_1].4s, #0\n"
      "movi %[c7_0].4s, #0\n"
      "movi %[c7_1].4s, #0\n"
      "movi %[c8_0].4s, #0\n"
      "movi %[c8_1].4s, #0\n"
      "movi %[c9_0].4s, #0\n"
      "movi %[c9_1].4s, #0\n"
      "movi %[c10_0].4s, #0\n"
      "movi %[c10_1].4s, #0\n"
      "movi %[c11_0].4s, #0\n"
      "movi %[c11_1].4s, #0\n"
      "mov x10, %[a]\n"
      "mov x11, %[b]\n"
      "lsr x9, %[kc], #2\n"
      "cbz x9, 2f\n"
      "1:\n"
      "prfm pldl1keep, [x10, #2304]\n"
      "prfm pldl1keep, [x10, #2368]\n"
      "prfm pldl1keep, [x10, #2432]\n"
      "ld1 {v0.4s, v1.4s, v2.4s}, [x10], #48\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c4_0].4s, v3.4s, v1.s[0]\n"
      "fmla %[c5_0].4s, v3.4s, v1.s[1]\n"
      "fmla %[c6_0].4s, v3.4s, v1.s[2]\n"
      "fmla %[c7_0].4s, v3.4s, v1.s[3]\n"
      "fmla %[c8_0].4s, v3.4s, v2.s[0]\n"
      "fmla %[c9_0].4s, v3.4s, v2.s[1]\n"
      "fmla %[c10_0].4s, v3.4s, v2.s[2]\n"
      "fmla %[c11_0].4s, v3.4s, v2.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "fmla %[c4_1].4s, v4.4s, v1.s[0]\n"
      "fmla %[c5_1].4s, v4.4s, v1.s[1]\n"
      "fmla %[c6_1].4s, v4.4s, v1.s[2]\n"
      "fmla %[c7_1].4s, v4.4s, v1.s[3]\n"
      "fmla %[c8_1].4s, v4.4s, v2.s[0]\n"
      "fmla %[c9_1].4s, v4.4s, v2.s[1]\n"
      "fmla %[c10_1].4s, v4.4s, v2.s[2]\n"
      "fmla %[c11_1].4s, v4.4s, v2.s[3]\n"
      "ld1 {v0.4s, v1.4s, v2.4s}, [x10], #48\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c4_0].4s, v3.4s, v1.s[0]\n"
      "fmla %[c5_0].4s, v3.4s, v1.s[1]\n"
      "fmla %[c6_0].4s, v3.4s, v1.s[2]\n"
      "fmla %[c7_0].4s, v3.4s, v1.s[3]\n"
      "fmla %[c8_0].4s, v3.4s, v2.s[0]\n"
      "fmla %[c9_0].4s, v3.4s, v2.s[1]\n"
      "fmla %[c10_0].4s, v3.4s, v2.s[2]\n"
      "fmla %[c11_0].4s, v3.4s, v2.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "fmla %[c4_1].4s, v4.4s, v1.s[0]\n"
      "fmla %[c5_1].4s, v4.4s, v1.s[1]\n"
      "fmla %[c6_1].4s, v4.4s, v1.s[2]\n"
      "fmla %[c7_1].4s, v4.4s, v1.s[3]\n"
      "fmla %[c8_1].4s, v4.4s, v2.s[0]\n"
      "fmla %[c9_1].4s, v4.4s, v2.s[1]\n"
      "fmla %[c10_1].4s, v4.4s, v2.s[2]\n"
      "fmla %[c11_1].4s, v4.4s, v2.s[3]\n"
      "ld1 {v0.4s, v1.4s, v2.4s}, [x10], #48\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c4_0].4s, v3.4s, v1.s[0]\n"
      "fmla %[c5_0].4s, v3.4s, v1.s[1]\n"
      "fmla %[c6_0].4s, v3.4s, v1.s[2]\n"
      "fmla %[c7_0].4s, v3.4s, v1.s[3]\n"
      "fmla %[c8_0].4s, v3.4s, v2.s[0]\n"
      "fmla %[c9_0].4s, v3.4s, v2.s[1]\n"
      "fmla %[c10_0].4s, v3.4s, v2.s[2]\n"
      "fmla %[c11_0].4s, v3.4s, v2.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "fmla %[c4_1].4s, v4.4s, v1.s[0]\n"
      "fmla %[c5_1].4s, v4.4s, v1.s[1]\n"
      "fmla %[c6_1].4s, v4.4s, v1.s[2]\n"
      "fmla %[c7_1].4s, v4.4s, v1.s[3]\n"
      "fmla %[c8_1].4s, v4.4s, v2.s[0]\n"
      "fmla %[c9_1].4s, v4.4s, v2.s[1]\n"
      "fmla %[c10_1].4s, v4.4s, v2.s[2]\n"
      "fmla %[c11_1].4s, v4.4s, v2.s[3]\n"
      "ld1 {v0.4s, v1.4s, v2.4s}, [x10], #48\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c4_0].4s, v3.4s, v1.s[0]\n"
      "fmla %[c5_0].4s, v3.4s, v1.s[1]\n"
      "fmla %[c6_0].4s, v3.4s, v1.s[2]\n"
      "fmla %[c7_0].4s, v3.4s, v1.s[3]\n"
      "fmla %[c8_0].4s, v3.4s, v2.s[0]\n"
      "fmla %[c9_0].4s, v3.4s, v2.s[1]\n"
      "fmla %[c10_0].4s, v3.4s, v2.s[2]\n"
      "fmla %[c11_0].4s, v3.4s, v2.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "fmla %[c4_1].4s, v4.4s, v1.s[0]\n"
      "fmla %[c5_1].4s, v4.4s, v1.s[1]\n"
      "fmla %[c6_1].4s, v4.4s, v1.s[2]\n"
      "fmla %[c7_1].4s, v4.4s, v1.s[3]\n"
      "fmla %[c8_1].4s, v4.4s, v2.s[0]\n"
      "fmla %[c9_1].4s, v4.4s, v2.s[1]\n"
      "fmla %[c10_1].4s, v4.4s, v2.s[2]\n"
      "fmla %[c11_1].4s, v4.4s, v2.s[3]\n"
      "subs x9, x9, #1\n"
      "b.ne 1b\n"
      "2:\n"
      "ands x9, %[kc], #3\n"
      "b.eq 4f\n"
      "3:\n"
      "ld1 {v0.4s, v1.4s, v2.4s}, [x10], #48\n"
      "ld1 {v3.4s, v4.4s}, [x11], %[ldb]\n"
      "fmla %[c0_0].4s, v3.4s, v0.s[0]\n"
      "fmla %[c1_0].4s, v3.4s, v0.s[1]\n"
      "fmla %[c2_0].4s, v3.4s, v0.s[2]\n"
      "fmla %[c3_0].4s, v3.4s, v0.s[3]\n"
      "fmla %[c4_0].4s, v3.4s, v1.s[0]\n"
      "fmla %[c5_0].4s, v3.4s, v1.s[1]\n"
      "fmla %[c6_0].4s, v3.4s, v1.s[2]\n"
      "fmla %[c7_0].4s, v3.4s, v1.s[3]\n"
      "fmla %[c8_0].4s, v3.4s, v2.s[0]\n"
      "fmla %[c9_0].4s, v3.4s, v2.s[1]\n"
      "fmla %[c10_0].4s, v3.4s, v2.s[2]\n"
      "fmla %[c11_0].4s, v3.4s, v2.s[3]\n"
      "fmla %[c0_1].4s, v4.4s, v0.s[0]\n"
      "fmla %[c1_1].4s, v4.4s, v0.s[1]\n"
      "fmla %[c2_1].4s, v4.4s, v0.s[2]\n"
      "fmla %[c3_1].4s, v4.4s, v0.s[3]\n"
      "fmla %[c4_1].4s, v4.4s, v1.s[0]\n"
      "fmla %[c5_1].4s, v4.4s, v1.s[1]\n"
      "fmla %[c6_1].4s, v4.4s, v1.s[2]\n"
      "fmla %[c7_1].4s, v4.4s, v1.s[3]\n"
      "fmla %[c8_1].4s, v4.4s, v2.s[0]\n"
      "fmla %[c9_1].4s, v4.4s, v2.s[1]\n"
      "fmla %[c10_1].4s, v4.4s, v2.s[2]\n"
      "fmla %[c11_1].4s, v4.4s, v2.s[3]\n"
      "subs x9, x9, #1\n"
      "b.ne 3b\n"
      "4:\n"
      :
        [c0_0] "=w"(c[0][0]),
        [c0_1] "=w"(c[0][1]),
        [c1_0] "=w"(c[1][0]),
        [c1_1] "=w"(c[1][1]),
        [c2_0] "=w"(c[2][0]),
        [c2_1] "=w"(c[2][1]),
        [c3_0] "=w"(c[3][0]),
        [c3_1] "=w"(c[3][1]),
        [c4_0] "=w"(c[4][0]),
        [c4_1] "=w"(c[4][1]),
        [c5_0] "=w"(c[5][0]),
        [c5_1] "=w"(c[5][1]),
        [c6_0] "=w"(c[6][0]),
        [c6_1] "=w"(c[6][1]),
        [c7_0] "=w"(c[7][0]),
        [c7_1] "=w"(c[7][1]),
        [c8_0] "=w"(c[8][0]),
        [c8_1] "=w"(c[8][1]),
        [c9_0] "=w"(c[9][0]),
        [c9_1] "=w"(c[9][1]),
        [c10_0] "=w"(c[10][0]),
        [c10_1] "=w"(c[10][1]),
        [c11_0] "=w"(c[11][0]),
        [c11_1] "=w"(c[11][1])
      : [a] "r"(a), [b] "r"(b), [kc] "r"(kc), [ldb] "r"(ldb_bytes)
      : "x9", "x10", "x11", "v0", "v1", "v2", "v3", "v4", "cc", "memory");
}

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

// The activations with many constants (SiLU's exp, hardswish, any later one), out of line: inline,
// their registers made GCC spill the accumulators of every tile, whatever its activation.
template <int R, int V>
__attribute__((noinline)) void act_tile(float32x4_t (*acc)[2], Act act) {
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = neon::act(acc[r][v], act);
}

// Whole-width tiles (nc == 4 V, nearly all of them): the epilogue in passes over the registers,
// each behind one branch (a per-vector test of accumulate/scale/residual/act cost about as much
// as the arithmetic), and the activation's switch taken once per tile, not per vector.
template <int R, int V>
inline void epilogue_full(float32x4_t (*acc)[2], float* c, size_t ldc, bool accumulate,
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
      default:
        act_tile<R, V>(acc, epi->act);
        break;
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) vst1q_f32(c + r * ldc + 4 * v, acc[r][v]);
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

// R rows (1..12, a compile-time count so the accumulators live in registers); V = 1 when the
// tile's stored width is <= 4, skipping the second accumulator column.
template <int R, int V, class Rows>
void tile(size_t nc, size_t kc, const float* a, Rows b, float* c, size_t ldc, bool accumulate,
          const TileEpilogue* epi) {
  float32x4_t acc[R][2];
  const auto sums = [&] {
    if constexpr (R % 4 == 0 && V == 2 && std::is_same_v<Rows, StridedRows>) {
      k_loop_x8<R>(acc, a, b.b, b.ldb * sizeof(float), kc);
    } else {
#pragma GCC unroll 12
      for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = vdupq_n_f32(0.f);
      k_loop<R, V>(acc, a, b, kc);
    }
  };
  // Two copies of the accumulation, one per epilogue: with one copy GCC spilled all 24
  // accumulators right after it, to serve the partial epilogue's register needs.
  if (nc == 4 * V) {
    sums();
    epilogue_full<R, V>(acc, c, ldc, accumulate, epi);
  } else {
    sums();
    epilogue<R, V>(acc, nc, c, ldc, accumulate, epi);
  }
}

void column_sums(size_t mr, size_t K, const float* a, const float* b, size_t ldb, float* out) {
  float32x4_t x0 = vdupq_n_f32(0.f), x1 = x0, x2 = x0, y0 = x0, y1 = x0, y2 = x0;
  size_t k = 0;
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

void aio_f32_gemm_ukernel_12x8__neon(size_t mr, size_t nc, size_t kc, const float* a,
                                     const float* b, size_t ldb, float* c, size_t ldc,
                                     bool accumulate, const TileEpilogue* epi) {
  dispatch_tile(mr, nc, kc, a, StridedRows{b, ldb}, c, ldc, accumulate, epi);
}

void aio_f32_gemm_offsets_12x8__neon(size_t mr, size_t nc, size_t kc, const float* a,
                                     const float* base, const ptrdiff_t* off, float* c,
                                     size_t ldc, bool accumulate, const TileEpilogue* epi) {
  dispatch_tile(mr, nc, kc, a, OffsetRows{base, off}, c, ldc, accumulate, epi);
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
    for (size_t s = 0; s + 1 < strips; ++s) {
      vst1q_f32(d, vld1q_f32(src));
      vst1q_f32(d + 4, vld1q_f32(src + 4));
      src += kNR;
      d += kNR * kc;
    }
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
  t.pack_b = aio_f32_packb_8__neon;
  t.gemv = aio_f32_gemv_ukernel_12__neon;
  (void)aio_f32_gemm_offsets_12x8__neon;
  fill_table_depthwise_neon(t);
  fill_table_pool_neon(t);
  fill_table_elementwise_neon(t);
  fill_table_conv_pack_neon(t);
  fill_table_winograd_neon(t);
}

}  // namespace detail
}  // namespace aio
