// AVX-512 depthwise convolution, output width in lanes (16 pixels of one row per vector).
// Taps are read straight from the input planes: no zero-bordered copy. A copy of each plane cost
// as much as the taps themselves (43 % of a 56 x 56 stride-2 layer in perf), since every input
// float was loaded, stored and loaded again. Rows above or below the image read a zero row, so
// every tap is a load with no row test; vectors that reach past the left or right edge load with
// lane masks (masked-off lanes never fault), the others with plain loads. Stride 1 loads
// directly, stride 2 de-interleaves two loads, other strides gather.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx512.h"

namespace aio {
namespace detail {
namespace {

// Kernel heights and widths the vector path takes (row pointers and tap masks live on the stack);
// larger kernels take the portable path.
constexpr size_t kMaxKernel = 32;

// Lanes [lo, hi) of a mask of up to 32 lanes, empty when hi <= lo.
inline uint32_t lane_range(ptrdiff_t lo, ptrdiff_t hi) {
  lo = std::max<ptrdiff_t>(lo, 0);
  hi = std::min<ptrdiff_t>(hi, 32);
  if (hi <= lo) return 0;
  const uint32_t below_hi = hi == 32 ? ~0u : (1u << hi) - 1u;
  return below_hi & ~((1u << lo) - 1u);
}

// row + col floats, where col may be negative or run past the row: the address is formed with
// integer arithmetic and only dereferenced in lanes the caller's mask keeps inside the row.
inline const float* at_col(const float* row, ptrdiff_t col) {
  return reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(row) +
                                        static_cast<uintptr_t>(col) * sizeof(float));
}

using avx512::even_lanes;

// The input lanes one tap reads for a vector of n outputs whose first input column is col:
// stride 1 and 2 as the bits of the 16 (or 32) floats loaded from col on, other strides as the
// gather lanes. Lanes outside [0, w_in) or past the n outputs are off.
template <int S>
inline uint32_t tap_mask(ptrdiff_t col, size_t n, size_t w_in, size_t stride) {
  const ptrdiff_t w = static_cast<ptrdiff_t>(w_in);
  if (S == 1) return lane_range(-col, std::min<ptrdiff_t>(static_cast<ptrdiff_t>(n), w - col));
  if (S == 2)
    return lane_range(-col, std::min<ptrdiff_t>(2 * static_cast<ptrdiff_t>(n) - 1, w - col));
  uint32_t m = 0;
  for (size_t l = 0; l < n; ++l) {
    const ptrdiff_t c = col + static_cast<ptrdiff_t>(l * stride);
    if (c >= 0 && c < w) m |= 1u << l;
  }
  return m;
}

// Sixteen consecutive outputs' inputs for one tap, from column col of row r on. Masked: only the
// lanes of `mask` (tap_mask) are read, the others are zero.
template <int S, bool Masked>
inline __m512 load_taps(const float* r, ptrdiff_t col, uint32_t mask, __m512i gather_idx) {
  const float* src = at_col(r, col);
  if (S == 1)
    return Masked ? _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask), src) : _mm512_loadu_ps(src);
  if (S == 2) {
    if (!Masked)
      return _mm512_permutex2var_ps(_mm512_loadu_ps(src), even_lanes(), _mm512_loadu_ps(src + 16));
    const __mmask16 lo = static_cast<__mmask16>(mask), hi = static_cast<__mmask16>(mask >> 16);
    return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo, src), even_lanes(),
                                  _mm512_maskz_loadu_ps(hi, src + 16));
  }
  if (!Masked) return _mm512_i32gather_ps(gather_idx, src, 4);
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), static_cast<__mmask16>(mask), gather_idx,
                                  src, 4);
}

// What every channel of one call shares: the zero row, and per vector of a row its tap masks
// (they depend on the column only, so they are computed once per call, not per row).
struct RowPlan {
  const float* zero;      // stands in for rows above and below the image
  const uint32_t* masks;  // [vector][kw], tap_mask of each tap column
  size_t vectors;         // vectors per output row
  size_t first_interior, end_interior;  // vectors whose taps all lie inside the row: plain loads
  const uint32_t* flat_masks;           // channel_flat only: [vector][9] (flat_masks())
};

