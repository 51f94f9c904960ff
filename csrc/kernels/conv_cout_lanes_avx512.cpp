// AVX-512 tile of the channels-in-lanes convolution (see conv_cout_lanes in kernels.h): up to 14
// output pixels x 32 output channels in 28 zmm accumulators. Per k: two aligned loads of the
// weight strip, one broadcast per pixel straight from the padded input, two FMAs per pixel.
#include <array>
#include <utility>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx512.h"

namespace aio {
namespace detail {
namespace {

// k steps ahead that the weight strip is prefetched (4 KiB). A strip is read whole by every tile,
// from memory by the first (a 7 x 7 layer's weights do not stay in cache between runs) and from
// L2 by the rest; measured on a 7 x 7 x 512 layer, 1 thread (weights hot): 2.32-2.69 ms without,
// 2.16-2.63 with (10th percentiles of 200 calls, five alternations; 8 steps did as well).
constexpr size_t kPrefetchK = 32;

static_assert(kCoutLanesStrip == 32, "the tile holds one strip as two zmm columns");

// r[i] = row i of a 16 x 16 block; afterwards r[j] = column j (lane i = former row i).
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4q + j]: rows 4q..4q+3 of columns j, j + 4, j + 8, j + 12, one per 128-bit lane.
  __m512 u[16];
  for (int q = 0; q < 16; q += 4) {
    const __m512d a = _mm512_castps_pd(t[q]), b = _mm512_castps_pd(t[q + 2]);
    const __m512d c = _mm512_castps_pd(t[q + 1]), d = _mm512_castps_pd(t[q + 3]);
    u[q] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    u[q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    u[q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    u[q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  // v[j] (j < 4): rows 0-7 of columns j and j + 8; v[4 + j]: of j + 4 and j + 12; v[8 + .]: rows
  // 8-15 likewise.
  __m512 v[16];
  for (int h = 0; h < 16; h += 8)
    for (int j = 0; j < 4; ++j) {
      v[h + j] = _mm512_shuffle_f32x4(u[h + j], u[h + 4 + j], 0x88);
      v[h + 4 + j] = _mm512_shuffle_f32x4(u[h + j], u[h + 4 + j], 0xDD);
    }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(v[j], v[8 + j], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(v[j], v[8 + j], 0xDD);
  }
}

// W pixels per run, RUNS runs, column stride S, V halves of the strip (1 when it holds at most 16
// channels: a level of 16 channels would otherwise waste half the FMAs): all compile-time, so the
// accumulators stay in registers and each broadcast is one instruction with a constant
// displacement.
template <int W, int RUNS, int S, int V>
void tile(size_t /*w*/, size_t /*runs*/, size_t /*s*/, size_t K, const float* wts, const float* x,
          const ptrdiff_t* off, size_t run_pitch_in, float* y, size_t ldy, size_t run_pitch_out,
          size_t nc, const TileEpilogue* epi) {
  constexpr int R = W * RUNS;
  static_assert(R <= static_cast<int>(kCoutLanesMaxPixels), "tile too large");
  __m512 acc[R][V];
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int h = 0; h < V; ++h) acc[r][h] = _mm512_setzero_ps();

  for (size_t k = 0; k < K; ++k) {
    // A prefetch never faults, so reading past the strip's end is harmless.
    const float* ahead = wts + (k + kPrefetchK) * kCoutLanesStrip;
    _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(ahead + 16), _MM_HINT_T0);
    __m512 b[V];
#pragma GCC unroll 2
    for (int h = 0; h < V; ++h) b[h] = _mm512_load_ps(wts + k * kCoutLanesStrip + 16 * h);
    const float* p = x + off[k];
#pragma GCC unroll 2
    for (int i = 0; i < RUNS; ++i) {
      const float* q = p + i * run_pitch_in;
#pragma GCC unroll 14
      for (int c = 0; c < W; ++c) {
        const __m512 a = _mm512_set1_ps(q[c * S]);
#pragma GCC unroll 2
        for (int h = 0; h < V; ++h) acc[i * W + c][h] = _mm512_fmadd_ps(a, b[h], acc[i * W + c][h]);
      }
    }
  }

  // Run i's pixels sit in lanes [i W, i W + W) of a transposed column; a masked access at
  // address (run start - i W) puts those lanes on the run's pixels.
  const __mmask16 run_mask = static_cast<__mmask16>((1u << W) - 1u);
  for (int h = 0; h < V; ++h) {
    const size_t m_base = 16 * static_cast<size_t>(h);
    if (m_base >= nc) break;
    __m512 col[16];
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) col[r] = acc[r][h];
    for (int r = R; r < 16; ++r) col[r] = _mm512_setzero_ps();
    transpose16(col);
    const size_t count = nc - m_base < 16 ? nc - m_base : 16;
    for (size_t j = 0; j < count; ++j) {
      const size_t m = m_base + j;
      __m512 v = col[j];
      if (epi->scale) v = _mm512_mul_ps(v, _mm512_set1_ps(epi->scale[m]));
      if (epi->bias) v = _mm512_add_ps(v, _mm512_set1_ps(epi->bias[m]));
      if (epi->residual) {
        const float* res = epi->residual + m * ldy;
        __m512 rv = _mm512_maskz_loadu_ps(run_mask, res);
        if (RUNS == 2)
          rv = _mm512_mask_loadu_ps(rv, static_cast<__mmask16>(run_mask << W),
                                    res + run_pitch_out - W);
        v = _mm512_add_ps(v, rv);
      }
      v = avx512::act(v, epi->act);
      float* out = y + m * ldy;
      _mm512_mask_storeu_ps(out, run_mask, v);
      if (RUNS == 2)
        _mm512_mask_storeu_ps(out + run_pitch_out - W, static_cast<__mmask16>(run_mask << W), v);
    }
  }
}

constexpr size_t kMaxW = kCoutLanesMaxPixels;

// Widths past the tile's pixel budget (two runs of more than 7) never occur: nullptr.
template <int W, int RUNS, int S, int V>
constexpr CoutLanesTileFn pick() {
  if constexpr (W * RUNS <= static_cast<int>(kMaxW))
    return tile<W, RUNS, S, V>;
  else
    return nullptr;
}

template <int RUNS, int S, int V, size_t... I>
constexpr std::array<CoutLanesTileFn, kMaxW + 1> make_tiles(std::index_sequence<I...>) {
  return {nullptr, pick<static_cast<int>(I + 1), RUNS, S, V>()...};
}

using Widths = std::make_index_sequence<kMaxW>;
// [runs - 1][s - 1][w]
using TileTable = std::array<std::array<std::array<CoutLanesTileFn, kMaxW + 1>, 2>, 2>;

template <int V>
constexpr TileTable tiles_for() {
  return {{{make_tiles<1, 1, V>(Widths()), make_tiles<1, 2, V>(Widths())},
           {make_tiles<2, 1, V>(Widths()), make_tiles<2, 2, V>(Widths())}}};
}
// kTiles[v - 1]: v = 2 where the strip holds more than 16 channels.
constexpr TileTable kTiles[2] = {tiles_for<1>(), tiles_for<2>()};

void aio_f32_conv_cout_lanes_14x32__avx512(size_t w, size_t runs, size_t s, size_t K,
                                           const float* wts, const float* x,
                                           const ptrdiff_t* off, size_t run_pitch_in, float* y,
                                           size_t ldy, size_t run_pitch_out, size_t nc,
                                           const TileEpilogue* epi) {
  kTiles[nc > 16][runs - 1][s - 1][w](w, runs, s, K, wts, x, off, run_pitch_in, y, ldy,
                                      run_pitch_out, nc, epi);
}

}  // namespace

void fill_table_cout_lanes_avx512(KernelTable& t) {
  t.cout_lanes_tile = aio_f32_conv_cout_lanes_14x32__avx512;
}

}  // namespace detail
}  // namespace aio
