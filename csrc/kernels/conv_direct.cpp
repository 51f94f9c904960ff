// Direct convolution over phase-split input rows (see conv_direct in kernels.h), on the ISA's
// offsets micro-kernel (GemmOffsetsFn).
//
// Output pixel ox of tap j reads padded input column s * ox + j * dw, which is phase (j * dw) % s
// at position ox + (j * dw) / s of that phase's row. So with the rows split by phase, the 32
// pixels of a strip read one contiguous run per tap, and the K taps are K offsets from one base.
#include <algorithm>

#include "kernels/kernels_internal.h"

namespace aio {
namespace {

using detail::kMR;

constexpr size_t kMaxK = 256;      // one K block: the micro-kernel sums all of K in registers
constexpr size_t kMinWidth = 32;   // one full strip per row at least (a row never spans strips)

size_t round_up(size_t a, size_t b) { return (a + b - 1) / b * b; }

// Floats per phase row: every strip's whole-vector reads (up to 32 lanes past its start) of the
// rightmost tap.
size_t phase_row(const ConvGeom& g) {
  return round_up(round_up(g.w_out, 32) + (g.kw - 1) * g.dw / g.sw + 1, 16);
}

}  // namespace

bool conv_direct_available(const ConvGeom& g) {
  return detail::table().gemm_offsets != nullptr && (g.sw == 1 || g.sw == 2) &&
         g.c_in * g.kh * g.kw <= kMaxK && g.w_out >= kMinWidth;
}

void conv_direct(const PackedA& a, const float* x, const ConvGeom& g, float* y, size_t m0,
                 size_t m1, size_t oy0, size_t oy1, const Epilogue& epi) {
  if (m0 >= m1 || oy0 >= oy1) return;
  const detail::KernelTable& kt = detail::table();
  const size_t S = g.sw, taps = g.kh * g.kw, K = g.c_in * taps, wq = phase_row(g);
  const size_t rows = (oy1 - 1 - oy0) * g.sh + (g.kh - 1) * g.dh + 1;  // input rows used
  const size_t row_floats = S * wq;                                   // one input row, all phases
  float* phases = detail::thread_scratch(detail::Scratch::ConvDirect,
                                         g.c_in * rows * row_floats + 2 * K);
  auto* off = reinterpret_cast<ptrdiff_t*>(phases + g.c_in * rows * row_floats);

  const long h_in = static_cast<long>(g.h_in), w_in = static_cast<long>(g.w_in);
  for (size_t c = 0; c < g.c_in; ++c) {
    const float* plane = x + c * g.h_in * g.w_in;
    for (size_t r = 0; r < rows; ++r) {
      float* dst = phases + (c * rows + r) * row_floats;
      const long iy = static_cast<long>(oy0 * g.sh + r) - static_cast<long>(g.ph);
      if (iy < 0 || iy >= h_in) {
        std::fill(dst, dst + row_floats, 0.f);
        continue;
      }
      const float* src = plane + iy * w_in;
      for (size_t p = 0; p < S; ++p) {
        // Position u holds column S u + p - pw: inside the row for u in [lo, hi).
        const long first = static_cast<long>(g.pw) - static_cast<long>(p);
        const long lo = std::clamp<long>((first + static_cast<long>(S) - 1) / static_cast<long>(S),
                                         0, static_cast<long>(wq));
        const long hi = std::clamp<long>((w_in + first + static_cast<long>(S) - 1) /
                                             static_cast<long>(S), lo, static_cast<long>(wq));
        float* d = dst + p * wq;
        std::fill(d, d + lo, 0.f);
        const float* s = src + (static_cast<long>(S) * lo - first);
        for (long u = 0; u < hi - lo; ++u) d[lo + u] = s[static_cast<long>(S) * u];
        std::fill(d + hi, d + wq, 0.f);
      }
    }
  }
  for (size_t k = 0; k < K; ++k) {
    const size_t c = k / taps, i = (k % taps) / g.kw, j = k % g.kw;
    off[k] = static_cast<ptrdiff_t>((c * rows + i * g.dh) * row_floats + (j * g.dw) % S * wq +
                                    (j * g.dw) / S);
  }

  const size_t P = g.h_out * g.w_out, panel_stride = a.panel_stride();
  for (size_t oy = oy0; oy < oy1; ++oy) {
    const float* row = phases + (oy - oy0) * g.sh * row_floats;
    for (size_t ox = 0; ox < g.w_out; ox += 32) {
      const size_t nc = std::min<size_t>(32, g.w_out - ox), at = oy * g.w_out + ox;
      for (size_t m = m0; m < m1;) {
        const size_t r0 = m % kMR, mr = std::min(kMR - r0, m1 - m);
        const detail::TileEpilogue te{epi.scale ? epi.scale + m : nullptr,
                                      epi.bias ? epi.bias + m : nullptr,
                                      epi.residual ? epi.residual + m * P + at : nullptr, epi.act};
        kt.gemm_offsets(mr, nc, K, a.data() + m / kMR * panel_stride + r0, row + ox, off,
                        y + m * P + at, P, false, &te);
        m += mr;
      }
    }
  }
}

// conv3x3_rows: the ISA's kernel does it all (see conv3x3_neon.cpp); no portable version.
bool conv3x3_rows_available(const ConvGeom& g, size_t M) {
  return detail::table().conv3x3_rows != nullptr && g.kh == 3 && g.kw == 3 && g.dh == 1 &&
         g.dw == 1 && g.pw <= 1 && g.sh == g.sw && (g.sw == 1 || g.sw == 2) && M % 4 == 0 &&
         g.w_out % 8 == 0;
}

void conv3x3_rows(const PackedA& a, const float* x, const ConvGeom& g, float* y, size_t m0,
                  size_t m1, size_t oy0, size_t oy1, const Epilogue& epi) {
  if (m0 >= m1 || oy0 >= oy1) return;
  detail::table().conv3x3_rows(a.data(), a.panel_stride(), x, g, y, m0, m1, oy0, oy1, epi);
}

}  // namespace aio
