// cpp_app: a device app on the allinone C API (through the C++ wrapper allinone.hpp).
//
// Loads a .aio model, calibrates it, then replays a CPU-frequency trace through the governor with
// the frequency EMULATOR (this machine's clock does not move, so each run is busy-waited to the
// time it would take at the trace's clock). Prints, per slice of the trace, the clock, the levels
// the governor chose and the latency it got, next to what level 0 alone would have taken.
//
//   cpp_app model.aio trace.csv [--steps N] [--runs R] [--threads T] [--target MS]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "allinone/allinone.hpp"

namespace {

struct Args {
  std::string model, trace;
  int steps = 200;  // trace times sampled, evenly spaced
  int runs = 5;     // inferences per sampled time
  int threads = 1;
  double target_ms = 0;  // 0: 1.05 x level 0 at the trace's top clock
  int slices = 8;
};

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s model.aio trace.csv [--steps N] [--runs R] [--threads T] "
               "[--target MS] [--slices S]\n",
               argv0);
  return 2;
}

bool parse(int argc, char** argv, Args& a) {
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&](double& v) {
      if (i + 1 >= argc) return false;
      char* end = nullptr;
      v = std::strtod(argv[++i], &end);
      return end && *end == '\0';
    };
    double v = 0;
    if (k == "--steps" || k == "--runs" || k == "--threads" || k == "--target" || k == "--slices") {
      if (!next(v)) return false;
      if (k == "--steps") a.steps = static_cast<int>(v);
      if (k == "--runs") a.runs = static_cast<int>(v);
      if (k == "--threads") a.threads = static_cast<int>(v);
      if (k == "--target") a.target_ms = v;
      if (k == "--slices") a.slices = static_cast<int>(v);
    } else if (k.rfind("--", 0) == 0) {
      return false;
    } else {
      pos.push_back(k);
    }
  }
  if (pos.size() != 2 || a.steps < 1 || a.runs < 1 || a.slices < 1 || a.threads < 0) return false;
  a.model = pos[0];
  a.trace = pos[1];
  a.slices = std::min(a.slices, a.steps);
  return true;
}

int run(const Args& a) {
  allinone::Engine engine(a.model, a.threads);
  allinone::Source clock = allinone::Source::replay(a.trace);
  const uint32_t levels = engine.num_levels();
  std::printf("allinone %s (%s kernels) | model %s: %u levels, input %ux%ux%u, %d thread(s)\n",
              allinone::version().c_str(), allinone::isa().c_str(), engine.name().c_str(), levels,
              engine.input_shape().c, engine.input_shape().h, engine.input_shape().w,
              engine.threads());
  std::printf(
      "%s\nEMULATED: this machine's clock does not move; each run is busy-waited to the "
      "time it would take at the trace's clock\n",
      clock.description().c_str());

  clock.set_time(0.0);  // from now on the trace time is what we set, not the wall clock
  aio_adaptive_options o = aio_adaptive_options_default();
  o.emulate = 1;
  o.target_ms = a.target_ms;
  allinone::Adaptive adaptive(engine, clock, o);
  const std::vector<double> table = adaptive.table_ms(levels);
  std::printf("calibrated at full clock: level 0 %.3f ms ... level %u %.3f ms; target %.3f ms\n\n",
              table.front(), levels - 1, table.back(), adaptive.target_ms());

  std::vector<float> input(engine.input_size(), 0.5f), output;
  const double duration = clock.duration();
  std::printf("%13s %10s %11s %9s %9s %9s %8s %13s\n", "trace time s", "MHz", "levels", "p50 ms",
              "p90 ms", "max ms", "miss %", "lvl0 pred ms");
  uint64_t total = 0;
  double worst_miss = 0, sum_miss = 0;
  for (int slice = 0; slice < a.slices; ++slice) {
    const int s0 = slice * a.steps / a.slices, s1 = (slice + 1) * a.steps / a.slices;
    adaptive.reset_stats();
    double mhz_lo = 1e30, mhz_hi = 0, level0_sum = 0;
    uint32_t lv_lo = levels, lv_hi = 0;
    for (int step = s0; step < s1; ++step) {
      const double t = duration * step / a.steps;
      clock.set_time(t);
      const double mhz = clock.read().cpu_mhz;
      mhz_lo = std::min(mhz_lo, mhz);
      mhz_hi = std::max(mhz_hi, mhz);
      level0_sum += adaptive.predict_ms(0, mhz);
      for (int r = 0; r < a.runs; ++r) {
        const allinone::RunResult res = adaptive.run(input, output);
        lv_lo = std::min(lv_lo, res.level);
        lv_hi = std::max(lv_hi, res.level);
      }
    }
    const aio_stats st = adaptive.stats();
    total += st.count;
    worst_miss = std::max(worst_miss, st.miss_rate);
    sum_miss += st.miss_rate * static_cast<double>(st.count);
    char span[32], lv[32];
    std::snprintf(span, sizeof span, "%5.1f-%5.1f", duration * s0 / a.steps,
                  duration * s1 / a.steps);
    std::snprintf(lv, sizeof lv, "%u-%u", lv_lo, lv_hi);
    char mhz[32];
    std::snprintf(mhz, sizeof mhz, "%.0f-%.0f", mhz_lo, mhz_hi);
    std::printf("%13s %10s %11s %9.3f %9.3f %9.3f %8.1f %13.3f\n", span, mhz, lv, st.p50_ms,
                st.p90_ms, st.max_ms, 100.0 * st.miss_rate, level0_sum / (s1 - s0));
  }
  std::printf("\n%llu inferences; deadline misses %.1f %% overall, worst slice %.1f %%\n",
              static_cast<unsigned long long>(total),
              100.0 * sum_miss / std::max<uint64_t>(total, 1), 100.0 * worst_miss);
  std::printf(
      "(lvl0 pred: the governor's prediction for level 0, the unpruned model, at that clock)\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) return usage(argv[0]);
  try {
    return run(a);
  } catch (const allinone::Error& e) {
    std::fprintf(stderr, "cpp_app: %s\n", e.what());
    return 1;
  }
}
