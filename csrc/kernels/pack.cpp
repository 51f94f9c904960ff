// Packing of the weight matrix A into K-major row panels (see PackedA in kernels.h).
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/kernels_internal.h"

namespace aio {

void PackedA::Free::operator()(float* p) const { std::free(p); }

// Layout (R = panel_rows): panel p (rows Rp..Rp+R-1) holds, for k = 0..K-1, the R values
// A[Rp + r][k]; rows past M are zero. Panel stride is K * R floats, so a level (rows < m, cols < k)
// is the first panels and, inside each, the first k * R floats: read in place with the full
// model's panel stride.
PackedA PackedA::pack(const float* a, size_t M, size_t K, size_t lda, size_t panel_rows) {
  const size_t R = panel_rows;
  PackedA out;
  out.m_ = M;
  out.k_ = K;
  out.panel_rows_ = panel_rows;
  const size_t panels = (M + R - 1) / R;
  const size_t n = panels * K * R;
  if (n == 0) return out;
  // 64-byte alignment keeps each k's 12 floats within at most two cache lines, and puts each k's
  // 32 floats of a conv_cout_lanes strip on two whole lines (aligned vector loads).
  const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  out.data_.reset(p);
  for (size_t pi = 0; pi < panels; ++pi) {
    float* dst = p + pi * K * R;
    for (size_t k = 0; k < K; ++k) {
      for (size_t r = 0; r < R; ++r) {
        const size_t row = pi * R + r;
        dst[k * R + r] = row < M ? a[row * lda + k] : 0.f;
      }
    }
  }
  return out;
}

size_t PackedA::bytes() const {
  return (m_ + panel_rows_ - 1) / panel_rows_ * panel_stride() * sizeof(float);
}

}  // namespace aio
