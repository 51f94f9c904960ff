// Header-only C++ wrapper over the allinone C API (allinone.h): RAII handles that free themselves
// and an allinone::Error exception carrying the status and the library's message. Needs C++11;
// it adds no symbol to the library, so the ABI stays the C one.
//
//   allinone::Engine engine("model.aio");
//   allinone::Source clock = allinone::Source::replay("trace.csv");
//   allinone::Adaptive adaptive(engine, clock);         // calibrates, then governs
//   uint32_t level = adaptive.run(input, output).level;
#ifndef ALLINONE_HPP_
#define ALLINONE_HPP_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "allinone/allinone.h"

namespace allinone {

class Error : public std::runtime_error {
 public:
  Error(aio_status status, const std::string& what) : std::runtime_error(what), status_(status) {}
  aio_status status() const { return status_; }

 private:
  aio_status status_;
};

// Throws Error when a C call failed.
inline void check(aio_status status) {
  if (status != AIO_STATUS_OK)
    throw Error(status, std::string(aio_status_name(status)) + ": " + aio_last_error());
}

inline std::string version() { return aio_get_version(); }
inline std::string isa() { return aio_get_isa(); }

struct LevelInfo {
  float keep_ratio;
  uint64_t flops, params;
  std::vector<uint32_t> widths;
  aio_shape output_shape;
};

namespace detail {
struct EngineFree {
  void operator()(aio_engine* p) const { aio_engine_free(p); }
};
struct SourceFree {
  void operator()(aio_source* p) const { aio_source_free(p); }
};
struct AdaptiveFree {
  void operator()(aio_adaptive* p) const { aio_adaptive_free(p); }
};
inline uint64_t volume(const aio_shape& s) { return uint64_t(s.c) * s.h * s.w; }
}  // namespace detail

class Engine {
  static aio_engine_options with_threads(int32_t threads) {
    aio_engine_options o = aio_engine_options_default();
    o.threads = threads;
    return o;
  }

 public:
  explicit Engine(const std::string& path, int32_t threads = 0)
      : Engine(path, with_threads(threads)) {}
  // Full options (resource limits): start from aio_engine_options_default().
  Engine(const std::string& path, const aio_engine_options& o) {
    aio_engine_t h = nullptr;
    check(aio_engine_init_file(path.c_str(), &o, &h));
    h_.reset(h);
  }
  static Engine from_memory(const void* data, size_t size, int32_t threads = 0) {
    return from_memory(data, size, with_threads(threads));
  }
  static Engine from_memory(const void* data, size_t size, const aio_engine_options& o) {
    aio_engine_t h = nullptr;
    check(aio_engine_init_memory(data, size, &o, &h));
    return Engine(h);
  }

  aio_engine_t get() const { return h_.get(); }

