// The C++ .aio reader: a tiny valid model built here byte by byte (independently of the Python
// writer), then every kind of malformed file -> aio::Error(Format) with a message naming the
// problem, never a crash. Also random corruption and every truncation length.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "format/crc32.h"
#include "format/model_file.h"
#include "runtime/engine.h"

namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint32_t NONE = 0xFFFFFFFFu;

void put32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void put64(Bytes& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void set32(Bytes& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = uint8_t(v >> (8 * i));
}
void set64(Bytes& b, size_t off, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[off + i] = uint8_t(v >> (8 * i));
}
uint64_t get64(const Bytes& b, size_t off) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(b[off + i]) << (8 * i);
  return v;
}

// The model: input (2,4,4) -> conv 3x3 pad 1 (group 0, width 4 -> 4/2) relu -> linear to 3.
// Tensors: 0 conv.w [4][2][3][3], 1 conv.s [2][4], 2 conv.b [2][4], 3 fc.w [3][64].
struct Spec {
  std::vector<uint32_t> widths = {4, 2};
  uint32_t conv_kh = 3, conv_ph = 1, value1_h = 4;
  uint32_t node1_in = 1, node0_weight = 0;
  uint64_t t0_dim0 = 4;
  uint32_t n_nodes_override = 0;
  float weight_value = 0.5f;
};

struct Layout {
  size_t tensors = 0, values = 0, nodes = 0, strings = 0;
};

