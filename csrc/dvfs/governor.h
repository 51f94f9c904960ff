// The governor: picks the least-pruned level predicted to meet a latency target at the current
// clock. Independent of where the clock comes from (sources) and of the engine (it sees only a
// per-level latency table and measured latencies), so a device app can drive it directly.
//
// Base prediction (the median of level k at clock f): t_k(f) = table_k · (α·f_ref/f + 1 − α).
// A level is chosen when its predicted TAIL fits: t_k(f) · tail_k · c <= target, where tail_k is
// the level's calibrated p99/median (its own jitter: short levels jitter more) and c a learned
// correction: the guard_quantile-quantile of log(measured / (t_k(f)·tail_k)) over the last
// guard_window runs, shrunk towards 0 by a dead band. In steady conditions c stays 1 and the
// choice is exactly the calibrated-p99 oracle's (a function of the clock alone: no switching on
// noise); when the host gets slower or noisier than at calibration, c grows within a few tail
// runs, and it returns once those runs have left the window.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

namespace aio::dvfs {

struct GovernorConfig {
  double target_ms = 0.0;      // <= 0: default, 1.05 × level 0's latency at f_ref
  double alpha = 0.85;         // compute-bound share in the frequency model
  // Hysteresis: drop to a more-pruned level as soon as the current one is predicted to miss, but
  // return to a less-pruned one only when it is predicted under target·(1 − up_margin). 0 by
  // default: the learned correction moves only on evidence (dead band below), so the choice is a
  // function of the clock and a band only delays the climb (on a clock that steps every sample,
  // 0.01 cost up to 6 % of the oracle's FLOPs in benchmarks/dvfs_stability.py --simulate).
  double up_margin = 0.0;
  // Weight of each new sample in the EWMAs behind feedback() and spread(): telemetry (how far the
  // measured median is from the table, and how much it jitters); the choice does not use them.
  double ewma_weight = 0.1;
  // Tail prior for levels without a calibrated p99 (Governor constructed without tail_ms):
  // tail_k = 1 + miss_z·initial_spread, i.e. a Gaussian quantile of a relative spread σ. A
  // calibration's p90/median − 1, divided by 1.28, is a good σ; 0.02 is typical of a quiet machine.
  // miss_z 2.33 is the Gaussian 99th percentile. Both 0: no prior guard at all.
  double miss_z = 2.33;
  double spread_max = 0.5;          // cap on the telemetry σ, so a burst cannot run it away
  double initial_spread = 0.02;
  // Clamp on the learned correction c. feedback_min 1: the correction only ever makes the choice
  // more cautious than the calibrated p99s; it never runs a bigger level than the p99 oracle.
  // Learning optimism (c < 1) on a host quieter than at calibration bought FLOPs above the
  // oracle's but moved c around 1 on noise: more switches and a higher CV (demo model on
  // rpi4_thermal_throttle: 20 switches against the oracle's 3, CV 0.566 against 0.254;
  // --simulate with a heavy tail: CV up to +0.015 over the oracle, against +0.004 with 1). An app
  // whose calibration was taken under load can set 0.5 to win the FLOPs back, or recalibrate.
  double feedback_min = 1.0, feedback_max = 4.0;
  // Learned correction: c = exp(q), q the guard_quantile-quantile of the last guard_window
  // values of log(measured / predicted tail), used once guard_window/4 are in. Quantile rather
  // than mean: real latency noise on a CPU is heavy-tailed and bursty (lost time slices,
  // interrupts, another process's compile), and the tail is what misses deadlines. 0 = no learning
  // (the prior alone). A 512-run window: 128 flapped between adjacent levels in the simulated
  // benchmark (the 99th percentile of 128 samples is the second-largest one).
  double guard_quantile = 0.99;
  size_t guard_window = 512;
  // Dead band on q: |q| <= guard_deadband counts as 0, larger values are shrunk by it. Without it
  // the estimate's own noise (±1-2 % for 512 samples) moves a level that sits near the target in
  // and out, which costs CV and FLOPs; with it, a calibration that still holds is trusted as is.
  double guard_deadband = 0.015;
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
  // tail_ms (optional, same length): each level's calibrated tail (p99) at f_ref_mhz, from the
  // same calibration; without it every level gets the prior 1 + miss_z·initial_spread.
  // Throws std::invalid_argument on an empty table, non-positive entries, a tail table of another
  // length or with entries below the median, or a non-positive f_ref.
  Governor(std::vector<double> level_ms, double f_ref_mhz, GovernorConfig cfg = {},
           std::vector<double> tail_ms = {});
  // From a measured frequency x level table: f_ref is its highest clock and table_ms() that
  // clock's row (so the default target is 1.05 x level 0 at the top measured clock); tail_ms as
  // above, at that clock. Throws std::invalid_argument on an empty or ragged table, duplicate or
  // non-positive clocks.
  explicit Governor(MeasuredTable measured, GovernorConfig cfg = {},
                    std::vector<double> tail_ms = {});

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
  // Level's median latency at f before correction: the measured table where it covers f, else
  // the α model.
  double base_ms(size_t level, double f_mhz) const;
  // Predicted median latency of level at f, times the learned correction (or without: raw model).
  double predict_ms(size_t level, double f_mhz, bool with_feedback = true) const;
  // Predicted tail (p99) latency of level at f: predict_ms · tail_k (the choice compares this).
  double predict_tail_ms(size_t level, double f_mhz) const;
  // Least-pruned level predicted to meet `target_ms` at f (no hysteresis, no state change); the
  // last level when none does. with_feedback: by predicted tails (the governor's choice);
  // without: by the raw median model (the median oracle).
  size_t best_level(double f_mhz, double target_ms, bool with_feedback = true) const;

