// aio::dvfs::AdaptiveEngine over a real Engine: the level follows the clock of a FixedSource, runs
// are counted, calibrate() gives one positive latency per level. Uses the shipped demo model;
// passes with a note when the model file is absent (a source tree before the exporter ran).
#include <chrono>
#include <filesystem>
#include <memory>
#include <vector>

#include "check.h"
#include "dvfs/adaptive_engine.h"
#include "dvfs/fixed.h"

namespace fs = std::filesystem;
using namespace aio::dvfs;

int main() {
  const fs::path model = fs::path(__FILE__).parent_path() / "../../allinone/data/demo.aio";
  if (!fs::exists(model)) {
    std::printf("test_dvfs_adaptive: %s not found, skipped\n", model.string().c_str());
    return 0;
  }
  auto engine = aio::Engine::load_file(model.string());
  const size_t n = engine->num_levels();
  AIO_CHECK(n >= 2);

  std::vector<double> lat = calibrate(*engine, 3, 1);
  AIO_CHECK(lat.size() == n);
  for (double t : lat) AIO_CHECK(t > 0);

  // A synthetic table (each level 10 % faster) makes the expected choices exact.
  std::vector<double> table;
  for (size_t k = 0; k < n; ++k) table.push_back(k == 0 ? 1.0 : table.back() * 0.9);
  const aio::Shape s = engine->input_shape();
  std::vector<float> in(static_cast<size_t>(s.c) * s.h * s.w, 0.5f);
  const aio::Shape o = engine->output_shape(0);
  std::vector<float> out(static_cast<size_t>(o.c) * o.h * o.w);

  FixedSource top(2000, 0, 2000);
  AdaptiveEngine fast(*engine, top, table, 2000);
  AIO_CHECK(fast.run(in.data(), 1, out.data()) == 0);  // full clock: the full model
  AIO_CHECK(engine->level() == 0);

  FixedSource quarter(500, 0, 2000);  // slowdown 0.85·4 + 0.15 = 3.55: nothing fits
  AdaptiveEngine slow(*engine, quarter, table, 2000);
  AIO_CHECK(slow.run(in.data(), 1, out.data()) == n - 1);
  AIO_CHECK(engine->level() == n - 1);
  AIO_CHECK(slow.stats().summary(1e9).count == 1);

  // Monitor thread: started and stopped (RAII) without running; the level stays consistent.
  slow.start(std::chrono::milliseconds(1));
  slow.stop();
  AIO_CHECK(slow.governor().level() == n - 1);

  bool threw = false;
  try {
    AdaptiveEngine bad(*engine, top, {1.0}, 2000);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  AIO_CHECK(threw);
  return aio_test::finish("test_dvfs_adaptive");
}