// `count` input rows from row `first` (signed: may start above the image), `step` apart; rows
// outside the image read `zero`.
inline void input_rows(const float* xc, const ConvGeom& g, ptrdiff_t first, size_t count,
                       size_t step, const float* zero, const float** rows) {
  for (size_t q = 0; q < count; ++q) {
    const ptrdiff_t iy = first + static_cast<ptrdiff_t>(q * step);
    rows[q] = iy >= 0 && iy < static_cast<ptrdiff_t>(g.h_in) ? xc + iy * g.w_in : zero;
  }
}

// One vector of outputs for any kernel (K == 0: runtime kh x kw and dilation); rows[i] is tap row
// i. Two accumulators halve the FMA chain.
template <int S, bool Masked>
inline __m512 vector_sum(const float* const* rows, ptrdiff_t col0, size_t kh, size_t kw,
                         size_t dw, const uint32_t* masks, const float* wc, __m512i gidx) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t t = 0;
  for (size_t i = 0; i < kh; ++i)
    for (size_t j = 0; j < kw; ++j, ++t) {
      const __m512 v = load_taps<S, Masked>(rows[i], col0 + static_cast<ptrdiff_t>(j * dw),
                                            Masked ? masks[j] : 0u, gidx);
      if (t & 1)
        acc1 = _mm512_fmadd_ps(_mm512_set1_ps(wc[t]), v, acc1);
      else
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(wc[t]), v, acc0);
    }
  return _mm512_add_ps(acc0, acc1);
}

// Stride 2, a vector of 16 outputs inside the row, all K (3 or 5) taps of one input row: the
// even and odd columns from two loads and two permutes, and each further tap the one two columns
// before it moved up a lane, its last lane a broadcast of the one new column (valignd). Loading
// and de-interleaving every tap apart (load_taps) took 2K loads and K permutes per row; this takes
// 2 loads, K - 2 broadcasts, 2 permutes and K - 2 lane shifts. Unmasked, the row's vector must
// reach col0 + K - 1 + 32 (the interior vectors of RowPlan do). Masked (edge vectors), `in` has
// bit c set where column col0 + c is inside the row and read by some tap (see edge_columns), and
// the columns outside it are zeros: a lane a shift brings in is one of those bits, or it shifts
// a lane that was already zero for the same column.
template <int K, bool Masked>
inline void stride2_taps(const float* row, ptrdiff_t col0, uint64_t in, __m512* t) {
  static_assert(K == 3 || K == 5, "taps 3 and 5");
  const float* src = at_col(row, col0);
  __m512 a, b;
  if constexpr (Masked) {
    a = _mm512_maskz_loadu_ps(static_cast<__mmask16>(in), src);
    b = _mm512_maskz_loadu_ps(static_cast<__mmask16>(in >> 16), src + 16);
  } else {
    a = _mm512_loadu_ps(src);
    b = _mm512_loadu_ps(src + 16);
  }
  auto next = [&](int c) { return !Masked || ((in >> c) & 1u) ? src[c] : 0.f; };
  auto shift_in = [](__m512 lo, float last) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(
        _mm512_castps_si512(_mm512_set1_ps(last)), _mm512_castps_si512(lo), 1));
  };
  t[0] = _mm512_permutex2var_ps(a, even_lanes(), b);
  t[1] = _mm512_permutex2var_ps(a, avx512::odd_lanes(), b);
  t[2] = shift_in(t[0], next(32));
  if constexpr (K == 5) {
    t[3] = shift_in(t[1], next(33));
    t[4] = shift_in(t[2], next(34));
  }
}

