// Concurrency contract of aio::Engine (docs/reliability.md, "Concurrency contract"): several
// threads call run() on one engine while the level changes every ~1 ms, (1) by a thread calling
// set_level() and (2) through the governor path: an AdaptiveEngine whose Monitor thread polls a
// source that changes clock on every read and calls Engine::set_level from its callback, while one
// more thread runs through AdaptiveEngine::run. Every result must equal, bit for bit, the output
// of the level the call reports it used (the level current when the call started): no torn state.
// Built and run under ThreadSanitizer by tools/sanitize.sh (no report allowed); AIO_CONCURRENCY_MS
// sets the length of each phase (default 300 ms).
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "check.h"
#include "dvfs/adaptive_engine.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A clock that alternates between the top and a quarter of it on every read: with a synthetic
// table the governor flips between level 0 and the last level on each ~1 ms poll.
class ToggleSource : public aio::dvfs::FrequencySource {
 public:
  std::string name() const override { return "toggle"; }
  std::string describe() const override { return "test: alternates 2000/500 MHz"; }
  aio::dvfs::Reading read() override {
    aio::dvfs::Reading r;
    r.cpu_mhz = (n_.fetch_add(1) & 1) ? 500.0 : 2000.0;
    return r;
  }
  double max_mhz() const override { return 2000.0; }
  bool emulated() const override { return true; }

 private:
  std::atomic<unsigned> n_{0};
};

struct Refs {
  std::vector<float> input;
  std::vector<std::vector<float>> out;     // per level, batch 1, with the thread pool
  std::vector<std::vector<float>> serial;  // per level, single-threaded
};

// Exact equality with the reference of `level`. A run that finds the pool busy runs
// single-threaded, which may split reductions differently, so either reference is accepted, but
// only the one level the call reported.
bool matches(const Refs& r, size_t level, const std::vector<float>& y) {
  if (level >= r.out.size()) return false;
  const size_t n = r.out[level].size();
  return std::memcmp(y.data(), r.out[level].data(), n * sizeof(float)) == 0 ||
         std::memcmp(y.data(), r.serial[level].data(), n * sizeof(float)) == 0;
}

}  // namespace

int main() {
  const fs::path model = fs::path(__FILE__).parent_path() / "../../allinone/data/demo.aio";
  if (!fs::exists(model)) {
    std::printf("test_concurrency: %s not found, skipped\n", model.string().c_str());
    return 0;
  }
  const char* ms_env = std::getenv("AIO_CONCURRENCY_MS");
  const auto phase = std::chrono::milliseconds(ms_env ? std::atoi(ms_env) : 300);

  aio::EngineOptions opts;
  opts.threads = 2;  // a pool: concurrent runs contend for it (the loser runs single-threaded)
  auto engine = aio::Engine::load_file(model.string(), opts);
  const size_t levels = engine->num_levels();
  AIO_CHECK(levels >= 2);
  const aio::Shape s = engine->input_shape();

  Refs refs;
  refs.input.resize(size_t(s.c) * s.h * s.w);
  for (size_t i = 0; i < refs.input.size(); ++i) refs.input[i] = float((i * 7919) % 255) / 255.f;
  size_t max_out = 0;
  {
    aio::EngineOptions one;
    one.threads = 1;
    auto serial = aio::Engine::load_file(model.string(), one);
    for (size_t k = 0; k < levels; ++k) {
      const aio::Shape o = engine->output_shape(k);
      refs.out.emplace_back(size_t(o.c) * o.h * o.w);
      refs.serial.emplace_back(refs.out.back().size());
      max_out = std::max(max_out, refs.out.back().size());
      engine->run_at(k, refs.input.data(), 1, refs.out.back().data());
      serial->run_at(k, refs.input.data(), 1, refs.serial.back().data());
    }
  }
  // Distinct levels must give distinct outputs, or the check below proves nothing.
  AIO_CHECK(refs.out[0].size() != refs.out[levels - 1].size() ||
            std::memcmp(refs.out[0].data(), refs.out[levels - 1].data(),
                        refs.out[0].size() * 4) != 0);

  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<long> runs{0};
  std::vector<std::atomic<long>> per_level(levels);
  for (auto& c : per_level) c = 0;

  auto runner = [&] {
    std::vector<float> y(max_out);
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t k = engine->run(refs.input.data(), 1, y.data());
      if (!matches(refs, k, y)) ++bad;
      if (k < levels) ++per_level[k];
      ++runs;
    }
  };

  // Phase 1: set_level() from a thread every ~1 ms, cycling through every level.
  {
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i) ts.emplace_back(runner);
    std::thread switcher([&] {
      size_t k = 0;
      const auto end = Clock::now() + phase;
      while (Clock::now() < end) {
        engine->set_level(k = (k + 1) % levels);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    switcher.join();
    stop = true;
    for (auto& t : ts) t.join();
  }
  const long phase1 = runs.load();
  long used = 0;
  for (auto& c : per_level) used += c.load() > 0;
  std::printf("test_concurrency: set_level phase: %ld runs, %ld of %zu levels seen, %d mismatches\n",
              phase1, used, levels, bad.load());
  AIO_CHECK(phase1 > 0);
  AIO_CHECK(bad.load() == 0);

  // Phase 2: the governor path. Monitor polls every 1 ms and sets the engine's level from its
  // callback; 2 threads run the engine directly and one runs through AdaptiveEngine::run (which
  // feeds latencies back to the governor while the monitor updates it).
  stop = false;
  for (auto& c : per_level) c = 0;
  std::vector<double> table;
  for (size_t k = 0; k < levels; ++k) table.push_back(k == 0 ? 1.0 : table.back() * 0.5);
  ToggleSource src;
  aio::dvfs::GovernorConfig cfg;
  cfg.target_ms = 1.5;  // level 0 fits at 2000 MHz (1.0 ms); at 500 MHz only deeper levels do
  cfg.miss_z = 0.0;
  aio::dvfs::AdaptiveEngine adaptive(*engine, src, table, 2000.0, cfg);
  std::atomic<long> switches{0};
  adaptive.start(std::chrono::microseconds(1000),
                 [&](size_t, size_t, double) { switches.fetch_add(1, std::memory_order_relaxed); });
  {
    std::vector<std::thread> ts;
    for (int i = 0; i < 2; ++i) ts.emplace_back(runner);
    ts.emplace_back([&] {
      std::vector<float> y(max_out);
      while (!stop.load(std::memory_order_relaxed)) {
        const size_t k = adaptive.run(refs.input.data(), 1, y.data());
        if (!matches(refs, k, y)) ++bad;
        ++runs;
      }
    });
    std::this_thread::sleep_for(phase);
    stop = true;
    for (auto& t : ts) t.join();
  }
  adaptive.stop();
  used = 0;
  for (auto& c : per_level) used += c.load() > 0;
  std::printf("test_concurrency: governor phase: %ld runs, %ld level switches, %ld levels seen, "
              "%d mismatches\n", runs.load() - phase1, switches.load(), used, bad.load());
  AIO_CHECK(switches.load() >= 2);
  AIO_CHECK(bad.load() == 0);
  return aio_test::finish("test_concurrency");
}
