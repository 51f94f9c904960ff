// Packing of the weight matrix A into K-major row panels (see PackedA in kernels.h).
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/kernels_internal.h"

namespace aio {

void PackedA::Free::operator()(float* p) const { std::free(p); }

// Layout: panel p (rows 12p..12p+11) holds, for k = 0..K-1, the 12 values A[12p + r][k]; rows past
// M are zero. Panel stride is K * 12 floats, so a level (rows < m, cols < k) is the first panels
// and, inside each, the first k * 12 floats: read in place with the full model's panel stride.
PackedA PackedA::pack(const float* a, size_t M, size_t K, size_t lda) {
  using detail::kMR;
  PackedA out;
  out.m_ = M;
  out.k_ = K;
  const size_t panels = (M + kMR - 1) / kMR;
  const size_t n = panels * K * kMR;
  if (n == 0) return out;
  // 64-byte alignment keeps each k's 12 floats within at most two cache lines.
  const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  out.data_.reset(p);
  for (size_t pi = 0; pi < panels; ++pi) {
    float* dst = p + pi * K * kMR;
    for (size_t k = 0; k < K; ++k) {
      for (size_t r = 0; r < kMR; ++r) {
        const size_t row = pi * kMR + r;
        dst[k * kMR + r] = row < M ? a[row * lda + k] : 0.f;
      }
    }
  }
  return out;
}

size_t PackedA::bytes() const {
  return (m_ + detail::kMR - 1) / detail::kMR * k_ * detail::kMR * sizeof(float);
}

}  // namespace aio
