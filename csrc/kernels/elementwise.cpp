// Elementwise add + activation (residual joins that the conv epilogue could not absorb).
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

}  // namespace detail

void add_act(const float* a, const float* b, float* y, size_t i0, size_t i1, Act act) {
  if (i0 < i1) detail::table().add_act(a, b, y, i0, i1, act);
}

}  // namespace aio