// Stride 1, a vector of 16 outputs, all K (3 or 5) taps of one input row: tap j is columns
// col0 + j .. col0 + j + 15, i.e. the 16 floats from col0 moved down j lanes with the first j of
// the next 16 shifted in (valignd). Two loads and K - 1 lane shifts, where K loads at K column
// offsets made most of them straddle two cache lines (3x3 on 112 x 112 x 16: 0.072 -> 0.042 ms).
// The second load takes only the K - 1 lanes the shifts use (masked: it may reach past the
// buffer). Masked (edge vectors), `in` has bit c set where column col0 + c is inside the row and
// read by some tap (edge_columns), and columns outside the row load as the zeros of the padding.
template <int K, bool Masked>
inline void stride1_taps(const float* row, ptrdiff_t col0, uint64_t in, __m512* t) {
  static_assert(K == 3 || K == 5, "taps 3 and 5");
  const float* src = at_col(row, col0);
  constexpr uint32_t kNext = (1u << (K - 1)) - 1u;
  const __m512i a = _mm512_castps_si512(
      Masked ? _mm512_maskz_loadu_ps(static_cast<__mmask16>(in), src) : _mm512_loadu_ps(src));
  const __m512i b = _mm512_castps_si512(_mm512_maskz_loadu_ps(
      static_cast<__mmask16>(Masked ? (in >> 16) & kNext : kNext), src + 16));
  t[0] = _mm512_castsi512_ps(a);
  t[1] = _mm512_castsi512_ps(_mm512_alignr_epi32(b, a, 1));
  t[2] = _mm512_castsi512_ps(_mm512_alignr_epi32(b, a, 2));
  if constexpr (K == 5) {
    t[3] = _mm512_castsi512_ps(_mm512_alignr_epi32(b, a, 3));
    t[4] = _mm512_castsi512_ps(_mm512_alignr_epi32(b, a, 4));
  }
}

// The columns from col0 on that the K taps of an edge vector (stride 1 or 2) read inside the
// row: tap j's mask (tap_mask, relative to col0 + j) moved to col0, all taps together.
template <int K>
inline uint64_t edge_columns(const uint32_t* masks) {
  uint64_t in = 0;
  for (int j = 0; j < K; ++j) in |= uint64_t{masks[j]} << j;
  return in;
}

// R vertically adjacent vectors of outputs for a K x K kernel (unit dilation), unrolled at compile
// time: rows[q] is input row q of the (R - 1) * S + K the R output rows read. Each row's K taps
// are built once (stride1_taps, stride2_taps) and feed every output row that uses them, and the
// C * R accumulator chains overlap.
template <int K, int S, int R, bool Masked, int C = 2>
inline void vector_sums(const float* const* rows, ptrdiff_t col0, const uint32_t* masks,
                        const __m512* wv, __m512* out) {
  static_assert((K == 3 || K == 5) && (S == 1 || S == 2), "3x3 and 5x5 at stride 1 and 2");
  static_assert(C == 1 || C == 2, "one or two chains per row");
  constexpr int Q = (R - 1) * S + K;
  const uint64_t in = Masked ? edge_columns<K>(masks) : 0;
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int q = 0; q < Q; ++q) {
    __m512 taps[K];
    if constexpr (S == 1)
      stride1_taps<K, Masked>(rows[q], col0, in, taps);
    else
      stride2_taps<K, Masked>(rows[q], col0, in, taps);
#pragma GCC unroll 7
    for (int j = 0; j < K; ++j) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const int i = q - r * S;
        if (i < 0 || i >= K) continue;
        __m512& a = acc[r][(i * K + j) % C];
        a = _mm512_fmadd_ps(wv[i * K + j], taps[j], a);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    out[r] = C == 1 ? acc[r][0] : _mm512_add_ps(acc[r][0], acc[r][C - 1]);
}

// Scale, bias, residual, activation and the store of one vector of outputs.
inline void finish(__m512 sum, __m512 vs, __m512 vb, const float* rrow, float* yrow, size_t ox,
                   __mmask16 m, Act act) {
  __m512 v = _mm512_fmadd_ps(sum, vs, vb);
  if (rrow) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, rrow + ox));
  _mm512_mask_storeu_ps(yrow + ox, m, avx512::act(v, act));
}

