// NEON implicit-GEMM B packing for convolutions (see PackConvBFn): per K row (channel, tap), the
// output rows the block spans are generated into a row buffer (stride 1: a vector copy of each
// row's in-image span, zeros where the tap falls in the padding; stride 2: the even columns of
// zero-bordered rows by de-interleaving loads, pack_gather), then copied into the 8-wide strips;
// blocks of whole strips on rows of a multiple of 8 skip the row buffer (pack_padded). The
// portable version moves one float per instruction pair with a runtime stride; other strides
// still use it.
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

// Zero-bordered copies of the input rows that output rows [oy0, oy1) read, for the channels of K
// rows [k0, k0 + kc): padding rows and columns become real zeros (about 1 / (kh kw) of the
// packing's traffic), so that every tap of a run of output pixels is read without a bounds test.
// Rows are `cols` floats: wide enough for whole vectors of outputs up to w_out rounded up to 4.
struct PaddedRows {
  const float* pad;
  size_t ch0, rows, cols;
};
template <int S>
PaddedRows pad_rows(const float* x, const ConvGeom& g, size_t k0, size_t kc, size_t oy0,
                    size_t oy1) {
  const size_t taps = g.kh * g.kw, plane = g.h_in * g.w_in;
  const size_t ch0 = k0 / taps, ch1 = (k0 + kc - 1) / taps + 1;
  const size_t rows = (oy1 - 1 - oy0) * g.sh + (g.kh - 1) * g.dh + 1;
  // Vector reads reach column (w_out rounded to 4) S + (kw - 1) dw - 1 of the padded row.
  const size_t cols = ((g.w_out + 3) / 4 * 4 * S + (g.kw - 1) * g.dw + 3) / 4 * 4;
  float* pad = thread_scratch(Scratch::ConvRows, (ch1 - ch0) * rows * cols);
  const long h_in = static_cast<long>(g.h_in);
  // Image columns land at [pw, pw + w_in) of a padded row, clipped to the columns read.
  const size_t lo = std::min(g.pw, cols), hi = std::min(g.pw + g.w_in, cols);
  // The rows are short (8 to 112 floats here): vector loops, where std::fill and std::copy were
  // three libc calls per row (ResNet-20: 0.1 M instructions of its 12 M at level 1).
  const float32x4_t zero = vdupq_n_f32(0.f);
  const size_t span = hi - lo;
  for (size_t c = ch0; c < ch1; ++c) {
    for (size_t r = 0; r < rows; ++r) {
      float* d = pad + ((c - ch0) * rows + r) * cols;
      const long iy = static_cast<long>(oy0 * g.sh + r) - static_cast<long>(g.ph);
      for (size_t q = 0; q < cols; q += 4) vst1q_f32(d + q, zero);  // cols: whole vectors
      if (iy < 0 || iy >= h_in) continue;
      const float* src = x + c * plane + static_cast<size_t>(iy) * g.w_in;
      float* dd = d + lo;
      size_t q = 0;
      for (; q + 4 <= span; q += 4) vst1q_f32(dd + q, vld1q_f32(src + q));
      for (; q < span; ++q) dd[q] = src[q];
    }
  }
  return {pad, ch0, rows, cols};
}

