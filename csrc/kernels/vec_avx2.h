// AVX2/FMA helpers shared by the *_avx2.cpp files only (compile them with AVX2+FMA flags).
// `static inline`: linkage stays per translation unit, so no AVX2 copy of a helper can be picked
// by the linker for baseline code.
#pragma once

#include <immintrin.h>

#include "kernels/kernels.h"

namespace aio {
namespace detail {
namespace avx2 {

// exp(x): the AVX-512 version's reduction, polynomial, clamp and exponent-bits 2^n
// (vec_avx512.h says why each).
static inline __m256 exp(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.0f));
  const __m256 magic = _mm256_set1_ps(12582912.f);  // 1.5 * 2^23
  const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic);
  const __m256 n = _mm256_sub_ps(t, magic);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(8.262875489890575e-3f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.189871996641159e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6668091714382172e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.9999141693115234e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(9.999995231628418e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127 - 0x4B400000)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// 1 / d: the 12-bit estimate and one Newton step (about 2^-23 relative), instead of a divide.
static inline __m256 reciprocal(__m256 d) {
  const __m256 r = _mm256_rcp_ps(d);
  return _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.f)));
}

static inline __m256 act(__m256 v, Act a) {
  const __m256 zero = _mm256_setzero_ps();
  switch (a) {
    case Act::None:
      return v;
    case Act::Relu:
      return _mm256_max_ps(v, zero);
    case Act::Relu6:
      return _mm256_min_ps(_mm256_max_ps(v, zero), _mm256_set1_ps(6.f));
    case Act::Silu:
      return _mm256_mul_ps(
          v, reciprocal(_mm256_add_ps(_mm256_set1_ps(1.f), exp(_mm256_sub_ps(zero, v)))));
    case Act::Hardswish: {  // times 1/6 rather than / 6: within an ulp, a multiply not a divide
      const __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, _mm256_set1_ps(3.f)), zero),
                                     _mm256_set1_ps(6.f));
      return _mm256_mul_ps(_mm256_mul_ps(v, t), _mm256_set1_ps(1.f / 6.f));
    }
    case Act::Sigmoid:
      return reciprocal(_mm256_add_ps(_mm256_set1_ps(1.f), exp(_mm256_sub_ps(zero, v))));
    case Act::HardSigmoid: {
      const __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, _mm256_set1_ps(3.f)), zero),
                                     _mm256_set1_ps(6.f));
      return _mm256_mul_ps(t, _mm256_set1_ps(1.f / 6.f));
    }
  }
  return v;
}

// Lane mask for the first n (0..8) lanes, for maskload/maskstore.
static inline __m256i lane_mask(size_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
}

}  // namespace avx2
}  // namespace detail
}  // namespace aio
