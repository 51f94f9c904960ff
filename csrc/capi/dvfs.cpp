// C API: frequency sources (aio_source_t) and adaptive mode (aio_adaptive_t) over the dvfs
// classes. Adaptive mode composes Governor, Monitor, LatencyStats and Emulator itself rather than
// using dvfs::AdaptiveEngine, because under emulation the governor must observe the emulated
// (padded) latency, not the raw run time.
#include <chrono>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "capi/capi_internal.h"
#include "dvfs/adaptive_engine.h"
#include "dvfs/cpufreq.h"
#include "dvfs/devfreq.h"
#include "dvfs/emulator.h"
#include "dvfs/fixed.h"
#include "dvfs/governor.h"
#include "dvfs/monitor.h"
#include "dvfs/stats.h"
#include "dvfs/sysfs_util.h"

struct aio_adaptive {
  std::shared_ptr<aio::Engine> engine;
  std::shared_ptr<aio::capi::SharedSource> source;
  std::unique_ptr<aio::dvfs::Governor> governor;
  std::optional<aio::dvfs::Emulator> emulator;
  aio::dvfs::LatencyStats stats;
  aio_level_callback callback = nullptr;
  void* user_data = nullptr;
  std::unique_ptr<aio::dvfs::Monitor> monitor;  // last: stopped and joined first
};

namespace aio::capi {
namespace {

// The first published aio_adaptive_options ended after user_data; the quantile guard came later.
constexpr size_t kAdaptiveOptionsV1 = offsetof(aio_adaptive_options, guard_quantile);
constexpr size_t kStatsV1 = sizeof(aio_stats);

SharedSource& get(aio_source_t s) {
  if (!s || !s->source) bad_arg("source is NULL");
  return *s->source;
}

aio_adaptive& get(aio_adaptive_t a) {
  if (!a || !a->governor) bad_arg("adaptive is NULL");
  return *a;
}

aio_source_t wrap(std::unique_ptr<dvfs::FrequencySource> s) {
  auto h = std::make_unique<aio_source>();
  h->source = std::make_shared<SharedSource>(std::move(s));
  return h.release();  // owned by the caller until aio_source_free
}

double clock_mhz(const dvfs::Reading& r) { return r.cpu_mhz > 0 ? r.cpu_mhz : r.gpu_mhz; }

void check_positive(double v, const char* name) {
  if (!(v > 0)) bad_arg(std::string(name) + " must be > 0, got " + std::to_string(v));
}

}  // namespace
}  // namespace aio::capi

using aio::capi::bad_arg;
using aio::capi::guard;
using aio::capi::require;

