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

// exp(x) for x in float range: x = n ln2 + r, |r| <= ln2/2 (Cody-Waite, two-part ln2), exp(r) by
// a degree-5 polynomial fitted here for relative error on that interval (near-minimax: 1.0e-7 in
// exact arithmetic, 1.8e-7 evaluated in float over [-87.3, 88], i.e. ~1.5 ulp; silu's budget is
// 1e-5), and 2^n built in the exponent bits. n comes from adding 1.5 * 2^23, which leaves
// round(x log2 e) in the low mantissa bits: one FMA and a subtract, where roundscale and scalef
// took two multi-cycle ops per vector, and the degree-7 Cephes polynomial two more FMAs. SiLU
// per vector of 16: 3.33 -> 2.87 ns (a loop over 64 K floats, AMD EPYC Zen 5). EfficientNet runs
// it once per output of every layer.
// Clamped so that n stays in [-126, 127]: exp(88) is near FLT_MAX, exp(-87.3) near FLT_MIN, and
// silu and sigmoid need nothing finer.
static inline __m512 exp(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.0f));
  const __m512 magic = _mm512_set1_ps(12582912.f);  // 1.5 * 2^23
  const __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic);
  const __m512 n = _mm512_sub_ps(t, magic);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(8.262875489890575e-3f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.189871996641159e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6668091714382172e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.9999141693115234e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.999995231628418e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  // t's bits are those of 1.5 * 2^23 plus n: minus them, plus the bias 127, is n's exponent field.
  const __m512i e = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(127 - 0x4B400000)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
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
