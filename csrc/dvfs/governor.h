// The governor: picks the least-pruned level predicted to meet a latency target at the current
// clock. Independent of where the clock comes from (sources) and of the engine (it sees only a
// per-level latency table and measured latencies), so a device app can drive it directly.
//
// Prediction: t_k(f) = table_k · (α·f_ref/f + 1 − α) · feedback, where table_k is level k's
// calibrated median at f_ref and feedback is an EWMA of measured/predicted that absorbs what the
// clock does not show (contention, thermal, memory effects, a wrong table).
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

namespace aio::dvfs {

struct GovernorConfig {
  double target_ms = 0.0;      // <= 0: default, 1.05 × level 0's latency at f_ref
  double alpha = 0.85;         // compute-bound share in the frequency model
  // Hysteresis: drop to a more-pruned level as soon as the current one is predicted to miss, but
  // return to a less-pruned one only when it is predicted under target·(1 − up_margin). Without
  // the band, noise in the feedback flips between two adjacent levels every few inferences. Small,
  // because the noise guard below already keeps the choice away from the target; 0.01 and
  // miss_z 1.5 passed every criterion of benchmarks/dvfs_stability.py at 1–2 % latency noise,
  // 0.03 cost up to 6 % of the oracle's FLOPs.
  double up_margin = 0.01;
  double ewma_weight = 0.1;    // weight of each new measured/predicted ratio
  // Noise guard: a level must fit with its latency spread, predicted·(1 + miss_z·σ) <= target, σ
  // being an EWMA of the relative deviation of measured latencies from the prediction. Meeting the
  // target only with the median misses about half the time at the chosen level. The chosen level
  // usually sits part of a level step under the target already, so z = 1.5 (not the Gaussian 2.33)
  // gave <= 1 % misses at 1–2 % noise in benchmarks/dvfs_stability.py --simulate while giving up
  // the fewest FLOPs. 0 turns the guard off.
  double miss_z = 1.5;
  double spread_max = 0.5;
  // σ assumed before any measurement (and after reset_feedback()); without a prior the first
  // inferences run unguarded, at the level that misses most. A calibration's p90/median − 1,
  // divided by 1.28, is a good value; 0.02 is typical of a quiet machine.
  double initial_spread = 0.02;     // cap on σ, so a burst of outliers cannot force the last level
  double feedback_min = 0.5, feedback_max = 4.0;  // a clamp so one outlier cannot run away
  // Quantile guard (the default; 0 = off, leaving the miss_z·σ guard above). A level must fit
  // with the guard_quantile-quantile q of the last guard_window relative deviations of measured
  // from predicted latency: predicted·(1 + max(q, 0)) <= target. Real latency noise on a CPU is
  // heavy-tailed and bursty (lost time slices, interrupts, a busy SMT sibling), so mean + z·σ
  // both over-guards (outliers inflate σ) and under-guards (the tail is longer than Gaussian); an
  // empirical quantile assumes no shape. Measured on this project's 2-vCPU VM (docs/dvfs.md):
  // MobileNetV2 on the Orin schedutil trace, misses 1.5 % -> 0.3 %; the simulated 1 % noise
  // criteria still all pass. Until guard_window/4 deviations are in, the σ guard is used.
  double guard_quantile = 0.99;
  size_t guard_window = 128;
};

// A latency table measured on the device at several clocks (`allinone sweep`): ms[i][k] is level
// k's median at freqs_mhz[i]. With it the governor's base prediction (before feedback) is the
// table itself, interpolated between measured clocks linearly in 1/f (exact when t = a/f + b,
// the α model's shape), and the α model only outside the measured range, anchored at the
// nearest measured clock. No α needs to be right inside the range: the device's own curve is.
struct MeasuredTable {
  std::vector<double> freqs_mhz;        // distinct, positive; any order (sorted on use)
  std::vector<std::vector<double>> ms;  // one row per frequency, one entry per level, > 0
};

class Governor {
 public:
  // level_ms: each level's median latency at f_ref_mhz, level 0 least pruned (must be positive).
  // Throws std::invalid_argument on an empty table, non-positive entries or f_ref.
  Governor(std::vector<double> level_ms, double f_ref_mhz, GovernorConfig cfg = {});
  // From a measured frequency x level table: f_ref is its highest clock and table_ms() that
  // clock's row (so the default target is 1.05 x level 0 at the top measured clock). Throws
  // std::invalid_argument on an empty or ragged table, duplicate or non-positive clocks.
  explicit Governor(MeasuredTable measured, GovernorConfig cfg = {});

  size_t num_levels() const { return table_.size(); }
  double f_ref_mhz() const { return f_ref_; }
  const std::vector<double>& table_ms() const { return table_; }
  const GovernorConfig& config() const { return cfg_; }
  double target_ms() const;
  void set_target_ms(double target_ms);  // <= 0 restores the default

  // t(f)/t(f_ref) under the model (f above f_ref allowed: faster than calibrated).
  double scale(double f_mhz) const;
  // The measured table, sorted by clock; empty freqs_mhz when built from one row.
  const MeasuredTable& measured() const { return measured_; }
  // Level's latency at f before feedback: the measured table where it covers f, else the α model.
  double base_ms(size_t level, double f_mhz) const;
  // Predicted (median) latency of level at f, with the current feedback (or without: raw model).
  double predict_ms(size_t level, double f_mhz, bool with_feedback = true) const;
  // Least-pruned level predicted to meet `target_ms` at f (no hysteresis, no state change);
  // the last level when none does. with_feedback also applies the noise guard.
  size_t best_level(double f_mhz, double target_ms, bool with_feedback = true) const;

  // Called on each new frequency sample: applies hysteresis, updates and returns the level.
  size_t update(double f_mhz);
  // Feeds back one measured latency of `level` run at clock f.
  void observe(size_t level, double f_mhz, double measured_ms);

  size_t level() const;
  void set_level(size_t level);  // e.g. to start somewhere specific; throws when out of range
  double feedback() const;
  double spread() const;  // σ: relative latency spread learned from observe()
  void reset_feedback();
  size_t switches() const;

 private:
  struct Sorted {  // a measured table already checked and sorted by clock
    MeasuredTable table;
  };
  Governor(Sorted sorted, GovernorConfig cfg);

  // guard: the noise guard's factor on predictions (guard_locked(), or 1 without feedback).
  size_t best_level_locked(double f_mhz, double target_ms, bool with_feedback, double guard) const;
  double predict_locked(size_t level, double f_mhz, bool with_feedback) const;
  double guard_locked() const;  // the factor (>= 1) on predictions from the noise guard

  std::vector<double> table_;
  double f_ref_;
  MeasuredTable measured_;  // immutable after construction: read without the lock
  GovernorConfig cfg_;
  mutable std::mutex mu_;  // update() runs on a monitor thread, observe() on inference threads
  double target_ = 0.0;
  double feedback_ = 1.0;
  double spread2_ = 0.0;  // EWMA of squared relative deviation
  std::vector<double> devs_;  // ring buffer of relative deviations (quantile guard)
  size_t dev_next_ = 0;
  mutable std::vector<double> scratch_;
  size_t level_ = 0;
  size_t switches_ = 0;
};

}  // namespace aio::dvfs
