// C API: aio_engine_t over aio::Engine.
#include <cstddef>
#include <limits>
#include <string>

#include "capi/capi_internal.h"
#include "dvfs/sysfs_util.h"

namespace aio::capi {
namespace {

// The first published aio_engine_options ended after `threads`; the limits came later.
constexpr size_t kEngineOptionsV1 = offsetof(aio_engine_options, max_activation_bytes);
constexpr size_t kLevelInfoV1 = sizeof(aio_level_info);

aio::Engine& get(aio_engine_t e) {
  if (!e || !e->engine) bad_arg("engine is NULL");
  return *e->engine;
}

uint64_t checked_mul(uint64_t a, uint64_t b) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) bad_arg("buffer size overflows");
  return a * b;
}

uint64_t volume(const aio::Shape& s) { return checked_mul(checked_mul(s.c, s.h), s.w); }

size_t check_level(const aio::Engine& e, uint32_t level) {
  if (level >= e.num_levels())
    bad_arg("level " + std::to_string(level) + " out of range (the model has " +
            std::to_string(e.num_levels()) + " levels)");
  return level;
}

aio::EngineOptions engine_options(const aio_engine_options* user) {
  const aio_engine_options o =
      read_options(user, aio_engine_options_default(), kEngineOptionsV1, "aio_engine_options");
  if (o.threads < 0) bad_arg("aio_engine_options.threads must be >= 0 (0: one per core)");
  aio::EngineOptions eo;
  eo.threads = o.threads;
  eo.max_activation_bytes = o.max_activation_bytes;
  eo.max_flops = o.max_flops;
  eo.winograd = o.winograd != 0;
  if (o.cpus && *o.cpus) {
    try {
      eo.cpus = aio::dvfs::sysfs::parse_cpu_list(o.cpus);
    } catch (const aio::dvfs::Unavailable& e) {
      bad_arg(std::string("aio_engine_options.cpus: ") + e.what());
    }
    if (eo.cpus.empty()) bad_arg("aio_engine_options.cpus names no CPU");
  }
  return eo;
}

aio_engine_t wrap(std::unique_ptr<aio::Engine> e) {
  auto h = std::make_unique<aio_engine>();
  h->engine = std::shared_ptr<aio::Engine>(std::move(e));
  return h.release();  // owned by the caller until aio_engine_free
}

}  // namespace

void check_buffers(const aio::Engine& e, size_t level, uint32_t batch, const float* input,
                   uint64_t input_len, const float* output, uint64_t output_len) {
  require(input, "input");
  require(output, "output");
  if (batch == 0) bad_arg("batch must be >= 1");
  const uint64_t in = checked_mul(batch, volume(e.input_shape()));
  const uint64_t out = checked_mul(batch, volume(e.output_shape(level)));
  if (input_len != in)
    bad_arg("input_len " + std::to_string(input_len) +
            " floats, expected batch x C x H x W = " + std::to_string(in));
  if (output_len < out)
    bad_arg("output_len " + std::to_string(output_len) + " floats is too small: level " +
            std::to_string(level) + " writes " + std::to_string(out));
}

}  // namespace aio::capi

using aio::capi::bad_arg;
using aio::capi::guard;
using aio::capi::require;

