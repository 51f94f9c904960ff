// Depthwise convolution: the public entry (dispatch) and the portable reference version.
#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {
namespace {

size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

}  // namespace

PaddedPlane depthwise_padded_geom(const ConvGeom& g, size_t lanes) {
  const size_t outs = (g.w_out + lanes - 1) / lanes * lanes;
  PaddedPlane p;
  p.rows = max_sz(g.h_in + g.ph, (g.h_out - 1) * g.sh + (g.kh - 1) * g.dh + 1);
  // Stride 2 reads 2 * lanes floats per vector of outputs, one past what the stride-1 bound covers.
  p.cols = max_sz(g.w_in + g.pw, (outs - 1) * g.sw + (g.kw - 1) * g.dw + 1 + (g.sw == 2));
  p.cols = (p.cols + lanes - 1) / lanes * lanes;
  return p;
}

void depthwise_conv_scalar(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0,
                           size_t c1, const Epilogue& epi) {
  const size_t plane_in = g.h_in * g.w_in, plane_out = g.h_out * g.w_out, taps = g.kh * g.kw;
  for (size_t ch = c0; ch < c1; ++ch) {
    const float* xc = x + ch * plane_in;
    const float* wc = w + ch * taps;
    float* yc = y + ch * plane_out;
    const float* rc = epi.residual ? epi.residual + ch * plane_out : nullptr;
    const float s = epi.scale ? epi.scale[ch] : 1.f;
    const float bias = epi.bias ? epi.bias[ch] : 0.f;
    for (size_t oy = 0; oy < g.h_out; ++oy) {
      for (size_t ox = 0; ox < g.w_out; ++ox) {
        float acc = 0.f;
        for (size_t i = 0; i < g.kh; ++i) {
          // Signed arithmetic: with padding the tap can sit above or left of the image.
          const long iy = static_cast<long>(oy * g.sh + i * g.dh) - static_cast<long>(g.ph);
          if (iy < 0 || iy >= static_cast<long>(g.h_in)) continue;
          for (size_t j = 0; j < g.kw; ++j) {
            const long ix = static_cast<long>(ox * g.sw + j * g.dw) - static_cast<long>(g.pw);
            if (ix < 0 || ix >= static_cast<long>(g.w_in)) continue;
            acc += wc[i * g.kw + j] * xc[static_cast<size_t>(iy) * g.w_in + static_cast<size_t>(ix)];
          }
        }
        float v = acc * s + bias;
        if (rc) v += rc[oy * g.w_out + ox];
        yc[oy * g.w_out + ox] = apply_act(v, epi.act);
      }
    }
  }
}

}  // namespace detail

void depthwise_conv(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0,
                    size_t c1, const Epilogue& epi) {
  if (c0 >= c1 || g.h_out == 0 || g.w_out == 0) return;
  const detail::KernelTable& t = detail::table();
  if (t.depthwise5 && g.kh == 5 && g.kw == 5) return t.depthwise5(x, w, g, y, c0, c1, epi);
  t.depthwise(x, w, g, y, c0, c1, epi);
}

}  // namespace aio
