// AVX-512 Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms (contracts in kernels_internal.h), 16
// tiles per vector: lane i holds tile tx0 + i. F(2x2): a tile row of 16 tiles reads 34 consecutive
// input columns; even and odd columns are split with one permute each, so every tap of every tile
// is a whole vector. F(4x4): 16 tiles read 66 columns, split four ways (columns 4i + k) with two
// permutes and two 128-bit shuffles per pair of phases; the outputs are interleaved back four ways
// the same way.
#include <algorithm>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx512.h"

namespace aio {
namespace detail {
namespace {

__mmask16 lanes(long n) {
  if (n <= 0) return 0;
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Columns [lo, hi) of a window of 16-lane chunks, as the mask of chunk q.
__mmask16 window_mask(long lo, long hi, long q) {
  return static_cast<__mmask16>(lanes(hi - 16 * q) & ~lanes(lo - 16 * q));
}

__m512 shift_in(__m512 v, __m512 next) {  // v[1..15], next[0]
  return _mm512_castsi512_ps(
      _mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(v), 1));
}

void input_f2_avx512(const float* plane, const ConvGeom& g, size_t ty, size_t tx0, size_t n,
                  float* v, size_t stride) {
  const __m512i even = avx512::even_lanes();
  const __m512i odd = avx512::odd_lanes();
  const long h_in = static_cast<long>(g.h_in), w_in = static_cast<long>(g.w_in);
  for (size_t i0 = 0; i0 < n; i0 += 16) {
    const __mmask16 out = lanes(static_cast<long>(n - i0));
    const long ix0 = static_cast<long>(2 * (tx0 + i0)) - static_cast<long>(g.pw);
    const long lo = std::clamp(-ix0, 0L, 48L), hi = std::clamp(w_in - ix0, lo, 48L);
    const __mmask16 m0 = window_mask(lo, hi, 0), m1 = window_mask(lo, hi, 1);
    const bool whole = m0 == 0xFFFF && m1 == 0xFFFF;  // then plain loads: no masked split loads
    // Of the third chunk only columns 32 and 33 are used (the last tiles' right taps).
    const bool has32 = lo <= 32 && 32 < hi, has33 = lo <= 33 && 33 < hi;
    __m512 h[4][4];
    for (size_t r = 0; r < 4; ++r) {
      const long iy = static_cast<long>(2 * ty + r) - static_cast<long>(g.ph);
      if (iy < 0 || iy >= h_in) {
        for (size_t s = 0; s < 4; ++s) h[r][s] = _mm512_setzero_ps();
        continue;
      }
      // Masked lanes are never read, so the window may start left of the row (ix0 = -pw).
      const float* src = plane + iy * w_in + ix0;
      const __m512 a = whole ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(m0, src);
      const __m512 b = whole ? _mm512_loadu_ps(src + 16) : _mm512_maskz_loadu_ps(m1, src + 16);
      const __m512 c32 = has32 ? _mm512_set1_ps(src[32]) : _mm512_setzero_ps();
      const __m512 c33 = has33 ? _mm512_set1_ps(src[33]) : _mm512_setzero_ps();
      const __m512 e0 = _mm512_permutex2var_ps(a, even, b);  // column 2i
      const __m512 e1 = _mm512_permutex2var_ps(a, odd, b);   // 2i + 1
      const __m512 e2 = shift_in(e0, c32);                   // 2i + 2
      const __m512 e3 = shift_in(e1, c33);                   // 2i + 3
      h[r][0] = _mm512_sub_ps(e0, e2);
      h[r][1] = _mm512_add_ps(e1, e2);
      h[r][2] = _mm512_sub_ps(e2, e1);
      h[r][3] = _mm512_sub_ps(e1, e3);
    }
    for (size_t s = 0; s < 4; ++s) {
      float* vs = v + s * stride + i0;
      _mm512_mask_storeu_ps(vs, out, _mm512_sub_ps(h[0][s], h[2][s]));
      _mm512_mask_storeu_ps(vs + 4 * stride, out, _mm512_add_ps(h[1][s], h[2][s]));
      _mm512_mask_storeu_ps(vs + 8 * stride, out, _mm512_sub_ps(h[2][s], h[1][s]));
      _mm512_mask_storeu_ps(vs + 12 * stride, out, _mm512_sub_ps(h[1][s], h[3][s]));
    }
  }
}

void output_f2_avx512(const float* p, size_t stride, size_t n, float scale, float bias,
                      const float* const* res, float* const* y_rows, size_t cols, Act act) {
  // Interleave two vectors of tiles' left and right pixels into 32 consecutive pixels.
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_idx =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(bias);
  for (size_t i0 = 0; i0 < n; i0 += 16) {
    const __mmask16 in = lanes(static_cast<long>(n - i0));
    __m512 m[16];
    for (size_t t = 0; t < 16; ++t) m[t] = _mm512_maskz_loadu_ps(in, p + t * stride + i0);
    __m512 q[2][4];  // A^T M
    for (size_t s = 0; s < 4; ++s) {
      q[0][s] = _mm512_add_ps(_mm512_add_ps(m[s], m[4 + s]), m[8 + s]);
      q[1][s] = _mm512_sub_ps(_mm512_sub_ps(m[4 + s], m[8 + s]), m[12 + s]);
    }
    const size_t x0 = 2 * i0;
    const long rem = static_cast<long>(cols - x0);
    const __mmask16 mlo = lanes(rem), mhi = lanes(rem - 16);
    for (size_t dy = 0; dy < 2; ++dy) {
      float* y = y_rows[dy];
      const float* r = res ? res[dy] : nullptr;
      if (y == nullptr) continue;
      const __m512* a = q[dy];
      const __m512 left = _mm512_fmadd_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), a[2]), vs, vb);
      const __m512 right = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_sub_ps(a[1], a[2]), a[3]), vs, vb);
      __m512 lo = _mm512_permutex2var_ps(left, lo_idx, right);
      __m512 hi = _mm512_permutex2var_ps(left, hi_idx, right);
      if (r) {
        lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(mlo, r + x0));
        hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(mhi, r + x0 + 16));
      }
      _mm512_mask_storeu_ps(y + x0, mlo, avx512::act(lo, act));
      _mm512_mask_storeu_ps(y + x0 + 16, mhi, avx512::act(hi, act));
    }
  }
}

