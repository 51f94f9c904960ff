// AVX-512 helpers shared by the *_avx512.cpp files only (compile them with AVX-512 flags).
// Everything is `static inline` in a file-local sense: linkage stays per translation unit, so no
// AVX-512 copy of a helper can be picked by the linker for baseline code.
#pragma once

// GCC 12's _mm512_undefined_ps() self-initialises on purpose and trips -Wmaybe-uninitialized (or,
// in a function it is not inlined from, -Wuninitialized) once inlined (GCC PR 105593, fixed in
// GCC 13); silence only those, only in the AVX-512 files.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <immintrin.h>

#include "kernels/kernels.h"

namespace aio {
namespace detail {
namespace avx512 {

// The even (odd) lanes of two vectors, as _mm512_permutex2var_ps indices: the columns 2i (2i + 1)
// of 32 consecutive floats. Functions, not namespace-scope constants: those would be built by a
// static initialiser, i.e. AVX-512 code run at load time on every CPU.
static inline __m512i even_lanes() {
  return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
static inline __m512i odd_lanes() {
  return _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// exp(x) for x in float range: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-6
// polynomial (Cephes expf coefficients): ~1-2 ulp, enough for silu's 1e-5 budget. Clamped so the
// 2^n scaling never builds an Inf/denormal from garbage; exp(88.7) is near FLT_MAX, exp(-87.3)
// near FLT_MIN, and silu needs nothing finer.
static inline __m512 exp(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.7f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 r2 = _mm512_mul_ps(r, r);
  p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(p, n);  // p * 2^n without building the exponent bits by hand
}

// 1 / d to about 1 ulp: the 14-bit estimate and one Newton step. A divide costs ~10x as much
// and SiLU and sigmoid take one per output element (EfficientNet's every activation).
static inline __m512 reciprocal(__m512 d) {
  const __m512 r = _mm512_rcp14_ps(d);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.f)));
}

static inline __m512 act(__m512 v, Act a) {
  const __m512 zero = _mm512_setzero_ps();
  switch (a) {
    case Act::None:
      return v;
    case Act::Relu:
      return _mm512_max_ps(v, zero);
    case Act::Relu6:
      return _mm512_min_ps(_mm512_max_ps(v, zero), _mm512_set1_ps(6.f));
    case Act::Silu:
      return _mm512_mul_ps(
          v, reciprocal(_mm512_add_ps(_mm512_set1_ps(1.f), exp(_mm512_sub_ps(zero, v)))));
    case Act::Hardswish: {  // times 1/6 rather than / 6: within an ulp, a multiply not a divide
      const __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, _mm512_set1_ps(3.f)), zero),
                                     _mm512_set1_ps(6.f));
      return _mm512_mul_ps(_mm512_mul_ps(v, t), _mm512_set1_ps(1.f / 6.f));
    }
    case Act::Sigmoid:
      return reciprocal(_mm512_add_ps(_mm512_set1_ps(1.f), exp(_mm512_sub_ps(zero, v))));
    case Act::HardSigmoid: {
      const __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, _mm512_set1_ps(3.f)), zero),
                                     _mm512_set1_ps(6.f));
      return _mm512_mul_ps(t, _mm512_set1_ps(1.f / 6.f));
    }
  }
  return v;
}

}  // namespace avx512
}  // namespace detail
}  // namespace aio