  // Called on each new frequency sample: applies hysteresis, updates and returns the level.
  size_t update(double f_mhz);
  // Feeds back one measured latency of `level` run at clock f.
  void observe(size_t level, double f_mhz, double measured_ms);

  size_t level() const;
  void set_level(size_t level);  // e.g. to start somewhere specific; throws when out of range
  double feedback() const;    // telemetry: EWMA of measured / raw predicted median
  double spread() const;      // telemetry: σ, relative spread of measured around feedback()
  double correction() const;  // c: the learned factor on predictions (1 = calibration holds)
  const std::vector<double>& tail_ratio() const { return tail_; }  // tail_k (>= 1) per level
  void reset_feedback();  // forgets what observe() learned (window, telemetry)
  size_t switches() const;

 private:
  struct Sorted {  // a measured table already checked and sorted by clock
    MeasuredTable table;
  };
  Governor(Sorted sorted, GovernorConfig cfg, std::vector<double> tail_ms);

  // corr: the learned correction (correction_locked(), or 1 without feedback).
  size_t best_level_locked(double f_mhz, double target_ms, bool with_feedback, double corr) const;
  // Base prediction: the raw model (with_feedback = false) or times correction `corr`.
  double predict_locked(size_t level, double f_mhz, bool with_feedback, double corr = 1.0) const;
  double correction_locked() const;

  std::vector<double> table_;
  std::vector<double> tail_;  // tail_k / table_k per level (>= 1)
  double f_ref_;
  MeasuredTable measured_;  // immutable after construction: read without the lock
  GovernorConfig cfg_;
  mutable std::mutex mu_;  // update() runs on a monitor thread, observe() on inference threads
  double target_ = 0.0;
  double feedback_ = 1.0;
  double spread2_ = 0.0;  // EWMA of squared relative deviation (telemetry)
  std::vector<double> devs_;  // ring buffer of log(measured / predicted tail)
  size_t dev_next_ = 0;
  mutable std::vector<double> scratch_;
  size_t level_ = 0;
  size_t switches_ = 0;
};

}  // namespace aio::dvfs
