#include "dvfs/governor.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace aio::dvfs {

namespace {
constexpr double kDefaultHeadroom = 1.05;  // "as fast as the full model at full speed" + noise

// The measured table checked and sorted by clock (ascending).
MeasuredTable sorted_table(MeasuredTable t) {
  if (t.freqs_mhz.empty()) throw std::invalid_argument("Governor: empty measured table");
  if (t.ms.size() != t.freqs_mhz.size())
    throw std::invalid_argument("Governor: measured table needs one row per frequency");
  const size_t levels = t.ms.front().size();
  for (size_t i = 0; i < t.ms.size(); ++i) {
    if (!(t.freqs_mhz[i] > 0))
      throw std::invalid_argument("Governor: measured frequencies must be positive");
    if (t.ms[i].size() != levels || levels == 0)
      throw std::invalid_argument("Governor: measured rows must all have one entry per level");
  }
  std::vector<size_t> order(t.freqs_mhz.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return t.freqs_mhz[a] < t.freqs_mhz[b]; });
  MeasuredTable out;
  for (size_t i : order) {
    if (!out.freqs_mhz.empty() && out.freqs_mhz.back() == t.freqs_mhz[i])
      throw std::invalid_argument("Governor: measured frequencies must be distinct");
    out.freqs_mhz.push_back(t.freqs_mhz[i]);
    out.ms.push_back(std::move(t.ms[i]));
  }
  return out;
}
}  // namespace

Governor::Governor(MeasuredTable measured, GovernorConfig cfg, std::vector<double> tail_ms)
    : Governor(Sorted{sorted_table(std::move(measured))}, cfg, std::move(tail_ms)) {}

Governor::Governor(Sorted sorted, GovernorConfig cfg, std::vector<double> tail_ms)
    : Governor(sorted.table.ms.back(), sorted.table.freqs_mhz.back(), cfg, std::move(tail_ms)) {
  measured_ = std::move(sorted.table);
  for (const auto& row : measured_.ms)
    for (double t : row)
      if (!(t > 0)) throw std::invalid_argument("Governor: latencies must be positive");
}

Governor::Governor(std::vector<double> level_ms, double f_ref_mhz, GovernorConfig cfg,
                   std::vector<double> tail_ms)
    : table_(std::move(level_ms)), f_ref_(f_ref_mhz), cfg_(cfg) {
  if (table_.empty()) throw std::invalid_argument("Governor: empty latency table");
  for (double t : table_)
    if (!(t > 0)) throw std::invalid_argument("Governor: latencies must be positive");
  if (!(f_ref_ > 0)) throw std::invalid_argument("Governor: f_ref_mhz must be positive");
  if (!(cfg_.alpha >= 0 && cfg_.alpha <= 1))
    throw std::invalid_argument("Governor: alpha in [0,1]");
  if (!(cfg_.ewma_weight >= 0 && cfg_.ewma_weight <= 1))
    throw std::invalid_argument("Governor: ewma_weight in [0,1]");
  if (!(cfg_.miss_z >= 0 && cfg_.spread_max >= 0))
    throw std::invalid_argument("Governor: miss_z and spread_max must be >= 0");
  if (!(cfg_.up_margin >= 0 && cfg_.up_margin < 1))
    throw std::invalid_argument("Governor: up_margin in [0,1)");
  if (!(cfg_.initial_spread >= 0)) throw std::invalid_argument("Governor: initial_spread >= 0");
  if (!(cfg_.guard_quantile >= 0 && cfg_.guard_quantile < 1))
    throw std::invalid_argument("Governor: guard_quantile in [0,1)");
  if (cfg_.guard_quantile > 0 && cfg_.guard_window < 4)
    throw std::invalid_argument("Governor: guard_window must be >= 4");
  if (!(cfg_.guard_deadband >= 0)) throw std::invalid_argument("Governor: guard_deadband >= 0");
  if (!(cfg_.feedback_min > 0 && cfg_.feedback_min <= 1 && cfg_.feedback_max >= 1))
    throw std::invalid_argument("Governor: need 0 < feedback_min <= 1 <= feedback_max");
  if (tail_ms.empty()) {
    tail_.assign(table_.size(), 1.0 + cfg_.miss_z * cfg_.initial_spread);
  } else {
    if (tail_ms.size() != table_.size())
      throw std::invalid_argument("Governor: tail table and latency table differ in length");
    for (size_t k = 0; k < table_.size(); ++k) {
      // A tail below the median is a broken table (p99 < p50), not a fast level.
      if (!(tail_ms[k] >= table_[k]))
        throw std::invalid_argument("Governor: each tail latency must be >= its median");
      tail_.push_back(tail_ms[k] / table_[k]);
    }
  }
  devs_.reserve(cfg_.guard_window);
  scratch_.reserve(cfg_.guard_window);  // observe/choose stay allocation-free
  spread2_ = cfg_.initial_spread * cfg_.initial_spread;
  set_target_ms(cfg_.target_ms);
}

