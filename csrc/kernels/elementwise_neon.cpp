// NEON add + activation (residual joins the conv epilogue could not absorb; silu/hardswish are
// not memory-bound once scalar) and the FP32 FMA peak (see peak.cpp).
#include <arm_neon.h>

#include "kernels/kernels_internal.h"
#include "kernels/vec_neon.h"

namespace aio {
namespace detail {
namespace {

// y = act(a + b), 4 lanes at a time; the tail through the same vector code on a partial load.
void aio_f32_add_act__neon(const float* a, const float* b, float* y, size_t i0, size_t i1,
                           Act act) {
  size_t i = i0;
  for (; i + 4 <= i1; i += 4) {
    float32x4_t v = vld1q_f32(a + i);
    if (b) v = vaddq_f32(v, vld1q_f32(b + i));
    vst1q_f32(y + i, neon::act(v, act));
  }
  if (i < i1) {
    const size_t n = i1 - i;
    float32x4_t v = neon::load_partial(a + i, n);
    if (b) v = vaddq_f32(v, neon::load_partial(b + i, n));
    neon::store_partial(y + i, neon::act(v, act), n);
  }
}

constexpr int kChains = 12;  // > FMA latency (4 on Cortex-A72/A76) x pipes (2)

// FP32 FMA throughput (see peak.cpp): twelve independent q-register chains, 4 floats x 2 FLOPs.
double fma_loop(long iters) {
  float32x4_t a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = vdupq_n_f32(1e-3f * static_cast<float>(i + 1));
  const float32x4_t m = vdupq_n_f32(0.999999f), b = vdupq_n_f32(1e-7f);
  for (long n = 0; n < iters; ++n)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = vfmaq_f32(b, a[i], m);
  float32x4_t s = a[0];
  for (int i = 1; i < kChains; ++i) s = vaddq_f32(s, a[i]);
  return static_cast<double>(vaddvq_f32(s));
}

double fma_peak(double seconds) { return time_fma_loop(seconds, kChains * 4.0 * 2.0, fma_loop); }

}  // namespace

void fill_table_elementwise_neon(KernelTable& t) {
  t.add_act = aio_f32_add_act__neon;
  t.fma_peak = fma_peak;
}

}  // namespace detail
}  // namespace aio
