// NEON implicit-GEMM B packing for convolutions (see PackConvBFn): per K row (channel, tap), the
// output rows the block spans are generated into a row buffer (stride 1: a vector copy of each
// row's in-image span; stride 2: the even columns by a de-interleaving vld2q), zeros where the tap
// falls in the padding, then copied into the 8-wide strips. The portable version moves one float
// per instruction pair with a runtime stride; other strides still use it.
#include <arm_neon.h>

#include <algorithm>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

constexpr size_t kNR = 8;

// Rows [oy0, oy1) of tap (i, j) of one plane, w_out floats per row, into `row`.
template <int S>
void conv_rows(const float* plane, const ConvGeom& g, size_t i, size_t j, size_t oy0, size_t oy1,
               float* row) {
  const long w_in = static_cast<long>(g.w_in);
  const long off = static_cast<long>(j * g.dw) - static_cast<long>(g.pw);
  // In-image outputs are ox in [lo, hi): ix = S ox + off in [0, w_in); the same for every row.
  const long first = off >= 0 ? 0 : (-off + S - 1) / S;
  const long last = w_in - off <= 0 ? 0 : (w_in - off + S - 1) / S;
  const size_t lo = std::min(static_cast<size_t>(std::max(first, 0L)), g.w_out);
  const size_t hi = std::max(std::min(static_cast<size_t>(std::max(last, 0L)), g.w_out), lo);
  const float32x4_t zero = vdupq_n_f32(0.f);
  for (size_t oy = oy0; oy < oy1; ++oy, row += g.w_out) {
    const long iy = static_cast<long>(oy * g.sh + i * g.dh) - static_cast<long>(g.ph);
    if (iy < 0 || iy >= static_cast<long>(g.h_in)) {
      size_t ox = 0;
      for (; ox + 4 <= g.w_out; ox += 4) vst1q_f32(row + ox, zero);
      for (; ox < g.w_out; ++ox) row[ox] = 0.f;
      continue;
    }
    const float* src = plane + static_cast<size_t>(iy) * g.w_in + off;  // column of output 0
    for (size_t ox = 0; ox < lo; ++ox) row[ox] = 0.f;
    size_t ox = lo;
    if constexpr (S == 1) {
      for (; ox + 4 <= hi; ox += 4) vst1q_f32(row + ox, vld1q_f32(src + ox));
    } else {
      // vld2q reads columns 2 ox + off .. + 7; the last of them must lie in the row.
      for (; ox + 4 <= hi && static_cast<long>(2 * ox + 7) + off < w_in; ox += 4)
        vst1q_f32(row + ox, vld2q_f32(src + 2 * ox).val[0]);
    }
    for (; ox < hi; ++ox) row[ox] = src[S * ox];
    for (ox = hi; ox < g.w_out; ++ox) row[ox] = 0.f;
  }
}