  std::string name() const {
    const char* s = nullptr;
    check(aio_engine_get_name(get(), &s));
    return s;
  }
  std::vector<std::string> labels() const {
    uint32_t n = 0;
    check(aio_engine_get_num_labels(get(), &n));
    std::vector<std::string> out;
    for (uint32_t i = 0; i < n; ++i) {
      const char* s = nullptr;
      check(aio_engine_get_label(get(), i, &s));
      out.push_back(s);
    }
    return out;
  }
  uint32_t num_levels() const {
    uint32_t n = 0;
    check(aio_engine_get_num_levels(get(), &n));
    return n;
  }
  LevelInfo level_info(uint32_t level) const {
    aio_level_info li;
    li.struct_size = sizeof li;
    check(aio_engine_get_level_info(get(), level, &li));
    LevelInfo out;
    out.keep_ratio = li.keep_ratio;
    out.flops = li.flops;
    out.params = li.params;
    out.widths.assign(li.widths, li.widths + li.num_widths);
    out.output_shape = li.output_shape;
    return out;
  }
  aio_shape input_shape() const {
    aio_shape s;
    check(aio_engine_get_input_shape(get(), &s));
    return s;
  }
  aio_shape output_shape(uint32_t level) const {
    aio_shape s;
    check(aio_engine_get_output_shape(get(), level, &s));
    return s;
  }
  uint64_t input_size() const { return detail::volume(input_shape()); }
  uint64_t output_size(uint32_t level) const { return detail::volume(output_shape(level)); }
  int32_t threads() const {
    int32_t t = 0;
    check(aio_engine_get_threads(get(), &t));
    return t;
  }
  uint64_t weight_bytes() const {
    uint64_t b = 0;
    check(aio_engine_get_weight_bytes(get(), &b));
    return b;
  }
  // CPUs the worker threads run on, read back after pinning (aio_engine_options.cpus).
  std::vector<int32_t> affinity() const {
    uint32_t n = 0;
    check(aio_engine_get_affinity(get(), nullptr, 0, &n));
    std::vector<int32_t> cpus(n);
    if (n) check(aio_engine_get_affinity(get(), cpus.data(), n, &n));
    cpus.resize(n);
    return cpus;
  }
  uint32_t level() const {
    uint32_t l = 0;
    check(aio_engine_get_level(get(), &l));
    return l;
  }
  void set_level(uint32_t level) { check(aio_engine_set_level(get(), level)); }

  // One or more images (input.size() = batch x input_size()); output is resized to fit.
  uint32_t run(const std::vector<float>& input, std::vector<float>& output) {
    const uint32_t batch = batch_of(input);
    size_t need = 0;
    for (uint32_t k = 0, n = num_levels(); k < n; ++k)
      need = std::max<size_t>(need, size_t(batch) * output_size(k));
    output.resize(need);
    uint32_t used = 0;
    check(aio_engine_run(get(), batch, input.data(), input.size(), output.data(), output.size(),
                         &used));
    output.resize(size_t(batch) * output_size(used));
    return used;
  }
  void run_at(uint32_t level, const std::vector<float>& input, std::vector<float>& output) {
    const uint32_t batch = batch_of(input);
    output.resize(size_t(batch) * output_size(level));
    check(aio_engine_run_at(get(), level, batch, input.data(), input.size(), output.data(),
                            output.size()));
  }

  uint32_t batch_of(const std::vector<float>& input) const {
    const uint64_t per = input_size();
    if (per == 0 || input.empty() || input.size() % per != 0)
      throw Error(AIO_STATUS_INVALID_ARGUMENT,
                  "input has " + std::to_string(input.size()) +
                      " floats, not a positive multiple of the image size " + std::to_string(per));
    return static_cast<uint32_t>(input.size() / per);
  }

 private:
  explicit Engine(aio_engine_t h) : h_(h) {}
  std::unique_ptr<aio_engine, detail::EngineFree> h_;
};

struct Reading {
  double cpu_mhz, gpu_mhz;  // 0 for a clock the source does not have
};

class Source {
 public:
  static Source fixed(double cpu_mhz, double max_mhz = 0) {
    aio_source_t h = nullptr;
    check(aio_source_init_fixed(cpu_mhz, max_mhz, &h));
    return Source(h);
  }
  static Source replay(const std::string& csv_path) {
    aio_source_t h = nullptr;
    check(aio_source_init_replay(csv_path.c_str(), &h));
    return Source(h);
  }
  static Source cpufreq(const std::string& sysfs_root = "/sys", int32_t policy = -1) {
    aio_source_t h = nullptr;
    check(aio_source_init_cpufreq(sysfs_root.c_str(), policy, &h));
    return Source(h);
  }
  static Source devfreq(const std::string& sysfs_root = "/sys", const std::string& device = "") {
    aio_source_t h = nullptr;
    check(aio_source_init_devfreq(sysfs_root.c_str(), device.c_str(), &h));
    return Source(h);
  }

  aio_source_t get() const { return h_.get(); }

