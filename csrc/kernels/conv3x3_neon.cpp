// NEON 3x3 convolution for narrow layers (see conv3x3_rows in kernels.h): a tile of R = 4, 8 or
// 12 output channels (the GEMM's packed panel rows, read by element as in the 12 x 8 GEMM tile)
// times 8 or 16 output pixels of one row (4 channels at stride 1: 8 pixels of two rows), summed
// tap by tap straight from a zero-bordered copy of the input rows. Tap (i, j) of the tile is one
// vector load per 4 pixels at a fixed offset from the channel's row i (vld2q at stride 2: taps 0
// and 1 from one load, even and odd columns), so nothing is packed: the implicit GEMM's packing
// costs about 1 instruction per packed float, 9 c_in floats per pixel, which at M = 4-8 rows is
// as much again as its multiply. Per channel and tile the loop is the FMAs plus one load per B
// vector and one per A vector (ResNet-20 at level 3: 0.30-0.33 instructions per MAC in the
// loop, about the 4- and 8-row GEMM tiles' own, with no packing). Plain C++ with intrinsics:
// the disassembly (GCC 12, -fno-schedule-insns) keeps every accumulator in a register.
#include <arm_neon.h>

#include <algorithm>
#include <utility>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

// Output vector q (4 pixels) of all R rows: acc += w[r] * b, w read by element; the first
// product of a tile (Init) sets acc instead, so the accumulators need no zeroing.
template <int R, int Q, bool Init = false, size_t... I>
__attribute__((always_inline)) inline void fma_rows(float32x4_t (*acc)[R][2], const float32x4_t* w,
                                                    float32x4_t b, std::index_sequence<I...>) {
  if constexpr (Init)
    ((acc[Q / 2][I][Q % 2] = vmulq_laneq_f32(b, w[I / 4], I % 4)), ...);
  else
    ((acc[Q / 2][I][Q % 2] = vfmaq_laneq_f32(acc[Q / 2][I][Q % 2], b, w[I / 4], I % 4)), ...);
}

// Tap column J of output vector Q from `row` (the padded input row at the tile's first pixel).
template <int S, int J, int Q>
__attribute__((always_inline)) inline float32x4_t load_b(const float* row) {
  if constexpr (S == 1)
    return vld1q_f32(row + J + 4 * Q);
  else if constexpr (J < 2)
    return vld2q_f32(row + 8 * Q).val[J];
  else
    return vld2q_f32(row + 8 * Q + 2).val[0];
}

template <int R>
__attribute__((always_inline)) inline void load_w(float32x4_t* w, const float* a) {
  // Separate loads: an immediate offset each (ldp/ldr), where ld1 {..} takes an address add.
  w[0] = vld1q_f32(a);
  if constexpr (R > 4) w[1] = vld1q_f32(a + 4);
  if constexpr (R > 8) w[2] = vld1q_f32(a + 8);
}

template <int R, int S, int T, bool Init, size_t... Q>
__attribute__((always_inline)) inline void tap(float32x4_t (*acc)[R][2], const float* a,
                                               const float* row, std::index_sequence<Q...>) {
  float32x4_t w[R / 4];
  load_w<R>(w, a + T * kMR);
  (fma_rows<R, Q, Init>(acc, w, load_b<S, T % 3, Q>(row), std::make_index_sequence<R>{}), ...);
}

// The 9 taps of one channel; the tile's first channel (First) sets the sums at its first tap.
template <int R, int S, int NQ, bool First, size_t... T>
__attribute__((always_inline)) inline void taps(float32x4_t (*acc)[R][2], const float* a,
                                                const float* x, size_t pitch,
                                                std::index_sequence<T...>) {
  (tap<R, S, T, First && T == 0>(acc, a, x + (T / 3) * pitch, std::make_index_sequence<NQ>{}),
   ...);
}

// The common epilogue (scale and bias, ReLU or ReLU6 or none, any residual) inline, its variant
// chosen once per call; the scales and biases are read per tile (a whole vector of scales, a
// broadcast bias per row): held in registers across tiles they took 2 R registers (GCC hoisted
// the per-row broadcasts), which the 12-row tiles spilled.
enum class Fin { ScaleBias, ScaleBiasRelu, ScaleBiasRelu6, Other };