// R output rows from oy on, vector by vector (K > 0).
template <int K, int S, int R, int C = 2>
void rows_k(const float* xc, const RowPlan& plan, const __m512* wv, const ConvGeom& g, size_t oy,
            float* yc, const float* rc, __m512 vs, __m512 vb, Act act) {
  constexpr size_t Q = (R - 1) * S + K;
  const float* rows[Q];
  input_rows(xc, g, static_cast<ptrdiff_t>(oy * S) - static_cast<ptrdiff_t>(g.ph), Q, 1,
             plan.zero, rows);
  for (size_t v = 0, ox = 0; v < plan.vectors; ++v, ox += 16) {
    const size_t n = std::min<size_t>(16, g.w_out - ox);
    const __mmask16 m = static_cast<__mmask16>(lane_range(0, static_cast<ptrdiff_t>(n)));
    const ptrdiff_t col0 = static_cast<ptrdiff_t>(ox * S) - static_cast<ptrdiff_t>(g.pw);
    __m512 sums[R];
    if (v >= plan.first_interior && v < plan.end_interior)
      vector_sums<K, S, R, false, C>(rows, col0, nullptr, wv, sums);
    else
      vector_sums<K, S, R, true, C>(rows, col0, plan.masks + v * K, wv, sums);
    for (int r = 0; r < R; ++r) {
      const size_t o = (oy + r) * g.w_out;
      finish(sums[r], vs, vb, rc ? rc + o : nullptr, yc + o, ox, m, act);
    }
  }
}

// One channel. K > 0: the kernel is K x K with unit dilation and stride S, unrolled at compile
// time, two output rows at a time; K == 0: any kh x kw (up to kMaxKernel), dilation and stride,
// runtime loops, one row at a time.
template <int K, int S>
void channel(const float* xc, const RowPlan& plan, const float* wc, const ConvGeom& g, float* yc,
             const float* rc, float scale, float bias, Act act) {
  const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(bias);
  if constexpr (K > 0) {
    // The taps' weights stay in registers: the output stores may alias wc as far as the compiler
    // knows, so it re-broadcast every weight from memory for every vector.
    __m512 wv[K * K];
    for (size_t t = 0; t < K * K; ++t) wv[t] = _mm512_set1_ps(wc[t]);
    size_t oy = 0;
    // 5x5 stride 1: eight output rows, one accumulator each. Two rows of two chains left the
    // FMA pipes idle (Zen 5 issues two 512-bit FMAs a cycle at a latency of 4: eight chains keep
    // both busy) and 1.5x ORT's time on EfficientNet's 5x5 layers; the eight rows also share
    // each tap row's five loads. 3x3 stays at two rows: four rows were no faster at 28 x 28 and
    // slower at 112 x 112 (paired against ORT, 1 thread).
    if constexpr (S == 1 && K == 5) {
      for (; oy + 8 <= g.h_out; oy += 8)
        rows_k<K, S, 8, 1>(xc, plan, wv, g, oy, yc, rc, vs, vb, act);
      for (; oy + 4 <= g.h_out; oy += 4) rows_k<K, S, 4>(xc, plan, wv, g, oy, yc, rc, vs, vb, act);
    }
    for (; oy + 2 <= g.h_out; oy += 2) rows_k<K, S, 2>(xc, plan, wv, g, oy, yc, rc, vs, vb, act);
    if (oy < g.h_out) rows_k<K, S, 1>(xc, plan, wv, g, oy, yc, rc, vs, vb, act);
    return;
  }
  const size_t stride = S ? S : g.sw;
  const __m512i gidx = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(static_cast<int>(stride)));
  const float* rows[kMaxKernel];
  for (size_t oy = 0; oy < g.h_out; ++oy) {
    input_rows(xc, g, static_cast<ptrdiff_t>(oy * g.sh) - static_cast<ptrdiff_t>(g.ph), g.kh,
               g.dh, plan.zero, rows);
    float* yrow = yc + oy * g.w_out;
    const float* rrow = rc ? rc + oy * g.w_out : nullptr;
    for (size_t v = 0, ox = 0; v < plan.vectors; ++v, ox += 16) {
      const size_t n = std::min<size_t>(16, g.w_out - ox);
      const __mmask16 m = static_cast<__mmask16>(lane_range(0, static_cast<ptrdiff_t>(n)));
      const ptrdiff_t col0 = static_cast<ptrdiff_t>(ox * stride) - static_cast<ptrdiff_t>(g.pw);
      const __m512 sum =
          v >= plan.first_interior && v < plan.end_interior
              ? vector_sum<S, false>(rows, col0, g.kh, g.kw, g.dw, nullptr, wc, gidx)
              : vector_sum<S, true>(rows, col0, g.kh, g.kw, g.dw, plan.masks + v * g.kw, wc, gidx);
      finish(sum, vs, vb, rrow, yrow, ox, m, act);
    }
  }
}