  Reading read() {
    Reading r = {0.0, 0.0};
    check(aio_source_read(get(), &r.cpu_mhz, &r.gpu_mhz));
    return r;
  }
  double max_mhz() const {
    double m = 0;
    check(aio_source_get_max_mhz(get(), &m));
    return m;
  }
  std::string name() const {
    const char* s = nullptr;
    check(aio_source_get_name(get(), &s));
    return s;
  }
  std::string description() const {
    const char* s = nullptr;
    check(aio_source_get_description(get(), &s));
    return s;
  }
  bool emulated() const {
    int32_t e = 0;
    check(aio_source_is_emulated(get(), &e));
    return e != 0;
  }
  void set_time(double t_s) { check(aio_source_set_time(get(), t_s)); }
  double duration() const {
    double d = 0;
    check(aio_source_get_duration(get(), &d));
    return d;
  }
  void set_loop(bool loop) { check(aio_source_set_loop(get(), loop ? 1 : 0)); }

 private:
  explicit Source(aio_source_t h) : h_(h) {}
  std::unique_ptr<aio_source, detail::SourceFree> h_;
};

struct LevelStats {
  uint64_t count;
  double total_ms;
};

struct RunResult {
  uint32_t level;
  double latency_ms;  // per image; emulated when the adaptive handle emulates
};

class Adaptive {
 public:
  // The adaptive handle keeps the engine's model and the source alive by itself.
  Adaptive(const Engine& engine, const Source& source,
           const aio_adaptive_options& opts = aio_adaptive_options_default())
      : in_size_(0), out_size_(0) {
    aio_adaptive_t h = nullptr;
    check(aio_adaptive_init(engine.get(), source.get(), &opts, &h));
    h_.reset(h);
    in_size_ = engine.input_size();
    for (uint32_t k = 0, n = engine.num_levels(); k < n; ++k)
      out_size_ = std::max(out_size_, engine.output_size(k));
  }

  aio_adaptive_t get() const { return h_.get(); }

  // input.size() = batch x the input size; output is resized to batch x the largest output.
  RunResult run(const std::vector<float>& input, std::vector<float>& output) {
    if (in_size_ == 0 || input.empty() || input.size() % in_size_ != 0)
      throw Error(AIO_STATUS_INVALID_ARGUMENT,
                  "input is not a positive multiple of the image size");
    const uint32_t batch = static_cast<uint32_t>(input.size() / in_size_);
    output.resize(size_t(batch) * out_size_);
    RunResult r = {0, 0.0};
    check(aio_adaptive_run(get(), batch, input.data(), input.size(), output.data(), output.size(),
                           &r.level, &r.latency_ms));
    return r;
  }
  uint32_t level() const {
    uint32_t l = 0;
    check(aio_adaptive_get_level(get(), &l));
    return l;
  }
  double target_ms() const {
    double t = 0;
    check(aio_adaptive_get_target(get(), &t));
    return t;
  }
  void set_target_ms(double ms) { check(aio_adaptive_set_target(get(), ms)); }
  std::vector<double> table_ms(uint32_t num_levels) const {
    std::vector<double> t(num_levels);
    check(aio_adaptive_get_table(get(), t.data(), num_levels));
    return t;
  }
  double predict_ms(uint32_t level, double mhz) const {
    double ms = 0;
    check(aio_adaptive_predict(get(), level, mhz, &ms));
    return ms;
  }
  aio_stats stats() const {
    aio_stats s;
    s.struct_size = sizeof s;
    check(aio_adaptive_get_stats(get(), &s));
    return s;
  }
  // Inferences at one level and their total time since the last reset.
  LevelStats level_stats(uint32_t level) const {
    LevelStats r = {0, 0.0};
    check(aio_adaptive_get_level_stats(get(), level, &r.count, &r.total_ms));
    return r;
  }
  void reset_stats() { check(aio_adaptive_reset_stats(get())); }

 private:
  std::unique_ptr<aio_adaptive, detail::AdaptiveFree> h_;
  uint64_t in_size_, out_size_;
};

}  // namespace allinone

#endif  // ALLINONE_HPP_