// Strips that never straddle an output row (w_out and the block start multiples of 8): from the
// zero-bordered rows, each strip's 8 pixels of one K row are one unmasked run: two vector loads
// and stores (stride 2: two de-interleaving loads), no bounds test, no row buffer in between.
template <int S>
void pack_padded(const float* x, const ConvGeom& g, size_t k0, size_t kc, size_t p0, size_t nb,
                 float* dst) {
  const size_t taps = g.kh * g.kw;
  const size_t oy0 = p0 / g.w_out, oy1 = (p0 + nb - 1) / g.w_out + 1;
  // A 1x1 layer without padding (a strided projection) reads its rows in place, as pack_gather
  // does, where a strip's last read (column S w_out - 1 of a whole-strip row) stays in the row:
  // ResNet-20's shortcuts at level 3 copied 0.015 M floats' worth of rows (1.5 % of the
  // inference) to pack 16 K floats.
  const bool in_place = g.kh * g.kw == 1 && g.ph == 0 && g.pw == 0 && g.w_in >= S * g.w_out;
  const PaddedRows pr = in_place ? PaddedRows{x + oy0 * g.sh * g.w_in, 0, g.h_in, g.w_in}
                                 : pad_rows<S>(x, g, k0, kc, oy0, oy1);
  const float* pad = pr.pad;
  const size_t ch0 = pr.ch0, rows = pr.rows, cols = pr.cols;
  // Per output row of the block, where its pixels start in the padded row, its whole strips and
  // the pixels of a partial last strip (the same for every K row: computed once per call).
  struct RowRun {
    size_t src, full, tail;
  };
  RowRun runs[kNC / kNR + 2];
  size_t nruns = 0;
  const size_t end = p0 + nb;
  for (size_t oy = oy0; oy < oy1; ++oy) {
    const size_t row0 = oy * g.w_out;
    const size_t a = std::max(p0, row0), b = std::min(end, row0 + g.w_out);
    runs[nruns++] = {(oy - oy0) * g.sh * cols + (a - row0) * S, (b - a) / kNR, (b - a) % kNR};
  }
  // Whole output rows of an even number of strips (stride 1): one run per row, all alike.
  const bool whole_rows = S == 1 && p0 % g.w_out == 0 && nb % g.w_out == 0 &&
                          g.w_out % (2 * kNR) == 0;
  for (size_t kk = 0; kk < kc; ++kk) {
    const size_t k = k0 + kk, ch = k / taps, r = k - ch * taps, i = r / g.kw, j = r - i * g.kw;
    const float* base = pad + ((ch - ch0) * rows + i * g.dh) * cols + j * g.dw;
    float* d = dst + kk * kNR;
    if (whole_rows) {
      neon::copy_runs_strips8(base, cols * sizeof(float), nruns, g.w_out / (2 * kNR), d,
                              kNR * kc * sizeof(float));
      continue;
    }
    for (size_t q = 0; q < nruns; ++q) {
      const float* src = base + runs[q].src;
      if constexpr (S == 1)
        neon::copy_strips8(src, d, runs[q].full, kNR * kc * sizeof(float));
      else
        neon::copy_strips8_s2(src, d, runs[q].full, kNR * kc * sizeof(float));
      src += runs[q].full * kNR * S;
      d += runs[q].full * kNR * kc;
      if (runs[q].tail) {  // the block's partial last strip: zeros past its pixels
        for (size_t l = 0; l < kNR; ++l) d[l] = l < runs[q].tail ? src[l * S] : 0.f;
        d += kNR * kc;
      }
    }
  }
}

// Other blocks of stride 1 or 2 (maps whose width is not a multiple of 8: ResNet-18's 28, 14
// and 7 at stride 2): per K row, the block's output rows are gathered from the zero-bordered
// rows into a row buffer, whole vectors with no bounds test (a row's last vector runs past
// w_out into the next row's place, which that row then overwrites), then copied into the
// strips. Where conv_rows tested every row and fell back to single floats near the edges (six
// instructions a float at stride 2 on a 28-wide map), this takes about one and a half.
// One k row of B from a gathered row: strips - 1 whole 8-float strips kc * 8 floats apart, and
// the last strip's t0 + t1 (0-4 each) floats, zero-filled.
inline void store_strips(const float* src, float* d, size_t strips, size_t kc, size_t t0,
                         size_t t1) {
  for (size_t s = strips - 1; s > 0; --s, src += kNR, d += kNR * kc)
    vst1q_f32_x2(d, vld1q_f32_x2(src));
  vst1q_f32(d, t0 == 4 ? vld1q_f32(src) : neon::load_partial(src, t0));
  vst1q_f32(d + 4, t1 == 4 ? vld1q_f32(src + 4) : neon::load_partial(src + 4, t1));
}

