#include "dvfs/adaptive_engine.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace aio::dvfs {

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
double clock_mhz(const Reading& r) { return r.cpu_mhz > 0 ? r.cpu_mhz : r.gpu_mhz; }
}  // namespace

AdaptiveEngine::AdaptiveEngine(Engine& engine, FrequencySource& source,
                               std::vector<double> level_ms, double f_ref_mhz, GovernorConfig cfg,
                               std::vector<double> tail_ms)
    : engine_(engine),
      source_(source),
      governor_(std::move(level_ms), f_ref_mhz, cfg, std::move(tail_ms)) {
  if (governor_.num_levels() != engine_.num_levels())
    throw std::invalid_argument("AdaptiveEngine: latency table and engine level counts differ");
  last_mhz_ = clock_mhz(source_.read());
  engine_.set_level(governor_.update(last_mhz_));
}

AdaptiveEngine::~AdaptiveEngine() { stop(); }

void AdaptiveEngine::start(std::chrono::microseconds poll, Monitor::Callback on_change) {
  stop();
  monitor_ = std::make_unique<Monitor>(
      source_, governor_, poll, [this, cb = std::move(on_change)](size_t a, size_t b, double f) {
        engine_.set_level(b);
        if (cb) cb(a, b, f);
      });
}

void AdaptiveEngine::stop() { monitor_.reset(); }

size_t AdaptiveEngine::next_level() {
  if (monitor_) {
    const std::string err = monitor_->error();
    if (!err.empty()) throw Unavailable("frequency monitor stopped: " + err);
    last_mhz_ = monitor_->last_mhz();
  } else {
    last_mhz_ = clock_mhz(source_.read());
    engine_.set_level(governor_.update(last_mhz_));
  }
  return governor_.level();
}

void AdaptiveEngine::record(size_t level, double ms) {
  if (last_mhz_ > 0) governor_.observe(level, last_mhz_, ms);
  stats_.record(level, ms);
}

size_t AdaptiveEngine::run(const float* input, size_t n, float* output) {
  const size_t level = next_level();
  const auto t0 = Clock::now();
  engine_.run_at(level, input, n, output);
  record(level, ms_since(t0) / static_cast<double>(std::max<size_t>(n, 1)));
  return level;
}

std::vector<double> calibrate(Engine& engine, int runs, int warmup) {
  const Shape s = engine.input_shape();
  std::vector<float> in(static_cast<size_t>(s.c) * s.h * s.w, 0.0f);
  std::vector<double> medians;
  for (size_t k = 0; k < engine.num_levels(); ++k) {
    const Shape o = engine.output_shape(k);
    std::vector<float> out(static_cast<size_t>(o.c) * o.h * o.w);
    for (int i = 0; i < warmup; ++i) engine.run_at(k, in.data(), 1, out.data());
    std::vector<double> t;
    for (int i = 0; i < std::max(runs, 1); ++i) {
      const auto t0 = Clock::now();
      engine.run_at(k, in.data(), 1, out.data());
      t.push_back(ms_since(t0));
    }
    std::nth_element(t.begin(), t.begin() + static_cast<long>(t.size() / 2), t.end());
    medians.push_back(t[t.size() / 2]);
  }
  return medians;
}

}  // namespace aio::dvfs
