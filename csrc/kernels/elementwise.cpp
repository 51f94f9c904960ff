// Elementwise add + activation (residual joins that the conv epilogue could not absorb), and the
// per-channel gate of squeeze-excite blocks.
#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {

void add_act_portable(const float* a, const float* b, float* y, size_t i0, size_t i1, Act act) {
  if (b) {
    for (size_t i = i0; i < i1; ++i) y[i] = apply_act(a[i] + b[i], act);
  } else {
    for (size_t i = i0; i < i1; ++i) y[i] = apply_act(a[i], act);
  }
}

void scale_channels_portable(const float* x, const float* gate, float* y, size_t hw, size_t c0,
                             size_t c1, Act act) {
  for (size_t c = c0; c < c1; ++c) {
    const float g = gate[c];
    const float* xc = x + c * hw;
    float* yc = y + c * hw;
    for (size_t i = 0; i < hw; ++i) yc[i] = apply_act(xc[i] * g, act);
  }
}

}  // namespace detail

void scale_channels(const float* x, const float* gate, float* y, size_t hw, size_t c0, size_t c1,
                    Act act) {
  if (c0 < c1 && hw > 0) detail::table().scale_channels(x, gate, y, hw, c0, c1, act);
}

void add_act(const float* a, const float* b, float* y, size_t i0, size_t i1, Act act) {
  if (i0 < i1) detail::table().add_act(a, b, y, i0, i1, act);
}

}  // namespace aio
