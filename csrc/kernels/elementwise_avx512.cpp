// AVX-512 add + activation and the per-channel gate: memory-bound, but silu/hardswish/sigmoid
// are not once scalar (libm exp).
#include <immintrin.h>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx512.h"

namespace aio {
namespace detail {
namespace {

void aio_f32_add_act__avx512(const float* a, const float* b, float* y, size_t i0, size_t i1,
                             Act act) {
  for (size_t i = i0; i < i1; i += 16) {
    const size_t n = i1 - i;
    const __mmask16 m = n >= 16 ? static_cast<__mmask16>(0xFFFF)
                                : static_cast<__mmask16>((1u << n) - 1u);
    __m512 v = _mm512_maskz_loadu_ps(m, a + i);
    if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
    _mm512_mask_storeu_ps(y + i, m, avx512::act(v, act));
  }
}

// One gate per channel plane: a broadcast and a multiply per vector, the activation fused, the
// plane's tail masked (7 x 7 planes are 49 floats: three vectors and one lane).
void aio_f32_scale_channels__avx512(const float* x, const float* gate, float* y, size_t hw,
                                    size_t c0, size_t c1, Act act) {
  for (size_t c = c0; c < c1; ++c) {
    const __m512 g = _mm512_set1_ps(gate[c]);
    const float* xc = x + c * hw;
    float* yc = y + c * hw;
    for (size_t i = 0; i < hw; i += 16) {
      const size_t n = hw - i;
      const __mmask16 m = n >= 16 ? static_cast<__mmask16>(0xFFFF)
                                  : static_cast<__mmask16>((1u << n) - 1u);
      const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xc + i), g);
      _mm512_mask_storeu_ps(yc + i, m, avx512::act(v, act));
    }
  }
}

}  // namespace

void fill_table_elementwise_avx512(KernelTable& t) {
  t.add_act = aio_f32_add_act__avx512;
  t.scale_channels = aio_f32_scale_channels__avx512;
}

}  // namespace detail
}  // namespace aio
