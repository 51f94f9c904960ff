// The C API (allinone.h) and its C++ wrapper (allinone.hpp), linked against liballinone only:
// a tiny valid model built here byte by byte runs through every entry point; every misuse (NULL
// arguments, a missing or damaged file, wrong buffer lengths or struct sizes, levels out of
// range, a non-replay source asked for trace time) returns a status and a message, never crashes.
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "allinone/allinone.h"
#include "allinone/allinone.hpp"
#include "check.h"

namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint32_t NONE = 0xFFFFFFFFu;

uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}
void put32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void put64(Bytes& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void putf(Bytes& b, float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  put32(b, bits);
}

// The same tiny model as test_format.cpp (written independently of the Python writer): input
// (2,4,4) -> conv 3x3 pad 1 (group 0, width 4; level 1 keeps 2) relu -> linear to 3. All weights,
// scales and biases 0.5. Format: docs/format.md.
Bytes tiny_model() {
  const std::vector<std::string> strings = {"tiny",   "conv",   "fc",  "conv.w",
                                            "conv.s", "conv.b", "fc.w"};
  struct T {
    uint32_t name, ndim;
    uint64_t dims[4];
  };
  const T tensors[4] = {
      {3, 4, {4, 2, 3, 3}}, {4, 2, {2, 4, 0, 0}}, {5, 2, {2, 4, 0, 0}}, {6, 2, {3, 64, 0, 0}}};
  Bytes data;
  std::vector<uint64_t> offsets;
  for (const T& t : tensors) {
    while (data.size() % 64) data.push_back(0);
    offsets.push_back(data.size());
    uint64_t n = 1;
    for (uint32_t d = 0; d < t.ndim; ++d) n *= t.dims[d];
    for (uint64_t i = 0; i < n; ++i) putf(data, 0.5f);
  }
  while (data.size() % 64) data.push_back(0);

  Bytes meta;
  const uint32_t counts[16] = {
      uint32_t(strings.size()), 1, 2, 4, 3, 2, 0, 0, 2, 4, 4, 0, 2, 0, 0, 0};
  for (uint32_t c : counts) put32(meta, c);
  put32(meta, 4);  // group 0 full width
  putf(meta, 1.0f);
  putf(meta, 0.5f);
  put32(meta, 4);  // level widths
  put32(meta, 2);
  for (size_t i = 0; i < 4; ++i) {
    const T& t = tensors[i];
    put32(meta, t.name);
    put32(meta, 1);
    put32(meta, t.ndim);
    put32(meta, 0);
    for (uint64_t d : t.dims) put64(meta, d);
    put64(meta, offsets[i]);
    uint64_t n = 4;
    for (uint32_t d = 0; d < t.ndim; ++d) n *= t.dims[d];
    put64(meta, n);
  }
  const uint32_t values[3][4] = {{NONE, 2, 4, 4}, {0, 4, 4, 4}, {NONE, 3, 1, 1}};
  for (const auto& v : values)
    for (uint32_t x : v) put32(meta, x);
  const uint32_t nodes[2][20] = {
      {1, 1, 0, NONE, 1, 1, 0, 1, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
      {2, 2, 1, NONE, 2, 0, 3, NONE, NONE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
  for (const auto& n : nodes)
    for (uint32_t x : n) put32(meta, x);
  for (const std::string& str : strings) {
    put32(meta, uint32_t(str.size()));
    meta.insert(meta.end(), str.begin(), str.end());
  }

  const uint64_t data_offset = (128 + meta.size() + 63) / 64 * 64;
  Bytes b(8);
  std::memcpy(b.data(), "AIOMODEL", 8);
  put32(b, 1);
  put32(b, 128);
  put64(b, data_offset + data.size());
  put64(b, 128);
  put64(b, meta.size());
  put64(b, data_offset);
  put64(b, data.size());
  put32(b, crc32(meta.data(), meta.size()));
  put32(b, crc32(data.data(), data.size()));
  b.resize(124, 0);
  put32(b, crc32(b.data(), 124));
  b.insert(b.end(), meta.begin(), meta.end());
  b.resize(data_offset, 0);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// Expected output 0 of the tiny model on an all-ones input (see test_format.cpp).
constexpr float kConvSum = 4 * (4 * 2.5f + 8 * 3.5f + 4 * 5.0f);

std::string temp_path(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/aio_test_capi_" +
         std::to_string(
             static_cast<long>(std::hash<std::thread::id>{}(std::this_thread::get_id()) % 100000)) +
         "_" + name;
}

bool write_file(const std::string& path, const void* p, size_t n) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(p, 1, n, f) == n;
  return std::fclose(f) == 0 && ok;
}

// A failing call: the status, and a non-empty message that mentions `needle`.
#define EXPECT_FAIL(call, status, needle)                                                         \
  do {                                                                                            \
    const aio_status _st = (call);                                                                \
    const std::string _msg = aio_last_error();                                                    \
    if (_st != (status) || _msg.empty() || _msg.find(needle) == std::string::npos) {              \
      std::printf("%s:%d: %s -> %s \"%s\" (expected %s mentioning \"%s\")\n", __FILE__, __LINE__, \
                  #call, aio_status_name(_st), _msg.c_str(), #status, needle);                    \
      ++aio_test::failures();                                                                     \
    }                                                                                             \
  } while (0)

#define EXPECT_OK(call)                                                                        \
  do {                                                                                         \
    const aio_status _st = (call);                                                             \
    if (_st != AIO_STATUS_OK) {                                                                \
      std::printf("%s:%d: %s -> %s \"%s\"\n", __FILE__, __LINE__, #call, aio_status_name(_st), \
                  aio_last_error());                                                           \
      ++aio_test::failures();                                                                  \
    }                                                                                          \
  } while (0)

void test_basics() {
  AIO_CHECK(std::string(aio_get_version()).find('.') != std::string::npos);
  const std::string isa = aio_get_isa();
  AIO_CHECK(isa == "scalar" || isa == "avx2" || isa == "avx512" || isa == "neon");
  // Extensions: known names only, in the documented order, each once, comma-separated.
  const std::string features = aio_get_isa_features();
  std::string rebuilt;
  for (const char* name : {"fp16", "dotprod", "i8mm"}) {
    const std::string n = name;
    const size_t at = ("," + features + ",").find("," + n + ",");
    if (at == std::string::npos) continue;
    rebuilt += (rebuilt.empty() ? "" : ",") + n;
  }
  AIO_CHECK(rebuilt == features);
#if defined(__x86_64__)
  AIO_CHECK(features.empty());  // ARMv8.2 extensions only
#endif
  AIO_CHECK(std::string(aio_status_name(AIO_STATUS_FORMAT)) == "AIO_STATUS_FORMAT");
  AIO_CHECK(std::string(aio_status_name(static_cast<aio_status>(99))) == "AIO_STATUS_UNKNOWN");
  AIO_CHECK(aio_last_error() != nullptr);
  // free(NULL) is a no-op.
  aio_engine_free(nullptr);
  aio_source_free(nullptr);
  aio_adaptive_free(nullptr);
}

void test_engine_ok() {
  const Bytes b = tiny_model();
  aio_engine_options o = aio_engine_options_default();
  AIO_CHECK(o.struct_size == sizeof o && o.threads == 0);
  o.threads = 1;
  aio_engine_t e = nullptr;
  EXPECT_OK(aio_engine_init_memory(b.data(), b.size(), &o, &e));
  if (!e) return;
  const char* name = nullptr;
  EXPECT_OK(aio_engine_get_name(e, &name));
  AIO_CHECK(name && std::string(name) == "tiny");
  uint32_t n = 0;
  EXPECT_OK(aio_engine_get_num_levels(e, &n));
  AIO_CHECK(n == 2);
  EXPECT_OK(aio_engine_get_num_labels(e, &n));
  AIO_CHECK(n == 0);
  aio_shape in{}, out{};
  EXPECT_OK(aio_engine_get_input_shape(e, &in));
  AIO_CHECK(in.c == 2 && in.h == 4 && in.w == 4);
  EXPECT_OK(aio_engine_get_output_shape(e, 1, &out));
  AIO_CHECK(out.c == 3 && out.h == 1 && out.w == 1);
  int32_t threads = 0;
  EXPECT_OK(aio_engine_get_threads(e, &threads));
  AIO_CHECK(threads == 1);
  uint64_t bytes = 0;
  EXPECT_OK(aio_engine_get_weight_bytes(e, &bytes));
  AIO_CHECK(bytes > 0);

  aio_level_info li;
  li.struct_size = sizeof li;
  EXPECT_OK(aio_engine_get_level_info(e, 1, &li));
  AIO_CHECK(li.struct_size == sizeof li);
  AIO_CHECK_NEAR(li.keep_ratio, 0.5, 1e-6);
  AIO_CHECK(li.num_widths == 1 && li.widths && li.widths[0] == 2);
  AIO_CHECK(li.output_shape.c == 3);
  EXPECT_OK(aio_engine_get_level_info(e, 0, &li));
  AIO_CHECK(li.flops == 2 * (16 * 4 * 18 + 3 * 64));

  std::vector<float> x(32, 1.0f), y(3, 0.0f);
  uint32_t used = 99;
  EXPECT_OK(aio_engine_run(e, 1, x.data(), x.size(), y.data(), y.size(), &used));
  AIO_CHECK(used == 0);
  AIO_CHECK_NEAR(y[0], 0.5f * kConvSum, 1e-3);
  EXPECT_OK(aio_engine_set_level(e, 1));
  uint32_t level = 0;
  EXPECT_OK(aio_engine_get_level(e, &level));
  AIO_CHECK(level == 1);
  EXPECT_OK(aio_engine_run(e, 1, x.data(), x.size(), y.data(), y.size(), nullptr));
  AIO_CHECK_NEAR(y[0], 0.5f * kConvSum / 2, 1e-3);
  // Batch 2 at a given level; the current level stays.
  std::vector<float> x2(64, 1.0f), y2(6, 0.0f);
  EXPECT_OK(aio_engine_run_at(e, 0, 2, x2.data(), x2.size(), y2.data(), y2.size()));
  AIO_CHECK_NEAR(y2[3], 0.5f * kConvSum, 1e-3);
  EXPECT_OK(aio_engine_get_level(e, &level));
  AIO_CHECK(level == 1);
  aio_engine_free(e);

  // From a file, NULL options.
  const std::string path = temp_path("tiny.aio");
  AIO_CHECK(write_file(path, b.data(), b.size()));
  e = nullptr;
  EXPECT_OK(aio_engine_init_file(path.c_str(), nullptr, &e));
  AIO_CHECK(e != nullptr);
  aio_engine_free(e);
  std::remove(path.c_str());
}

void test_engine_errors() {
  const Bytes b = tiny_model();
  aio_engine_t e = reinterpret_cast<aio_engine_t>(&e);  // must be reset to NULL on failure

  // NULL arguments.
  EXPECT_FAIL(aio_engine_init_file(nullptr, nullptr, &e), AIO_STATUS_INVALID_ARGUMENT, "path");
  AIO_CHECK(e == nullptr);
  EXPECT_FAIL(aio_engine_init_file("x.aio", nullptr, nullptr), AIO_STATUS_INVALID_ARGUMENT, "out");
  EXPECT_FAIL(aio_engine_init_memory(nullptr, 10, nullptr, &e), AIO_STATUS_INVALID_ARGUMENT,
              "data");
  EXPECT_FAIL(aio_engine_init_memory(b.data(), 0, nullptr, &e), AIO_STATUS_INVALID_ARGUMENT,
              "size");
  // Missing, garbage, truncated files.
  EXPECT_FAIL(aio_engine_init_file("/nonexistent/dir/model.aio", nullptr, &e), AIO_STATUS_IO,
              "/nonexistent/dir/model.aio");
  AIO_CHECK(e == nullptr);
  const std::string path = temp_path("garbage.aio");
  const char garbage[] =
      "this is not a model file, just some text long enough to be read......"
      "...........................................................";
  AIO_CHECK(write_file(path, garbage, sizeof garbage));
  EXPECT_FAIL(aio_engine_init_file(path.c_str(), nullptr, &e), AIO_STATUS_FORMAT, "");
  std::remove(path.c_str());
  for (size_t cut : {size_t(1), size_t(64), size_t(127), size_t(128), b.size() / 2, b.size() - 1}) {
    EXPECT_FAIL(aio_engine_init_memory(b.data(), cut, nullptr, &e), AIO_STATUS_FORMAT, "");
    AIO_CHECK(e == nullptr);
  }
  Bytes bad = b;
  bad[200] ^= 0x55;  // checksum mismatch in the metadata
  EXPECT_FAIL(aio_engine_init_memory(bad.data(), bad.size(), nullptr, &e), AIO_STATUS_FORMAT, "");
  // Options: wrong struct_size, bad values.
  aio_engine_options o = aio_engine_options_default();
  o.struct_size = 0;
  EXPECT_FAIL(aio_engine_init_memory(b.data(), b.size(), &o, &e), AIO_STATUS_INVALID_ARGUMENT,
              "struct_size");
  o.struct_size = 3;
  EXPECT_FAIL(aio_engine_init_memory(b.data(), b.size(), &o, &e), AIO_STATUS_INVALID_ARGUMENT,
              "struct_size");
  o = aio_engine_options_default();
  o.threads = -2;
  EXPECT_FAIL(aio_engine_init_memory(b.data(), b.size(), &o, &e), AIO_STATUS_INVALID_ARGUMENT,
              "threads");
  // Resource limits: a model over one is refused with its needs in the message.
  o = aio_engine_options_default();
  AIO_CHECK(o.max_activation_bytes == (uint64_t(1) << 30) && o.max_flops == 0 && o.winograd == 1);
  o.winograd = 0;
  aio_engine_t direct = nullptr;
  EXPECT_OK(aio_engine_init_memory(b.data(), b.size(), &o, &direct));
  aio_engine_free(direct);
  o.max_activation_bytes = 16;
  EXPECT_FAIL(aio_engine_init_memory(b.data(), b.size(), &o, &e), AIO_STATUS_UNSUPPORTED,
              "max_activation_bytes");
  o = aio_engine_options_default();
  o.max_flops = 1;
  EXPECT_FAIL(aio_engine_init_memory(b.data(), b.size(), &o, &e), AIO_STATUS_UNSUPPORTED,
              "max_flops");
  // A caller built against the first header (struct ends after `threads`) gets the defaults.
  o = aio_engine_options_default();
  o.struct_size = offsetof(aio_engine_options, max_activation_bytes);
  o.max_flops = 1;  // beyond its struct_size: must be ignored
  EXPECT_OK(aio_engine_init_memory(b.data(), b.size(), &o, &e));
  aio_engine_free(e);
  e = nullptr;
  // ... and one built against the header before `winograd` too.
  o = aio_engine_options_default();
  o.struct_size = offsetof(aio_engine_options, winograd);
  EXPECT_OK(aio_engine_init_memory(b.data(), b.size(), &o, &e));
  aio_engine_free(e);
  e = nullptr;
  // A newer caller's larger struct is accepted (unknown tail ignored).
  struct Bigger {
    aio_engine_options base;
    uint64_t future_field;
  } big{};
  big.base = aio_engine_options_default();
  big.base.struct_size = sizeof big;
  big.base.threads = 1;
  EXPECT_OK(aio_engine_init_memory(b.data(), b.size(), &big.base, &e));
  if (!e) return;

  // NULL handle / out pointers on every getter.
  uint32_t u = 0;
  const char* s = nullptr;
  aio_shape sh{};
  EXPECT_FAIL(aio_engine_get_num_levels(nullptr, &u), AIO_STATUS_INVALID_ARGUMENT, "engine");
  EXPECT_FAIL(aio_engine_get_num_levels(e, nullptr), AIO_STATUS_INVALID_ARGUMENT, "count");
  EXPECT_FAIL(aio_engine_get_name(nullptr, &s), AIO_STATUS_INVALID_ARGUMENT, "engine");
  EXPECT_FAIL(aio_engine_get_name(e, nullptr), AIO_STATUS_INVALID_ARGUMENT, "name");
  EXPECT_FAIL(aio_engine_get_label(e, 0, &s), AIO_STATUS_INVALID_ARGUMENT, "label index 0");
  EXPECT_FAIL(aio_engine_get_input_shape(e, nullptr), AIO_STATUS_INVALID_ARGUMENT, "shape");
  EXPECT_FAIL(aio_engine_get_level(nullptr, &u), AIO_STATUS_INVALID_ARGUMENT, "engine");
  // Levels out of range.
  EXPECT_FAIL(aio_engine_set_level(e, 2), AIO_STATUS_INVALID_ARGUMENT, "level 2 out of range");
  EXPECT_FAIL(aio_engine_set_level(e, 0xFFFFFFFFu), AIO_STATUS_INVALID_ARGUMENT, "out of range");
  EXPECT_FAIL(aio_engine_get_output_shape(e, 7, &sh), AIO_STATUS_INVALID_ARGUMENT, "level 7");
  aio_level_info li;
  li.struct_size = sizeof li;
  EXPECT_FAIL(aio_engine_get_level_info(e, 2, &li), AIO_STATUS_INVALID_ARGUMENT, "level 2");
  EXPECT_FAIL(aio_engine_get_level_info(e, 0, nullptr), AIO_STATUS_INVALID_ARGUMENT, "info");
  li.struct_size = 4;
  EXPECT_FAIL(aio_engine_get_level_info(e, 0, &li), AIO_STATUS_INVALID_ARGUMENT, "struct_size");
  // Run: NULL buffers, wrong lengths, zero batch, bad level.
  std::vector<float> x(32, 1.0f), y(3, 0.0f);
  EXPECT_FAIL(aio_engine_run(e, 1, nullptr, 32, y.data(), 3, nullptr), AIO_STATUS_INVALID_ARGUMENT,
              "input");
  EXPECT_FAIL(aio_engine_run(e, 1, x.data(), 32, nullptr, 3, nullptr), AIO_STATUS_INVALID_ARGUMENT,
              "output");
  EXPECT_FAIL(aio_engine_run(e, 0, x.data(), 32, y.data(), 3, nullptr), AIO_STATUS_INVALID_ARGUMENT,
              "batch");
  EXPECT_FAIL(aio_engine_run(e, 1, x.data(), 31, y.data(), 3, nullptr), AIO_STATUS_INVALID_ARGUMENT,
              "input_len 31");
  EXPECT_FAIL(aio_engine_run(e, 2, x.data(), 32, y.data(), 3, nullptr), AIO_STATUS_INVALID_ARGUMENT,
              "input_len 32");
  EXPECT_FAIL(aio_engine_run(e, 1, x.data(), 32, y.data(), 2, nullptr), AIO_STATUS_INVALID_ARGUMENT,
              "output_len 2");
  EXPECT_FAIL(aio_engine_run(e, 0xFFFFFFFFu, x.data(), 32, y.data(), 3, nullptr),
              AIO_STATUS_INVALID_ARGUMENT, "input_len");
  EXPECT_FAIL(aio_engine_run_at(e, 5, 1, x.data(), 32, y.data(), 3), AIO_STATUS_INVALID_ARGUMENT,
              "level 5");
  EXPECT_FAIL(aio_engine_run_at(nullptr, 0, 1, x.data(), 32, y.data(), 3),
              AIO_STATUS_INVALID_ARGUMENT, "engine");
  // After all that the engine still works.
  EXPECT_OK(aio_engine_run_at(e, 0, 1, x.data(), x.size(), y.data(), y.size()));
  AIO_CHECK_NEAR(y[0], 0.5f * kConvSum, 1e-3);
  aio_engine_free(e);
}

// The message is per thread: a failure on another thread does not overwrite this one's.
void test_error_thread_local() {
  aio_engine_t e = nullptr;
  EXPECT_FAIL(aio_engine_init_file("/nonexistent/a.aio", nullptr, &e), AIO_STATUS_IO, "a.aio");
  std::string other;
  std::thread t([&] {
    aio_engine_t e2 = nullptr;
    (void)aio_engine_init_file("/nonexistent/b.aio", nullptr, &e2);
    other = aio_last_error();
  });
  t.join();
  AIO_CHECK(other.find("b.aio") != std::string::npos);
  AIO_CHECK(std::string(aio_last_error()).find("a.aio") != std::string::npos);
}

void test_sources() {
  aio_source_t s = nullptr;
  EXPECT_FAIL(aio_source_init_fixed(0.0, 0.0, &s), AIO_STATUS_INVALID_ARGUMENT, "cpu_mhz");
  EXPECT_FAIL(aio_source_init_fixed(-5.0, 0.0, &s), AIO_STATUS_INVALID_ARGUMENT, "cpu_mhz");
  EXPECT_FAIL(aio_source_init_fixed(NAN, 0.0, &s), AIO_STATUS_INVALID_ARGUMENT, "cpu_mhz");
  EXPECT_FAIL(aio_source_init_fixed(1000, 0.0, nullptr), AIO_STATUS_INVALID_ARGUMENT, "out");
  EXPECT_FAIL(aio_source_init_replay(nullptr, &s), AIO_STATUS_INVALID_ARGUMENT, "csv_path");
  EXPECT_FAIL(aio_source_init_replay("/nonexistent/trace.csv", &s), AIO_STATUS_UNAVAILABLE,
              "trace.csv");
  AIO_CHECK(s == nullptr);
  const std::string bad = temp_path("bad_trace.csv");
  const char bad_text[] = "t_s,cpu_mhz\n0,1000\n0.1,abc\n";
  AIO_CHECK(write_file(bad, bad_text, sizeof bad_text - 1));
  EXPECT_FAIL(aio_source_init_replay(bad.c_str(), &s), AIO_STATUS_UNAVAILABLE, "abc");
  std::remove(bad.c_str());
  // No cpufreq tree under a path that does not exist.
  EXPECT_FAIL(aio_source_init_cpufreq("/nonexistent/sys", -1, &s), AIO_STATUS_UNAVAILABLE, "");
  EXPECT_FAIL(aio_source_init_cpufreq_for_cpus("/nonexistent/sys", "4-7", &s),
              AIO_STATUS_UNAVAILABLE, "no policy");
  EXPECT_FAIL(aio_source_init_cpufreq_for_cpus(nullptr, "4-x", &s), AIO_STATUS_INVALID_ARGUMENT,
              "cpus");
  EXPECT_FAIL(aio_source_init_cpufreq_for_cpus(nullptr, nullptr, &s),
              AIO_STATUS_INVALID_ARGUMENT, "cpus");
  EXPECT_FAIL(aio_source_init_devfreq("/nonexistent/sys", nullptr, &s), AIO_STATUS_UNAVAILABLE, "");

  EXPECT_OK(aio_source_init_fixed(1200, 2400, &s));
  double cpu = 0, gpu = -1, mx = 0;
  EXPECT_OK(aio_source_read(s, &cpu, &gpu));
  AIO_CHECK(cpu == 1200 && gpu == 0);
  EXPECT_OK(aio_source_read(s, nullptr, nullptr));
  EXPECT_OK(aio_source_get_max_mhz(s, &mx));
  AIO_CHECK(mx == 2400);
  const char* name = nullptr;
  EXPECT_OK(aio_source_get_name(s, &name));
  AIO_CHECK(name && std::string(name) == "fixed");
  int32_t emu = 0;
  EXPECT_OK(aio_source_is_emulated(s, &emu));
  AIO_CHECK(emu == 1);
  EXPECT_FAIL(aio_source_set_time(s, 1.0), AIO_STATUS_INVALID_ARGUMENT, "replay");
  EXPECT_FAIL(aio_source_get_duration(s, &mx), AIO_STATUS_INVALID_ARGUMENT, "replay");
  EXPECT_FAIL(aio_source_read(nullptr, &cpu, nullptr), AIO_STATUS_INVALID_ARGUMENT, "source");
  aio_source_free(s);

  const std::string path = temp_path("trace.csv");
  const char text[] = "t_s,cpu_mhz\n0,2000\n1,1000\n2,500\n";
  AIO_CHECK(write_file(path, text, sizeof text - 1));
  EXPECT_OK(aio_source_init_replay(path.c_str(), &s));
  std::remove(path.c_str());
  if (!s) return;
  double dur = 0;
  EXPECT_OK(aio_source_get_duration(s, &dur));
  AIO_CHECK(dur == 2);
  EXPECT_OK(aio_source_set_time(s, 1.5));
  EXPECT_OK(aio_source_read(s, &cpu, nullptr));
  AIO_CHECK(cpu == 1000);
  EXPECT_FAIL(aio_source_set_time(s, INFINITY), AIO_STATUS_INVALID_ARGUMENT, "finite");
  EXPECT_OK(aio_source_get_max_mhz(s, &mx));
  AIO_CHECK(mx == 2000);
  aio_source_free(s);
}

// Worker pinning through the appended `cpus` field: CPU 0 reads back as {0}; a list the kernel
// cannot honour fails the load; an older struct_size (before `cpus`) still loads unpinned.
void test_engine_cpus() {
  const Bytes b = tiny_model();
  aio_engine_options o = aio_engine_options_default();
  AIO_CHECK(o.cpus == nullptr);
  o.threads = 2;
  o.cpus = "0";
  aio_engine_t e = nullptr;
  EXPECT_OK(aio_engine_init_memory(b.data(), b.size(), &o, &e));
  if (e) {
    int32_t cpus[4] = {-1, -1, -1, -1};
    uint32_t count = 0;
    EXPECT_OK(aio_engine_get_affinity(e, cpus, 4, &count));
    AIO_CHECK(count == 1 && cpus[0] == 0);
    EXPECT_OK(aio_engine_get_affinity(e, nullptr, 0, &count));
    AIO_CHECK(count == 1);
    EXPECT_FAIL(aio_engine_get_affinity(e, nullptr, 4, &count), AIO_STATUS_INVALID_ARGUMENT,
                "cpus");
    aio_engine_free(e);
  }
  o.cpus = "1000";  // no such CPU here: the kernel refuses the set
  EXPECT_FAIL(aio_engine_init_memory(b.data(), b.size(), &o, &e), AIO_STATUS_INVALID_ARGUMENT,
              "cannot pin");
  o.cpus = "x-y";
  EXPECT_FAIL(aio_engine_init_memory(b.data(), b.size(), &o, &e), AIO_STATUS_INVALID_ARGUMENT,
              "cpus");
  o.cpus = "0";
  o.struct_size = static_cast<uint32_t>(offsetof(aio_engine_options, cpus));
  EXPECT_OK(aio_engine_init_memory(b.data(), b.size(), &o, &e));
  if (e) {
    uint32_t count = 9;
    EXPECT_OK(aio_engine_get_affinity(e, nullptr, 0, &count));
    AIO_CHECK(count == 0);  // the old struct has no cpus field: not pinned
    aio_engine_free(e);
  }
}

// A measured frequency x level table: predictions follow it between measured clocks.
void test_adaptive_measured_table() {
  const Bytes b = tiny_model();
  aio_engine_t e = nullptr;
  aio_engine_options eo = aio_engine_options_default();
  eo.threads = 1;
  EXPECT_OK(aio_engine_init_memory(b.data(), b.size(), &eo, &e));
  aio_source_t s = nullptr;
  EXPECT_OK(aio_source_init_fixed(1500.0, 2000.0, &s));
  if (!e || !s) return;
  const double freqs[2] = {2000.0, 1000.0};             // any order
  const double ms[4] = {1.0, 0.5, /* 1000 MHz: */ 3.0, 1.5};  // not the alpha model's 2x
  aio_adaptive_options o = aio_adaptive_options_default();
  AIO_CHECK(o.table_freqs_mhz == nullptr && o.num_table_freqs == 0);
  o.table_freqs_mhz = freqs;
  o.table_freq_ms = ms;
  o.num_table_freqs = 2;
  aio_adaptive_t a = nullptr;
  EXPECT_OK(aio_adaptive_init(e, s, &o, &a));
  if (a) {
    double p = 0;
    EXPECT_OK(aio_adaptive_predict(a, 0, 1000.0, &p));
    AIO_CHECK_NEAR(p, 3.0, 1e-9);
    // 1333.3 MHz is halfway in 1/f between 1000 and 2000 MHz.
    EXPECT_OK(aio_adaptive_predict(a, 1, 4000.0 / 3.0, &p));
    AIO_CHECK_NEAR(p, 1.0, 1e-9);
    double table[2] = {0, 0};
    EXPECT_OK(aio_adaptive_get_table(a, table, 2));
    AIO_CHECK_NEAR(table[0], 1.0, 1e-12);  // the top clock's row
    aio_adaptive_free(a);
  }
  const double dup[2] = {1000.0, 1000.0};
  o.table_freqs_mhz = dup;
  EXPECT_FAIL(aio_adaptive_init(e, s, &o, &a), AIO_STATUS_INVALID_ARGUMENT, "distinct");
  o.table_freqs_mhz = nullptr;
  EXPECT_FAIL(aio_adaptive_init(e, s, &o, &a), AIO_STATUS_INVALID_ARGUMENT, "table_freqs_mhz");
  aio_source_free(s);
  aio_engine_free(e);
}

void test_adaptive() {
  const Bytes b = tiny_model();
  aio_engine_t e = nullptr;
  aio_engine_options eo = aio_engine_options_default();
  eo.threads = 1;
  EXPECT_OK(aio_engine_init_memory(b.data(), b.size(), &eo, &e));
  const std::string path = temp_path("adaptive_trace.csv");
  const char text[] = "t_s,cpu_mhz\n0,2000\n1,1000\n2,500\n";
  AIO_CHECK(write_file(path, text, sizeof text - 1));
  aio_source_t s = nullptr;
  EXPECT_OK(aio_source_init_replay(path.c_str(), &s));
  std::remove(path.c_str());
  if (!e || !s) return;
  EXPECT_OK(aio_source_set_time(s, 0.0));

  aio_adaptive_t a = nullptr;
  aio_adaptive_options o = aio_adaptive_options_default();
  AIO_CHECK(o.struct_size == sizeof o && o.alpha > 0 && o.level_ms == nullptr);
  // Errors: NULLs, a table of the wrong length, bad struct size, bad governor options.
  EXPECT_FAIL(aio_adaptive_init(nullptr, s, &o, &a), AIO_STATUS_INVALID_ARGUMENT, "engine");
  EXPECT_FAIL(aio_adaptive_init(e, nullptr, &o, &a), AIO_STATUS_INVALID_ARGUMENT, "source");
  EXPECT_FAIL(aio_adaptive_init(e, s, &o, nullptr), AIO_STATUS_INVALID_ARGUMENT, "out");
  const double table3[3] = {1.0, 0.5, 0.25};
  o.level_ms = table3;
  o.num_level_ms = 3;
  EXPECT_FAIL(aio_adaptive_init(e, s, &o, &a), AIO_STATUS_INVALID_ARGUMENT, "num_level_ms 3");
  const double table_bad[2] = {1.0, -1.0};
  o.level_ms = table_bad;
  o.num_level_ms = 2;
  EXPECT_FAIL(aio_adaptive_init(e, s, &o, &a), AIO_STATUS_INVALID_ARGUMENT, "positive");
  o = aio_adaptive_options_default();
  o.alpha = 2.0;
  EXPECT_FAIL(aio_adaptive_init(e, s, &o, &a), AIO_STATUS_INVALID_ARGUMENT, "alpha");
  o = aio_adaptive_options_default();
  o.struct_size = 8;
  EXPECT_FAIL(aio_adaptive_init(e, s, &o, &a), AIO_STATUS_INVALID_ARGUMENT, "struct_size");
  o = aio_adaptive_options_default();
  AIO_CHECK(o.guard_quantile == 0.99 && o.guard_window == 512);
  o.guard_quantile = 1.0;
  EXPECT_FAIL(aio_adaptive_init(e, s, &o, &a), AIO_STATUS_INVALID_ARGUMENT, "guard_quantile");
  o.guard_quantile = 0.9;
  o.guard_window = 2;
  EXPECT_FAIL(aio_adaptive_init(e, s, &o, &a), AIO_STATUS_INVALID_ARGUMENT, "guard_window");
  AIO_CHECK(a == nullptr);

  // A given table: level 1 takes half of level 0; target = level 0 at full clock (2000 MHz).
  const double table[2] = {1.0, 0.5};
  o = aio_adaptive_options_default();
  o.level_ms = table;
  o.num_level_ms = 2;
  o.target_ms = 1.0;
  o.alpha = 1.0;
  o.miss_z = 0.0;
  o.up_margin = 0.0;
  EXPECT_OK(aio_adaptive_init(e, s, &o, &a));
  if (!a) return;
  // Both handles may go first; the adaptive one keeps what it uses alive.
  aio_engine_free(e);
  double t = 0;
  EXPECT_OK(aio_adaptive_get_target(a, &t));
  AIO_CHECK(t == 1.0);
  double pred = 0;
  EXPECT_OK(aio_adaptive_predict(a, 0, 1000, &pred));
  AIO_CHECK_NEAR(pred, 2.0, 1e-9);
  EXPECT_FAIL(aio_adaptive_predict(a, 2, 1000, &pred), AIO_STATUS_INVALID_ARGUMENT, "level 2");
  EXPECT_FAIL(aio_adaptive_predict(a, 0, 0, &pred), AIO_STATUS_INVALID_ARGUMENT, "mhz");
  double got[3] = {0, 0, -7};
  EXPECT_OK(aio_adaptive_get_table(a, got, 3));
  AIO_CHECK(got[0] == 1.0 && got[1] == 0.5 && got[2] == -7);
  EXPECT_FAIL(aio_adaptive_get_table(a, nullptr, 2), AIO_STATUS_INVALID_ARGUMENT, "level_ms");

  std::vector<float> x(32, 1.0f), y(3, 0.0f);
  uint32_t level = 9;
  double ms = -1;
  EXPECT_OK(aio_adaptive_run(a, 1, x.data(), x.size(), y.data(), y.size(), &level, &ms));
  AIO_CHECK(level == 0 && ms >= 0);
  AIO_CHECK_NEAR(y[0], 0.5f * kConvSum, 1e-3);
  // At 1000 MHz level 0 is predicted at 2 ms > 1 ms: the governor prunes.
  EXPECT_OK(aio_source_set_time(s, 1.2));
  EXPECT_OK(aio_adaptive_run(a, 1, x.data(), x.size(), y.data(), y.size(), &level, nullptr));
  AIO_CHECK(level == 1);
  AIO_CHECK_NEAR(y[0], 0.5f * kConvSum / 2, 1e-3);
  aio_source_free(s);
  EXPECT_FAIL(aio_adaptive_run(a, 1, x.data(), 31, y.data(), y.size(), nullptr, nullptr),
              AIO_STATUS_INVALID_ARGUMENT, "input_len 31");
  EXPECT_FAIL(aio_adaptive_run(nullptr, 1, x.data(), 32, y.data(), 3, nullptr, nullptr),
              AIO_STATUS_INVALID_ARGUMENT, "adaptive");
  EXPECT_FAIL(aio_adaptive_set_target(a, NAN), AIO_STATUS_INVALID_ARGUMENT, "NaN");

  aio_stats st;
  st.struct_size = sizeof st;
  EXPECT_OK(aio_adaptive_get_stats(a, &st));
  AIO_CHECK(st.count == 2 && st.switches == 1 && st.target_ms == 1.0);
  AIO_CHECK_NEAR(st.mean_level, 0.5, 1e-9);
  uint64_t c = 0;
  double total = 0;
  EXPECT_OK(aio_adaptive_get_level_stats(a, 1, &c, &total));
  AIO_CHECK(c == 1 && total >= 0);
  EXPECT_FAIL(aio_adaptive_get_level_stats(a, 2, &c, &total), AIO_STATUS_INVALID_ARGUMENT,
              "level 2");
  st.struct_size = 2;
  EXPECT_FAIL(aio_adaptive_get_stats(a, &st), AIO_STATUS_INVALID_ARGUMENT, "struct_size");
  EXPECT_OK(aio_adaptive_reset_stats(a));
  st.struct_size = sizeof st;
  EXPECT_OK(aio_adaptive_get_stats(a, &st));
  AIO_CHECK(st.count == 0);
  EXPECT_OK(aio_adaptive_set_target(a, 0.0));  // default: 1.05 x level 0
  EXPECT_OK(aio_adaptive_get_target(a, &t));
  AIO_CHECK_NEAR(t, 1.05, 1e-9);
  aio_adaptive_free(a);
}

// Calibration, emulation and a monitor thread, through the C++ wrapper.
void test_cpp_wrapper() {
  const Bytes b = tiny_model();
  allinone::Engine eng = allinone::Engine::from_memory(b.data(), b.size(), 1);
  AIO_CHECK(eng.name() == "tiny" && eng.num_levels() == 2 && eng.input_size() == 32);
  AIO_CHECK(eng.level_info(1).widths.size() == 1 && eng.level_info(1).widths[0] == 2);
  std::vector<float> x(32, 1.0f), y;
  AIO_CHECK(eng.run(x, y) == 0 && y.size() == 3);
  AIO_CHECK_NEAR(y[0], 0.5f * kConvSum, 1e-3);
  bool threw = false;
  try {
    eng.set_level(3);
  } catch (const allinone::Error& err) {
    threw = err.status() == AIO_STATUS_INVALID_ARGUMENT &&
            std::string(err.what()).find("level 3") != std::string::npos;
  }
  AIO_CHECK(threw);
  threw = false;
  try {
    allinone::Engine missing("/nonexistent/model.aio");
  } catch (const allinone::Error& err) {
    threw = err.status() == AIO_STATUS_IO;
  }
  AIO_CHECK(threw);
  AIO_CHECK(eng.affinity().empty());  // one thread, not pinned
  aio_engine_options pinned = aio_engine_options_default();
  pinned.threads = 2;
  pinned.cpus = "0";
  AIO_CHECK(allinone::Engine::from_memory(b.data(), b.size(), pinned).affinity() ==
            std::vector<int32_t>{0});

  allinone::Source clock = allinone::Source::fixed(500, 2000);
  aio_adaptive_options o = aio_adaptive_options_default();
  o.calibration_runs = 3;
  o.emulate = 1;     // 500 of 2000 MHz: each run padded to ~(0.85*4 + 0.15)x
  o.poll_us = 1000;  // and a monitor thread
  allinone::Adaptive ad(eng, clock, o);
  const std::vector<double> table = ad.table_ms(2);
  AIO_CHECK(table[0] > 0 && table[1] > 0);
  for (int i = 0; i < 20; ++i) {
    const allinone::RunResult r = ad.run(x, y);
    AIO_CHECK(r.level < 2 && r.latency_ms > 0);
  }
  // Under 4x slower emulated clock the default target (1.05 x level 0 at full clock) cannot be
  // met by level 0: the governor sits at the last level.
  AIO_CHECK(ad.level() == 1);
  const aio_stats st = ad.stats();
  AIO_CHECK(st.count == 20 && st.p50_ms > 0);
}

}  // namespace

int main(int argc, char** argv) {
  // `test_capi --write-model PATH` writes the tiny model (for scripts that need a .aio without
  // Python) and exits.
  if (argc == 3 && std::string(argv[1]) == "--write-model") {
    const Bytes b = tiny_model();
    return write_file(argv[2], b.data(), b.size()) ? 0 : 1;
  }
  // `test_capi --isa` prints the kernel set and the CPU's extensions ("neon fp16,dotprod"), for
  // tools/aarch64_check.sh to compare across qemu CPU models.
  if (argc == 2 && std::string(argv[1]) == "--isa") {
    std::printf("%s %s\n", aio_get_isa(), aio_get_isa_features());
    return 0;
  }
  test_basics();
  test_engine_ok();
  test_engine_errors();
  test_error_thread_local();
  test_sources();
  test_adaptive();
  test_engine_cpus();
  test_adaptive_measured_table();
  test_cpp_wrapper();
  return aio_test::finish("test_capi");
}
