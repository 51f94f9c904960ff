// AVX2/FMA GEMM micro-kernel 6x16 (12 ymm accumulators + 2 for B, of 16): a 12-row panel is run
// as two 6-row halves, so AVX2 reads the same packed A as AVX-512. Fills the AVX2 table entries.
#include <immintrin.h>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx2.h"

namespace aio {
namespace detail {
namespace {

constexpr size_t kNR = 16;

template <int R>
void tile(size_t nc, size_t kc, const float* a, const float* b, size_t ldb, float* c, size_t ldc,
          bool accumulate, const TileEpilogue* epi) {
  __m256 acc[R][2];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (size_t k = 0; k < kc; ++k) {
    // Weight panels outrun the hardware prefetcher (see kPrefetchA).
    _mm_prefetch(reinterpret_cast<const char*>(a + kPrefetchA * kMR), _MM_HINT_T0);
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
    a += kMR;
    b += ldb;
  }
  const bool full = nc == kNR;
  const __m256i m0 = avx2::lane_mask(nc < 8 ? nc : 8), m1 = avx2::lane_mask(nc > 8 ? nc - 8 : 0);
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* crow = c + r * ldc;
    for (int v = 0; v < 2; ++v) {
      const __m256i m = v ? m1 : m0;
      __m256 x = acc[r][v];
      if (accumulate)
        x = _mm256_add_ps(x, full ? _mm256_loadu_ps(crow + 8 * v) : _mm256_maskload_ps(crow + 8 * v, m));
      if (epi) {
        if (epi->scale) x = _mm256_mul_ps(x, _mm256_set1_ps(epi->scale[r]));
        if (epi->bias) x = _mm256_add_ps(x, _mm256_set1_ps(epi->bias[r]));
        if (epi->residual) {
          const float* res = epi->residual + r * ldc + 8 * v;
          x = _mm256_add_ps(x, full ? _mm256_loadu_ps(res) : _mm256_maskload_ps(res, m));
        }
        x = avx2::act(x, epi->act);
      }
      if (full)
        _mm256_storeu_ps(crow + 8 * v, x);
      else
        _mm256_maskstore_ps(crow + 8 * v, m, x);
    }
  }
}

using TileFn = void (*)(size_t, size_t, const float*, const float*, size_t, float*, size_t, bool,
                        const TileEpilogue*);
constexpr TileFn kTiles[7] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

void aio_f32_gemm_ukernel_6x16__avx2(size_t mr, size_t nc, size_t kc, const float* a,
                                     const float* b, size_t ldb, float* c, size_t ldc, bool accumulate,
                                     const TileEpilogue* epi) {
  TileEpilogue sub{};
  for (size_t r = 0; r < mr; r += 6) {
    const size_t rows = mr - r < 6 ? mr - r : 6;
    const TileEpilogue* e = nullptr;
    if (epi) {
      sub.scale = epi->scale ? epi->scale + r : nullptr;
      sub.bias = epi->bias ? epi->bias + r : nullptr;
      sub.residual = epi->residual ? epi->residual + r * ldc : nullptr;
      sub.act = epi->act;
      e = &sub;
    }
    kTiles[rows](nc, kc, a + r, b, ldb, c + r * ldc, ldc, accumulate, e);
  }
}

// Row-outer so B is read once, sequentially along each row; see the AVX-512 version.
void aio_f32_packb_16__avx2(const float* b, size_t ldb, size_t kc, size_t nb, float* dst) {
  const size_t strips = (nb + kNR - 1) / kNR;
  const size_t tail = nb - (strips - 1) * kNR;
  const __m256i t0 = avx2::lane_mask(tail < 8 ? tail : 8);
  const __m256i t1 = avx2::lane_mask(tail > 8 ? tail - 8 : 0);
  for (size_t k = 0; k < kc; ++k) {
    const float* src = b + k * ldb;
    float* d = dst + k * kNR;
    for (size_t s = 0; s + 1 < strips; ++s) {
      _mm256_store_ps(d, _mm256_loadu_ps(src));
      _mm256_store_ps(d + 8, _mm256_loadu_ps(src + 8));
      src += kNR;
      d += kNR * kc;
    }
    _mm256_store_ps(d, _mm256_maskload_ps(src, t0));
    _mm256_store_ps(d + 8, _mm256_maskload_ps(src + 8, t1));
  }
}

// Rows in lanes: the panel's 12 rows per k as one ymm + one masked ymm (see the AVX-512 version).
void aio_f32_gemv_ukernel_12__avx2(size_t mr, size_t K, const float* a, const float* b, size_t ldb,
                                   float* c, size_t ldc, const TileEpilogue* epi) {
  const __m256i m0 = avx2::lane_mask(mr < 8 ? mr : 8), m1 = avx2::lane_mask(mr > 8 ? mr - 8 : 0);
  __m256 lo0 = _mm256_setzero_ps(), hi0 = lo0, lo1 = lo0, hi1 = lo0;
  size_t k = 0;
  for (; k + 2 <= K; k += 2) {
    const float* ak = a + k * kMR;
    const __m256 x0 = _mm256_set1_ps(b[k * ldb]), x1 = _mm256_set1_ps(b[(k + 1) * ldb]);
    lo0 = _mm256_fmadd_ps(_mm256_maskload_ps(ak, m0), x0, lo0);
    hi0 = _mm256_fmadd_ps(_mm256_maskload_ps(ak + 8, m1), x0, hi0);
    lo1 = _mm256_fmadd_ps(_mm256_maskload_ps(ak + kMR, m0), x1, lo1);
    hi1 = _mm256_fmadd_ps(_mm256_maskload_ps(ak + kMR + 8, m1), x1, hi1);
  }
  if (k < K) {
    const __m256 x0 = _mm256_set1_ps(b[k * ldb]);
    lo0 = _mm256_fmadd_ps(_mm256_maskload_ps(a + k * kMR, m0), x0, lo0);
    hi0 = _mm256_fmadd_ps(_mm256_maskload_ps(a + k * kMR + 8, m1), x0, hi0);
  }
  alignas(32) float out[16];
  _mm256_store_ps(out, _mm256_add_ps(lo0, lo1));
  _mm256_store_ps(out + 8, _mm256_add_ps(hi0, hi1));
  gemv_epilogue(mr, out, c, ldc, epi);
}

}  // namespace

void fill_table_avx2(KernelTable& t) {
  t.isa = "avx2";
  t.gemm_name = "aio_f32_gemm_ukernel_6x16__avx2";
  t.gemm_nr = kNR;
  t.gemm = aio_f32_gemm_ukernel_6x16__avx2;
  t.pack_b = aio_f32_packb_16__avx2;
  t.gemv = aio_f32_gemv_ukernel_12__avx2;
  fill_table_depthwise_avx2(t);
  fill_table_elementwise_avx2(t);
  fill_table_peak_avx2(t);
}

}  // namespace detail
}  // namespace aio