Bytes build(const Spec& s, Layout* lay = nullptr) {
  const std::vector<std::string> strings = {"tiny",   "conv",   "fc",  "conv.w",
                                            "conv.s", "conv.b", "fc.w"};
  struct T {
    uint32_t name, ndim;
    uint64_t dims[4];
  };
  const T tensors[4] = {{3, 4, {s.t0_dim0, 2, 3, 3}},
                        {4, 2, {2, 4, 0, 0}},
                        {5, 2, {2, 4, 0, 0}},
                        {6, 2, {3, 64, 0, 0}}};
  Bytes data;
  std::vector<uint64_t> offsets;
  for (const T& t : tensors) {
    while (data.size() % 64) data.push_back(0);
    offsets.push_back(data.size());
    uint64_t n = 1;
    for (uint32_t d = 0; d < t.ndim; ++d) n *= t.dims[d];
    for (uint64_t i = 0; i < n; ++i) {
      uint32_t bits;
      const float v = s.weight_value;
      std::memcpy(&bits, &v, 4);
      put32(data, bits);
    }
  }
  while (data.size() % 64) data.push_back(0);

  Bytes meta;
  const uint32_t counts[16] = {uint32_t(strings.size()),
                               1,
                               2,
                               4,
                               3,
                               s.n_nodes_override ? s.n_nodes_override : 2,
                               0,
                               0,
                               2,
                               4,
                               4,
                               0,
                               2,
                               0,
                               0,
                               0};
  for (uint32_t c : counts) put32(meta, c);
  put32(meta, 4);  // group 0 full width
  for (float k : {1.0f, 0.5f}) {
    uint32_t bits;
    std::memcpy(&bits, &k, 4);
    put32(meta, bits);
  }
  for (uint32_t w : s.widths) put32(meta, w);
  if (lay) lay->tensors = 128 + meta.size();
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
  if (lay) lay->values = 128 + meta.size();
  const uint32_t values[3][4] = {{NONE, 2, 4, 4}, {0, 4, s.value1_h, 4}, {NONE, 3, 1, 1}};
  for (const auto& v : values)
    for (uint32_t x : v) put32(meta, x);
  if (lay) lay->nodes = 128 + meta.size();
  const uint32_t nodes[2][20] = {
      {1, 1, 0, NONE, 1, 1, s.node0_weight, 1, 2, s.conv_kh, 3, 1, 1, s.conv_ph, 1, 1, 1, 1, 0, 0},
      {2, 2, s.node1_in, NONE, 2, 0, 3, NONE, NONE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}};
  for (const auto& n : nodes)
    for (uint32_t x : n) put32(meta, x);
  if (lay) lay->strings = 128 + meta.size();
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
  put32(b, aio::crc32(meta.data(), meta.size()));
  put32(b, aio::crc32(data.data(), data.size()));
  b.resize(124, 0);
  put32(b, aio::crc32(b.data(), 124));
  b.insert(b.end(), meta.begin(), meta.end());
  b.resize(data_offset, 0);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// Recomputes all checksums so only the intended defect remains.
void refix(Bytes& b) {
  if (b.size() < 128) return;
  const uint64_t meta_size = get64(b, 32), data_offset = get64(b, 40), data_size = get64(b, 48);
  if (128 + meta_size <= b.size()) set32(b, 56, aio::crc32(b.data() + 128, meta_size));
  if (data_offset + data_size <= b.size() && data_offset <= b.size())
    set32(b, 60, aio::crc32(b.data() + data_offset, data_size));
  set32(b, 124, aio::crc32(b.data(), 124));
}

// Expects a Format error whose message contains `expect`.
void expect_format_error(const char* what, const Bytes& b, const std::string& expect) {
  try {
    aio::parse_model(b.data(), b.size());
    std::printf("%s: no error (expected \"%s\")\n", what, expect.c_str());
    ++aio_test::failures();
  } catch (const aio::Error& e) {
    if (e.code() != aio::ErrorCode::Format ||
        std::string(e.what()).find(expect) == std::string::npos) {
      std::printf("%s: got \"%s\", expected \"%s\"\n", what, e.what(), expect.c_str());
      ++aio_test::failures();
    }
  }
}

void test_valid_and_runs() {
  const Bytes b = build(Spec{});
  aio::ModelFile m = aio::parse_model(b.data(), b.size());
  AIO_CHECK(m.name == "tiny");
  AIO_CHECK(m.nodes.size() == 2 && m.nodes[0].name == "conv");
  AIO_CHECK(m.tensors[3].name == "fc.w" && m.tensors[3].dims[1] == 64);
  AIO_CHECK(m.channels(1, 1) == 2);

  auto e = aio::Engine::load_memory(b.data(), b.size(), aio::EngineOptions{1});
  AIO_CHECK(e->num_levels() == 2 && e->output_shape(0).c == 3);
  // All weights 0.5, scale/bias 0.5, input 1, interior pixel: conv = 0.5*18 = 9 -> 0.5*9+0.5 = 5.
  std::vector<float> x(32, 1.0f), y(3, 0.0f);
  e->run_at(0, x.data(), 1, y.data());
  // Corner pixels see 4 taps per channel (sum 4*2*0.5 = 4 -> 2.5), edges 6 (-> 3.5), inside 9 (5).
  const float conv_sum = 4 * (4 * 2.5f + 8 * 3.5f + 4 * 5.0f);  // 4 channels x 16 pixels
  AIO_CHECK_NEAR(y[0], 0.5f * conv_sum, 1e-3);
  // Level 1: 2 conv channels, the fc uses the first 32 columns.
  e->run_at(1, x.data(), 1, y.data());
  AIO_CHECK_NEAR(y[0], 0.5f * conv_sum / 2, 1e-3);
  AIO_CHECK(e->level_info(0).flops == 2 * (16 * 4 * 18 + 3 * 64));
  AIO_CHECK(e->level_info(1).flops == 2 * (16 * 2 * 18 + 3 * 32));
  bool threw = false;
  try {
    e->set_level(2);
  } catch (const aio::Error& err) {
    threw = err.code() == aio::ErrorCode::InvalidArgument;
  }
  AIO_CHECK(threw);
}

void test_malformed() {
  Layout lay;
  const Bytes good = build(Spec{}, &lay);
  auto patched = [&](const std::function<void(Bytes&)>& f, bool fix = true) {
    Bytes b = good;
    f(b);
    if (fix) refix(b);
    return b;
  };
  expect_format_error("bad magic", patched([](Bytes& b) { b[0] = 'X'; }), "bad magic");
  expect_format_error("version", patched([](Bytes& b) { set32(b, 8, 7); }),
                      "unsupported version 7");
  expect_format_error("empty", Bytes{}, "file truncated");
  expect_format_error("short", Bytes(good.begin(), good.begin() + 100), "file truncated");
  expect_format_error("truncated", Bytes(good.begin(), good.end() - 64),
                      "file truncated: header says " + std::to_string(good.size()));
  Bytes longer = good;
  longer.push_back(0);
  expect_format_error("too long", longer, "file size mismatch");
  expect_format_error("header crc", patched([](Bytes& b) { b[100] = 1; }, false),
                      "header checksum mismatch");
  expect_format_error("reserved", patched([](Bytes& b) { b[100] = 1; }), "reserved header bytes");
  expect_format_error("meta crc",
                      patched(
                          [&](Bytes& b) {
                            b[lay.strings + 5] ^= 1;
                            set32(b, 124, aio::crc32(b.data(), 124));
                          },
                          false),
                      "metadata checksum mismatch");
  expect_format_error("data crc", patched([](Bytes& b) { b.back() ^= 1; }, false),
                      "data checksum mismatch");
  expect_format_error("meta size", patched([](Bytes& b) { set64(b, 32, 1u << 30); }),
                      "metadata section lies outside the file");
  expect_format_error("data offset", patched([](Bytes& b) { set64(b, 40, get64(b, 40) + 1); }),
                      "multiple of 64");
  expect_format_error("tensor outside",
                      patched([&](Bytes& b) { set64(b, lay.tensors + 3 * 64 + 48, 4096); }),
                      "tensor 3 (\"fc.w\") lies outside the data section");
  expect_format_error("tensor offset overflow", patched([&](Bytes& b) {
                        set64(b, lay.tensors + 3 * 64 + 48, ~uint64_t(63));
                      }),
                      "lies outside the data section");
  expect_format_error("tensor dims overflow", patched([&](Bytes& b) {
                        for (int d = 0; d < 3; ++d)
                          set64(b, lay.tensors + 16 + 8 * d, uint64_t(1) << 40);
                      }),
                      "size overflows");
  expect_format_error("tensor dtype", patched([&](Bytes& b) { set32(b, lay.tensors + 4, 2); }),
                      "tensor 0: unsupported dtype 2");
  expect_format_error("tensor ndim", patched([&](Bytes& b) { set32(b, lay.tensors + 8, 5); }),
                      "ndim 5");
  expect_format_error("too many nodes", patched([](Bytes& b) { set32(b, 128 + 20, 2000000); }),
                      "too many nodes");
  expect_format_error("many values", patched([](Bytes& b) { set32(b, 128 + 16, 999999); }),
                      "metadata truncated");
  expect_format_error("many levels", patched([](Bytes& b) { set32(b, 128 + 8, 1000000); }),
                      "metadata truncated");
  expect_format_error("no levels", patched([](Bytes& b) { set32(b, 128 + 8, 0); }), "no levels");
  expect_format_error("string len", patched([&](Bytes& b) { set32(b, lay.strings, 0x7FFFFFFF); }),
                      "metadata truncated while reading strings");
  expect_format_error("utf-8", patched([&](Bytes& b) { b[lay.strings + 4] = 0xC0; }),
                      "string 0 is not valid UTF-8");
  expect_format_error("string index", patched([&](Bytes& b) { set32(b, lay.nodes + 4, 99); }),
                      "node 0: string index 99 out of range");
  expect_format_error("input value", patched([](Bytes& b) { set32(b, 128 + 44, 1); }),
                      "input_value must be 0");
  expect_format_error("output value", patched([](Bytes& b) { set32(b, 128 + 48, 7); }),
                      "output value 7 out of range");
  expect_format_error("unknown op", patched([&](Bytes& b) { set32(b, lay.nodes, 42); }),
                      "unknown op 42");
  expect_format_error("unknown act", patched([&](Bytes& b) { set32(b, lay.nodes + 20, 9); }),
                      "node 0 (CONV2D \"conv\"): unknown activation 9");
  expect_format_error("value group", patched([&](Bytes& b) { set32(b, lay.values + 16, 5); }),
                      "value 1: group 5 out of range");
  expect_format_error("value dim 0", patched([&](Bytes& b) { set32(b, lay.values + 16 + 12, 0); }),
                      "value 1: every dimension");
  expect_format_error("reserved node", patched([&](Bytes& b) { set32(b, lay.nodes + 76, 1); }),
                      "reserved");

  Spec s;
  s.widths = {2, 4};
  expect_format_error("not nested", build(s), "levels must be nested");
  s = Spec{};
  s.widths = {5, 2};
  expect_format_error("too wide", build(s), "width 5 not in [1, 4]");
  s = Spec{};
  s.value1_h = 3;
  expect_format_error(
      "value shape", build(s),
      "node 0 (CONV2D \"conv\"): output value 1 has shape (4, 3, 4), expected (4, 4, 4)");
  s = Spec{};
  s.t0_dim0 = 5;
  expect_format_error("weight shape", build(s),
                      "weight \"conv.w\" has shape [5][2][3][3], expected [4][2][3][3]");
  s = Spec{};
  s.conv_ph = 3;
  expect_format_error("padding", build(s), "padding must be smaller than the kernel");
  s = Spec{};
  s.node1_in = 2;
  expect_format_error("self input", build(s),
                      "node 1 (LINEAR \"fc\"): input value 2 is not produced");
  s = Spec{};
  s.node1_in = 9;
  expect_format_error("bad input", build(s), "input value 9 out of range");
  s = Spec{};
  s.node0_weight = 3;
  expect_format_error("wrong weight", build(s), "weight \"fc.w\" must have 4 dims");
  s = Spec{};
  s.node0_weight = 17;
  expect_format_error("weight index", build(s), "tensor index 17 out of range");
}

// Random corruption (checksums recomputed) and every truncation: errors only, never a crash.
void test_fuzz() {
  const Bytes good = build(Spec{});
  std::mt19937 rng(1234);
  int loaded = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes b = good;
    const int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = uint8_t(rng());
    if (iter % 2) refix(b);
    try {
      auto e = aio::Engine::load_memory(b.data(), b.size(), aio::EngineOptions{1});
      std::vector<float> x(32, 1.0f), y(64 * 1024);
      if (e->input_shape().c * e->input_shape().h * e->input_shape().w == 32 &&
          e->output_shape(0).c * e->output_shape(0).h * e->output_shape(0).w <= y.size())
        e->run_at(0, x.data(), 1, y.data());
      ++loaded;
    } catch (const aio::Error&) {
      ++rejected;
    }
  }
  for (size_t n = 0; n < good.size(); ++n) {
    try {
      aio::parse_model(good.data(), n);
      std::printf("truncation to %zu bytes accepted\n", n);
      ++aio_test::failures();
    } catch (const aio::Error&) {
    }
  }
  std::printf("fuzz: %d loaded, %d rejected\n", loaded, rejected);
  AIO_CHECK(rejected > 0);
}

}  // namespace

int main() {
  test_valid_and_runs();
  test_malformed();
  test_fuzz();
  return aio_test::finish("test_format");
}