extern "C" {

aio_engine_options aio_engine_options_default(void) {
  aio_engine_options o{};
  o.struct_size = sizeof o;
  o.threads = 0;
  const aio::EngineOptions defaults;
  o.max_activation_bytes = defaults.max_activation_bytes;
  o.max_flops = defaults.max_flops;
  o.winograd = defaults.winograd ? 1 : 0;
  o.cpus = nullptr;
  return o;
}

aio_status aio_engine_init_file(const char* path, const aio_engine_options* opts,
                                aio_engine_t* out) {
  if (out) *out = nullptr;
  return guard(__func__, [&] {
    require(out, "out");
    require(path, "path");
    const aio::EngineOptions eo = aio::capi::engine_options(opts);
    *out = aio::capi::wrap(aio::Engine::load_file(path, eo));
  });
}

aio_status aio_engine_init_memory(const void* data, size_t size, const aio_engine_options* opts,
                                  aio_engine_t* out) {
  if (out) *out = nullptr;
  return guard(__func__, [&] {
    require(out, "out");
    require(data, "data");
    if (size == 0) bad_arg("size is 0");
    const aio::EngineOptions eo = aio::capi::engine_options(opts);
    *out = aio::capi::wrap(aio::Engine::load_memory(data, size, eo));
  });
}

void aio_engine_free(aio_engine_t engine) {
  std::unique_ptr<aio_engine> owned(engine);  // destructors do not throw
}

aio_status aio_engine_get_name(aio_engine_t engine, const char** name) {
  return guard(__func__, [&] {
    require(name, "name");
    *name = aio::capi::get(engine).name().c_str();
  });
}

aio_status aio_engine_get_num_labels(aio_engine_t engine, uint32_t* count) {
  return guard(__func__, [&] {
    require(count, "count");
    *count = static_cast<uint32_t>(aio::capi::get(engine).labels().size());
  });
}

aio_status aio_engine_get_label(aio_engine_t engine, uint32_t index, const char** label) {
  return guard(__func__, [&] {
    require(label, "label");
    const auto& labels = aio::capi::get(engine).labels();
    if (index >= labels.size())
      bad_arg("label index " + std::to_string(index) + " out of range (the model has " +
              std::to_string(labels.size()) + " labels)");
    *label = labels[index].c_str();
  });
}

aio_status aio_engine_get_num_levels(aio_engine_t engine, uint32_t* count) {
  return guard(__func__, [&] {
    require(count, "count");
    *count = static_cast<uint32_t>(aio::capi::get(engine).num_levels());
  });
}

aio_status aio_engine_get_level_info(aio_engine_t engine, uint32_t level, aio_level_info* info) {
  return guard(__func__, [&] {
    const aio::Engine& e = aio::capi::get(engine);
    require(info, "info");
    const aio::LevelInfo& li = e.level_info(aio::capi::check_level(e, level));
    const aio::Shape os = e.output_shape(level);
    aio_level_info v{};
    v.keep_ratio = li.keep_ratio;
    v.flops = li.flops;
    v.params = li.params;
    v.num_widths = static_cast<uint32_t>(li.widths.size());
    v.widths = li.widths.data();
    v.output_shape = aio_shape{os.c, os.h, os.w};
    aio::capi::write_struct(info, v, aio::capi::kLevelInfoV1, "aio_level_info");
  });
}

aio_status aio_engine_get_input_shape(aio_engine_t engine, aio_shape* shape) {
  return guard(__func__, [&] {
    require(shape, "shape");
    const aio::Shape s = aio::capi::get(engine).input_shape();
    *shape = aio_shape{s.c, s.h, s.w};
  });
}

aio_status aio_engine_get_output_shape(aio_engine_t engine, uint32_t level, aio_shape* shape) {
  return guard(__func__, [&] {
    const aio::Engine& e = aio::capi::get(engine);
    require(shape, "shape");
    const aio::Shape s = e.output_shape(aio::capi::check_level(e, level));
    *shape = aio_shape{s.c, s.h, s.w};
  });
}

aio_status aio_engine_get_threads(aio_engine_t engine, int32_t* threads) {
  return guard(__func__, [&] {
    require(threads, "threads");
    *threads = aio::capi::get(engine).threads();
  });
}

aio_status aio_engine_get_affinity(aio_engine_t engine, int32_t* cpus, uint32_t capacity,
                                   uint32_t* count) {
  return guard(__func__, [&] {
    require(count, "count");
    if (capacity > 0) require(cpus, "cpus");
    const std::vector<int>& got = aio::capi::get(engine).affinity();
    for (size_t i = 0; i < got.size() && i < capacity; ++i) cpus[i] = got[i];
    *count = static_cast<uint32_t>(got.size());
  });
}

aio_status aio_engine_get_weight_bytes(aio_engine_t engine, uint64_t* bytes) {
  return guard(__func__, [&] {
    require(bytes, "bytes");
    *bytes = aio::capi::get(engine).weight_bytes();
  });
}

aio_status aio_engine_get_level(aio_engine_t engine, uint32_t* level) {
  return guard(__func__, [&] {
    require(level, "level");
    *level = static_cast<uint32_t>(aio::capi::get(engine).level());
  });
}

aio_status aio_engine_set_level(aio_engine_t engine, uint32_t level) {
  return guard(__func__, [&] {
    aio::Engine& e = aio::capi::get(engine);
    e.set_level(aio::capi::check_level(e, level));
  });
}

aio_status aio_engine_run(aio_engine_t engine, uint32_t batch, const float* input,
                          uint64_t input_len, float* output, uint64_t output_len,
                          uint32_t* level_used) {
  return guard(__func__, [&] {
    aio::Engine& e = aio::capi::get(engine);
    // The level current now, as Engine::run would take it; checked against the buffers first.
    const size_t level = e.level();
    aio::capi::check_buffers(e, level, batch, input, input_len, output, output_len);
    e.run_at(level, input, batch, output);
    if (level_used) *level_used = static_cast<uint32_t>(level);
  });
}

aio_status aio_engine_run_at(aio_engine_t engine, uint32_t level, uint32_t batch,
                             const float* input, uint64_t input_len, float* output,
                             uint64_t output_len) {
  return guard(__func__, [&] {
    aio::Engine& e = aio::capi::get(engine);
    aio::capi::check_level(e, level);
    aio::capi::check_buffers(e, level, batch, input, input_len, output, output_len);
    e.run_at(level, input, batch, output);
  });
}

}  // extern "C"