template <int R, Fin F, bool Res>
__attribute__((always_inline)) inline void finish_rows(float32x4_t (*acc)[2], float* y, size_t ldy,
                                                       const float* res, const float* scale,
                                                       const float* bias) {
  // Up to 8 rows: each group of 4 scales and biases loaded once per tile, a bias lane
  // broadcast per row (4 instructions a row where a load of each took 6); 12 rows keep the
  // loads per row (their 24 accumulators leave too few registers for the 6 vectors).
  float32x4_t sv[R / 4], bv[R / 4];
  if constexpr (R <= 8)
#pragma GCC unroll 2
    for (int q = 0; q < R / 4; ++q) {
      sv[q] = vld1q_f32(scale + 4 * q);
      bv[q] = vld1q_f32(bias + 4 * q);
    }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    float32x4_t s, b;
    if constexpr (R <= 8) {
      s = sv[r / 4];
      b = vdupq_laneq_f32(bv[r / 4], r % 4);
    } else {
      s = vld1q_f32(scale + r / 4 * 4);
      b = vld1q_dup_f32(bias + r);
    }
#pragma GCC unroll 2
    for (int v = 0; v < 2; ++v) {
      float32x4_t t = vfmaq_laneq_f32(b, acc[r][v], s, r % 4);
      if constexpr (Res) t = vaddq_f32(t, vld1q_f32(res + r * ldy + 4 * v));
      if constexpr (F != Fin::ScaleBias) t = vmaxq_f32(t, vdupq_n_f32(0.f));
      if constexpr (F == Fin::ScaleBiasRelu6) t = vminq_f32(t, vdupq_n_f32(6.f));
      vst1q_f32(y + r * ldy + 4 * v, t);
    }
  }
}

// One test of the residual per tile, not per vector.
template <int R, Fin F>
__attribute__((always_inline)) inline void finish(float32x4_t (*acc)[2], float* y, size_t ldy,
                                                  const float* res, const TileEpilogue& te) {
  if (res)
    finish_rows<R, F, true>(acc, y, ldy, res, te.scale, te.bias);
  else
    finish_rows<R, F, false>(acc, y, ldy, res, te.scale, te.bias);
}

// Output rows [0, rows) of R channels: x is the padded input at the first row's first tap
// (channel planes `plane` floats apart, rows `pitch`), a the panel at k = 0, y the first
// channel's output at the first row (ldy floats per channel); te.residual positioned as y.
template <int R, int S, int NQ, Fin F>
void rows_tiles(const float* a, const float* x, size_t C, size_t plane, size_t pitch, size_t w,
                size_t rows, float* y, size_t ldy, const TileEpilogue& te) {
  constexpr int H = NQ / 2;
  for (size_t oy = 0; oy < rows; ++oy)
    for (size_t ox = 0; ox < w; ox += 4 * NQ) {
      float32x4_t acc[H][R][2];
      const float* xc = x + oy * S * pitch + ox * S;
      const float* ac = a;
      taps<R, S, NQ, true>(acc, ac, xc, pitch, std::make_index_sequence<9>{});
      for (size_t c = 1; c < C; ++c) {
        xc += plane;
        ac += 9 * kMR;
        taps<R, S, NQ, false>(acc, ac, xc, pitch, std::make_index_sequence<9>{});
      }
      const size_t at = oy * w + ox;
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) {
        const float* res = te.residual ? te.residual + at + 8 * h : nullptr;
        if constexpr (F != Fin::Other) {
          finish<R, F>(acc[h], y + at + 8 * h, ldy, res, te);
        } else {
          TileEpilogue e = te;
          e.residual = res;
          neon::epilogue_full<R, 2>(acc[h], y + at + 8 * h, ldy, false, &e);
        }
      }
    }
}

// Four channels (R = 4) at stride 1, two output rows x 8 pixels a tile: the 9 taps' weights stay
// in registers for the channel (9 + 16 accumulators + 2), and each of the 4 input rows' vectors
// serves both output rows, 24 loads of B per channel and tile where two one-row tiles load 36.
template <int II, int J, bool First>
__attribute__((always_inline)) inline void input_tap(float32x4_t (*acc)[4][2],
                                                     const float32x4_t* wt, const float* row) {
  const float32x4_t b0 = vld1q_f32(row + J), b1 = vld1q_f32(row + J + 4);
  constexpr auto rows = std::make_index_sequence<4>{};
  if constexpr (II <= 2) {  // output row 0, tap row II
    constexpr bool init = First && II == 0 && J == 0;
    fma_rows<4, 0, init>(acc, wt + 3 * II + J, b0, rows);
    fma_rows<4, 1, init>(acc, wt + 3 * II + J, b1, rows);
  }
  if constexpr (II >= 1) {  // output row 1, tap row II - 1
    constexpr bool init = First && II == 1 && J == 0;
    fma_rows<4, 2, init>(acc, wt + 3 * (II - 1) + J, b0, rows);
    fma_rows<4, 3, init>(acc, wt + 3 * (II - 1) + J, b1, rows);
  }
}

