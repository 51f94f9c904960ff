// A replayed frequency trace: CSV with header `t_s,cpu_mhz[,gpu_mhz]`, t_s from 0 and increasing,
// each value held until the next row (as shared/traces/README.md defines).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "dvfs/source.h"

namespace aio::dvfs {

struct TracePoint {
  double t_s = 0.0, cpu_mhz = 0.0, gpu_mhz = 0.0;
};

// Parses trace text; throws Unavailable naming the line for any malformed row (wrong column
// count, non-numeric, non-positive clock, time not increasing). `origin` names the file in errors.
std::vector<TracePoint> parse_trace(const std::string& text, const std::string& origin = "trace");

class ReplaySource : public FrequencySource {
 public:
  // From a file. Throws Unavailable (missing file, bad rows).
  explicit ReplaySource(const std::string& path);
  ReplaySource(std::vector<TracePoint> points, std::string origin);

  std::string name() const override { return "replay"; }
  std::string describe() const override;
  // At the trace time the clock says: real elapsed time since construction/restart(), or the time
  // last given to set_time() once it has been called (emulated time, e.g. a benchmark's).
  Reading read() override { return at(now_s()); }
  double max_mhz() const override { return max_cpu_; }
  bool emulated() const override { return true; }

  // Value held at trace time t (before 0: the first row; past the end: the last row, or wrapped
  // when loop is set).
  Reading at(double t_s) const;
  // Thread-safe against read() (a monitor thread reads while the app drives the time).
  void set_time(double t_s);
  void restart();
  void set_loop(bool loop) { loop_ = loop; }
  double duration_s() const { return points_.back().t_s; }
  double max_gpu_mhz() const { return max_gpu_; }
  bool has_gpu() const { return max_gpu_ > 0; }
  const std::vector<TracePoint>& points() const { return points_; }

 private:
  double now_s() const;
  void find_limits();
  std::vector<TracePoint> points_;
  std::string origin_;
  double max_cpu_ = 0, max_gpu_ = 0;
  bool loop_ = false;
  mutable std::mutex clock_mu_;  // guards the three clock fields below
  bool manual_ = false;
  double manual_t_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace aio::dvfs
