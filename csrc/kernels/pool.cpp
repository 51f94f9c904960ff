// Max/average pooling and global average pooling: the portable versions and the dispatch
// (memory-bound, a small share of time; NEON has its own in pool_neon.cpp).
#include <algorithm>
#include <limits>
#include <vector>

#include "kernels/kernels_internal.h"

namespace aio {
namespace {

// In-bounds tap range [lo, hi) of one window along one axis; the caller's h_out/w_out may come
// from ceil_mode, so windows can hang past the far edge as well as the near one.
struct Span {
  size_t lo, hi;     // in-bounds input indices
  size_t padded;     // taps inside the padded input (what count_include_pad divides by)
};

Span window(size_t o, size_t stride, size_t pad, size_t k, size_t dil, size_t n_in) {
  const long start = static_cast<long>(o * stride) - static_cast<long>(pad);
  const long n = static_cast<long>(n_in);
  Span s{0, 0, 0};
  long lo = -1, hi = -1;
  // PyTorch's count_include_pad counts taps inside [-pad, n_in + pad), not past it.
  for (size_t t = 0; t < k; ++t) {
    const long idx = start + static_cast<long>(t * dil);
    if (idx < n + static_cast<long>(pad)) ++s.padded;
    if (idx >= 0 && idx < n) {
      if (lo < 0) lo = idx;
      hi = idx + 1;
    }
  }
  if (lo >= 0) {
    s.lo = static_cast<size_t>(lo);
    s.hi = static_cast<size_t>(hi);
  }
  return s;
}

// NaN wins, as in torch.max_pool2d: if a is NaN it stays, if b is NaN it replaces.
inline float nan_max(float a, float b) { return (b > a || b != b) ? b : a; }

// Per-thread scratch: one reduced row plus the column spans, grown on first use and then reused.
struct PoolScratch {
  std::vector<float> row;
  std::vector<Span> cols;
};

PoolScratch& scratch(const ConvGeom& g) {
  thread_local PoolScratch s;
  if (s.row.size() < g.w_in) s.row.resize(g.w_in);
  s.cols.resize(g.w_out);
  for (size_t ox = 0; ox < g.w_out; ++ox) s.cols[ox] = window(ox, g.sw, g.pw, g.kw, g.dw, g.w_in);
  return s;
}

size_t taps(const Span& s, size_t dil) { return s.hi > s.lo ? (s.hi - 1 - s.lo) / dil + 1 : 0; }

}  // namespace

namespace detail {

// Separable: the window's input rows are first reduced element-wise into one row (a loop the
// compiler vectorizes), then each output reduces its few columns of that row.
void max_pool_portable(const float* x, const ConvGeom& g, float* y, size_t c0, size_t c1,
                       size_t oy0, size_t oy1) {
  if (c0 >= c1 || oy0 >= oy1 || g.w_out == 0) return;
  PoolScratch& s = scratch(g);
  float* row = s.row.data();
  const float ninf = -std::numeric_limits<float>::infinity();
  for (size_t ch = c0; ch < c1; ++ch) {
    const float* xc = x + ch * g.h_in * g.w_in;
    float* yc = y + ch * g.h_out * g.w_out;
    for (size_t oy = oy0; oy < oy1; ++oy) {
      const Span sy = window(oy, g.sh, g.ph, g.kh, g.dh, g.h_in);
      float* yr = yc + oy * g.w_out;
      // Padding never wins: only in-bounds taps take part (-inf if none, as PyTorch).
      if (sy.hi <= sy.lo) {
        std::fill(yr, yr + g.w_out, ninf);
        continue;
      }
      std::copy(xc + sy.lo * g.w_in, xc + (sy.lo + 1) * g.w_in, row);
      for (size_t iy = sy.lo + g.dh; iy < sy.hi; iy += g.dh) {
        const float* xr = xc + iy * g.w_in;
        for (size_t ix = 0; ix < g.w_in; ++ix) row[ix] = nan_max(row[ix], xr[ix]);
      }
      for (size_t ox = 0; ox < g.w_out; ++ox) {
        const Span& sx = s.cols[ox];
        float m = ninf;
        for (size_t ix = sx.lo; ix < sx.hi; ix += g.dw) m = nan_max(m, row[ix]);
        yr[ox] = m;
      }
    }
  }
}

}  // namespace detail

void max_pool(const float* x, const ConvGeom& g, float* y, size_t c0, size_t c1, size_t oy0,
              size_t oy1) {
  detail::table().max_pool(x, g, y, c0, c1, oy0, std::min(oy1, g.h_out));
}

namespace detail {

void avg_pool_rows(const float* x, const ConvGeom& g, bool count_pad, float* y, size_t c0,
                   size_t c1, AddRowFn add_row) {
  if (c0 >= c1 || g.w_out == 0) return;
  PoolScratch& s = scratch(g);
  float* row = s.row.data();
  for (size_t ch = c0; ch < c1; ++ch) {
    const float* xc = x + ch * g.h_in * g.w_in;
    float* yc = y + ch * g.h_out * g.w_out;
    for (size_t oy = 0; oy < g.h_out; ++oy) {
      const Span sy = window(oy, g.sh, g.ph, g.kh, g.dh, g.h_in);
      const size_t ny = taps(sy, g.dh);
      std::fill(row, row + g.w_in, 0.f);
      for (size_t iy = sy.lo; iy < sy.hi; iy += g.dh) add_row(row, xc + iy * g.w_in, g.w_in);
      float* yr = yc + oy * g.w_out;
      for (size_t ox = 0; ox < g.w_out; ++ox) {
        const Span& sx = s.cols[ox];
        float sum = 0.f;
        for (size_t ix = sx.lo; ix < sx.hi; ix += g.dw) sum += row[ix];
        const size_t div = count_pad ? sy.padded * sx.padded : ny * taps(sx, g.dw);
        yr[ox] = div ? sum / static_cast<float>(div) : 0.f;
      }
    }
  }
}

namespace {
void add_row_portable(float* acc, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += x[i];
}
}  // namespace

void avg_pool_portable(const float* x, const ConvGeom& g, bool count_pad, float* y, size_t c0,
                       size_t c1) {
  avg_pool_rows(x, g, count_pad, y, c0, c1, add_row_portable);
}

void global_avg_pool_portable(const float* x, size_t hw, float* y, size_t c0, size_t c1) {
  for (size_t ch = c0; ch < c1; ++ch) {
    const float* xc = x + ch * hw;
    // Eight partial sums: shorter dependency chains and smaller rounding error on big planes.
    float part[8] = {};
    size_t i = 0;
    for (; i + 8 <= hw; i += 8)
      for (size_t l = 0; l < 8; ++l) part[l] += xc[i + l];
    float sum = 0.f;
    for (size_t l = 0; l < 8; ++l) sum += part[l];
    for (; i < hw; ++i) sum += xc[i];
    y[ch] = hw ? sum / static_cast<float>(hw) : 0.f;
  }
}

}  // namespace detail

void avg_pool(const float* x, const ConvGeom& g, bool count_pad, float* y, size_t c0, size_t c1) {
  detail::table().avg_pool(x, g, count_pad, y, c0, c1);
}

void global_avg_pool(const float* x, size_t hw, float* y, size_t c0, size_t c1) {
  detail::table().global_avg_pool(x, hw, y, c0, c1);
}

}  // namespace aio