// Narrow planes (w_out <= 8, e.g. MobileNet's 7x7 stage): output rows oy and oy+1 share one
// vector, lanes 0-7 and 8-15, so half the lanes are not idle. Stride 1 or 2 only.
template <int K, int S>
void channel_pair(const float* xc, const RowPlan& plan, const float* wc, const ConvGeom& g,
                  float* yc, const float* rc, float scale, float bias, Act act) {
  static_assert(S == 1 || S == 2, "pair kernel loads two contiguous or two de-interleaved rows");
  const size_t kh = K ? K : g.kh, kw = K ? K : g.kw, dh = K ? 1 : g.dh, dw = K ? 1 : g.dw;
  const size_t w = g.w_out;
  const __mmask8 row_mask = static_cast<__mmask8>((1u << w) - 1u);
  const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(bias);
  __m512 wv[K ? K * K : 1];  // as in channel(): the weights stay in registers
  if (K)
    for (size_t t = 0; t < K * K; ++t) wv[t] = _mm512_set1_ps(wc[t]);
  // The row's one vector's tap masks: the 8 (stride 1) or 16 (stride 2) floats read per row that
  // lie inside the image, the same for both rows of a pair.
  const uint32_t* masks = plan.masks;
  const float* rows0[kMaxKernel];
  const float* rows1[kMaxKernel];
  // Stride 2, 3x3 or 5x5, every column a tap reads inside the image within the 16 floats from
  // -pw (MobileNetV3's and EfficientNet's 14 -> 7 layers): each tap row is loaded once per output
  // row, and tap j's lanes picked from the pair by one permute (lane l: column 2l + j of the
  // row's 16; a lane whose column lies past them reads outside the image, so it is zeroed).
  // Per-tap loads took 2 loads and a permute per tap.
  constexpr bool kPicked = S == 2 && (K == 3 || K == 5);
  const ptrdiff_t last_col = std::min<ptrdiff_t>(
      static_cast<ptrdiff_t>(g.w_in) - 1,
      static_cast<ptrdiff_t>(2 * (w - 1) + kw - 1) - static_cast<ptrdiff_t>(g.pw));
  const bool picked = kPicked && last_col + static_cast<ptrdiff_t>(g.pw) <= 15;
  __m512i pick_idx[kPicked ? K : 1];
  __mmask16 pick_mask[kPicked ? K : 1] = {};
  __mmask16 row_lanes = 0;
  if constexpr (kPicked) {
    for (int j = 0; j < K; ++j) {
      alignas(64) int32_t idx[16] = {};
      for (int l = 0; l < 8; ++l) {
        const int c = 2 * l + j;
        if (c >= 16) continue;
        idx[l] = c;
        idx[8 + l] = 16 + c;
        pick_mask[j] = static_cast<__mmask16>(pick_mask[j] | (1u << l) | (1u << (8 + l)));
      }
      pick_idx[j] = _mm512_load_si512(idx);
    }
    row_lanes = static_cast<__mmask16>(
        lane_range(static_cast<ptrdiff_t>(g.pw),
                   std::min<ptrdiff_t>(16, static_cast<ptrdiff_t>(g.w_in + g.pw))));
  }
  for (size_t oy = 0; oy < g.h_out; oy += 2) {
    // An odd last row pairs with itself; its upper half is computed and dropped.
    const __mmask8 m1 = oy + 1 < g.h_out ? row_mask : 0;
    const ptrdiff_t top0 = static_cast<ptrdiff_t>(oy * S) - static_cast<ptrdiff_t>(g.ph);
    input_rows(xc, g, top0, kh, dh, plan.zero, rows0);
    input_rows(xc, g, m1 ? top0 + S : top0, kh, dh, plan.zero, rows1);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t t = 0;
    bool kh_done = false;  // the picked path took every tap
    if constexpr (kPicked) {
      if (picked) {
        const ptrdiff_t col = -static_cast<ptrdiff_t>(g.pw);
#pragma GCC unroll 5
        for (int i = 0; i < K; ++i) {
          const __m512 a0 = _mm512_maskz_loadu_ps(row_lanes, at_col(rows0[i], col));
          const __m512 a1 = _mm512_maskz_loadu_ps(row_lanes, at_col(rows1[i], col));
#pragma GCC unroll 5
          for (int j = 0; j < K; ++j, ++t) {
            const __m512 v = _mm512_maskz_permutex2var_ps(pick_mask[j], a0, pick_idx[j], a1);
            if (t & 1)
              acc1 = _mm512_fmadd_ps(wv[t], v, acc1);
            else
              acc0 = _mm512_fmadd_ps(wv[t], v, acc0);
          }
        }
        kh_done = true;
      }
    }
#pragma GCC unroll 7
    for (size_t i = 0; i < kh; ++i) {
      if (kh_done) break;
#pragma GCC unroll 7
      for (size_t j = 0; j < kw; ++j, ++t) {
        const ptrdiff_t col = static_cast<ptrdiff_t>(j * dw) - static_cast<ptrdiff_t>(g.pw);
        const float* r0 = at_col(rows0[i], col);
        const float* r1 = at_col(rows1[i], col);
        __m512 v;
        if (S == 1) {
          const __mmask8 mj = static_cast<__mmask8>(masks[j]);
          v = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_maskz_loadu_ps(mj, r0)),
                                 _mm256_maskz_loadu_ps(mj, r1), 1);
        } else {
          const __mmask16 mj = static_cast<__mmask16>(masks[j]);
          v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(mj, r0), even_lanes(),
                                     _mm512_maskz_loadu_ps(mj, r1));
        }
        const __m512 wt = K ? wv[t] : _mm512_set1_ps(wc[t]);
        if (t & 1)
          acc1 = _mm512_fmadd_ps(wt, v, acc1);
        else
          acc0 = _mm512_fmadd_ps(wt, v, acc0);
      }
    }
    __m512 v = _mm512_fmadd_ps(_mm512_add_ps(acc0, acc1), vs, vb);
    float* y0 = yc + oy * w;
    if (rc) {
      const float* res0 = rc + oy * w;
      const __m256 lo = _mm256_maskz_loadu_ps(row_mask, res0);
      const __m256 hi = _mm256_maskz_loadu_ps(m1, res0 + w);
      v = _mm512_add_ps(v, _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1));
    }
    v = avx512::act(v, act);
    _mm256_mask_storeu_ps(y0, row_mask, _mm512_castps512_ps256(v));
    _mm256_mask_storeu_ps(y0 + w, m1, _mm512_extractf32x8_ps(v, 1));
  }
}

