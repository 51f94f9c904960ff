#include "dvfs/stats.h"

#include <algorithm>
#include <cmath>

namespace aio::dvfs {

void LatencyStats::record(size_t level, double latency_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  ms_.push_back(latency_ms);
  level_.push_back(level);
}

void LatencyStats::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  ms_.clear();
  level_.clear();
}

namespace {
// Linear interpolation between order statistics (numpy's default), so C++ and Python agree.
double percentile(const std::vector<double>& sorted, double q) {
  double pos = q / 100.0 * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}
}  // namespace

StatsSummary LatencyStats::summary(double target_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  StatsSummary s;
  s.count = ms_.size();
  if (ms_.empty()) return s;
  std::vector<double> sorted = ms_;
  std::sort(sorted.begin(), sorted.end());
  s.p50_ms = percentile(sorted, 50);
  s.p90_ms = percentile(sorted, 90);
  s.p99_ms = percentile(sorted, 99);
  s.max_ms = sorted.back();
  double sum = 0, sum2 = 0, lv = 0;
  size_t miss = 0;
  for (size_t i = 0; i < ms_.size(); ++i) {
    sum += ms_[i];
    lv += static_cast<double>(level_[i]);
    miss += ms_[i] > target_ms;
    s.time_per_level_ms[level_[i]] += ms_[i];
    ++s.count_per_level[level_[i]];
    if (i > 0 && level_[i] != level_[i - 1]) ++s.switches;
  }
  const double n = static_cast<double>(ms_.size());
  s.mean_ms = sum / n;
  for (double v : ms_) sum2 += (v - s.mean_ms) * (v - s.mean_ms);
  s.cv = s.mean_ms > 0 ? std::sqrt(sum2 / n) / s.mean_ms : 0.0;
  s.miss_rate = static_cast<double>(miss) / n;
  s.mean_level = lv / n;
  return s;
}

}  // namespace aio::dvfs