template <bool First, size_t... T>
__attribute__((always_inline)) inline void input_taps(float32x4_t (*acc)[4][2], const float* a,
                                                      const float* x, size_t pitch,
                                                      std::index_sequence<T...>) {
  float32x4_t wt[9];
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) wt[t] = vld1q_f32(a + t * kMR);
  (input_tap<T / 3, T % 3, First>(acc, wt, x + (T / 3) * pitch), ...);
}

template <Fin F>
void row_pairs4(const float* a, const float* x, size_t C, size_t plane, size_t pitch, size_t w,
                size_t rows, float* y, size_t ldy, const TileEpilogue& te) {
  for (size_t oy = 0; oy < rows; oy += 2)
    for (size_t ox = 0; ox < w; ox += 8) {
      float32x4_t acc[2][4][2];
      const float* xc = x + oy * pitch + ox;
      const float* ac = a;
      input_taps<true>(acc, ac, xc, pitch, std::make_index_sequence<12>{});
      for (size_t c = 1; c < C; ++c) {
        xc += plane;
        ac += 9 * kMR;
        input_taps<false>(acc, ac, xc, pitch, std::make_index_sequence<12>{});
      }
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const size_t at = (oy + h) * w + ox;
        const float* res = te.residual ? te.residual + at : nullptr;
        if constexpr (F != Fin::Other) {
          finish<4, F>(acc[h], y + at, ldy, res, te);
        } else {
          TileEpilogue e = te;
          e.residual = res;
          neon::epilogue_full<4, 2>(acc[h], y + at, ldy, false, &e);
        }
      }
    }
}

using RowsTilesFn = void (*)(const float*, const float*, size_t, size_t, size_t, size_t, size_t,
                             float*, size_t, const TileEpilogue&);

template <template <Fin> class Tiles>
RowsTilesFn with_fin(const TileEpilogue& te) {
  if (!te.scale || !te.bias) return Tiles<Fin::Other>::fn;
  switch (te.act) {
    case Act::None: return Tiles<Fin::ScaleBias>::fn;
    case Act::Relu: return Tiles<Fin::ScaleBiasRelu>::fn;
    case Act::Relu6: return Tiles<Fin::ScaleBiasRelu6>::fn;
    default: return Tiles<Fin::Other>::fn;
  }
}

template <int R, int S, int NQ>
struct RowTiles {
  template <Fin F>
  struct With {
    static constexpr RowsTilesFn fn = rows_tiles<R, S, NQ, F>;
  };
};
template <Fin F>
struct RowPairs4 {
  static constexpr RowsTilesFn fn = row_pairs4<F>;
};

template <int S>
RowsTilesFn rows_fn(size_t mr, size_t w, size_t rows, const TileEpilogue& te) {
  if (mr == 4 && S == 1 && rows % 2 == 0) return with_fin<RowPairs4>(te);
  if (mr == 4)
    return w % 16 == 0 ? with_fin<RowTiles<4, S, 4>::template With>(te)
                       : with_fin<RowTiles<4, S, 2>::template With>(te);
  return mr == 8 ? with_fin<RowTiles<8, S, 2>::template With>(te)
                 : with_fin<RowTiles<12, S, 2>::template With>(te);
}

// dst[0, n) = 0 (n a multiple of 4).
inline void zero(float* dst, size_t n) {
  for (size_t i = 0; i < n; i += 4) vst1q_f32(dst + i, vdupq_n_f32(0.f));
}