double Governor::target_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return target_;
}

void Governor::set_target_ms(double target_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  target_ = target_ms > 0 ? target_ms : kDefaultHeadroom * table_.front();
}

double Governor::scale(double f_mhz) const {
  if (!(f_mhz > 0)) throw std::invalid_argument("Governor: frequency must be positive");
  return cfg_.alpha * f_ref_ / f_mhz + 1.0 - cfg_.alpha;
}

double Governor::base_ms(size_t level, double f_mhz) const {
  if (level >= table_.size()) throw std::out_of_range("Governor: level out of range");
  const std::vector<double>& f = measured_.freqs_mhz;
  if (f.empty()) return table_[level] * scale(f_mhz);
  if (!(f_mhz > 0)) throw std::invalid_argument("Governor: frequency must be positive");
  // Outside the measured range: the α model from the nearest measured clock.
  const auto alpha_from = [&](size_t i) {
    return measured_.ms[i][level] * (cfg_.alpha * f[i] / f_mhz + 1.0 - cfg_.alpha);
  };
  if (f_mhz <= f.front()) return alpha_from(0);
  if (f_mhz >= f.back()) return alpha_from(f.size() - 1);
  const size_t hi = static_cast<size_t>(std::upper_bound(f.begin(), f.end(), f_mhz) - f.begin());
  const size_t lo = hi - 1;
  const double w = (1.0 / f_mhz - 1.0 / f[hi]) / (1.0 / f[lo] - 1.0 / f[hi]);
  return w * measured_.ms[lo][level] + (1.0 - w) * measured_.ms[hi][level];
}

double Governor::predict_locked(size_t level, double f_mhz, bool with_feedback,
                                double corr) const {
  return base_ms(level, f_mhz) * (with_feedback ? corr : 1.0);
}

double Governor::predict_ms(size_t level, double f_mhz, bool with_feedback) const {
  std::lock_guard<std::mutex> lock(mu_);
  return predict_locked(level, f_mhz, with_feedback, correction_locked());
}

double Governor::predict_tail_ms(size_t level, double f_mhz) const {
  std::lock_guard<std::mutex> lock(mu_);
  return predict_locked(level, f_mhz, true, correction_locked()) * tail_[level];
}

double Governor::correction_locked() const {
  if (!(cfg_.guard_quantile > 0) || devs_.size() < std::max<size_t>(cfg_.guard_window / 4, 4))
    return 1.0;
  scratch_.assign(devs_.begin(), devs_.end());
  const size_t n = scratch_.size();
  const double tau = cfg_.guard_quantile;
  // The quantile's ~95 % confidence interval in ranks: pos ± 2·sqrt(n·τ·(1 − τ)) (binomial).
  const double pos = tau * static_cast<double>(n - 1);
  const double half = 2.0 * std::sqrt(static_cast<double>(n) * tau * (1.0 - tau));
  const auto lo_rank = static_cast<size_t>(std::max(0.0, std::floor(pos - half)));
  const auto hi_rank = std::min(n - 1, static_cast<size_t>(std::ceil(pos + half)));
  // Order only from lo_rank up: for a high quantile that is a handful of values.
  std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(lo_rank),
                   scratch_.end());
  std::sort(scratch_.begin() + static_cast<std::ptrdiff_t>(lo_rank), scratch_.end());
  // Linear interpolation between order statistics (numpy's default percentile).
  const auto at = static_cast<size_t>(pos);
  double q = scratch_[at];
  if (at + 1 < n) q += (pos - static_cast<double>(at)) * (scratch_[at + 1] - q);
  // Dead band: the calibration is kept unless the window says otherwise with confidence. Its
  // half-width is the larger of guard_deadband and half the interval above, so a heavy tail (a
  // wide interval: the estimate jumps as single outliers enter and leave) does not move the
  // level on its own noise, while a real shift (every value moves) does.
  const double band = std::max(cfg_.guard_deadband, 0.5 * (scratch_[hi_rank] - scratch_[lo_rank]));
  // Below the calibration (bigger levels than the p99 oracle would run; only where feedback_min
  // < 1 allows it) takes twice the evidence: a miss costs more than a level's worth of FLOPs.
  q = q > band ? q - band : (q < -2.0 * band ? q + 2.0 * band : 0.0);
  return std::clamp(std::exp(q), cfg_.feedback_min, cfg_.feedback_max);
}