template <int S>
void pack_gather(const float* x, const ConvGeom& g, size_t k0, size_t kc, size_t p0, size_t nb,
                 float* dst) {
  const size_t taps = g.kh * g.kw, w = g.w_out;
  const size_t oy0 = p0 / w, oy1 = (p0 + nb - 1) / w + 1;
  // A 1x1 layer without padding (a strided projection) reads its rows in place: nothing to
  // border, and a copy of whole rows would move S^2 times the floats packed.
  const bool in_place = taps == 1 && g.ph == 0 && g.pw == 0;
  const PaddedRows pr = in_place ? PaddedRows{x, 0, g.h_in, g.w_in}
                                 : pad_rows<S>(x, g, k0, kc, oy0, oy1);
  // In place, a row's vectors stop where they would read past the row (the last row's end may
  // be the tensor's); the rest one float at a time.
  const size_t safe = in_place ? (g.w_in >= 4 * S ? (g.w_in - 4 * S) / (4 * S) + 1 : 0) * 4
                               : (w + 3) / 4 * 4;
  const size_t vec = std::min(safe, (w + 3) / 4 * 4);
  const size_t skip = p0 - oy0 * w, strips = (nb + kNR - 1) / kNR;
  const size_t tail = nb - (strips - 1) * kNR;
  const size_t t0 = std::min<size_t>(tail, 4), t1 = tail > 4 ? tail - 4 : 0;
  float* row = thread_scratch(Scratch::ConvRowBuf, (oy1 - oy0) * w + kNR);
  const size_t step = g.sh * pr.cols;
  for (size_t kk = 0; kk < kc; ++kk) {
    const size_t k = k0 + kk, ch = k / taps, r = k - ch * taps, i = r / g.kw, j = r - i * g.kw;
    const float* base = pr.pad + ((ch - pr.ch0) * pr.rows + i * g.dh) * pr.cols + j * g.dw;
    if (in_place) base += oy0 * step;
    float* out = row;
    for (size_t oy = oy0; oy < oy1; ++oy, base += step, out += w) {
      size_t ox = 0;
      for (; ox < vec; ox += 4) {
        if constexpr (S == 1)
          vst1q_f32(out + ox, vld1q_f32(base + ox));
        else
          vst1q_f32(out + ox, vld2q_f32(base + 2 * ox).val[0]);
      }
      for (; ox < w; ++ox) out[ox] = base[S * ox];
    }
    store_strips(row + skip, dst + kk * kNR, strips, kc, t0, t1);
  }
}

void aio_f32_packconv_8__neon(const float* x, const ConvGeom& g, size_t k0, size_t kc, size_t p0,
                              size_t nb, size_t nr, float* dst) {
  if (nr != kNR || (g.sw != 1 && g.sw != 2))
    return pack_conv_b_portable(x, g, k0, kc, p0, nb, nr, dst);
  if (g.w_out % kNR == 0 && p0 % kNR == 0)
    return g.sw == 1 ? pack_padded<1>(x, g, k0, kc, p0, nb, dst)
                     : pack_padded<2>(x, g, k0, kc, p0, nb, dst);
  if (g.sw == 2) return pack_gather<2>(x, g, k0, kc, p0, nb, dst);
  const size_t taps = g.kh * g.kw, plane = g.h_in * g.w_in;
  const size_t oy0 = p0 / g.w_out, oy1 = (p0 + nb - 1) / g.w_out + 1;
  const size_t skip = p0 - oy0 * g.w_out, strips = (nb + kNR - 1) / kNR;
  const size_t tail = nb - (strips - 1) * kNR;
  const size_t t0 = std::min<size_t>(tail, 4), t1 = tail > 4 ? tail - 4 : 0;
  float* row = thread_scratch(Scratch::ConvRows, (oy1 - oy0) * g.w_out + kNR);
  for (size_t kk = 0; kk < kc; ++kk) {
    const size_t k = k0 + kk, ch = k / taps, r = k - ch * taps, i = r / g.kw, j = r - i * g.kw;
    conv_rows<1>(x + ch * plane, g, i, j, oy0, oy1, row);
    store_strips(row + skip, dst + kk * kNR, strips, kc, t0, t1);
  }
}

}  // namespace

void fill_table_conv_pack_neon(KernelTable& t) { t.pack_conv_b = aio_f32_packconv_8__neon; }

}  // namespace detail
}  // namespace aio