// Strips that never straddle an output row (w_out and the block start multiples of 8): each
// strip's 8 pixels of one K row are one input row's run, copied straight into the strip (two
// vector loads and stores), with no row buffer in between. Strips at the image's left or right
// edge, or on a padding row, are filled element by element.
template <int S>
void pack_aligned(const float* x, const ConvGeom& g, size_t k0, size_t kc, size_t p0, size_t nb,
                  float* dst) {
  const size_t taps = g.kh * g.kw, plane = g.h_in * g.w_in, strips = (nb + kNR - 1) / kNR;
  const long w_in = static_cast<long>(g.w_in), h_in = static_cast<long>(g.h_in);
  const float32x4_t zero = vdupq_n_f32(0.f);
  for (size_t kk = 0; kk < kc; ++kk) {
    const size_t k = k0 + kk, ch = k / taps, r = k - ch * taps, i = r / g.kw, j = r - i * g.kw;
    const float* xc = x + ch * plane;
    const long off = static_cast<long>(j * g.dw) - static_cast<long>(g.pw);
    float* d = dst + kk * kNR;
    size_t p = p0;
    for (size_t s = 0; s < strips; ++s, d += kNR * kc, p += kNR) {
      const size_t oy = p / g.w_out, ox = p - oy * g.w_out;
      const size_t n = std::min(kNR, p0 + nb - p);  // pixels of this strip (8 but the last)
      const long iy = static_cast<long>(oy * g.sh + i * g.dh) - static_cast<long>(g.ph);
      if (iy < 0 || iy >= h_in) {
        vst1q_f32(d, zero);
        vst1q_f32(d + 4, zero);
        continue;
      }
      const float* row = xc + iy * w_in;
      const long ix0 = static_cast<long>(ox) * S + off;
      // Whole vectors read columns ix0 .. ix0 + 8 S - 1 (stride 2: one past the last tap).
      if (n == kNR && ix0 >= 0 && ix0 + 8 * S <= w_in) {
        if constexpr (S == 1) {
          vst1q_f32(d, vld1q_f32(row + ix0));
          vst1q_f32(d + 4, vld1q_f32(row + ix0 + 4));
        } else {
          vst1q_f32(d, vld2q_f32(row + ix0).val[0]);
          vst1q_f32(d + 4, vld2q_f32(row + ix0 + 8).val[0]);
        }
        continue;
      }
      for (size_t l = 0; l < kNR; ++l) {
        const long ix = ix0 + static_cast<long>(l) * S;
        d[l] = l < n && ix >= 0 && ix < w_in ? row[ix] : 0.f;
      }
    }
  }
}

void aio_f32_packconv_8__neon(const float* x, const ConvGeom& g, size_t k0, size_t kc, size_t p0,
                              size_t nb, size_t nr, float* dst) {
  if (nr != kNR || (g.sw != 1 && g.sw != 2))
    return pack_conv_b_portable(x, g, k0, kc, p0, nb, nr, dst);
  if (g.w_out % kNR == 0 && p0 % kNR == 0)
    return g.sw == 1 ? pack_aligned<1>(x, g, k0, kc, p0, nb, dst)
                     : pack_aligned<2>(x, g, k0, kc, p0, nb, dst);
  const size_t taps = g.kh * g.kw, plane = g.h_in * g.w_in;
  const size_t oy0 = p0 / g.w_out, oy1 = (p0 + nb - 1) / g.w_out + 1;
  const size_t skip = p0 - oy0 * g.w_out, strips = (nb + kNR - 1) / kNR;
  const size_t tail = nb - (strips - 1) * kNR;
  const size_t t0 = std::min<size_t>(tail, 4), t1 = tail > 4 ? tail - 4 : 0;
  float* row = thread_scratch(Scratch::ConvRows, (oy1 - oy0) * g.w_out + kNR);
  for (size_t kk = 0; kk < kc; ++kk) {
    const size_t k = k0 + kk, ch = k / taps, r = k - ch * taps, i = r / g.kw, j = r - i * g.kw;
    if (g.sw == 1)
      conv_rows<1>(x + ch * plane, g, i, j, oy0, oy1, row);
    else
      conv_rows<2>(x + ch * plane, g, i, j, oy0, oy1, row);
    const float* src = row + skip;
    float* d = dst + kk * kNR;
    for (size_t s = 0; s + 1 < strips; ++s, src += kNR, d += kNR * kc) {
      vst1q_f32(d, vld1q_f32(src));
      vst1q_f32(d + 4, vld1q_f32(src + 4));
    }
    vst1q_f32(d, t0 == 4 ? vld1q_f32(src) : neon::load_partial(src, t0));
    vst1q_f32(d + 4, t1 == 4 ? vld1q_f32(src + 4) : neon::load_partial(src + 4, t1));
  }
}

}  // namespace

void fill_table_conv_pack_neon(KernelTable& t) { t.pack_conv_b = aio_f32_packconv_8__neon; }

}  // namespace detail
}  // namespace aio
