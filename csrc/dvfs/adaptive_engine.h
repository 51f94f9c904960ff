// AdaptiveEngine for device apps (no Python): an aio::Engine whose level a Governor keeps on
// target while a Monitor thread polls a FrequencySource. The Python AdaptiveEngine
// (allinone/adaptive.py) is the same design over the same Governor.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "dvfs/governor.h"
#include "dvfs/monitor.h"
#include "dvfs/source.h"
#include "dvfs/stats.h"
#include "runtime/engine.h"

namespace aio::dvfs {

class AdaptiveEngine {
 public:
  // level_ms: the engine's calibrated per-level median latencies at f_ref_mhz (calibrate() makes
  // them); tail_ms: optional p99s from the same calibration (see Governor). engine and source
  // must outlive this object. Throws std::invalid_argument when the table and the engine disagree
  // on the number of levels.
  AdaptiveEngine(Engine& engine, FrequencySource& source, std::vector<double> level_ms,
                 double f_ref_mhz, GovernorConfig cfg = {}, std::vector<double> tail_ms = {});
  ~AdaptiveEngine();
  AdaptiveEngine(const AdaptiveEngine&) = delete;
  AdaptiveEngine& operator=(const AdaptiveEngine&) = delete;

  // Starts the background monitor (poll interval) with an optional level-change callback
  // (old, new, MHz; runs on the monitor thread). Without it, run() samples the clock itself.
  void start(std::chrono::microseconds poll, Monitor::Callback on_change = {});
  void stop();

  // Runs n images at the governor's level, feeds the measured latency back; returns the level.
  // Exactly next_level(), the engine's run_at, record(): the Python AdaptiveEngine has the same
  // three steps, and tests/test_governor.py replays one sequence through both.
  size_t run(const float* input, size_t n, float* output);
  // The level the next run uses: without a monitor, samples the clock and updates the governor
  // first; with one, the monitor's last choice. Throws Unavailable when the monitor stopped.
  size_t next_level();
  // Feeds back one measured per-image latency of `level`, run at the clock next_level() saw.
  void record(size_t level, double ms);
  double last_mhz() const { return last_mhz_; }  // the clock next_level() used

  Governor& governor() { return governor_; }
  const LatencyStats& stats() const { return stats_; }
  LatencyStats& stats() { return stats_; }

 private:
  Engine& engine_;
  FrequencySource& source_;
  Governor governor_;
  LatencyStats stats_;
  std::unique_ptr<Monitor> monitor_;
  double last_mhz_ = 0.0;
};

// Times each level with run_at (batch 1, zero input): warmup runs discarded, median of `runs`.
std::vector<double> calibrate(Engine& engine, int runs = 20, int warmup = 3);

}  // namespace aio::dvfs
