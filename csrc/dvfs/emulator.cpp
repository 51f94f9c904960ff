#include "dvfs/emulator.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace aio::dvfs {

Emulator::Emulator(double alpha, double f_max_mhz) : alpha_(alpha), f_max_(f_max_mhz) {
  if (!(alpha >= 0.0 && alpha <= 1.0))
    throw std::invalid_argument("Emulator: alpha must be in [0, 1]");
  if (!(f_max_mhz > 0.0)) throw std::invalid_argument("Emulator: f_max_mhz must be > 0");
}

double Emulator::slowdown(double f_mhz) const {
  if (!(f_mhz > 0.0)) throw std::invalid_argument("Emulator: frequency must be > 0");
  double f = std::min(f_mhz, f_max_);
  return alpha_ * f_max_ / f + 1.0 - alpha_;
}

double Emulator::pad(double elapsed_s, double f_mhz) const {
  double extra = (slowdown(f_mhz) - 1.0) * std::max(0.0, elapsed_s);
  return extra > 0 ? busy_wait(extra) : 0.0;
}

double busy_wait(double seconds) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const auto until = t0 + std::chrono::duration_cast<clock::duration>(
                              std::chrono::duration<double>(seconds));
  auto now = t0;
  while (now < until) now = clock::now();
  return std::chrono::duration<double>(now - t0).count();
}

}  // namespace aio::dvfs