// B^T x of F(4x4) on vectors (as bt6 in winograd.cpp).
inline void bt6(const __m512* x, __m512* r) {
  const __m512 four = _mm512_set1_ps(4.f), five = _mm512_set1_ps(5.f);
  const __m512 a = _mm512_fnmadd_ps(four, x[2], x[4]), b = _mm512_fnmadd_ps(four, x[1], x[3]);
  const __m512 c = _mm512_sub_ps(x[4], x[2]), d = _mm512_sub_ps(x[3], x[1]);
  r[0] = _mm512_fnmadd_ps(five, x[2], _mm512_fmadd_ps(four, x[0], x[4]));
  r[1] = _mm512_add_ps(a, b);
  r[2] = _mm512_sub_ps(a, b);
  r[3] = _mm512_fmadd_ps(_mm512_set1_ps(2.f), d, c);
  r[4] = _mm512_fnmadd_ps(_mm512_set1_ps(2.f), d, c);
  r[5] = _mm512_fnmadd_ps(five, x[3], _mm512_fmadd_ps(four, x[1], x[5]));
}

void input_f4_avx512(const float* plane, const ConvGeom& g, size_t ty, size_t tx0, size_t n,
                     float* v, size_t stride) {
  // Columns 4i + k (k < 4) of 32 consecutive ones: tiles 0-7 of phase k and k + 1, in halves.
  const __m512i ph01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
  const __m512i ph23 =
      _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
  const long h_in = static_cast<long>(g.h_in), w_in = static_cast<long>(g.w_in);
  for (size_t i0 = 0; i0 < n; i0 += 16) {
    const __mmask16 out = lanes(static_cast<long>(n - i0));
    const long ix0 = static_cast<long>(4 * (tx0 + i0)) - static_cast<long>(g.pw);
    const long lo = std::clamp(-ix0, 0L, 80L), hi = std::clamp(w_in - ix0, lo, 80L);
    __mmask16 m[4];
    bool whole = true;  // then plain loads: no masked split loads
    for (long q = 0; q < 4; ++q) {
      m[q] = window_mask(lo, hi, q);
      whole = whole && m[q] == 0xFFFF;
    }
    // Past the four chunks only columns 64 and 65 are used (the last tiles' right taps).
    const bool has64 = lo <= 64 && 64 < hi, has65 = lo <= 65 && 65 < hi;
    __m512 h[6][6];
    for (size_t r = 0; r < 6; ++r) {
      const long iy = static_cast<long>(4 * ty + r) - static_cast<long>(g.ph);
      if (iy < 0 || iy >= h_in) {
        for (size_t s = 0; s < 6; ++s) h[r][s] = _mm512_setzero_ps();
        continue;
      }
      // Masked lanes are never read, so the window may start left of the row (ix0 = -pw).
      const float* src = plane + iy * w_in + ix0;
      __m512 c[4];
      for (size_t q = 0; q < 4; ++q)
        c[q] = whole ? _mm512_loadu_ps(src + 16 * q) : _mm512_maskz_loadu_ps(m[q], src + 16 * q);
      const __m512 c64 = has64 ? _mm512_set1_ps(src[64]) : _mm512_setzero_ps();
      const __m512 c65 = has65 ? _mm512_set1_ps(src[65]) : _mm512_setzero_ps();
      const __m512 ab01 = _mm512_permutex2var_ps(c[0], ph01, c[1]);
      const __m512 cd01 = _mm512_permutex2var_ps(c[2], ph01, c[3]);
      const __m512 ab23 = _mm512_permutex2var_ps(c[0], ph23, c[1]);
      const __m512 cd23 = _mm512_permutex2var_ps(c[2], ph23, c[3]);
      __m512 e[6];
      e[0] = _mm512_shuffle_f32x4(ab01, cd01, _MM_SHUFFLE(1, 0, 1, 0));  // column 4i
      e[1] = _mm512_shuffle_f32x4(ab01, cd01, _MM_SHUFFLE(3, 2, 3, 2));  // 4i + 1
      e[2] = _mm512_shuffle_f32x4(ab23, cd23, _MM_SHUFFLE(1, 0, 1, 0));  // 4i + 2
      e[3] = _mm512_shuffle_f32x4(ab23, cd23, _MM_SHUFFLE(3, 2, 3, 2));  // 4i + 3
      e[4] = shift_in(e[0], c64);                                         // 4i + 4
      e[5] = shift_in(e[1], c65);                                         // 4i + 5
      bt6(e, h[r]);
    }
    for (size_t s = 0; s < 6; ++s) {
      const __m512 col[6] = {h[0][s], h[1][s], h[2][s], h[3][s], h[4][s], h[5][s]};
      __m512 t[6];
      bt6(col, t);
      for (size_t r = 0; r < 6; ++r)
        _mm512_mask_storeu_ps(v + (6 * r + s) * stride + i0, out, t[r]);
    }
  }
}

