// Kernels of the format-2 operators (squeeze-excite gate, softmax, resize, depthwise 5x5) on
// every ISA this machine supports: each against a naive double-precision reference
// (|got - ref| <= 1e-5 * max|ref|, aio_test::kRelTol), and each ISA's output against the portable
// kernels' (run first, as "scalar") on the same data, at the same tolerance. Odd widths, planes
// smaller than a vector, channel sub-ranges, in-place calls, stride 2 and padding.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "check.h"
#include "test_kernels_util.h"

namespace {

using aio::ConvGeom;
using aio_test::kRelTol;

// The portable kernels' outputs, case by case, recorded on the scalar pass and compared on the
// others (the case order is the same on every pass).
struct Portable {
  std::vector<std::vector<float>> outs;
  size_t next = 0;
  bool recording = true;
  // Records y on the portable pass; afterwards checks y against the recorded output.
  void check(const std::vector<float>& y, const char* what) {
    if (recording) {
      outs.push_back(y);
      return;
    }
    AIO_CHECK(next < outs.size());
    if (next >= outs.size()) return;
    const std::vector<float>& p = outs[next++];
    AIO_CHECK(p.size() == y.size());
    float mx = 0.f;
    for (float v : p) mx = std::max(mx, std::fabs(v));
    size_t bad = 0;
    for (size_t i = 0; i < std::min(p.size(), y.size()); ++i) {
      const bool same_nan = std::isnan(p[i]) && std::isnan(y[i]);
      if (!same_nan && !(std::fabs(p[i] - y[i]) <= kRelTol * std::fmax(mx, 1e-6)) && bad++ < 3)
        std::printf("%s: vs portable, y[%zu] = %g, portable %g\n", what, i, y[i], p[i]);
    }
    AIO_CHECK(bad == 0);
  }
};
Portable g_portable;

// |y - ref| <= tol * max|ref| where ref is not NaN (entries outside the written range are
// exact sentinels: ref equal to them).
size_t count_bad(const std::vector<float>& y, const std::vector<double>& ref, const char* what) {
  double mx = 0;
  for (double v : ref) mx = std::max(mx, std::fabs(v));
  const double tol = kRelTol * std::fmax(mx, 1e-6);
  size_t bad = 0;
  for (size_t i = 0; i < y.size(); ++i)
    if (!(std::fabs(y[i] - ref[i]) <= tol) && bad++ < 3)
      std::printf("%s: y[%zu] = %g, ref %g\n", what, i, y[i], ref[i]);
  return bad;
}

void test_scale_channels() {
  int idx = 0;
  for (size_t hw : {1, 3, 4, 7, 16, 17, 49, 196, 203}) {
    const size_t C = 6;
    const auto x = aio_test::random_vec(C * hw, 71 + idx, -6.f, 6.f);
    const auto gate = aio_test::random_vec(C, 72 + idx, -1.5f, 1.5f);
    for (aio::Act act : aio_test::kActs) {
      ++idx;
      const size_t c0 = idx % 3 == 1 ? 1 : 0, c1 = idx % 3 == 2 ? C - 2 : C;
      const float sentinel = 777.f;
      std::vector<float> y(C * hw, sentinel);
      aio::scale_channels(x.data(), gate.data(), y.data(), hw, c0, c1, act);
      std::vector<double> ref(y.size(), sentinel);
      for (size_t c = c0; c < c1; ++c)
        for (size_t i = 0; i < hw; ++i)
          ref[c * hw + i] = aio_test::act_ref(static_cast<double>(x[c * hw + i]) * gate[c], act);
      char what[96];
      std::snprintf(what, sizeof what, "scale_channels hw %zu act %u", hw, unsigned(act));
      AIO_CHECK(count_bad(y, ref, what) == 0);
      g_portable.check(y, what);
      // In place.
      std::vector<float> z(x);
      aio::scale_channels(z.data(), gate.data(), z.data(), hw, 0, C, act);
      for (size_t i = 0; i < z.size(); ++i) y[i] = z[i];
      for (size_t c = 0; c < C; ++c)
        for (size_t i = 0; i < hw; ++i)
          ref[c * hw + i] = aio_test::act_ref(static_cast<double>(x[c * hw + i]) * gate[c], act);
      AIO_CHECK(count_bad(y, ref, what) == 0);
    }
  }
}

void test_softmax() {
  struct Case {
    size_t c, hw, p0, p1;
  };
  // One pixel (contiguous channels: classifier heads), odd channel counts, pixel counts across
  // the 4-lane vectors and the 256-pixel blocks, a pixel sub-range that starts mid-vector.
  const Case cases[] = {{1000, 1, 0, 1}, {10, 1, 0, 1},  {3, 1, 0, 1},      {1, 1, 0, 1},
                        {7, 1, 0, 1},    {5, 2, 0, 2},   {3, 5, 0, 5},      {19, 49, 0, 49},
                        {4, 300, 0, 300}, {2, 1030, 0, 1030}, {6, 37, 5, 30}, {1, 9, 0, 9},
                        {21, 64, 0, 64}};
  int idx = 0;
  for (const Case& cs : cases) {
    for (int in_place = 0; in_place < 2; ++in_place) {
      ++idx;
      // Wide range, so the max subtraction matters (exp(80) alone is close to overflow).
      const auto x = aio_test::random_vec(cs.c * cs.hw, 81 + idx, -40.f, 40.f);
      const float sentinel = 555.f;
      std::vector<float> y(x.size(), sentinel);
      if (in_place) y = x;
      aio::softmax_channels(in_place ? y.data() : x.data(), y.data(), cs.c, cs.hw, cs.p0, cs.p1);
      std::vector<double> ref(y.size());
      for (size_t i = 0; i < y.size(); ++i) ref[i] = in_place ? x[i] : sentinel;
      for (size_t p = cs.p0; p < cs.p1; ++p) {
        double mx = -INFINITY, sum = 0;
        // std::max, not fmax: GCC 12 (aarch64, -O3) crashed vectorising this strided fmax.
        for (size_t k = 0; k < cs.c; ++k) mx = std::max(mx, static_cast<double>(x[k * cs.hw + p]));
        for (size_t k = 0; k < cs.c; ++k) sum += std::exp(x[k * cs.hw + p] - mx);
        for (size_t k = 0; k < cs.c; ++k) ref[k * cs.hw + p] = std::exp(x[k * cs.hw + p] - mx) / sum;
      }
      // The sentinels and untouched inputs are exact; the probabilities are at most 1, so the
      // tolerance is against 1 where the sentinel would make it loose.
      double worst = 0;
      size_t changed_outside = 0;
      for (size_t i = 0; i < y.size(); ++i) {
        const size_t p = i % cs.hw;
        const double err = std::fabs(y[i] - ref[i]);
        if (p >= cs.p0 && p < cs.p1) {
          if (err > worst) worst = err;
        } else if (y[i] != static_cast<float>(ref[i])) {
          ++changed_outside;
        }
      }
      const bool exact_outside = changed_outside == 0;
      char what[96];
      std::snprintf(what, sizeof what, "softmax c %zu hw %zu [%zu, %zu)%s", cs.c, cs.hw, cs.p0,
                    cs.p1, in_place ? " in place" : "");
      if (worst > kRelTol || !exact_outside)
        std::printf("%s: max |err| %g, outside exact %d\n", what, worst, int(exact_outside));
      AIO_CHECK(worst <= kRelTol && exact_outside);
      g_portable.check(y, what);
    }
  }
}

// PyTorch's source coordinate of output index d (nearest: floor(d / s); bilinear: half-pixel
// centres, clamped at 0, as kernels.h states), in double.
void src_taps(size_t d, size_t s, size_t in, bool bilinear, size_t* i0, size_t* i1, double* w1) {
  if (!bilinear) {
    *i0 = *i1 = d / s;
    *w1 = 0;
    return;
  }
  const double src = std::max(0.0, (d + 0.5) / static_cast<double>(s) - 0.5);
  *i0 = std::min(static_cast<size_t>(src), in - 1);
  *i1 = std::min(*i0 + 1, in - 1);
  *w1 = src - static_cast<double>(*i0);
}

void test_resize() {
  struct Case {
    size_t h, w, sh, sw;
  };
  // Scales 2-4 (the vector phases), 1 and 5 (the portable gather), unequal; widths below,
  // at and past a vector's 4 plus the two edge columns; one row, one column.
  const Case cases[] = {{5, 7, 2, 2},  {7, 13, 2, 2}, {1, 1, 2, 2},  {2, 3, 2, 2},  {3, 6, 2, 2},
                        {4, 9, 3, 3},  {6, 11, 4, 4}, {3, 5, 2, 3},  {5, 4, 1, 2},  {1, 9, 2, 2},
                        {9, 1, 2, 2},  {4, 10, 5, 5}, {8, 8, 2, 1},  {13, 33, 2, 2}, {2, 2, 4, 4},
                        {3, 14, 3, 2}};
  int idx = 0;
  for (const Case& cs : cases) {
    for (int bilinear = 0; bilinear < 2; ++bilinear) {
      ++idx;
      const size_t C = 3, ho = cs.h * cs.sh, wo = cs.w * cs.sw;
      const aio::ResizePlan plan = aio::ResizePlan::make(cs.h, cs.w, cs.sh, cs.sw, bilinear);
      AIO_CHECK(plan.rows.size() == ho && plan.cols.size() == wo);
      const auto x = aio_test::random_vec(C * cs.h * cs.w, 91 + idx);
      const float sentinel = 333.f;
      std::vector<float> y(C * ho * wo, sentinel);
      const size_t c0 = idx % 3 == 1 ? 1 : 0, c1 = idx % 3 == 2 ? 2 : C;
      aio::resize(plan, x.data(), y.data(), c0, c1);
      std::vector<double> ref(y.size(), sentinel);
      for (size_t c = c0; c < c1; ++c)
        for (size_t oy = 0; oy < ho; ++oy)
          for (size_t ox = 0; ox < wo; ++ox) {
            size_t r0, r1, q0, q1;
            double rw, qw;
            src_taps(oy, cs.sh, cs.h, bilinear, &r0, &r1, &rw);
            src_taps(ox, cs.sw, cs.w, bilinear, &q0, &q1, &qw);
            const auto v = [&](size_t iy, size_t ix) {
              return static_cast<double>(x[(c * cs.h + iy) * cs.w + ix]);
            };
            const double top = v(r0, q0) * (1 - qw) + v(r0, q1) * qw;
            const double bot = v(r1, q0) * (1 - qw) + v(r1, q1) * qw;
            ref[(c * ho + oy) * wo + ox] = top * (1 - rw) + bot * rw;
          }
      char what[96];
      std::snprintf(what, sizeof what, "resize %zux%zu x(%zu, %zu) %s", cs.h, cs.w, cs.sh, cs.sw,
                    bilinear ? "bilinear" : "nearest");
      AIO_CHECK(count_bad(y, ref, what) == 0);
      if (!bilinear) {
        // Nearest moves values: exact.
        size_t moved = 0;
        for (size_t i = 0; i < y.size(); ++i) moved += y[i] != static_cast<float>(ref[i]);
        AIO_CHECK(moved == 0);
      }
      g_portable.check(y, what);
    }
  }
}

ConvGeom dw_geom(size_t c, size_t h, size_t w, size_t s, size_t p) {
  ConvGeom g;
  g.c_in = c;
  g.h_in = h;
  g.w_in = w;
  g.kh = g.kw = 5;
  g.sh = g.sw = s;
  g.ph = g.pw = p;
  g.h_out = (h + 2 * p - 5) / s + 1;
  g.w_out = (w + 2 * p - 5) / s + 1;
  return g;
}

// One output of a 5x5 depthwise convolution in double: the taps inside the image.
double dw5_ref(const std::vector<float>& x, const std::vector<float>& w,
                                         const ConvGeom& g, size_t c, size_t oy, size_t ox) {
  double acc = 0;
  for (size_t i = 0; i < 5; ++i) {
    const long iy = static_cast<long>(oy * g.sh + i) - static_cast<long>(g.ph);
    if (iy < 0 || iy >= static_cast<long>(g.h_in)) continue;
    for (size_t j = 0; j < 5; ++j) {
      const long ix = static_cast<long>(ox * g.sw + j) - static_cast<long>(g.pw);
      if (ix >= 0 && ix < static_cast<long>(g.w_in))
        acc += static_cast<double>(w[c * 25 + i * 5 + j]) *
               static_cast<double>(x[(c * g.h_in + size_t(iy)) * g.w_in + size_t(ix)]);
    }
  }
  return acc;
}

// Depthwise 5x5 (test_kernels_spatial covers a few shapes of every kernel size; these are the
// 5x5 vector path's edges): every remainder of the 4-row passes, widths that leave 1-3 lanes in
// the last vector, planes narrower than a vector, padding 0-3, stride 2 on odd and even sizes,
// EfficientNet's and MobileNetV3's 7 x 7, 14 x 14 and 28 x 28 maps.
void test_depthwise5() {
  struct Shape {
    size_t c, h, w, s, p;
  };
  const Shape shapes[] = {{3, 7, 7, 1, 2},   {2, 14, 14, 1, 2}, {2, 14, 14, 2, 2}, {2, 28, 28, 2, 2},
                          {2, 5, 5, 1, 2},   {2, 5, 5, 1, 0},   {2, 6, 9, 1, 0},   {3, 9, 10, 1, 1},
                          {2, 10, 11, 1, 2}, {2, 11, 13, 2, 2}, {2, 12, 17, 2, 1}, {2, 13, 6, 2, 3},
                          {2, 1, 1, 1, 2},   {2, 2, 3, 2, 2},   {1, 8, 33, 1, 2},  {1, 9, 34, 2, 2},
                          {2, 15, 7, 1, 3},  {2, 7, 3, 2, 2},   {4, 3, 21, 1, 2}};
  int idx = 0;
  for (const Shape& sh : shapes) {
    const ConvGeom g = dw_geom(sh.c, sh.h, sh.w, sh.s, sh.p);
    const size_t plane = g.h_out * g.w_out;
    const auto x = aio_test::random_vec(g.c_in * g.h_in * g.w_in, 101 + idx);
    const auto w = aio_test::random_vec(g.c_in * 25, 102 + idx);
    const auto scale = aio_test::random_vec(g.c_in, 103, 0.5f, 1.5f);
    const auto bias = aio_test::random_vec(g.c_in, 104);
    const auto res = aio_test::random_vec(g.c_in * plane, 105);
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
      std::vector<double> ref(y.size(), sentinel);
      for (size_t c = c0; c < c1; ++c)
        for (size_t oy = 0; oy < g.h_out; ++oy)
          for (size_t ox = 0; ox < g.w_out; ++ox) {
            double acc = dw5_ref(x, w, g, c, oy, ox);
            const size_t o = c * plane + oy * g.w_out + ox;
            if (with_sb) acc = acc * scale[c] + bias[c];
            if (with_res) acc += res[o];
            ref[o] = aio_test::act_ref(acc, act);
          }
      char what[112];
      std::snprintf(what, sizeof what, "depthwise5 c%zu %zux%zu s%zu p%zu act %u", g.c_in, g.h_in,
                    g.w_in, g.sh, g.ph, unsigned(act));
      AIO_CHECK(count_bad(y, ref, what) == 0);
      g_portable.check(y, what);
    }
  }
}

}  // namespace

int main() {
  aio_test::for_each_isa([](const char* isa) {
    g_portable.recording = std::string(isa) == "scalar";
    g_portable.next = 0;
    test_scale_channels();
    test_softmax();
    test_resize();
    test_depthwise5();
    if (!g_portable.recording) AIO_CHECK(g_portable.next == g_portable.outs.size());
    std::printf("  %s: format-2 operator kernels checked (%zu cases against the portable ones)\n",
                isa, g_portable.outs.size());
  });
  return aio_test::finish("test_kernels_ops");
}
