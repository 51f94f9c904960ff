// Channels-in-lanes convolution for small maps (see conv_cout_lanes in kernels.h): the zero-padded
// copy of the input rows, the tap offsets, the walk over tiles, and the portable tile.
#include <algorithm>
#include <cstring>

#include "kernels/kernels_internal.h"

namespace aio {
namespace {

using detail::kCoutLanesMaxPixels;

// How one output row is cut into runs: pairs of whole rows where a row fits in half a tile (a
// 7 x 7 map: 14 pixels per tile); otherwise runs of at most a tile, as even as possible (28 =
// 14 + 14, 16 = 8 + 8), so no run is a short remainder.
struct RowCut {
  size_t rows_per_tile;  // 1 or 2
  size_t run;            // pixels per run (the last run of a row may be shorter)
};
RowCut row_cut(size_t w_out) {
  if (2 * w_out <= kCoutLanesMaxPixels) return {2, w_out};
  const size_t runs = (w_out + kCoutLanesMaxPixels - 1) / kCoutLanesMaxPixels;
  return {1, (w_out + runs - 1) / runs};
}

// Portable tile: same contract as detail::CoutLanesTileFn.
void tile_portable(size_t w, size_t runs, size_t s, size_t K, const float* wts, const float* x,
                   const ptrdiff_t* off, size_t run_pitch_in, float* y, size_t ldy,
                   size_t run_pitch_out, size_t nc, const detail::TileEpilogue* epi) {
  float acc[kCoutLanesMaxPixels][kCoutLanesStrip] = {};
  for (size_t k = 0; k < K; ++k) {
    const float* wk = wts + k * kCoutLanesStrip;
    for (size_t i = 0; i < runs; ++i)
      for (size_t c = 0; c < w; ++c) {
        const float v = x[off[k] + static_cast<ptrdiff_t>(i * run_pitch_in + c * s)];
        float* a = acc[i * w + c];
        for (size_t m = 0; m < nc; ++m) a[m] += v * wk[m];
      }
  }
  for (size_t m = 0; m < nc; ++m)
    for (size_t i = 0; i < runs; ++i)
      for (size_t c = 0; c < w; ++c) {
        const size_t at = m * ldy + i * run_pitch_out + c;
        float v = acc[i * w + c][m];
        if (epi->scale) v *= epi->scale[m];
        if (epi->bias) v += epi->bias[m];
        if (epi->residual) v += epi->residual[at];
        y[at] = detail::apply_act(v, epi->act);
      }
}

// Input rows oy0 * sh - ph + [0, rows) of every channel, columns -pw + [0, cols), into
// dst[c][rows][cols], zero outside the image.
void pad_rows(const float* x, const ConvGeom& g, size_t oy0, size_t rows, size_t cols,
              float* dst) {
  const long h_in = static_cast<long>(g.h_in), w_in = static_cast<long>(g.w_in);
  // Columns [lo, hi) of a padded row come from the image.
  const long lo = std::min<long>(static_cast<long>(g.pw), static_cast<long>(cols));
  const long hi = std::clamp<long>(w_in + static_cast<long>(g.pw), lo, static_cast<long>(cols));
  for (size_t c = 0; c < g.c_in; ++c) {
    const float* src_plane = x + c * g.h_in * g.w_in;
    for (size_t r = 0; r < rows; ++r) {
      float* d = dst + (c * rows + r) * cols;
      const long iy = static_cast<long>(oy0 * g.sh + r) - static_cast<long>(g.ph);
      if (iy < 0 || iy >= h_in) {
        std::fill(d, d + cols, 0.f);
        continue;
      }
      std::fill(d, d + lo, 0.f);
      if (hi > lo)
        std::memcpy(d + lo, src_plane + iy * w_in + (lo - static_cast<long>(g.pw)),
                    static_cast<size_t>(hi - lo) * sizeof(float));
      std::fill(d + hi, d + cols, 0.f);
    }
  }
}

}  // namespace

bool conv_cout_lanes_available(const ConvGeom& g) {
  return detail::table().cout_lanes_tile != nullptr && (g.sw == 1 || g.sw == 2);
}

void conv_cout_lanes(const PackedA& w, const float* x, const ConvGeom& g, float* y, size_t m0,
                     size_t m1, size_t oy0, size_t oy1, const Epilogue& epi) {
  if (m0 >= m1 || oy0 >= oy1) return;
  const detail::KernelTable& kt = detail::table();
  const detail::CoutLanesTileFn tile =
      conv_cout_lanes_available(g) ? kt.cout_lanes_tile : tile_portable;
  const size_t taps = g.kh * g.kw, K = g.c_in * taps;
  // Without padding every tap lies inside the image: read x in place. Otherwise copy the input
  // rows and columns that output rows [oy0, oy1) read into zero-padded rows.
  const bool in_place = g.ph == 0 && g.pw == 0;
  const size_t rows = in_place ? g.h_in : (oy1 - 1 - oy0) * g.sh + (g.kh - 1) * g.dh + 1;
  const size_t cols = in_place ? g.w_in : (g.w_out - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  const size_t plane = rows * cols;
  // The padded rows, then the tap offsets (on a 64-byte boundary).
  const size_t pad_floats = in_place ? 0 : (g.c_in * plane + 15) / 16 * 16;
  float* scratch = detail::thread_scratch(detail::Scratch::CoutLanes, pad_floats + 2 * K);
  auto* off = reinterpret_cast<ptrdiff_t*>(scratch + pad_floats);
  // Input row 0 of `base` is the first one output row oy0 reads.
  const float* base = in_place ? x + oy0 * g.sh * cols : scratch;
  if (!in_place) pad_rows(x, g, oy0, rows, cols, scratch);
  for (size_t k = 0; k < K; ++k) {
    const size_t c = k / taps, i = (k % taps) / g.kw, j = k % g.kw;
    off[k] = static_cast<ptrdiff_t>(c * plane + i * g.dh * cols + j * g.dw);
  }

  const size_t P = g.h_out * g.w_out, strip_stride = w.panel_stride();
  const RowCut cut = row_cut(g.w_out);
  for (size_t m = m0; m < m1; m += kCoutLanesStrip) {
    const size_t nc = std::min(kCoutLanesStrip, m1 - m);
    const float* wts = w.data() + m / kCoutLanesStrip * strip_stride;
    for (size_t oy = oy0; oy < oy1; oy += cut.rows_per_tile) {
      const size_t runs = std::min(cut.rows_per_tile, oy1 - oy);
      for (size_t ox = 0; ox < g.w_out; ox += cut.run) {
        const size_t n = std::min(cut.run, g.w_out - ox), at = oy * g.w_out + ox;
        const detail::TileEpilogue te{epi.scale ? epi.scale + m : nullptr,
                                      epi.bias ? epi.bias + m : nullptr,
                                      epi.residual ? epi.residual + m * P + at : nullptr, epi.act};
        tile(n, runs, g.sw, K, wts, base + (oy - oy0) * g.sh * cols + ox * g.sw, off,
             g.sh * cols, y + m * P + at, P, g.w_out, nc, &te);
      }
    }
  }
}

}  // namespace aio
