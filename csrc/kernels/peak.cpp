// The FP32 multiply-add throughput of one core: the compute peak the kernels are measured against.
// Each ISA's file times its widest FMA on independent chains in registers (no memory traffic, more
// chains than FMA latency x ports, so only the FMA ports limit it). A BLAS SGEMM stays below this:
// on the project's machine OpenBLAS reaches 150 GFLOP/s where the FMA loop reaches 213.
#include <chrono>
#include <cmath>  // std::fmax

#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {

double time_fma_loop(double seconds, double flops_per_call, double (*call)(long)) {
  using clock = std::chrono::steady_clock;
  double sink = call(1000);  // warm-up: wake the vector units, settle the frequency
  long iters = 1000;
  double best = 0;
  const auto start = clock::now();
  // Several timed rounds, the best counts (a round cut by another process reads low).
  while (std::chrono::duration<double>(clock::now() - start).count() < seconds) {
    const auto t0 = clock::now();
    sink += call(iters);
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    if (s < 1e-3) {
      iters *= 2;
      continue;
    }
    best = std::fmax(best, flops_per_call * static_cast<double>(iters) / s / 1e9);
  }
  // The sum keeps the loop's result alive; it is finite and never this large.
  return sink == 1e300 ? 0.0 : best;
}

namespace {

// Eight chains of float multiply-adds written as the portable kernels write them (a * b + c: with
// no FMA in the baseline ISA, std::fma would be a slow library call). The compiler may vectorise
// the chains with the baseline's SSE, as it does the portable kernels.
double scalar_fma_loop(long iters) {
  float a[8] = {1e-3f, 2e-3f, 3e-3f, 4e-3f, 5e-3f, 6e-3f, 7e-3f, 8e-3f};
  for (long n = 0; n < iters; ++n)
    for (float& v : a) v = v * 0.999999f + 1e-7f;
  double s = 0;
  for (float v : a) s += v;
  return s;
}

double scalar_fma_peak(double seconds) { return time_fma_loop(seconds, 16.0, scalar_fma_loop); }

}  // namespace

void fill_table_peak_scalar(KernelTable& t) { t.fma_peak = scalar_fma_peak; }

}  // namespace detail

double fma_peak_gflops(double seconds) { return detail::table().fma_peak(seconds); }

}  // namespace aio