// The zero-bordered copy of rows [r0, r1) of every channel (image row iy0 + r), zeros above and
// below. W > 0: rows of exactly W floats (8, 16, 32: every layer of ResNet-20), copied unrolled
// in 8-float blocks; the general loop's tails cost about 19 instructions a row, which at 8-32
// floats a row was as much as the copy itself.
template <size_t W>
void pad_planes(float* pad, const float* x, size_t C, size_t plane, size_t pitch, size_t rows_in,
                size_t r0, size_t r1, size_t h_in, size_t w_in, long iy0, size_t left,
                size_t body) {
  const float32x4_t z = vdupq_n_f32(0.f);
  for (size_t c = 0; c < C; ++c) {
    float* d = pad + c * plane;
    zero(d, r0 * pitch);
    zero(d + r1 * pitch, (rows_in - r1) * pitch);
    const float* src = x + (c * h_in + static_cast<size_t>(iy0 + static_cast<long>(r0))) * w_in;
    for (size_t r = r0; r < r1; ++r, src += w_in) {
      float* dr = d + r * pitch;
      // The borders as whole vectors, then the row over them: pw <= 1 leaves at most 4 floats
      // of zeros on either side.
      vst1q_f32(dr, z);
      vst1q_f32(dr + pitch - 4, z);
      dr += left;
      if constexpr (W > 0) {
#pragma GCC unroll 4
        for (size_t i = 0; i < W; i += 8) vst1q_f32_x2(dr + i, vld1q_f32_x2(src + i));
      } else {
        size_t i = 0;
        for (; i + 8 <= body; i += 8) vst1q_f32_x2(dr + i, vld1q_f32_x2(src + i));
        for (; i + 4 <= body; i += 4) vst1q_f32(dr + i, vld1q_f32(src + i));
        for (; i < body; ++i) dr[i] = src[i];
      }
    }
  }
}

void aio_f32_conv3x3_rows__neon(const float* a, size_t panel_stride, const float* x,
                                const ConvGeom& g, float* y, size_t m0, size_t m1, size_t oy0,
                                size_t oy1, const Epilogue& epi) {
  const size_t S = g.sw, w = g.w_out, HW = g.h_out * w;
  // Padded rows: S w + 4 floats reach the last vector's furthest tap (column S w + 1 at most).
  const size_t rows_in = (oy1 - 1 - oy0) * S + 3, pitch = S * w + 4, plane = rows_in * pitch;
  float* pad = thread_scratch(Scratch::ConvDirect, g.c_in * plane);
  // Locals: the vector stores below could alias g as far as the compiler knows.
  const size_t C = g.c_in, h_in = g.h_in, w_in = g.w_in, left = g.pw;
  const size_t body = std::min(w_in, pitch - left);
  const long iy0 = static_cast<long>(oy0 * S) - static_cast<long>(g.ph);
  // Image rows [r0, r1) of the padded rows are inside the image.
  const size_t r0 = static_cast<size_t>(std::clamp<long>(-iy0, 0, static_cast<long>(rows_in)));
  const size_t r1 = static_cast<size_t>(
      std::clamp<long>(static_cast<long>(h_in) - iy0, static_cast<long>(r0),
                       static_cast<long>(rows_in)));
  auto pad_fn = pad_planes<0>;
  if (body == 8) pad_fn = pad_planes<8>;
  if (body == 16) pad_fn = pad_planes<16>;
  if (body == 32) pad_fn = pad_planes<32>;
  pad_fn(pad, x, C, plane, pitch, rows_in, r0, r1, h_in, w_in, iy0, left, body);
  // Row groups of at most 12 rows (a panel), 8 at stride 2: its tiles keep the two columns of
  // a structure load apart per tap pair, and 12 rows' accumulators then left too few registers
  // (GCC 12 spilled 10 of them in the channel loop). A group of 8 and one of 4 read the same
  // panel at rows 0 and 8.
  const size_t most = S == 1 ? kMR : 8;
  for (size_t m = m0; m < m1;) {
    const size_t in_panel = m % kMR, mr = std::min({most, m1 - m, kMR - in_panel});
    const TileEpilogue te{epi.scale ? epi.scale + m : nullptr, epi.bias ? epi.bias + m : nullptr,
                          epi.residual ? epi.residual + m * HW + oy0 * w : nullptr, epi.act};
    const size_t rows = oy1 - oy0;
    const RowsTilesFn tiles = S == 1 ? rows_fn<1>(mr, w, rows, te) : rows_fn<2>(mr, w, rows, te);
    tiles(a + m / kMR * panel_stride + in_panel, pad, C, plane, pitch, w, rows,
          y + m * HW + oy0 * w, HW, te);
    m += mr;
  }
}

}  // namespace

void fill_table_conv3x3_neon(KernelTable& t) { t.conv3x3_rows = aio_f32_conv3x3_rows__neon; }

}  // namespace detail
}  // namespace aio