size_t Governor::best_level_locked(double f_mhz, double target_ms, bool with_feedback,
                                   double corr) const {
  // Levels are ordered least to most pruned, so the first that fits is the least pruned. A
  // calibrated table need not be strictly monotone (noise), hence a scan, not a bisection.
  for (size_t k = 0; k < table_.size(); ++k) {
    const double t = predict_locked(k, f_mhz, with_feedback, corr);
    if ((with_feedback ? t * tail_[k] : t) <= target_ms) return k;
  }
  return table_.size() - 1;
}

size_t Governor::best_level(double f_mhz, double target_ms, bool with_feedback) const {
  std::lock_guard<std::mutex> lock(mu_);
  return best_level_locked(f_mhz, target_ms, with_feedback,
                           with_feedback ? correction_locked() : 1.0);
}

size_t Governor::update(double f_mhz) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t next = level_;
  const double corr = correction_locked();  // once per update: it selects in its window
  size_t fits = best_level_locked(f_mhz, target_, true, corr);
  if (fits > level_) {
    next = fits;  // the current level is predicted to miss: prune more now
  } else if (fits < level_) {
    // Only climb as far as the band allows; stay if even one step up is inside the band.
    size_t comfortable = best_level_locked(f_mhz, target_ * (1.0 - cfg_.up_margin), true, corr);
    if (comfortable < level_) next = comfortable;
  }
  if (next != level_) ++switches_, level_ = next;
  return level_;
}

void Governor::observe(size_t level, double f_mhz, double measured_ms) {
  if (!(measured_ms > 0)) return;  // a failed or zero-time run says nothing about speed
  std::lock_guard<std::mutex> lock(mu_);
  const double raw = predict_locked(level, f_mhz, false);
  if (cfg_.guard_quantile > 0) {
    // Against the calibrated tail, not against the current correction: the window then holds
    // what the host does, whatever the governor believed at the time, and cannot feed on itself.
    const double dev = std::log(measured_ms / (raw * tail_[level]));
    if (devs_.size() < cfg_.guard_window) {
      devs_.push_back(dev);
    } else {
      devs_[dev_next_] = dev;
      dev_next_ = (dev_next_ + 1) % cfg_.guard_window;
    }
  }
  // Telemetry: the median-level ratio and its spread.
  const double w = cfg_.ewma_weight;
  const double ratio = measured_ms / raw;
  const double dev = std::clamp(ratio / feedback_ - 1.0, -cfg_.spread_max, cfg_.spread_max);
  spread2_ = std::min((1.0 - w) * spread2_ + w * dev * dev, cfg_.spread_max * cfg_.spread_max);
  feedback_ = (1.0 - w) * feedback_ + w * ratio;
}

size_t Governor::level() const {
  std::lock_guard<std::mutex> lock(mu_);
  return level_;
}

void Governor::set_level(size_t level) {
  std::lock_guard<std::mutex> lock(mu_);
  if (level >= table_.size()) throw std::out_of_range("Governor: level out of range");
  level_ = level;
}

double Governor::feedback() const {
  std::lock_guard<std::mutex> lock(mu_);
  return feedback_;
}

double Governor::spread() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::sqrt(spread2_);
}

double Governor::correction() const {
  std::lock_guard<std::mutex> lock(mu_);
  return correction_locked();
}

void Governor::reset_feedback() {
  std::lock_guard<std::mutex> lock(mu_);
  feedback_ = 1.0;
  spread2_ = cfg_.initial_spread * cfg_.initial_spread;
  devs_.clear();
  dev_next_ = 0;
}

size_t Governor::switches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return switches_;
}

}  // namespace aio::dvfs
