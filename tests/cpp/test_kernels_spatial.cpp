// im2col, implicit-GEMM conv, depthwise conv, pooling and elementwise kernels against naive double-precision
// references, on every ISA this machine supports. Tolerance: |got - ref| <= 1e-5 * max|ref| over
// each output (aio_test::kRelTol); im2col and max pooling move values and must match exactly.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "check.h"
#include "test_kernels_util.h"

namespace {

using aio::ConvGeom;
using aio_test::kRelTol;

size_t out_size(size_t in, size_t k, size_t s, size_t p, size_t d, bool ceil_mode) {
  const size_t span = d * (k - 1) + 1;
  const size_t num = in + 2 * p - span;
  size_t o = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
  // PyTorch: with ceil_mode the last window must start inside the input or the left padding.
  if (ceil_mode && (o - 1) * s >= in + p) --o;
  return o;
}

ConvGeom geom(size_t c, size_t h, size_t w, size_t k, size_t s, size_t p, size_t d,
              bool ceil_mode = false) {
  ConvGeom g;
  g.c_in = c;
  g.h_in = h;
  g.w_in = w;
  g.kh = g.kw = k;
  g.sh = g.sw = s;
  g.ph = g.pw = p;
  g.dh = g.dw = d;
  g.h_out = out_size(h, k, s, p, d, ceil_mode);
  g.w_out = out_size(w, k, s, p, d, ceil_mode);
  return g;
}

// x value at (c, iy, ix) or 0 outside the image.
double at(const std::vector<float>& x, const ConvGeom& g, size_t c, long iy, long ix) {
  if (iy < 0 || ix < 0 || iy >= static_cast<long>(g.h_in) || ix >= static_cast<long>(g.w_in))
    return 0.0;
  return x[(c * g.h_in + static_cast<size_t>(iy)) * g.w_in + static_cast<size_t>(ix)];
}

long tap(size_t o, size_t s, size_t t, size_t d, size_t p) {
  return static_cast<long>(o * s + t * d) - static_cast<long>(p);
}

// Double-precision convolution of x (g.c_in channels) by the first g.c_in channels of each of the
// m rows of w ([rows][c_full][kh][kw]): out[o * P + p]; *max_abs gets its largest magnitude.
std::vector<double> conv_ref(const std::vector<float>& w, size_t m, size_t c_full,
                             const std::vector<float>& x, const ConvGeom& g, double* max_abs) {
  const size_t taps = g.kh * g.kw, P = g.h_out * g.w_out;
  std::vector<double> out(m * P, 0.0);
  *max_abs = 0;
  for (size_t o = 0; o < m; ++o)
    for (size_t p = 0; p < P; ++p) {
      const size_t oy = p / g.w_out, ox = p % g.w_out;
      double acc = 0;
      for (size_t c = 0; c < g.c_in; ++c)
        for (size_t i = 0; i < g.kh; ++i)
          for (size_t j = 0; j < g.kw; ++j)
            acc += static_cast<double>(w[(o * c_full + c) * taps + i * g.kw + j]) *
                   at(x, g, c, tap(oy, g.sh, i, g.dh, g.ph), tap(ox, g.sw, j, g.dw, g.pw));
      out[o * P + p] = acc;
      *max_abs = std::fmax(*max_abs, std::fabs(acc));
    }
  return out;
}

// The epilogue variants the convolution tests run: 0, the plain product into a sentinel-filled
// output; 1, scale, bias, a separate residual and `act`; 2, the same with the residual read from
// the output itself (the output starts as the residual).
struct EpilogueVariant {
  std::vector<float> y;
  aio::Epilogue epi;
  int variant;
  // What output i of channel o must hold, from the exact sum.
  double want(double sum, const std::vector<float>& scale, const std::vector<float>& bias,
              const std::vector<float>& res, size_t o, size_t i) const {
    return variant ? aio_test::act_ref(scale[o] * sum + bias[o] + res[i], epi.act) : sum;
  }
};
EpilogueVariant epilogue_variant(int variant, aio::Act act, const std::vector<float>& scale,
                                 const std::vector<float>& bias, const std::vector<float>& res) {
  EpilogueVariant v{variant == 2 ? res : std::vector<float>(res.size(), -7.f), {}, variant};
  if (variant > 0) {
    v.epi.scale = scale.data();
    v.epi.bias = bias.data();
    v.epi.act = act;
    v.epi.residual = variant == 1 ? res.data() : v.y.data();
  }
  return v;
}

void test_im2col() {
  const ConvGeom gs[] = {geom(3, 7, 9, 3, 1, 1, 1), geom(2, 11, 10, 3, 2, 1, 1),
                         geom(4, 9, 9, 5, 1, 2, 1), geom(2, 12, 13, 3, 1, 2, 2),
                         geom(3, 8, 8, 1, 2, 0, 1), geom(1, 5, 4, 7, 2, 3, 1),
                         geom(2, 10, 11, 3, 3, 0, 1), geom(2, 5, 5, 3, 1, 4, 1),
                         geom(1, 6, 3, 3, 2, 3, 2)};
  for (const ConvGeom& g : gs) {
    const size_t P = g.h_out * g.w_out, rows = g.c_in * g.kh * g.kw, ld = P + 3;
    const auto x = aio_test::random_vec(g.c_in * g.h_in * g.w_in, 21);
    const size_t ranges[][2] = {{0, P}, {P / 3, P - P / 4}, {1, 2}};
    for (const auto& r : ranges) {
      std::vector<float> col(rows * ld, -7.f);
      aio::im2col(x.data(), g, col.data(), ld, r[0], r[1]);
      int bad = 0;
      for (size_t c = 0; c < g.c_in; ++c)
        for (size_t i = 0; i < g.kh; ++i)
          for (size_t j = 0; j < g.kw; ++j)
            for (size_t p = 0; p < ld; ++p) {
              const double got = col[((c * g.kh + i) * g.kw + j) * ld + p];
              double want = -7.0;
              if (p >= r[0] && p < r[1]) {
                const size_t oy = p / g.w_out, ox = p % g.w_out;
                want = at(x, g, c, tap(oy, g.sh, i, g.dh, g.ph), tap(ox, g.sw, j, g.dw, g.pw));
              }
              if (got != want) ++bad;
            }
      AIO_CHECK(bad == 0);
    }
  }
}

void test_depthwise(const char* isa) {
  struct Shape {
    size_t c, h, w, k, s, p, d;
  };
  const Shape shapes[] = {{5, 8, 8, 3, 1, 1, 1},    {3, 17, 33, 3, 1, 1, 1},
                          {4, 16, 40, 3, 2, 1, 1},  {3, 15, 31, 3, 2, 1, 1},
                          {2, 9, 19, 5, 1, 2, 1},   {2, 14, 21, 5, 2, 2, 1},
                          {3, 12, 13, 3, 1, 2, 2},  {2, 23, 29, 7, 2, 3, 1},
                          {4, 1, 1, 3, 1, 1, 1},    {3, 5, 7, 1, 1, 0, 1},
                          {2, 10, 70, 3, 3, 0, 1},  {17, 7, 7, 3, 1, 1, 1},
                          {2, 6, 50, 3, 1, 0, 1},   {2, 6, 20, 3, 2, 0, 2},
                          {3, 13, 15, 3, 2, 1, 1},  {2, 9, 9, 5, 2, 2, 1},
                          {2, 9, 67, 3, 2, 0, 1},   {2, 12, 64, 5, 2, 2, 1},   // wide stride 2
                          // Stride 2 with interior vectors (taps by lane shifts, stride2_taps):
                          // MobileNetV3's 112 -> 56 (3x3) and EfficientNet's 5x5 rows, and the
                          // last interior vector ending one column short of the row.
                          {3, 9, 112, 3, 2, 1, 1},  {2, 10, 112, 5, 2, 2, 1},
                          {2, 7, 99, 5, 2, 2, 1},   {2, 7, 97, 3, 2, 1, 1},
                          // Rows with plain-load vectors between masked edges (3x3, two output
                          // rows at a time, odd row counts), runtime kernels (dilated, 7x7),
                          // gathers, one-vector rows, a kernel wider than the input, and one too
                          // large for the vector path.
                          {2, 10, 100, 3, 1, 1, 1}, {2, 11, 97, 3, 2, 1, 1},
                          {2, 7, 40, 3, 1, 1, 1},   {1, 2, 33, 3, 1, 1, 1},
                          {2, 9, 45, 3, 1, 2, 2},   {2, 8, 40, 7, 1, 3, 1},
                          {2, 5, 37, 3, 3, 1, 1},   {2, 7, 80, 3, 3, 0, 1},
                          {3, 6, 6, 3, 2, 1, 1},
                          {2, 4, 3, 5, 1, 2, 1},    {1, 3, 40, 33, 1, 16, 1},
                          // A last vector that ends exactly at the row's end.
                          {2, 6, 64, 3, 1, 1, 1},   {2, 8, 64, 3, 2, 1, 1},
                          // Planes of up to 64 pixels run as one flat run (8 x 8, 7 x 7 and 1 x 1
                          // above): narrow, non-square, a partial last vector.
                          {2, 5, 3, 3, 1, 1, 1},    {3, 6, 10, 3, 1, 1, 1},
                          // 5x5 (EfficientNet, MobileNetV3): flat planes (7 x 7, 8 x 8, narrow),
                          // row pairs at stride 1 (too many pixels to be flat, or not
                          // same-size) and stride 2.
                          {3, 7, 7, 5, 1, 2, 1},    {2, 8, 8, 5, 1, 2, 1},
                          {2, 5, 6, 5, 1, 2, 1},    {2, 10, 8, 5, 1, 2, 1},
                          {2, 9, 8, 5, 1, 0, 1},    {3, 14, 14, 5, 2, 2, 1},
                          {2, 13, 11, 5, 2, 2, 1},
                          // Padding 1, 5 or more outputs a row (NEON reads these in place):
                          // the narrowest rows, one input row, one output row at stride 2, odd
                          // and even widths, a full and a one-lane last vector.
                          {2, 4, 5, 3, 1, 1, 1},    {2, 5, 9, 3, 2, 1, 1},
                          {2, 5, 16, 3, 1, 1, 1},   {1, 1, 20, 3, 1, 1, 1},
                          {2, 2, 18, 3, 2, 1, 1},   {2, 6, 17, 3, 2, 1, 1},
                          {2, 3, 19, 3, 2, 1, 1},   {3, 4, 21, 3, 1, 1, 1},
                          {2, 5, 16, 3, 2, 1, 1},   {2, 4, 25, 3, 2, 1, 1},
                          // Stride 1, taps by lane shifts (AVX-512 stride1_taps) with interior and
                          // edge vectors; 5x5 in blocks of 8, 4, 2 and 1 output rows (17 = 8 + 8
                          // + 1, 14 = 8 + 4 + 2, 13 = 8 + 4 + 1); padding 0 and 1 at 5x5.
                          {2, 17, 40, 5, 1, 2, 1},  {3, 14, 28, 5, 1, 2, 1},
                          {2, 13, 56, 5, 1, 2, 1},  {2, 14, 14, 5, 1, 2, 1},
                          {2, 12, 30, 5, 1, 0, 1},  {2, 11, 35, 5, 1, 1, 1},
                          {2, 12, 112, 3, 1, 1, 1}, {2, 9, 33, 3, 1, 0, 1}};
  int idx = 0;
  for (const Shape& sh : shapes) {
    const ConvGeom g = geom(sh.c, sh.h, sh.w, sh.k, sh.s, sh.p, sh.d);
    const size_t plane = g.h_out * g.w_out;
    const auto x = aio_test::random_vec(g.c_in * g.h_in * g.w_in, 31 + idx);
    const auto w = aio_test::random_vec(g.c_in * g.kh * g.kw, 32 + idx);
    const auto scale = aio_test::random_vec(g.c_in, 33, 0.5f, 1.5f);
    const auto bias = aio_test::random_vec(g.c_in, 34);
    const auto res = aio_test::random_vec(g.c_in * plane, 35);
    for (aio::Act act : aio_test::kActs) {
      ++idx;
      const bool with_res = idx % 2 == 0, with_sb = idx % 3 != 0;
      const size_t c0 = idx % 4 == 1 && g.c_in > 2 ? 1 : 0;
      const size_t c1 = idx % 4 == 3 && g.c_in > 2 ? g.c_in - 1 : g.c_in;
      aio::Epilogue epi;
      epi.scale = with_sb ? scale.data() : nullptr;
      epi.bias = with_sb ? bias.data() : nullptr;
      epi.residual = with_res ? res.data() : nullptr;
      epi.act = act;
      const float sentinel = 999.f;
      std::vector<float> y(g.c_in * plane, sentinel);
      aio::depthwise_conv(x.data(), w.data(), g, y.data(), c0, c1, epi);
      std::vector<double> ref(y.size());
      double maxref = 0;
      for (size_t c = c0; c < c1; ++c)
        for (size_t oy = 0; oy < g.h_out; ++oy)
          for (size_t ox = 0; ox < g.w_out; ++ox) {
            double acc = 0;
            for (size_t i = 0; i < g.kh; ++i)
              for (size_t j = 0; j < g.kw; ++j)
                acc += w[(c * g.kh + i) * g.kw + j] *
                       at(x, g, c, tap(oy, g.sh, i, g.dh, g.ph), tap(ox, g.sw, j, g.dw, g.pw));
            const size_t o = c * plane + oy * g.w_out + ox;
            if (with_sb) acc = acc * scale[c] + bias[c];
            if (with_res) acc += res[o];
            ref[o] = aio_test::act_ref(acc, act);
            maxref = std::fmax(maxref, std::fabs(ref[o]));
          }
      const double tol = kRelTol * std::fmax(maxref, 1e-6);
      int bad = 0;
      for (size_t o = 0; o < y.size(); ++o) {
        const size_t c = o / plane;
        const bool inside = c >= c0 && c < c1;
        const bool ok = inside ? std::fabs(y[o] - ref[o]) <= tol : y[o] == sentinel;
        if (!ok && bad++ < 3)
          std::printf("depthwise[%s] c%zu %zux%zu k%zu s%zu p%zu d%zu act=%u: y[%zu]=%g ref=%g\n",
                      isa, g.c_in, g.h_in, g.w_in, g.kh, g.sh, g.ph, g.dh,
                      static_cast<unsigned>(act), o, y[o], inside ? ref[o] : sentinel);
      }
      AIO_CHECK(bad == 0);
    }
  }
}

void test_pools() {
  struct Shape {
    size_t c, h, w, k, s, p;
    bool ceil_mode;
  };
  const Shape shapes[] = {{3, 8, 8, 2, 2, 0, false}, {2, 7, 9, 3, 2, 1, false},
                          {2, 7, 9, 3, 2, 1, true},  {3, 112, 112, 3, 2, 1, false},
                          {2, 6, 5, 3, 2, 0, true},  {2, 10, 11, 5, 3, 2, true},
                          {1, 1, 1, 2, 2, 1, true},  {2, 7, 7, 7, 1, 0, false},
                          // Rows of 16 + 4 + 1 and 16 + 3 floats (NEON sums rows in vectors).
                          {2, 9, 21, 3, 1, 1, false}, {2, 6, 19, 2, 2, 0, true}};
  for (const Shape& sh : shapes) {
    const ConvGeom g = geom(sh.c, sh.h, sh.w, sh.k, sh.s, sh.p, 1, sh.ceil_mode);
    const size_t plane = g.h_out * g.w_out;
    // Negative inputs: a max that let a padded zero win would show.
    const auto x = aio_test::random_vec(g.c_in * g.h_in * g.w_in, 41, -2.f, -0.5f);
    const size_t c0 = g.c_in > 1 ? 1 : 0, c1 = g.c_in;
    // Max pooling in two row bands (as two workers would), and once more for a middle band
    // only: nothing outside it may be written.
    std::vector<float> ymax(g.c_in * plane, 5.f), yband(g.c_in * plane, 5.f);
    const size_t mid = g.h_out / 2, b0 = g.h_out / 3, b1 = g.h_out - g.h_out / 4;
    aio::max_pool(x.data(), g, ymax.data(), c0, c1, 0, mid);
    aio::max_pool(x.data(), g, ymax.data(), c0, c1, mid, g.h_out);
    aio::max_pool(x.data(), g, yband.data(), c0, c1, b0, b1);
    for (int cp = 0; cp < 2; ++cp) {
      std::vector<float> yavg(g.c_in * plane, 5.f);
      aio::avg_pool(x.data(), g, cp == 1, yavg.data(), c0, c1);
      int bad = 0;
      for (size_t c = 0; c < g.c_in; ++c)
        for (size_t oy = 0; oy < g.h_out; ++oy)
          for (size_t ox = 0; ox < g.w_out; ++ox) {
            const size_t o = c * plane + oy * g.w_out + ox;
            if (c < c0) {
              bad += ymax[o] != 5.f || yavg[o] != 5.f || yband[o] != 5.f;
              continue;
            }
            const bool in_band = oy >= b0 && oy < b1;
            if (cp == 0 && (in_band ? yband[o] != ymax[o] : yband[o] != 5.f)) ++bad;
            // PyTorch's definition: window [start, start + k) clipped to the padded input for
            // the count_include_pad divisor, then to the image for the taps.
            const long hs = tap(oy, g.sh, 0, 1, g.ph), ws = tap(ox, g.sw, 0, 1, g.pw);
            const long he = std::min<long>(hs + g.kh, g.h_in + g.ph);
            const long we = std::min<long>(ws + g.kw, g.w_in + g.pw);
            const long pool_size = (he - hs) * (we - ws);
            double mx = -std::numeric_limits<double>::infinity(), sum = 0;
            long n = 0;
            for (long iy = std::max<long>(hs, 0); iy < std::min<long>(he, g.h_in); ++iy)
              for (long ix = std::max<long>(ws, 0); ix < std::min<long>(we, g.w_in); ++ix) {
                const double v = at(x, g, c, iy, ix);
                mx = std::fmax(mx, v);
                sum += v;
                ++n;
              }
            const double avg = sum / static_cast<double>(cp ? pool_size : n);
            if (cp == 0) bad += ymax[o] != static_cast<float>(mx);
            bad += !(std::fabs(yavg[o] - avg) <= kRelTol * 2.0);  // |x| <= 2
          }
      if (bad)
        std::printf("pool %zux%zu k%zu s%zu p%zu ceil=%d count_pad=%d: %d bad\n", g.h_in, g.w_in,
                    g.kh, g.sh, g.ph, sh.ceil_mode, cp, bad);
      AIO_CHECK(bad == 0);
    }
  }
}

void test_max_pool_nan() {
  // NaN propagates like torch.max_pool2d, from either operand order.
  const ConvGeom g = geom(1, 4, 36, 2, 2, 0, 1);
  std::vector<float> x(4 * 36, 1.f);
  x[1 * 36 + 1] = std::nanf("");  // window (0, 0), second row
  x[0 * 36 + 20] = std::nanf("");  // window (0, 10), first tap
  std::vector<float> y(g.h_out * g.w_out);
  aio::max_pool(x.data(), g, y.data(), 0, 1, 0, g.h_out);
  for (size_t i = 0; i < y.size(); ++i) AIO_CHECK((i == 0 || i == 10) == std::isnan(y[i]));
  // 3x3 stride 2, padding 1 (the stem pool: its taps come from even, odd and shifted-even
  // columns): a NaN in input row 1 reaches output rows 0 and 1; column 5 is the last tap of
  // output 2 and the first of output 3, column 34 the middle tap of output 17.
  const ConvGeom g3 = geom(1, 3, 40, 3, 2, 1, 1);
  std::vector<float> x3(3 * 40, -1.f);
  x3[40 + 5] = std::nanf("");
  x3[40 + 34] = std::nanf("");
  std::vector<float> y3(g3.h_out * g3.w_out);
  aio::max_pool(x3.data(), g3, y3.data(), 0, 1, 0, g3.h_out);
  for (size_t i = 0; i < y3.size(); ++i) {
    const size_t ox = i % g3.w_out;
    AIO_CHECK((ox == 2 || ox == 3 || ox == 17) == std::isnan(y3[i]));
  }
}

void test_global_avg_pool() {
  for (size_t hw : {1, 7, 16, 19, 21, 49, 3136}) {
    const auto x = aio_test::random_vec(4 * hw, 51);
    std::vector<float> y(4, 9.f);
    aio::global_avg_pool(x.data(), hw, y.data(), 1, 4);
    AIO_CHECK(y[0] == 9.f);
    for (size_t c = 1; c < 4; ++c) {
      double s = 0;
      for (size_t i = 0; i < hw; ++i) s += x[c * hw + i];
      AIO_CHECK_NEAR(y[c], s / static_cast<double>(hw), kRelTol);
    }
  }
}

void test_add_act() {
  const size_t n = 103;
  const auto a = aio_test::random_vec(n, 61, -8.f, 8.f), b = aio_test::random_vec(n, 62, -8.f, 8.f);
  for (aio::Act act : aio_test::kActs) {
    for (int with_b = 0; with_b < 2; ++with_b) {
      std::vector<float> y(n, 3.f);
      aio::add_act(a.data(), with_b ? b.data() : nullptr, y.data(), 2, n - 1, act);
      AIO_CHECK(y[0] == 3.f && y[1] == 3.f && y[n - 1] == 3.f);
      for (size_t i = 2; i < n - 1; ++i) {
        const double ref = aio_test::act_ref(a[i] + (with_b ? static_cast<double>(b[i]) : 0.0), act);
        AIO_CHECK_NEAR(y[i], ref, kRelTol * 16);
      }
      // In place.
      std::vector<float> z(a);
      aio::add_act(z.data(), with_b ? b.data() : nullptr, z.data(), 0, n, act);
      for (size_t i = 0; i < n; ++i)
        AIO_CHECK_NEAR(z[i], aio_test::act_ref(a[i] + (with_b ? static_cast<double>(b[i]) : 0.0), act),
                       kRelTol * 16);
    }
  }
}

// Implicit-GEMM convolution (gemm_conv: im2col fused into B packing) against a direct double
// reference: strides 1-3 (1 and 2 take the vector packer, 3 the portable one), dilation, padding
// wider than the kernel, K above one 256-row block, row/pixel sub-ranges as the tiler issues
// them, and a level prefix (fewer input channels than the packed weight's full K); and the same
// products through the shared packed B (pack_conv_b_block + gemm_prepacked).
void test_gemm_conv() {
  struct Case {
    ConvGeom g;
    size_t m, c_full;
  };
  const Case cases[] = {{geom(3, 7, 9, 3, 1, 1, 1), 5, 3},     {geom(2, 11, 10, 3, 2, 1, 1), 13, 2},
                        {geom(4, 9, 9, 5, 1, 2, 1), 16, 4},    {geom(2, 12, 13, 3, 1, 2, 2), 7, 2},
                        {geom(3, 8, 8, 1, 2, 0, 1), 12, 3},    {geom(1, 5, 4, 7, 2, 3, 1), 3, 1},
                        {geom(2, 10, 11, 3, 3, 0, 1), 9, 2},   {geom(2, 5, 5, 3, 1, 4, 1), 4, 2},
                        {geom(40, 9, 9, 3, 1, 1, 1), 30, 40},  {geom(24, 20, 37, 3, 2, 1, 1), 26, 48},
                        {geom(3, 40, 40, 7, 2, 3, 1), 12, 3},  {geom(8, 3, 70, 3, 1, 1, 1), 8, 16},
                        // Output widths that are multiples of 8 (NEON packs whole strips straight
                        // from the input rows): padded and not, stride 1 and 2, a first layer.
                        {geom(3, 10, 16, 3, 1, 1, 1), 14, 3},  {geom(4, 9, 32, 3, 2, 1, 1), 13, 4},
                        {geom(2, 8, 18, 3, 1, 0, 1), 5, 2},    {geom(3, 20, 48, 7, 2, 3, 1), 16, 3},
                        {geom(5, 12, 33, 3, 2, 0, 1), 9, 5},
                        // Rows of an odd number of whole strips (3 and 5: NEON copies two at a
                        // time, then one), 4 and 8 output channels (assembly tiles of 4 and 8
                        // rows).
                        {geom(4, 6, 24, 3, 1, 1, 1), 8, 4},    {geom(6, 4, 40, 3, 1, 1, 1), 4, 6},
                        // Blocks of whole rows of 2 and 4 strip pairs (NEON copies them in one
                        // loop per K row), over two column blocks, at a narrow level (4 of 16
                        // input channels, ResNet-20's level 3), and padded rows of 3 pairs.
                        {geom(4, 12, 32, 3, 1, 1, 1), 4, 16},  {geom(3, 6, 64, 3, 1, 1, 1), 8, 5},
                        {geom(2, 5, 48, 3, 1, 1, 1), 12, 2}};
  for (const Case& cs : cases) {
    const ConvGeom& g = cs.g;
    const size_t taps = g.kh * g.kw, K = g.c_in * taps, K_full = cs.c_full * taps;
    const size_t P = g.h_out * g.w_out;
    // Weight [m][c_full][taps]; the level uses the first g.c_in channels, which are the first K
    // columns of each row as the packing of a channel prefix requires.
    const auto w = aio_test::random_vec(cs.m * K_full, 31);
    const auto x = aio_test::random_vec(g.c_in * g.h_in * g.w_in, 32);
    const aio::PackedA a = aio::PackedA::pack(w.data(), cs.m, K_full, K_full);
    double max_ref = 0;
    const std::vector<double> ref = conv_ref(w, cs.m, cs.c_full, x, g, &max_ref);
    // Runs `product` on rows [r0, r1) x columns [r2, r3) of a sentinel-filled output; checks the
    // tile against the reference and that nothing outside it was written.
    const auto check_tile = [&](const size_t r[4], const auto& product) {
      if (r[0] >= r[1] || r[2] >= r[3]) return;
      std::vector<float> y(cs.m * P, -7.f);
      product(y.data());
      for (size_t o = 0; o < cs.m; ++o)
        for (size_t p = 0; p < P; ++p) {
          const bool inside = o >= r[0] && o < r[1] && p >= r[2] && p < r[3];
          if (inside)
            AIO_CHECK_NEAR(y[o * P + p], ref[o * P + p], kRelTol * std::fmax(max_ref, 1.0));
          else
            AIO_CHECK(y[o * P + p] == -7.f);
        }
    };
    const size_t ranges[][4] = {{0, cs.m, 0, P}, {cs.m / 2, cs.m, P / 3, P - P / 5}, {0, 1, P - 1, P}};
    for (const auto& r : ranges)
      check_tile(r, [&](float* y) {
        aio::gemm_conv(a, x.data(), g, y, P, r[0], r[1], r[2], r[3], aio::Epilogue{});
      });
    // The shared-B path: every block packed once (in reverse order, as workers may), then row
    // tiles multiplied against it; columns from a column-block start (the first, or the second
    // when there is one) to any end.
    const aio::PackedBLayout l = aio::packed_b_layout(K, P);
    std::vector<float> packed(l.floats() + 16, -3.f);
    float* buf = packed.data() + (16 - reinterpret_cast<uintptr_t>(packed.data()) / 4 % 16) % 16;
    for (size_t b = l.blocks(); b-- > 0;) aio::pack_conv_b_block(x.data(), g, l, b, buf);
    const size_t n0 = P > aio::kPackedColBlock ? aio::kPackedColBlock : 0;
    const size_t tiles[][4] = {
        {0, cs.m, 0, P}, {cs.m / 2, cs.m, 0, P}, {0, 1, 0, P - P / 3}, {0, cs.m, n0, P}};
    for (const auto& r : tiles)
      check_tile(r, [&](float* y) {
        aio::gemm_prepacked(a, l, buf, y, P, r[0], r[1], r[2], r[3], aio::Epilogue{});
      });
  }
}

// A convolution by output rows (conv_direct, conv3x3_rows) against the double-precision one on
// case cs: output channels [r[0], r[1]) and rows [r[2], r[3]) for each range, with epilogue
// variants 0 .. variants - 1 (see EpilogueVariant); nothing outside the range written.
struct RowConvCase {
  ConvGeom g;
  size_t m, c_full;
};
using RowConvKernel = void (*)(const aio::PackedA&, const float*, const ConvGeom&, float*, size_t,
                               size_t, size_t, size_t, const aio::Epilogue&);
template <size_t N>
void check_row_conv(const RowConvCase& cs, RowConvKernel kernel, const size_t (&ranges)[N][4],
                    int variants, uint32_t seed) {
  const ConvGeom& g = cs.g;
  const size_t taps = g.kh * g.kw, K_full = cs.c_full * taps, P = g.h_out * g.w_out;
  const auto w = aio_test::random_vec(cs.m * K_full, seed);
  const auto x = aio_test::random_vec(g.c_in * g.h_in * g.w_in, seed + 1);
  const auto scale = aio_test::random_vec(cs.m, seed + 2, 0.5f, 2.f);
  const auto bias = aio_test::random_vec(cs.m, seed + 3);
  const auto res = aio_test::random_vec(cs.m * P, seed + 4);
  const aio::PackedA a = aio::PackedA::pack(w.data(), cs.m, K_full, K_full);
  double max_ref = 0;
  const std::vector<double> acc = conv_ref(w, cs.m, cs.c_full, x, g, &max_ref);
  for (const auto& r : ranges) {
    if (r[0] >= r[1] || r[2] >= r[3]) continue;
    for (int variant = 0; variant < variants; ++variant) {
      EpilogueVariant ev = epilogue_variant(
          variant, aio_test::act_at(r[0] + r[2] + static_cast<size_t>(variant)), scale, bias, res);
      std::vector<float>& y = ev.y;
      kernel(a, x.data(), g, y.data(), r[0], r[1], r[2], r[3], ev.epi);
      for (size_t o = 0; o < cs.m; ++o)
        for (size_t p = 0; p < P; ++p) {
          const size_t i = o * P + p, oy = p / g.w_out;
          if (o < r[0] || o >= r[1] || oy < r[2] || oy >= r[3]) {
            AIO_CHECK(y[i] == (variant == 2 ? res[i] : -7.f));
            continue;
          }
          AIO_CHECK_NEAR(y[i], ev.want(acc[i], scale, bias, res, o, i),
                         kRelTol * std::fmax(max_ref * 2 + 2, 1.0));
        }
    }
  }
}

// The direct convolution (where the ISA has it): strides 1 and 2 (also only in x), dilation,
// padding, rows narrower and wider than a strip, K up to one 256-row block, a level prefix of the
// input channels, row and channel sub-ranges, the whole epilogue.
void test_conv_direct() {
  ConvGeom rect = geom(2, 9, 80, 3, 2, 1, 1);  // stride 1 in y, 2 in x
  rect.sh = 1;
  rect.h_out = out_size(rect.h_in, 3, 1, 1, 1, false);
  const RowConvCase cases[] = {
      {geom(3, 64, 70, 7, 2, 3, 1), 20, 3}, {geom(3, 12, 66, 3, 1, 1, 1), 16, 4},
      {geom(2, 20, 80, 5, 2, 2, 2), 13, 2}, {geom(28, 6, 70, 3, 2, 1, 1), 12, 28},
      {rect, 5, 2},                          {geom(1, 3, 32, 3, 1, 0, 1), 1, 1}};
  for (const RowConvCase& cs : cases) {
    const ConvGeom& g = cs.g;
    if (!aio::conv_direct_available(g)) {
      AIO_CHECK(std::string(aio::isa_name()) != "avx512" || g.w_out < 32);
      continue;
    }
    const size_t ranges[][4] = {{0, cs.m, 0, g.h_out}, {cs.m / 3, cs.m, g.h_out / 2, g.h_out},
                                {0, 1, 1, 2}};
    check_row_conv(cs, aio::conv_direct, ranges, 2, 51);
  }
}

// The 3x3 convolution from padded rows (where the ISA has it: NEON): 4, 8, 12, 16 and 20 output
// channels (tiles of 4, 8 and 12 rows, panel remainders), rows of 8 to 32 pixels (4-channel
// tiles of 16 pixels, of 8, and of two output rows, an odd row count falling back to one-row
// tiles), strides 1 and 2, padding 1 and 0, a level prefix of the input channels, panel and row
// sub-ranges as workers get them, and the whole epilogue (every activation, the residual apart
// and in place).
void test_conv3x3_rows() {
  const RowConvCase cases[] = {
      {geom(4, 32, 32, 3, 1, 1, 1), 4, 16}, {geom(4, 9, 24, 3, 1, 1, 1), 4, 4},
      {geom(8, 16, 16, 3, 1, 1, 1), 8, 8},  {geom(16, 8, 8, 3, 1, 1, 1), 16, 16},
      {geom(3, 10, 8, 3, 1, 1, 1), 20, 3},  {geom(2, 10, 18, 3, 1, 0, 1), 4, 2},
      {geom(4, 32, 32, 3, 2, 1, 1), 8, 4},  {geom(8, 16, 16, 3, 2, 1, 1), 16, 32},
      {geom(4, 18, 18, 3, 2, 0, 1), 12, 4}, {geom(5, 15, 31, 3, 2, 1, 1), 4, 5}};
  for (const RowConvCase& cs : cases) {
    const ConvGeom& g = cs.g;
    if (!aio::conv3x3_rows_available(g, cs.m)) {
      AIO_CHECK(std::string(aio::isa_name()) != "neon");
      continue;
    }
    const size_t m0 = cs.m > aio::kGemmRowAlign ? aio::kGemmRowAlign : 0;
    const size_t ranges[][4] = {{0, cs.m, 0, g.h_out}, {m0, cs.m, g.h_out / 2, g.h_out},
                                {0, cs.m, 1, 2}, {0, 4, 1, g.h_out}};
    check_row_conv(cs, aio::conv3x3_rows, ranges, 3, 61);
  }
}

// The channels-in-lanes convolution against the double-precision one: maps of 1 to 30 columns
// (two whole rows per tile up to 7, runs of a row beyond, an odd last row), strides 1 and 2 (also
// only in x), 1x1 with and without stride, dilation and wide padding, K past one strip's worth of
// registers, a level prefix of channels and of rows (m not a multiple of the strip, a last strip
// of at most 16 and of more than 16 channels), strip and row sub-ranges as workers get them
// (nothing outside written), and the whole epilogue with the residual apart and in place.
void test_conv_cout_lanes() {
  struct Case {
    ConvGeom g;
    size_t m, m_full, c_full;
  };
  ConvGeom rect = geom(5, 9, 15, 3, 2, 1, 1);  // stride 1 in y, 2 in x
  rect.sh = 1;
  rect.h_out = out_size(rect.h_in, 3, 1, 1, 1, false);
  const Case cases[] = {{geom(16, 7, 7, 3, 1, 1, 1), 64, 64, 16},
                        {geom(6, 14, 14, 3, 2, 1, 1), 40, 48, 8},
                        {geom(12, 7, 7, 1, 1, 0, 1), 37, 37, 12},
                        {geom(9, 14, 14, 1, 2, 0, 1), 20, 33, 9},
                        {geom(4, 8, 8, 3, 1, 1, 1), 50, 70, 5},
                        {geom(3, 16, 16, 3, 1, 1, 1), 32, 32, 3},
                        {geom(2, 28, 28, 3, 1, 1, 1), 17, 17, 2},
                        {geom(3, 11, 30, 5, 1, 2, 1), 33, 40, 3},
                        {geom(4, 12, 13, 3, 1, 2, 2), 9, 9, 4},
                        {geom(2, 5, 5, 3, 1, 4, 1), 8, 8, 2},
                        {geom(70, 3, 3, 3, 1, 1, 1), 96, 96, 80},
                        {geom(2, 1, 1, 3, 1, 1, 1), 3, 3, 2},
                        {rect, 30, 30, 5}};
  for (const Case& cs : cases) {
    const ConvGeom& g = cs.g;
    const size_t taps = g.kh * g.kw, K_full = cs.c_full * taps, P = g.h_out * g.w_out;
    const auto w = aio_test::random_vec(cs.m_full * K_full, 61);
    const auto x = aio_test::random_vec(g.c_in * g.h_in * g.w_in, 62);
    const auto scale = aio_test::random_vec(cs.m, 63, 0.5f, 2.f);
    const auto bias = aio_test::random_vec(cs.m, 64);
    const auto res = aio_test::random_vec(cs.m * P, 65);
    const aio::PackedA a =
        aio::PackedA::pack(w.data(), cs.m_full, K_full, K_full, aio::kCoutLanesStrip);
    AIO_CHECK(a.panel_rows() == aio::kCoutLanesStrip);
    double max_ref = 0;
    const std::vector<double> acc = conv_ref(w, cs.m, cs.c_full, x, g, &max_ref);
    const size_t S = aio::kCoutLanesStrip, H = g.h_out;
    const size_t ranges[][4] = {{0, cs.m, 0, H}, {cs.m > S ? S : 0, cs.m, H / 2, H},
                                {0, cs.m < S ? cs.m : S, 1, 2}, {0, 1, H - 1, H}};
    for (const auto& r : ranges) {
      if (r[0] >= r[1] || r[2] >= r[3] || r[3] > H) continue;
      for (int variant = 0; variant < 3; ++variant) {
        const aio::Act act = aio_test::act_at(r[0] + r[2] + static_cast<size_t>(variant));  // each in turn
        EpilogueVariant ev = epilogue_variant(variant, act, scale, bias, res);
        std::vector<float>& y = ev.y;
        const std::vector<float> before = y;
        aio::conv_cout_lanes(a, x.data(), g, y.data(), r[0], r[1], r[2], r[3], ev.epi);
        for (size_t o = 0; o < cs.m; ++o)
          for (size_t p = 0; p < P; ++p) {
            const size_t i = o * P + p, oy = p / g.w_out;
            if (o < r[0] || o >= r[1] || oy < r[2] || oy >= r[3]) {
              AIO_CHECK(y[i] == before[i]);
              continue;
            }
            AIO_CHECK_NEAR(y[i], ev.want(acc[i], scale, bias, res, o, i),
                           kRelTol * std::fmax(max_ref * 2 + 2, 1.0));
          }
      }
    }
  }
}

// Winograd F(2x2, 3x3) and F(4x4, 3x3) against the double-precision convolution: padding 0-2,
// odd and even maps (partial tiles), tile rows wider than one GEMM strip, blocks of at most 4
// tiles (NEON's 12 x 4 product: 7 x 7 and 8 x 8 maps, with one and more K blocks), C above one
// 256-row K block, a level prefix of both channels and rows, tile sub-ranges as workers get them (nothing
// outside written), and the whole epilogue, the residual also in place. The plain product's worst
// |error| / max |result| per tile size goes to *worst (the figure kernels.h states).
// Tolerance: kRelTol for F(2x2); 3e-5 for F(4x4), whose transforms scale by up to 5 (input) and 8
// (output) and whose error, measured 8-10x F(2x2)'s at C = 256-300, grows with C (4e-6 at C = 8).
constexpr double kWinogradF4RelTol = 3e-5;

void test_winograd(size_t tile, double* worst) {
  const double tol = tile == 4 ? kWinogradF4RelTol : kRelTol;
  struct Case {
    ConvGeom g;
    size_t m, m_full, c_full;
  };
  const Case cases[] = {{geom(3, 7, 9, 3, 1, 1, 1), 5, 5, 3},
                        {geom(2, 6, 6, 3, 1, 0, 1), 13, 13, 2},
                        {geom(4, 9, 8, 3, 1, 2, 1), 16, 20, 6},
                        {geom(8, 3, 70, 3, 1, 1, 1), 8, 12, 16},
                        {geom(8, 5, 150, 3, 1, 1, 1), 3, 3, 8},
                        {geom(300, 5, 6, 3, 1, 1, 1), 14, 14, 300},
                        {geom(16, 30, 29, 3, 1, 1, 1), 12, 24, 32},
                        {geom(64, 14, 14, 3, 1, 1, 1), 100, 100, 64},
                        {geom(256, 7, 7, 3, 1, 1, 1), 12, 12, 256},
                        {geom(520, 7, 7, 3, 1, 1, 1), 30, 36, 520},
                        {geom(40, 8, 8, 3, 1, 1, 1), 24, 24, 40},
                        {geom(20, 6, 10, 3, 1, 2, 1), 12, 12, 20},
                        {geom(5, 13, 11, 3, 1, 1, 1), 7, 7, 5},
                        {geom(1, 1, 1, 3, 1, 1, 1), 1, 1, 1}};
  for (const Case& cs : cases) {
    const ConvGeom& g = cs.g;
    const size_t P = g.h_out * g.w_out, T = aio::winograd_tiles(g, tile);
    const size_t tw = (g.w_out + tile - 1) / tile;
    AIO_CHECK(T == ((g.h_out + tile - 1) / tile) * tw);
    const auto w = aio_test::random_vec(cs.m_full * cs.c_full * 9, 41);
    const auto x = aio_test::random_vec(g.c_in * g.h_in * g.w_in, 42);
    const auto scale = aio_test::random_vec(cs.m, 43, 0.5f, 2.f);
    const auto bias = aio_test::random_vec(cs.m, 44);
    const auto res = aio_test::random_vec(cs.m * P, 45);
    const aio::WinogradWeights ww =
        aio::WinogradWeights::transform(w.data(), cs.m_full, cs.c_full, tile);
    AIO_CHECK(ww.rows() == cs.m_full && ww.tile() == tile);
    AIO_CHECK(ww.elements() == (tile + 2) * (tile + 2));
    double max_ref = 0;
    const std::vector<double> acc = conv_ref(w, cs.m, cs.c_full, x, g, &max_ref);
    const size_t ranges[][2] = {{0, T}, {T / 3, T - T / 4}, {T - 1, T}, {1, 2}};
    for (const auto& r : ranges) {
      if (r[0] >= r[1] || r[1] > T) continue;
      for (int variant = 0; variant < 3; ++variant) {
        const aio::Act act = aio_test::act_at(r[0] + static_cast<size_t>(variant));  // each in turn
        EpilogueVariant ev = epilogue_variant(variant, act, scale, bias, res);
        std::vector<float>& y = ev.y;
        const std::vector<float> before = y;
        aio::winograd_conv3x3(ww, x.data(), g, cs.m, y.data(), r[0], r[1], ev.epi);
        for (size_t o = 0; o < cs.m; ++o)
          for (size_t p = 0; p < P; ++p) {
            const size_t t = (p / g.w_out / tile) * tw + (p % g.w_out) / tile;
            const size_t i = o * P + p;
            if (t < r[0] || t >= r[1]) {
              AIO_CHECK(y[i] == before[i]);
              continue;
            }
            const double want = ev.want(acc[i], scale, bias, res, o, i);
            if (variant == 0 && max_ref > 0)
              *worst = std::fmax(*worst, std::fabs(y[i] - want) / max_ref);
            AIO_CHECK_NEAR(y[i], want, tol * std::fmax(max_ref * 2 + 2, 1.0));
          }
      }
    }
  }
}

// Every tile size, with its worst relative error on this ISA (printed: the figure kernels.h
// and docs/benchmarks.md state).
void test_winograd_tiles(const char* isa) {
  for (size_t tile : {size_t(2), size_t(4)}) {
    AIO_CHECK(aio::winograd_tile_supported(tile));
    double worst = 0;
    test_winograd(tile, &worst);
    std::printf("  %s: Winograd F(%zux%zu, 3x3) max |err| / max |ref| = %.2g\n", isa, tile, tile,
                worst);
    AIO_CHECK(worst <= (tile == 4 ? kWinogradF4RelTol : kRelTol));
  }
  AIO_CHECK(!aio::winograd_tile_supported(3) && !aio::winograd_tile_supported(0));
}

}  // namespace

int main() {
  aio_test::for_each_isa([](const char* isa) {
    test_im2col();
    test_gemm_conv();
    test_winograd_tiles(isa);
    test_conv_direct();
    test_conv3x3_rows();
    test_conv_cout_lanes();
    test_depthwise(isa);
    test_pools();
    test_max_pool_nan();
    test_global_avg_pool();
    test_add_act();
    std::printf("  %s: spatial kernels checked\n", isa);
  });
  return aio_test::finish("test_kernels_spatial");
}
