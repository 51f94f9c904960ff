// AVX-512 implicit-GEMM B packing for convolutions (see PackConvBFn): per K row (channel, tap),
// the output rows the block spans are generated with masked vector loads (the masks do the
// padding: out-of-image lanes are neither read nor kept), then copied into the 32-wide strips.
// Strides 1 and 2 are vectorised; other strides use the portable row generator.
#include <immintrin.h>

#include <algorithm>

#include "kernels/kernels_internal.h"
#include "kernels/vec_avx512.h"

namespace aio {
namespace detail {
namespace {

constexpr size_t kNR = 32;
constexpr size_t kMaxVecs = 64;  // widest row vectorised: 64 x 16 output pixels

// Lanes [lo, hi) of a window of `width` lanes whose first lane is input column s, clipped to the
// input row [0, w_in).
inline uint32_t window_mask(long s, long w_in, long width) {
  const long lo = std::max(0L, -s), hi = std::min(width, w_in - s);
  if (hi <= lo) return 0;
  const uint64_t ones_hi = (uint64_t(1) << hi) - 1, ones_lo = (uint64_t(1) << lo) - 1;
  return static_cast<uint32_t>(ones_hi & ~ones_lo);
}

// Rows [oy0, oy1) of tap (i, j) of one plane, w_out floats per row, into `row` (which has 16
// floats of slack after the last row: whole vectors are stored).
template <int S>
void conv_rows(const float* plane, const ConvGeom& g, size_t i, size_t j, size_t oy0, size_t oy1,
               float* row) {
  const long w_in = static_cast<long>(g.w_in);
  const long off = static_cast<long>(j * g.dw) - static_cast<long>(g.pw);
  const size_t vecs = (g.w_out + 15) / 16;
  uint32_t masks[kMaxVecs];  // per output vector, the same for every row of this tap
  for (size_t v = 0; v < vecs; ++v)
    masks[v] = window_mask(static_cast<long>(16 * v * S) + off, w_in, 16 * S);
  const __m512i even = avx512::even_lanes();
  for (size_t oy = oy0; oy < oy1; ++oy, row += g.w_out) {
    const long iy = static_cast<long>(oy * g.sh + i * g.dh) - static_cast<long>(g.ph);
    if (iy < 0 || iy >= static_cast<long>(g.h_in)) {
      for (size_t v = 0; v < vecs; ++v) _mm512_storeu_ps(row + 16 * v, _mm512_setzero_ps());
      continue;
    }
    // Masked-off lanes are never accessed, so the window may start left of the row (padding).
    const float* src = plane + static_cast<size_t>(iy) * g.w_in + off;
    for (size_t v = 0; v < vecs; ++v) {
      const float* s = src + static_cast<long>(16 * v * S);
      __m512 out;
      if (S == 1) {
        out = _mm512_maskz_loadu_ps(static_cast<__mmask16>(masks[v]), s);
      } else {
        const __m512 a = _mm512_maskz_loadu_ps(static_cast<__mmask16>(masks[v]), s);
        const __m512 b = _mm512_maskz_loadu_ps(static_cast<__mmask16>(masks[v] >> 16), s + 16);
        out = _mm512_permutex2var_ps(a, even, b);
      }
      _mm512_storeu_ps(row + 16 * v, out);
    }
  }
}

void aio_f32_packconv_32__avx512(const float* x, const ConvGeom& g, size_t k0, size_t kc,
                                 size_t p0, size_t nb, size_t nr, float* dst) {
  if (nr != kNR || (g.sw != 1 && g.sw != 2) || g.w_out > 16 * kMaxVecs)
    return pack_conv_b_portable(x, g, k0, kc, p0, nb, nr, dst);
  const size_t taps = g.kh * g.kw, plane = g.h_in * g.w_in;
  const size_t oy0 = p0 / g.w_out, oy1 = (p0 + nb - 1) / g.w_out + 1;
  const size_t skip = p0 - oy0 * g.w_out, strips = (nb + kNR - 1) / kNR;
  const size_t tail = nb - (strips - 1) * kNR;
  const __mmask16 t0 = tail >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << tail) - 1u);
  const __mmask16 t1 = tail > 16 ? static_cast<__mmask16>((1u << (tail - 16)) - 1u) : 0;
  float* row = thread_scratch(Scratch::ConvRows, (oy1 - oy0) * g.w_out + kNR + 16);
  for (size_t kk = 0; kk < kc; ++kk) {
    const size_t k = k0 + kk, ch = k / taps, r = k - ch * taps, i = r / g.kw, j = r - i * g.kw;
    if (g.sw == 1)
      conv_rows<1>(x + ch * plane, g, i, j, oy0, oy1, row);
    else
      conv_rows<2>(x + ch * plane, g, i, j, oy0, oy1, row);
    const float* src = row + skip;
    float* d = dst + kk * kNR;
    for (size_t s = 0; s + 1 < strips; ++s, src += kNR, d += kNR * kc) {
      _mm512_store_ps(d, _mm512_loadu_ps(src));
      _mm512_store_ps(d + 16, _mm512_loadu_ps(src + 16));
    }
    _mm512_store_ps(d, _mm512_maskz_loadu_ps(t0, src));
    _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(t1, src + 16));
  }
}

}  // namespace

void fill_table_conv_pack_avx512(KernelTable& t) { t.pack_conv_b = aio_f32_packconv_32__avx512; }

}  // namespace detail
}  // namespace aio
