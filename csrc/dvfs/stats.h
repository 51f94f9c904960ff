// Per-inference statistics for a device app: time and count per level, latency percentiles,
// deadline misses. Keeps every sample (8 bytes + level) so percentiles are exact; call reset()
// per reporting window.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

namespace aio::dvfs {

struct StatsSummary {
  size_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0, cv = 0;
  double miss_rate = 0;  // latency > target
  double mean_level = 0;
  size_t switches = 0;
  std::map<size_t, double> time_per_level_ms;
  std::map<size_t, size_t> count_per_level;
};

class LatencyStats {
 public:
  void record(size_t level, double latency_ms);
  StatsSummary summary(double target_ms) const;
  void reset();

 private:
  mutable std::mutex mu_;  // inference threads record, a reporting thread reads
  std::vector<double> ms_;
  std::vector<size_t> level_;
};

}  // namespace aio::dvfs