// Small planes (at most kFlatMaxPixels outputs), stride 1, unit dilation, the output the size of
// the input (MobileNetV2's 7 x 7 layers): the plane as one run of pixels, 16 per vector across
// row ends, so 49 pixels take 4 vectors where row pairs took 4 pairs of 14 lanes, each tap half
// the loads (one 16-wide load, not two 8-wide ones and an insert). Tap (i, j) of output p reads
// input p + (i - ph) * w + (j - pw); lanes whose tap leaves the image (into the previous or next
// row, or off the plane) are masked off, per vector and tap, once per call.
constexpr size_t kFlatMaxPixels = 64;

bool flat_plane(const ConvGeom& g) {
  return g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.kh == g.kw &&
         (g.kh == 3 || g.kh == 5) && g.h_out == g.h_in && g.w_out == g.w_in &&
         g.h_out * g.w_out <= kFlatMaxPixels;
}
// The largest flat kernel: EfficientNet's and MobileNetV3's 5x5 layers on 7 x 7 maps.
constexpr size_t kFlatMaxTaps = 25;

// Per vector of 16 outputs and tap (i, j), the lanes whose tap lies inside the image. They depend
// on the geometry only and every call of a layer (and usually the next layers) has the same, so
// each thread keeps the last set: recomputing them cost a 17-channel 8 x 8 layer more than its
// arithmetic (0.0010 -> 0.0028 ms).
const uint32_t* flat_masks(const ConvGeom& g) {
  struct Cache {
    size_t h = 0, w = 0, ph = 0, pw = 0, k = 0;
    uint32_t masks[kFlatMaxPixels / 16 * kFlatMaxTaps];
  };
  thread_local Cache c;
  if (c.h == g.h_in && c.w == g.w_in && c.ph == g.ph && c.pw == g.pw && c.k == g.kh)
    return c.masks;
  const size_t K = g.kh, taps = K * K;
  const size_t P = g.h_out * g.w_out, vectors = (P + 15) / 16;
  std::fill(c.masks, c.masks + vectors * taps, 0u);
  for (size_t p = 0; p < P; ++p) {
    const ptrdiff_t oy = static_cast<ptrdiff_t>(p / g.w_out), ox = static_cast<ptrdiff_t>(p % g.w_out);
    for (size_t t = 0; t < taps; ++t) {
      const ptrdiff_t iy = oy + static_cast<ptrdiff_t>(t / K) - static_cast<ptrdiff_t>(g.ph);
      const ptrdiff_t ix = ox + static_cast<ptrdiff_t>(t % K) - static_cast<ptrdiff_t>(g.pw);
      if (iy >= 0 && iy < static_cast<ptrdiff_t>(g.h_in) && ix >= 0 &&
          ix < static_cast<ptrdiff_t>(g.w_in))
        c.masks[p / 16 * taps + t] |= 1u << (p % 16);
    }
  }
  c.k = K;
  c.h = g.h_in;
  c.w = g.w_in;
  c.ph = g.ph;
  c.pw = g.pw;
  return c.masks;
}

