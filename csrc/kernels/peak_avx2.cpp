// AVX2 FMA throughput (see peak.cpp): twelve independent ymm chains, 8 floats x 2 FLOPs each.
#include <immintrin.h>

#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {
namespace {

constexpr int kChains = 12;  // > FMA latency (4-5) x ports (2)

double fma_loop(long iters) {
  __m256 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm256_set1_ps(1e-3f * static_cast<float>(i + 1));
  const __m256 m = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long n = 0; n < iters; ++n)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = _mm256_fmadd_ps(a[i], m, b);
  __m256 s = a[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, a[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  double r = 0;
  for (float v : out) r += v;
  return r;
}

double fma_peak(double seconds) { return time_fma_loop(seconds, kChains * 8.0 * 2.0, fma_loop); }

}  // namespace

void fill_table_peak_avx2(KernelTable& t) { t.fma_peak = fma_peak; }

}  // namespace detail
}  // namespace aio
