// Shared helpers of the kernel tests: deterministic data, double-precision activations, and a loop
// over every ISA this machine supports.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/platform.h"

namespace aio_test {

// Tolerance of every float-vs-double comparison: |got - ref| <= kRelTol * max|ref| over the output
// being checked (the error of float sums scales with the largest terms, not with each element).
constexpr double kRelTol = 1e-5;

inline std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(s >> 11) / 9007199254740992.0;
    x = static_cast<float>(lo + (hi - lo) * u);
  }
  return v;
}

inline double act_ref(double v, aio::Act act) {
  switch (act) {
    case aio::Act::None: return v;
    case aio::Act::Relu: return v > 0 ? v : 0;
    case aio::Act::Relu6: return std::fmin(std::fmax(v, 0.0), 6.0);
    case aio::Act::Silu: return v / (1.0 + std::exp(-v));
    case aio::Act::Hardswish: return v * std::fmin(std::fmax(v + 3.0, 0.0), 6.0) / 6.0;
    case aio::Act::Sigmoid: return 1.0 / (1.0 + std::exp(-v));
    case aio::Act::HardSigmoid: return std::fmin(std::fmax(v + 3.0, 0.0), 6.0) / 6.0;
  }
  return v;
}

constexpr aio::Act kActs[] = {aio::Act::None,      aio::Act::Relu,    aio::Act::Relu6,
                              aio::Act::Silu,      aio::Act::Hardswish, aio::Act::Sigmoid,
                              aio::Act::HardSigmoid};
// Each activation in turn, by a running index.
inline aio::Act act_at(size_t i) { return kActs[i % std::size(kActs)]; }

// Runs body() once per ISA available here, with the dispatch table switched to it.
template <class F>
void for_each_isa(F body) {
  for (const char* isa : {"scalar", "avx2", "avx512", "neon"}) {
    if (!aio::isa_supported(isa)) {
      std::printf("  (%s not supported here, skipped)\n", isa);
      continue;
    }
    aio::force_isa_for_tests(isa);
    AIO_CHECK(std::string(aio::isa_name()) == isa);
    body(isa);
  }
  aio::force_isa_for_tests(nullptr);
}

}  // namespace aio_test