template <size_t K, size_t V>
void channel_flat(const float* xc, const RowPlan& plan, const float* wc, const ConvGeom& g,
                  float* yc, const float* rc, float scale, float bias, Act act) {
  const size_t P = g.h_out * g.w_out, w = g.w_in;
  const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(bias);
  // Taps outer, the plane's V vectors inner, V a compile-time count so the accumulators stay in
  // registers: one chain of FMAs per vector had each wait for the one before (a 5 x 5 layer on
  // 7 x 7 maps, 1152 channels, was latency-bound); V independent chains overlap.
  __m512 acc[V];
  for (size_t v = 0; v < V; ++v) acc[v] = _mm512_setzero_ps();
#pragma GCC unroll 25
  for (size_t t = 0; t < K * K; ++t) {
    const __m512 wt = _mm512_set1_ps(wc[t]);
    const ptrdiff_t off = static_cast<ptrdiff_t>((t / K) * w + t % K) -
                          static_cast<ptrdiff_t>(g.ph * w + g.pw);
#pragma GCC unroll 4
    for (size_t v = 0; v < V; ++v) {
      const __m512 x =
          _mm512_maskz_loadu_ps(static_cast<__mmask16>(plan.flat_masks[v * K * K + t]),
                                at_col(xc, static_cast<ptrdiff_t>(16 * v) + off));
      acc[v] = _mm512_fmadd_ps(wt, x, acc[v]);
    }
  }
#pragma GCC unroll 4
  for (size_t v = 0; v < V; ++v) {
    const size_t n = std::min<size_t>(16, P - 16 * v);
    finish(acc[v], vs, vb, rc, yc, 16 * v,
           static_cast<__mmask16>(lane_range(0, static_cast<ptrdiff_t>(n))), act);
  }
}

using ChannelFn = void (*)(const float*, const RowPlan&, const float*, const ConvGeom&, float*,
                           const float*, float, float, Act);

ChannelFn pick(const ConvGeom& g) {
  const bool square_unit = g.kh == g.kw && g.dh == 1 && g.dw == 1;
  if (flat_plane(g)) {
    static constexpr ChannelFn kFlat[2][4] = {
        {channel_flat<3, 1>, channel_flat<3, 2>, channel_flat<3, 3>, channel_flat<3, 4>},
        {channel_flat<5, 1>, channel_flat<5, 2>, channel_flat<5, 3>, channel_flat<5, 4>}};
    return kFlat[g.kh == 5][(g.h_out * g.w_out + 15) / 16 - 1];
  }
  if (g.w_out <= 8 && (g.sw == 1 || g.sw == 2)) {
    if (square_unit && g.kh == 3) return g.sw == 1 ? channel_pair<3, 1> : channel_pair<3, 2>;
    // 5x5 unrolled with its 25 weights in registers: the runtime-kernel version re-broadcast
    // every weight per tap and ran EfficientNet's 1152 x 7 x 7 layer in 0.21 ms against ORT's
    // 0.09 (in isolation, 1 thread).
    if (square_unit && g.kh == 5) return g.sw == 1 ? channel_pair<5, 1> : channel_pair<5, 2>;
    return g.sw == 1 ? channel_pair<0, 1> : channel_pair<0, 2>;
  }
  if (square_unit && g.kh == 3 && g.sw == 1) return channel<3, 1>;
  if (square_unit && g.kh == 3 && g.sw == 2) return channel<3, 2>;
  if (square_unit && g.kh == 5 && g.sw == 1) return channel<5, 1>;
  if (square_unit && g.kh == 5 && g.sw == 2) return channel<5, 2>;
  if (g.sw == 1) return channel<0, 1>;
  if (g.sw == 2) return channel<0, 2>;
  return channel<0, 0>;
}

}  // namespace

