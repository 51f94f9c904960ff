// AVX-512 GEMM micro-kernel, 12x32 like MLAS's: 24 zmm accumulators, per k one broadcast of A per
// row and two loads of the packed B strip. Also fills the AVX-512 entries of the dispatch table.
#include <immintrin.h>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx512.h"

namespace aio {
namespace detail {
namespace {

constexpr size_t kNR = 32;

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

// R rows (1..12, a compile-time count so the accumulators live in registers); V = 1 when the
// strip's stored width is <= 16, skipping the second accumulator column.
template <int R, int V, class Rows>
void tile(size_t nc, size_t kc, const float* a, Rows b, float* c, size_t ldc, bool accumulate,
          const TileEpilogue* epi) {
  __m512 acc[R][V];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();

  for (size_t k = 0; k < kc; ++k) {
    // A prefetch never faults, so reading past the block's (or the panel's) end is harmless.
    _mm_prefetch(reinterpret_cast<const char*>(a + kPrefetchA * kMR), _MM_HINT_T0);
    __m512 bv[V];
    const float* bk = b.row(k);
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) bv[v] = _mm512_loadu_ps(bk + 16 * v);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += kMR;
  }

  __mmask16 mask[V];
#pragma GCC unroll 2
  for (int v = 0; v < V; ++v) {
    const size_t lanes = nc > 16 * static_cast<size_t>(v) ? nc - 16 * v : 0;
    mask[v] = lanes >= 16 ? static_cast<__mmask16>(0xFFFF)
                          : static_cast<__mmask16>((1u << lanes) - 1u);
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    float* crow = c + r * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      __m512 x = acc[r][v];
      if (accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], crow + 16 * v));
      if (epi) {
        if (epi->scale) x = _mm512_mul_ps(x, _mm512_set1_ps(epi->scale[r]));
        if (epi->bias) x = _mm512_add_ps(x, _mm512_set1_ps(epi->bias[r]));
        if (epi->residual)
          x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], epi->residual + r * ldc + 16 * v));
        x = avx512::act(x, epi->act);
      }
      _mm512_mask_storeu_ps(crow + 16 * v, mask[v], x);
    }
  }
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
  if (nc > 16)
    kTiles<2, Rows>[mr](nc, kc, a, b, c, ldc, accumulate, epi);
  else
    kTiles<1, Rows>[mr](nc, kc, a, b, c, ldc, accumulate, epi);
}

void aio_f32_gemm_ukernel_12x32__avx512(size_t mr, size_t nc, size_t kc, const float* a,
                                        const float* b, size_t ldb, float* c, size_t ldc, bool accumulate,
                                        const TileEpilogue* epi) {
  dispatch_tile(mr, nc, kc, a, StridedRows{b, ldb}, c, ldc, accumulate, epi);
}

void aio_f32_gemm_offsets_12x32__avx512(size_t mr, size_t nc, size_t kc, const float* a,
                                        const float* base, const ptrdiff_t* off, float* c,
                                        size_t ldc, bool accumulate, const TileEpilogue* epi) {
  dispatch_tile(mr, nc, kc, a, OffsetRows{base, off}, c, ldc, accumulate, epi);
}

// Row-outer so B is read once, sequentially along each row (DRAM/L3 friendly); the strips it
// fans out to are in L2 anyway. Scaled: row k multiplied by gate[k] on the way (a squeeze-excite
// gate, for one multiply per vector the copy moves anyway).
template <bool Scaled>
void packb_32(const float* b, size_t ldb, size_t kc, size_t nb, const float* gate, float* dst) {
  const size_t strips = (nb + kNR - 1) / kNR;
  const size_t tail = nb - (strips - 1) * kNR;
  const __mmask16 t0 = tail >= 16 ? static_cast<__mmask16>(0xFFFF)
                                  : static_cast<__mmask16>((1u << tail) - 1u);
  const __mmask16 t1 = tail > 16 ? static_cast<__mmask16>((1u << (tail - 16)) - 1u) : 0;
  for (size_t k = 0; k < kc; ++k) {
    const __m512 s = Scaled ? _mm512_set1_ps(gate[k]) : _mm512_setzero_ps();
    auto scale = [&](__m512 v) { return Scaled ? _mm512_mul_ps(v, s) : v; };
    const float* src = b + k * ldb;
    float* d = dst + k * kNR;
    for (size_t j = 0; j + 1 < strips; ++j) {
      _mm512_store_ps(d, scale(_mm512_loadu_ps(src)));
      _mm512_store_ps(d + 16, scale(_mm512_loadu_ps(src + 16)));
      src += kNR;
      d += kNR * kc;
    }
    _mm512_store_ps(d, scale(_mm512_maskz_loadu_ps(t0, src)));
    _mm512_store_ps(d + 16, scale(_mm512_maskz_loadu_ps(t1, src + 16)));
  }
}

void aio_f32_packb_32__avx512(const float* b, size_t ldb, size_t kc, size_t nb, float* dst) {
  packb_32<false>(b, ldb, kc, nb, nullptr, dst);
}

void aio_f32_packb_scaled_32__avx512(const float* b, size_t ldb, size_t kc, size_t nb,
                                     const float* gate, float* dst) {
  packb_32<true>(b, ldb, kc, nb, gate, dst);
}

// The panel's 12 rows sit in the low lanes of one zmm per k (masked: the last k of the last panel
// has no 4 floats after it). Four k at a time into four accumulators to hide FMA latency.
void aio_f32_gemv_ukernel_12__avx512(size_t mr, size_t K, const float* a, const float* b,
                                     size_t ldb, float* c, size_t ldc, const TileEpilogue* epi) {
  const __mmask16 m = static_cast<__mmask16>((1u << mr) - 1u);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t k = 0;
  for (; k + 4 <= K; k += 4) {
    const float* ak = a + k * kMR;
    const float* bk = b + k * ldb;
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ak), _mm512_set1_ps(bk[0]), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ak + kMR), _mm512_set1_ps(bk[ldb]), acc1);
    acc2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ak + 2 * kMR), _mm512_set1_ps(bk[2 * ldb]), acc2);
    acc3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ak + 3 * kMR), _mm512_set1_ps(bk[3 * ldb]), acc3);
  }
  for (; k < K; ++k)
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k * kMR), _mm512_set1_ps(b[k * ldb]), acc0);
  alignas(64) float out[16];
  _mm512_store_ps(out, _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
  gemv_epilogue(mr, out, c, ldc, epi);
}

}  // namespace

void fill_table_avx512(KernelTable& t) {
  t.isa = "avx512";
  t.gemm_name = "aio_f32_gemm_ukernel_12x32__avx512";
  t.gemm_nr = kNR;
  t.gemm = aio_f32_gemm_ukernel_12x32__avx512;
  t.gemm_offsets = aio_f32_gemm_offsets_12x32__avx512;
  t.pack_b = aio_f32_packb_32__avx512;
  t.pack_b_scaled = aio_f32_packb_scaled_32__avx512;
  t.gemv = aio_f32_gemv_ukernel_12__avx512;
  fill_table_depthwise_avx512(t);
  fill_table_pool_avx512(t);
  fill_table_elementwise_avx512(t);
  fill_table_conv_pack_avx512(t);
  fill_table_peak_avx512(t);
  fill_table_winograd_avx512(t);
  fill_table_cout_lanes_avx512(t);
}

}  // namespace detail
}  // namespace aio
