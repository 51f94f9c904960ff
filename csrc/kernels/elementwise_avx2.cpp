// AVX2 per-channel gate (squeeze-excite): as the AVX-512 version, 8 lanes, masked plane tails.
#include <immintrin.h>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx2.h"

namespace aio {
namespace detail {
namespace {

void aio_f32_scale_channels__avx2(const float* x, const float* gate, float* y, size_t hw,
                                  size_t c0, size_t c1, Act act) {
  for (size_t c = c0; c < c1; ++c) {
    const __m256 g = _mm256_set1_ps(gate[c]);
    const float* xc = x + c * hw;
    float* yc = y + c * hw;
    size_t i = 0;
    for (; i + 8 <= hw; i += 8)
      _mm256_storeu_ps(yc + i, avx2::act(_mm256_mul_ps(_mm256_loadu_ps(xc + i), g), act));
    if (i < hw) {
      const __m256i m = avx2::lane_mask(hw - i);
      const __m256 v = _mm256_mul_ps(_mm256_maskload_ps(xc + i, m), g);
      _mm256_maskstore_ps(yc + i, m, avx2::act(v, act));
    }
  }
}

}  // namespace

void fill_table_elementwise_avx2(KernelTable& t) {
  t.scale_channels = aio_f32_scale_channels__avx2;
}

}  // namespace detail
}  // namespace aio
