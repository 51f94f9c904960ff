// Frequency emulator: makes work done at this machine's (fixed) clock take as long as it would at
// a lower clock f, by busy-waiting after it. Model: t(f) = t(f_max)·(α·f_max/f + 1 − α), where α
// is the compute-bound share (memory time does not scale with the core clock).
//
// Busy-waiting, not sleeping: a sleep hands the core back and wakes late by scheduler slack, which
// would add noise the real slowdown does not have. Anything measured under emulation is EMULATED.
#pragma once

namespace aio::dvfs {

class Emulator {
 public:
  // Throws std::invalid_argument unless 0 <= alpha <= 1 and f_max_mhz > 0.
  Emulator(double alpha, double f_max_mhz);

  // t(f)/t(f_max) under the model; >= 1 for f <= f_max. f above f_max is clamped to f_max
  // (running faster than this machine cannot be emulated by waiting).
  double slowdown(double f_mhz) const;
  // Busy-waits (slowdown(f) − 1)·elapsed_s after work that took elapsed_s; returns the seconds
  // actually waited.
  double pad(double elapsed_s, double f_mhz) const;

  double alpha() const { return alpha_; }
  double f_max_mhz() const { return f_max_; }

 private:
  double alpha_, f_max_;
};

// Spins on the steady clock for `seconds`; returns the time actually spent.
double busy_wait(double seconds);

}  // namespace aio::dvfs
