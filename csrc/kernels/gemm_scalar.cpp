// Portable GEMM micro-kernel: the reference every vector kernel is tested against, and the path
// for CPUs without AVX2.
#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {
namespace {

constexpr size_t kNR = 8;

void aio_f32_gemm_ukernel_12x8__scalar(size_t mr, size_t nc, size_t kc, const float* a,
                                       const float* b, size_t ldb, float* c, size_t ldc,
                                       bool accumulate,
                                       const TileEpilogue* epi) {
  for (size_t r = 0; r < mr; ++r) {
    float acc[kNR] = {};
    // Same order as the vector kernels: one k after the other, one partial sum per element.
    for (size_t k = 0; k < kc; ++k) {
      const float av = a[k * kMR + r];
      for (size_t j = 0; j < kNR; ++j) acc[j] += av * b[k * ldb + j];
    }
    float* crow = c + r * ldc;
    for (size_t j = 0; j < nc; ++j) {
      float v = acc[j];
      if (accumulate) v += crow[j];
      if (epi) {
        if (epi->scale) v *= epi->scale[r];
        if (epi->bias) v += epi->bias[r];
        if (epi->residual) v += epi->residual[r * ldc + j];
        v = apply_act(v, epi->act);
      }
      crow[j] = v;
    }
  }
}

void aio_f32_packb_8__scalar(const float* b, size_t ldb, size_t kc, size_t nb, float* dst) {
  for (size_t j0 = 0; j0 < nb; j0 += kNR) {
    const size_t w = nb - j0 < kNR ? nb - j0 : kNR;
    for (size_t k = 0; k < kc; ++k) {
      for (size_t j = 0; j < w; ++j) dst[j] = b[k * ldb + j0 + j];
      for (size_t j = w; j < kNR; ++j) dst[j] = 0.f;
      dst += kNR;
    }
  }
}

void aio_f32_gemv_ukernel_12__scalar(size_t mr, size_t K, const float* a, const float* b,
                                     size_t ldb, float* c, size_t ldc, const TileEpilogue* epi) {
  float acc[kMR] = {};
  for (size_t k = 0; k < K; ++k)
    for (size_t r = 0; r < mr; ++r) acc[r] += a[k * kMR + r] * b[k * ldb];
  gemv_epilogue(mr, acc, c, ldc, epi);
}

}  // namespace

void fill_table_scalar(KernelTable& t) {
  t.isa = "scalar";
  t.gemm_name = "aio_f32_gemm_ukernel_12x8__scalar";
  t.gemm_nr = kNR;
  t.gemm = aio_f32_gemm_ukernel_12x8__scalar;
  t.pack_b = aio_f32_packb_8__scalar;
  t.pack_conv_b = pack_conv_b_portable;
  t.gemv = aio_f32_gemv_ukernel_12__scalar;
  t.depthwise_name = "aio_f32_dwconv__scalar";
  t.depthwise = depthwise_conv_scalar;
  t.max_pool = max_pool_portable;
  t.add_act = add_act_portable;
  t.scale_channels = scale_channels_portable;
  fill_table_peak_scalar(t);
  fill_table_winograd_scalar(t);
}

}  // namespace detail
}  // namespace aio