void depthwise_conv_avx512(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0,
                           size_t c1, const Epilogue& epi) {
  // Gathers use 32-bit offsets and the tap tables are on the stack: absurd geometries take the
  // portable path.
  if (g.kh > kMaxKernel || g.kw > kMaxKernel || g.w_in * g.sw >= (size_t{1} << 28)) {
    depthwise_conv_scalar(x, w, g, y, c0, c1, epi);
    return;
  }
  const size_t vectors = (g.w_out + 15) / 16;
  // One scratch: the zero row (taps read only its first w_in floats, the masks keep them inside
  // [0, w_in) like a real row's), then the tap masks, one uint32 in each float's room.
  float* scratch = thread_scratch(Scratch::Plane, g.w_in + vectors * g.kw);
  RowPlan plan;
  plan.zero = scratch;
  std::memset(scratch, 0, g.w_in * sizeof(float));
  uint32_t* masks = reinterpret_cast<uint32_t*>(scratch + g.w_in);
  plan.masks = masks;
  plan.vectors = vectors;
  // Floats one tap's load spans from its first column: 16 lanes, or two vectors at stride 2.
  const ptrdiff_t span = g.sw == 2 ? 32 : static_cast<ptrdiff_t>(15 * g.sw + 1);
  const ptrdiff_t reach = static_cast<ptrdiff_t>((g.kw - 1) * g.dw) + span;
  plan.first_interior = vectors;
  plan.end_interior = 0;
  for (size_t v = 0; v < vectors; ++v) {
    const size_t n = std::min<size_t>(16, g.w_out - v * 16);
    const ptrdiff_t col0 = static_cast<ptrdiff_t>(v * 16 * g.sw) - static_cast<ptrdiff_t>(g.pw);
    for (size_t j = 0; j < g.kw; ++j) {
      const ptrdiff_t col = col0 + static_cast<ptrdiff_t>(j * g.dw);
      masks[v * g.kw + j] = g.sw == 1   ? tap_mask<1>(col, n, g.w_in, 1)
                            : g.sw == 2 ? tap_mask<2>(col, n, g.w_in, 2)
                                        : tap_mask<0>(col, n, g.w_in, g.sw);
    }
    if (n == 16 && col0 >= 0 && col0 + reach <= static_cast<ptrdiff_t>(g.w_in)) {
      plan.first_interior = std::min(plan.first_interior, v);
      plan.end_interior = v + 1;
    }
  }
  plan.flat_masks = flat_plane(g) ? flat_masks(g) : nullptr;
  const ChannelFn fn = pick(g);
  const size_t plane_in = g.h_in * g.w_in, plane_out = g.h_out * g.w_out, taps = g.kh * g.kw;
  for (size_t ch = c0; ch < c1; ++ch)
    fn(x + ch * plane_in, plan, w + ch * taps, g, y + ch * plane_out,
       epi.residual ? epi.residual + ch * plane_out : nullptr, epi.scale ? epi.scale[ch] : 1.f,
       epi.bias ? epi.bias[ch] : 0.f, epi.act);
}

void fill_table_depthwise_avx512(KernelTable& t) {
  t.depthwise_name = "aio_f32_dwconv_rows__avx512";
  t.depthwise = depthwise_conv_avx512;
}

}  // namespace detail
}  // namespace aio
