// Elementwise add + activation (residual joins that the conv epilogue could not absorb).
#include "kernels/kernels_internal.h"

namespace aio {

void add_act(const float* a, const float* b, float* y, size_t i0, size_t i1, Act act) {
  if (b) {
    for (size_t i = i0; i < i1; ++i) y[i] = detail::apply_act(a[i] + b[i], act);
  } else {
    for (size_t i = i0; i < i1; ++i) y[i] = detail::apply_act(a[i], act);
  }
}

}  // namespace aio