extern "C" {

// ---- sources -----------------------------------------------------------------------------------

aio_status aio_source_init_fixed(double cpu_mhz, double max_mhz, aio_source_t* out) {
  if (out) *out = nullptr;
  return guard(__func__, [&] {
    require(out, "out");
    aio::capi::check_positive(cpu_mhz, "cpu_mhz");
    *out = aio::capi::wrap(
        std::make_unique<aio::dvfs::FixedSource>(cpu_mhz, 0.0, max_mhz > 0 ? max_mhz : 0.0));
  });
}

aio_status aio_source_init_replay(const char* csv_path, aio_source_t* out) {
  if (out) *out = nullptr;
  return guard(__func__, [&] {
    require(out, "out");
    require(csv_path, "csv_path");
    *out = aio::capi::wrap(std::make_unique<aio::dvfs::ReplaySource>(csv_path));
  });
}

aio_status aio_source_init_cpufreq(const char* sysfs_root, int32_t policy, aio_source_t* out) {
  if (out) *out = nullptr;
  return guard(__func__, [&] {
    require(out, "out");
    *out = aio::capi::wrap(
        std::make_unique<aio::dvfs::CpufreqSource>(sysfs_root ? sysfs_root : "/sys", policy));
  });
}

aio_status aio_source_init_cpufreq_for_cpus(const char* sysfs_root, const char* cpus,
                                            aio_source_t* out) {
  if (out) *out = nullptr;
  return guard(__func__, [&] {
    require(out, "out");
    require(cpus, "cpus");
    std::vector<int> list;
    try {
      list = aio::dvfs::sysfs::parse_cpu_list(cpus);
    } catch (const aio::dvfs::Unavailable& e) {
      bad_arg(std::string("cpus: ") + e.what());
    }
    if (list.empty()) bad_arg("cpus names no CPU");
    const std::string root = sysfs_root ? sysfs_root : "/sys";
    const int policy = aio::dvfs::cpufreq_policy_of(list, root);
    if (policy < 0)
      throw aio::dvfs::Unavailable(std::string("cpufreq: no policy under ") + root +
                                   " holds all of CPUs " + cpus);
    *out = aio::capi::wrap(std::make_unique<aio::dvfs::CpufreqSource>(root, policy));
  });
}

aio_status aio_source_init_devfreq(const char* sysfs_root, const char* device, aio_source_t* out) {
  if (out) *out = nullptr;
  return guard(__func__, [&] {
    require(out, "out");
    *out = aio::capi::wrap(std::make_unique<aio::dvfs::DevfreqSource>(
        sysfs_root ? sysfs_root : "/sys", device ? device : ""));
  });
}

void aio_source_free(aio_source_t source) { std::unique_ptr<aio_source> owned(source); }

aio_status aio_source_read(aio_source_t source, double* cpu_mhz, double* gpu_mhz) {
  return guard(__func__, [&] {
    const aio::dvfs::Reading r = aio::capi::get(source).read();
    if (cpu_mhz) *cpu_mhz = r.cpu_mhz;
    if (gpu_mhz) *gpu_mhz = r.gpu_mhz;
  });
}

aio_status aio_source_get_max_mhz(aio_source_t source, double* max_mhz) {
  return guard(__func__, [&] {
    require(max_mhz, "max_mhz");
    *max_mhz = aio::capi::get(source).max_mhz();
  });
}

aio_status aio_source_get_name(aio_source_t source, const char** name) {
  return guard(__func__, [&] {
    require(name, "name");
    *name = aio::capi::get(source).name_ref().c_str();
  });
}

aio_status aio_source_get_description(aio_source_t source, const char** text) {
  return guard(__func__, [&] {
    require(text, "text");
    *text = aio::capi::get(source).describe_ref().c_str();
  });
}

aio_status aio_source_is_emulated(aio_source_t source, int32_t* emulated) {
  return guard(__func__, [&] {
    require(emulated, "emulated");
    *emulated = aio::capi::get(source).emulated() ? 1 : 0;
  });
}

aio_status aio_source_set_time(aio_source_t source, double t_s) {
  return guard(__func__, [&] {
    aio::capi::SharedSource& s = aio::capi::get(source);
    if (!std::isfinite(t_s)) bad_arg("t_s must be finite");
    s.with_replay(__func__, [&](aio::dvfs::ReplaySource& r) { r.set_time(t_s); });
  });
}

aio_status aio_source_get_duration(aio_source_t source, double* seconds) {
  return guard(__func__, [&] {
    aio::capi::SharedSource& s = aio::capi::get(source);
    require(seconds, "seconds");
    s.with_replay(__func__, [&](aio::dvfs::ReplaySource& r) { *seconds = r.duration_s(); });
  });
}

aio_status aio_source_set_loop(aio_source_t source, int32_t loop) {
  return guard(__func__, [&] {
    aio::capi::get(source).with_replay(__func__,
                                       [&](aio::dvfs::ReplaySource& r) { r.set_loop(loop != 0); });
  });
}

// ---- adaptive ----------------------------------------------------------------------------------

aio_adaptive_options aio_adaptive_options_default(void) {
  const aio::dvfs::GovernorConfig g;
  aio_adaptive_options o{};
  o.struct_size = sizeof o;
  o.target_ms = 0.0;
  o.level_ms = nullptr;
  o.num_level_ms = 0;
  o.calibration_runs = 20;
  o.f_ref_mhz = 0.0;
  o.alpha = g.alpha;
  o.up_margin = g.up_margin;
  o.ewma_weight = g.ewma_weight;
  o.miss_z = g.miss_z;
  o.emulate = 0;
  o.poll_us = 0;
  o.on_level_change = nullptr;
  o.user_data = nullptr;
  o.guard_quantile = g.guard_quantile;
  o.guard_window = static_cast<uint32_t>(g.guard_window);
  o.table_freqs_mhz = nullptr;
  o.table_freq_ms = nullptr;
  o.num_table_freqs = 0;
  return o;
}

aio_status aio_adaptive_init(aio_engine_t engine, aio_source_t source,
                             const aio_adaptive_options* opts, aio_adaptive_t* out) {
  if (out) *out = nullptr;
  return guard(__func__, [&] {
    require(out, "out");
    if (!engine || !engine->engine) bad_arg("engine is NULL");
    aio::capi::get(source);
    const aio_adaptive_options o =
        aio::capi::read_options(opts, aio_adaptive_options_default(), aio::capi::kAdaptiveOptionsV1,
                                "aio_adaptive_options");

    auto a = std::make_unique<aio_adaptive>();
    a->engine = engine->engine;
    a->source = source->source;
    aio::Engine& e = *a->engine;

    std::vector<double> table;
    aio::dvfs::MeasuredTable measured;
    if (o.num_table_freqs > 0) {
      require(o.table_freqs_mhz, "aio_adaptive_options.table_freqs_mhz");
      require(o.table_freq_ms, "aio_adaptive_options.table_freq_ms");
      if (o.level_ms) bad_arg("aio_adaptive_options: give level_ms or a measured table, not both");
      const size_t n = e.num_levels();
      for (uint32_t i = 0; i < o.num_table_freqs; ++i) {
        measured.freqs_mhz.push_back(o.table_freqs_mhz[i]);
        measured.ms.emplace_back(o.table_freq_ms + i * n, o.table_freq_ms + (i + 1) * n);
      }
    } else if (o.table_freqs_mhz || o.table_freq_ms) {
      bad_arg("aio_adaptive_options: a measured table needs num_table_freqs > 0");
    } else if (o.level_ms) {
      if (o.num_level_ms != e.num_levels())
        bad_arg("aio_adaptive_options.num_level_ms " + std::to_string(o.num_level_ms) +
                " != the model's " + std::to_string(e.num_levels()) + " levels");
      table.assign(o.level_ms, o.level_ms + o.num_level_ms);
    } else {
      if (o.num_level_ms != 0)
        bad_arg("aio_adaptive_options.level_ms is NULL but num_level_ms > 0");
      table = aio::dvfs::calibrate(e, o.calibration_runs > 0 ? o.calibration_runs : 20);
      for (double& t : table) t = std::max(t, 1e-6);  // a timer tick of 0 is not a latency
    }
    const double f_max = a->source->max_mhz();
    const double f_ref = o.f_ref_mhz > 0 ? o.f_ref_mhz : f_max;
    aio::dvfs::GovernorConfig cfg;
    cfg.target_ms = o.target_ms;
    cfg.alpha = o.alpha;
    cfg.up_margin = o.up_margin;
    cfg.ewma_weight = o.ewma_weight;
    cfg.miss_z = o.miss_z;
    cfg.guard_quantile = o.guard_quantile;
    cfg.guard_window = o.guard_window;
    try {
      a->governor = measured.freqs_mhz.empty()
                        ? std::make_unique<aio::dvfs::Governor>(std::move(table), f_ref, cfg)
                        : std::make_unique<aio::dvfs::Governor>(std::move(measured), cfg);
    } catch (const std::invalid_argument& ex) {
      bad_arg(std::string("aio_adaptive_options: ") + ex.what());
    }
    if (o.emulate) a->emulator.emplace(o.alpha, f_max);
    a->callback = o.on_level_change;
    a->user_data = o.user_data;

    e.set_level(a->governor->update(aio::capi::clock_mhz(a->source->read())));
    if (o.poll_us > 0) {
      aio_adaptive* self = a.get();
      a->monitor = std::make_unique<aio::dvfs::Monitor>(
          *a->source, *a->governor, std::chrono::microseconds(o.poll_us),
          [self](size_t from, size_t to, double mhz) {
            self->engine->set_level(to);
            if (self->callback)
              self->callback(self->user_data, static_cast<uint32_t>(from),
                             static_cast<uint32_t>(to), mhz);
          });
    }
    *out = a.release();  // owned by the caller until aio_adaptive_free
  });
}

void aio_adaptive_free(aio_adaptive_t adaptive) { std::unique_ptr<aio_adaptive> owned(adaptive); }

aio_status aio_adaptive_run(aio_adaptive_t adaptive, uint32_t batch, const float* input,
                            uint64_t input_len, float* output, uint64_t output_len,
                            uint32_t* level_used, double* latency_ms) {
  return guard(__func__, [&] {
    aio_adaptive& a = aio::capi::get(adaptive);
    aio::Engine& e = *a.engine;
    double f = 0.0;
    if (a.monitor) {
      const std::string err = a.monitor->error();
      if (!err.empty()) throw aio::dvfs::Unavailable("frequency monitor stopped: " + err);
      f = a.monitor->last_mhz();
    }
    size_t level;
    if (!(f > 0)) {  // no monitor, or it has not sampled yet
      f = aio::capi::clock_mhz(a.source->read());
      level = a.governor->update(f);
      e.set_level(level);
    } else {
      level = a.governor->level();
    }
    aio::capi::check_buffers(e, level, batch, input, input_len, output, output_len);
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    e.run_at(level, input, batch, output);
    if (a.emulator && f > 0)
      a.emulator->pad(std::chrono::duration<double>(Clock::now() - t0).count(), f);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() /
                      static_cast<double>(batch);
    if (f > 0) a.governor->observe(level, f, ms);
    a.stats.record(level, ms);
    if (level_used) *level_used = static_cast<uint32_t>(level);
    if (latency_ms) *latency_ms = ms;
  });
}

aio_status aio_adaptive_get_level(aio_adaptive_t adaptive, uint32_t* level) {
  return guard(__func__, [&] {
    require(level, "level");
    *level = static_cast<uint32_t>(aio::capi::get(adaptive).governor->level());
  });
}

aio_status aio_adaptive_get_target(aio_adaptive_t adaptive, double* target_ms) {
  return guard(__func__, [&] {
    require(target_ms, "target_ms");
    *target_ms = aio::capi::get(adaptive).governor->target_ms();
  });
}

aio_status aio_adaptive_set_target(aio_adaptive_t adaptive, double target_ms) {
  return guard(__func__, [&] {
    if (std::isnan(target_ms)) bad_arg("target_ms is NaN");
    aio::capi::get(adaptive).governor->set_target_ms(target_ms);
  });
}

aio_status aio_adaptive_get_table(aio_adaptive_t adaptive, double* level_ms, uint32_t len) {
  return guard(__func__, [&] {
    const std::vector<double>& t = aio::capi::get(adaptive).governor->table_ms();
    if (len > 0) require(level_ms, "level_ms");
    for (size_t i = 0; i < t.size() && i < len; ++i) level_ms[i] = t[i];
  });
}

aio_status aio_adaptive_predict(aio_adaptive_t adaptive, uint32_t level, double mhz, double* ms) {
  return guard(__func__, [&] {
    const aio::dvfs::Governor& g = *aio::capi::get(adaptive).governor;
    require(ms, "ms");
    if (level >= g.num_levels())
      bad_arg("level " + std::to_string(level) + " out of range (the model has " +
              std::to_string(g.num_levels()) + " levels)");
    aio::capi::check_positive(mhz, "mhz");
    *ms = g.predict_ms(level, mhz);
  });
}

aio_status aio_adaptive_get_stats(aio_adaptive_t adaptive, aio_stats* stats) {
  return guard(__func__, [&] {
    aio_adaptive& a = aio::capi::get(adaptive);
    require(stats, "stats");
    const double target = a.governor->target_ms();
    const aio::dvfs::StatsSummary s = a.stats.summary(target);
    aio_stats v{};
    v.count = s.count;
    v.p50_ms = s.p50_ms;
    v.p90_ms = s.p90_ms;
    v.p99_ms = s.p99_ms;
    v.max_ms = s.max_ms;
    v.mean_ms = s.mean_ms;
    v.cv = s.cv;
    v.miss_rate = s.miss_rate;
    v.mean_level = s.mean_level;
    v.switches = s.switches;
    v.target_ms = target;
    v.feedback = a.governor->feedback();
    v.spread = a.governor->spread();
    aio::capi::write_struct(stats, v, aio::capi::kStatsV1, "aio_stats");
  });
}

aio_status aio_adaptive_get_level_stats(aio_adaptive_t adaptive, uint32_t level, uint64_t* count,
                                        double* total_ms) {
  return guard(__func__, [&] {
    aio_adaptive& a = aio::capi::get(adaptive);
    if (level >= a.governor->num_levels())
      bad_arg("level " + std::to_string(level) + " out of range (the model has " +
              std::to_string(a.governor->num_levels()) + " levels)");
    const aio::dvfs::StatsSummary s = a.stats.summary(a.governor->target_ms());
    const auto c = s.count_per_level.find(level);
    const auto t = s.time_per_level_ms.find(level);
    if (count) *count = c == s.count_per_level.end() ? 0 : c->second;
    if (total_ms) *total_ms = t == s.time_per_level_ms.end() ? 0.0 : t->second;
  });
}

aio_status aio_adaptive_reset_stats(aio_adaptive_t adaptive) {
  return guard(__func__, [&] { aio::capi::get(adaptive).stats.reset(); });
}

}  // extern "C"