// A^T x of F(4x4) on vectors (as at6 in winograd.cpp).
inline void at6(const __m512* x, __m512* r) {
  const __m512 a = _mm512_add_ps(x[1], x[2]), b = _mm512_sub_ps(x[1], x[2]);
  const __m512 c = _mm512_add_ps(x[3], x[4]), d = _mm512_sub_ps(x[3], x[4]);
  r[0] = _mm512_add_ps(_mm512_add_ps(x[0], a), c);
  r[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.f), d, b);
  r[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.f), c, a);
  r[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.f), d, b), x[5]);
}

void output_f4_avx512(const float* p, size_t stride, size_t n, float scale, float bias,
                      const float* const* res, float* const* y_rows, size_t cols, Act act) {
  // Pixel 4i + k of 16 tiles: pairs (k, k + 1) interleaved by 32-bit lanes, then the pairs by
  // 64-bit lanes.
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_idx =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i q_lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
  const __m512i q_hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(bias);
  for (size_t i0 = 0; i0 < n; i0 += 16) {
    const __mmask16 in = lanes(static_cast<long>(n - i0));
    __m512 q[4][6];  // A^T M
    for (size_t s = 0; s < 6; ++s) {
      __m512 col[6], t[4];
      for (size_t r = 0; r < 6; ++r)
        col[r] = _mm512_maskz_loadu_ps(in, p + (6 * r + s) * stride + i0);
      at6(col, t);
      for (size_t r = 0; r < 4; ++r) q[r][s] = t[r];
    }
    const size_t x0 = 4 * i0;
    const long rem = static_cast<long>(cols - x0);
    for (size_t dy = 0; dy < 4; ++dy) {
      float* y = y_rows[dy];
      if (y == nullptr) continue;
      const float* r = res ? res[dy] : nullptr;
      __m512 o[4];
      at6(q[dy], o);
      for (size_t k = 0; k < 4; ++k) o[k] = _mm512_fmadd_ps(o[k], vs, vb);
      const __m512d t0 = _mm512_castps_pd(_mm512_permutex2var_ps(o[0], lo_idx, o[1]));
      const __m512d t1 = _mm512_castps_pd(_mm512_permutex2var_ps(o[0], hi_idx, o[1]));
      const __m512d t2 = _mm512_castps_pd(_mm512_permutex2var_ps(o[2], lo_idx, o[3]));
      const __m512d t3 = _mm512_castps_pd(_mm512_permutex2var_ps(o[2], hi_idx, o[3]));
      const __m512 px[4] = {_mm512_castpd_ps(_mm512_permutex2var_pd(t0, q_lo, t2)),
                            _mm512_castpd_ps(_mm512_permutex2var_pd(t0, q_hi, t2)),
                            _mm512_castpd_ps(_mm512_permutex2var_pd(t1, q_lo, t3)),
                            _mm512_castpd_ps(_mm512_permutex2var_pd(t1, q_hi, t3))};
      for (size_t k = 0; k < 4; ++k) {
        const long left = rem - static_cast<long>(16 * k);
        if (left <= 0) break;
        const __mmask16 mk = lanes(left);
        __m512 val = px[k];
        if (r) val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(mk, r + x0 + 16 * k));
        _mm512_mask_storeu_ps(y + x0 + 16 * k, mk, avx512::act(val, act));
      }
    }
  }
}

}  // namespace

void fill_table_winograd_avx512(KernelTable& t) {
  t.winograd[winograd_index(2)] = {input_f2_avx512, output_f2_avx512, 16};
  t.winograd[winograd_index(4)] = {input_f4_avx512, output_f4_avx512, 16};
}

}  // namespace detail
}  // namespace aio
