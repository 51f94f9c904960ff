// libFuzzer target (c): structure-aware. The fuzz input is not a file but the choices of a
// generator that writes a *valid* .aio (random input shape, 1-4 levels, a chain of up to 8 nodes of
// every op with random kernel/stride/padding/dilation/ceil_mode/groups/residuals/activations and
// random level widths; version 2's gates, softmax and resizes included), so every input reaches
// Engine::load_memory and the kernels: targets (a) and (b) mostly stop in the reader, since nearly
// any byte change breaks a shape rule.
//
// Oracles: no sanitizer report; parse_model accepts what the generator wrote (else the generator
// or the reader is wrong: abort); a batch of 2 equal images gives each image's single-run output
// bit for bit; a 1-thread and a 3-thread engine agree to 1e-3 relative.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "format/crc32.h"
#include "format/model_file.h"
#include "runtime/engine.h"

namespace {

struct V {
  uint32_t group, c, h, w;
};
struct T {
  uint32_t ndim;
  uint64_t dims[4];
  std::vector<float> data;
};

class Builder {
 public:
  uint32_t str(const std::string& s) {
    strings.push_back(s);
    return uint32_t(strings.size() - 1);
  }
  uint32_t tensor(std::vector<uint64_t> dims, FuzzedDataProvider& fdp) {
    T t{};
    t.ndim = uint32_t(dims.size());
    uint64_t n = 1;
    for (size_t i = 0; i < dims.size(); ++i) t.dims[i] = dims[i], n *= dims[i];
    t.data.resize(n);
    const float scale = fdp.ConsumeFloatingPointInRange<float>(0.01f, 2.0f);
    for (uint64_t i = 0; i < n; ++i) t.data[i] = scale * float(int((i * 2654435761u) % 17) - 8) / 8.f;
    if (fdp.ConsumeBool() && n) t.data[fdp.ConsumeIntegralInRange<uint64_t>(0, n - 1)] = 0.f;
    tensors.push_back(std::move(t));
    return uint32_t(tensors.size() - 1);
  }
  std::vector<uint8_t> bytes(uint32_t levels, uint32_t out, uint32_t in_c, uint32_t in_h,
                             uint32_t in_w) {
    std::vector<uint8_t> meta;
    auto u32 = [&](uint32_t v) { meta.insert(meta.end(), (uint8_t*)&v, (uint8_t*)&v + 4); };
    auto u64 = [&](uint64_t v) { meta.insert(meta.end(), (uint8_t*)&v, (uint8_t*)&v + 8); };
    const uint32_t name = str("fuzz");
    const uint32_t counts[16] = {uint32_t(strings.size()), uint32_t(group_full.size()), levels,
                                 uint32_t(tensors.size()), uint32_t(values.size()),
                                 uint32_t(nodes.size() / 20), 0, name, in_c, in_h, in_w, 0, out,
                                 0, 0, 0};
    for (uint32_t c : counts) u32(c);
    for (uint32_t g : group_full) u32(g);
    for (uint32_t k = 0; k < levels; ++k) {
      const float r = 1.0f - 0.25f * float(k);
      u32(*reinterpret_cast<const uint32_t*>(&r));
    }
    for (uint32_t k = 0; k < levels; ++k)
      for (size_t g = 0; g < group_full.size(); ++g) u32(widths[g][k]);
    std::vector<uint8_t> data;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const T& t = tensors[i];
      data.resize((data.size() + 63) / 64 * 64);
      u32(str("t" + std::to_string(i)));
      u32(1);
      u32(t.ndim);
      u32(0);
      for (int d = 0; d < 4; ++d) u64(t.dims[d]);
      u64(data.size());
      u64(t.data.size() * 4);
      const uint8_t* p = reinterpret_cast<const uint8_t*>(t.data.data());
      data.insert(data.end(), p, p + t.data.size() * 4);
    }
    data.resize((data.size() + 63) / 64 * 64);
    for (const V& v : values) u32(v.group), u32(v.c), u32(v.h), u32(v.w);
    for (uint32_t x : nodes) u32(x);
    // Strings added above (tensor names) come after the counts were taken: patch n_strings.
    for (const std::string& s : strings) {
      u32(uint32_t(s.size()));
      meta.insert(meta.end(), s.begin(), s.end());
    }
    const uint32_t n_str = uint32_t(strings.size());
    std::memcpy(meta.data(), &n_str, 4);
    const uint64_t data_off = (128 + meta.size() + 63) / 64 * 64;
    std::vector<uint8_t> f(data_off + data.size(), 0);
    std::memcpy(f.data(), "AIOMODEL", 8);
    auto put32 = [&](size_t o, uint32_t v) { std::memcpy(&f[o], &v, 4); };
    auto put64 = [&](size_t o, uint64_t v) { std::memcpy(&f[o], &v, 8); };
    put32(8, 2), put32(12, 128), put64(16, f.size()), put64(24, 128), put64(32, meta.size());
    put64(40, data_off), put64(48, data.size());
    std::memcpy(&f[128], meta.data(), meta.size());
    if (!data.empty()) std::memcpy(&f[data_off], data.data(), data.size());
    put32(56, aio::crc32(meta.data(), meta.size()));
    put32(60, aio::crc32(data.data(), data.size()));
    put32(124, aio::crc32(f.data(), 124));
    return f;
  }

  std::vector<std::string> strings;
  std::vector<uint32_t> group_full;
  std::vector<std::vector<uint32_t>> widths;  // [group][level]
  std::vector<T> tensors;
  std::vector<V> values;
  std::vector<uint32_t> nodes;  // 20 u32 per node
  std::vector<uint32_t> concats;  // CONCAT outputs: read only by the 1x1 conv emitted with them
  bool is_concat(uint32_t v) const {
    return std::find(concats.begin(), concats.end(), v) != concats.end();
  }
};

uint64_t out_size(uint64_t in, uint64_t k, uint64_t s, uint64_t p, uint64_t d, bool ceil) {
  return aio::conv_out_size(in, k, s, p, d, ceil);
}

std::vector<uint8_t> generate(FuzzedDataProvider& fdp) {
  Builder b;
  const uint32_t levels = fdp.ConsumeIntegralInRange<uint32_t>(1, 4);
  auto new_group = [&](uint32_t full) {
    std::vector<uint32_t> w(levels);
    uint32_t prev = full;
    for (uint32_t k = 0; k < levels; ++k)
      prev = w[k] = k == 0 && fdp.ConsumeBool() ? full : fdp.ConsumeIntegralInRange<uint32_t>(1, prev);
    b.group_full.push_back(full);
    b.widths.push_back(w);
    return uint32_t(b.group_full.size() - 1);
  };
  const uint32_t in_c = fdp.ConsumeIntegralInRange<uint32_t>(1, 8);
  const uint32_t in_h = fdp.ConsumeIntegralInRange<uint32_t>(1, 14);
  const uint32_t in_w = fdp.ConsumeIntegralInRange<uint32_t>(1, 14);
  b.values.push_back({aio::kNone, in_c, in_h, in_w});
  uint32_t cur = 0;
  const int n_nodes = fdp.ConsumeIntegralInRange<int>(1, 8);
  for (int i = 0; i < n_nodes && fdp.remaining_bytes() > 0; ++i) {
    const V x = b.values[cur];
    uint32_t r[20] = {0};
    r[1] = b.str("n" + std::to_string(i));
    r[2] = cur, r[3] = aio::kNone, r[5] = fdp.ConsumeIntegralInRange<uint32_t>(0, aio::kMaxActV2);
    r[6] = r[7] = r[8] = aio::kNone;
    V y{};
    const int op = fdp.ConsumeIntegralInRange<int>(1, int(aio::kMaxOpV2));
    if (op == 1) {  // CONV2D
      const uint32_t kh = fdp.ConsumeIntegralInRange<uint32_t>(1, 5), kw = fdp.ConsumeIntegralInRange<uint32_t>(1, 5);
      const uint32_t sh = fdp.ConsumeIntegralInRange<uint32_t>(1, 3), sw = fdp.ConsumeIntegralInRange<uint32_t>(1, 3);
      const uint32_t dh = fdp.ConsumeIntegralInRange<uint32_t>(1, 3), dw = fdp.ConsumeIntegralInRange<uint32_t>(1, 3);
      const uint32_t ph = fdp.ConsumeIntegralInRange<uint32_t>(0, kh - 1), pw = fdp.ConsumeIntegralInRange<uint32_t>(0, kw - 1);
      const uint64_t oh = out_size(x.h, kh, sh, ph, dh, false), ow = out_size(x.w, kw, sw, pw, dw, false);
      if (!oh || !ow) continue;
      const int kind = fdp.ConsumeIntegralInRange<int>(0, 2);  // 0 dense, 1 depthwise, 2 grouped
      uint32_t g = 1;
      if (kind == 1 && x.c > 1) {
        g = x.c;
        y = {x.group, x.c, uint32_t(oh), uint32_t(ow)};
      } else if (kind == 2 && x.group == aio::kNone && x.c > 1) {
        g = x.c % 2 == 0 ? 2 : x.c;
        const uint32_t co = g * fdp.ConsumeIntegralInRange<uint32_t>(1, 3);
        y = {aio::kNone, co, uint32_t(oh), uint32_t(ow)};
        if (g == x.c && co == x.c) y.group = x.group;  // that is depthwise: same group
      } else {
        const uint32_t co = fdp.ConsumeIntegralInRange<uint32_t>(1, 24);
        y = {fdp.ConsumeBool() ? new_group(co) : aio::kNone, co, uint32_t(oh), uint32_t(ow)};
      }
      r[0] = 1, r[9] = kh, r[10] = kw, r[11] = sh, r[12] = sw, r[13] = ph, r[14] = pw;
      r[15] = dh, r[16] = dw, r[17] = g;
      r[6] = b.tensor({y.c, x.c / g, kh, kw}, fdp);
      if (fdp.ConsumeBool()) r[7] = b.tensor({levels, y.c}, fdp);
      if (fdp.ConsumeBool()) r[8] = b.tensor({levels, y.c}, fdp);
      if (fdp.ConsumeBool())  // residual: any earlier value of the same group and shape
        for (uint32_t v = 0; v < b.values.size(); ++v) {
          const V& c = b.values[v];
          if (c.group == y.group && c.c == y.c && c.h == y.h && c.w == y.w && !b.is_concat(v)) {
            r[3] = v;
            break;
          }
        }
    } else if (op == 2) {  // LINEAR
      const uint32_t o = fdp.ConsumeIntegralInRange<uint32_t>(1, 20);
      y = {fdp.ConsumeBool() ? new_group(o) : aio::kNone, o, 1, 1};
      r[0] = 2;
      r[6] = b.tensor({o, uint64_t(x.c) * x.h * x.w}, fdp);
      if (fdp.ConsumeBool()) r[7] = b.tensor({levels, o}, fdp);
      if (fdp.ConsumeBool()) r[8] = b.tensor({levels, o}, fdp);
    } else if (op == 3 || op == 4) {  // ADD (with itself or an equal earlier value), ACT
      y = x;
      r[0] = op;
      if (op == 3) {
        r[3] = cur;
        for (uint32_t v = 0; v < b.values.size(); ++v) {
          const V& c = b.values[v];
          if (v != cur && c.group == x.group && c.c == x.c && c.h == x.h && c.w == x.w &&
              !b.is_concat(v) && fdp.ConsumeBool()) {
            r[3] = v;
            break;
          }
        }
      }
    } else if (op == 5 || op == 6) {  // MAXPOOL, AVGPOOL
      const uint32_t kh = fdp.ConsumeIntegralInRange<uint32_t>(1, 4), kw = fdp.ConsumeIntegralInRange<uint32_t>(1, 4);
      const uint32_t sh = fdp.ConsumeIntegralInRange<uint32_t>(1, 3), sw = fdp.ConsumeIntegralInRange<uint32_t>(1, 3);
      const uint32_t ph = fdp.ConsumeIntegralInRange<uint32_t>(0, kh / 2), pw = fdp.ConsumeIntegralInRange<uint32_t>(0, kw / 2);
      const uint32_t flags = fdp.ConsumeIntegralInRange<uint32_t>(0, op == 6 ? 3 : 1);
      const uint64_t oh = out_size(x.h, kh, sh, ph, 1, flags & 1), ow = out_size(x.w, kw, sw, pw, 1, flags & 1);
      if (!oh || !ow) continue;
      y = {x.group, x.c, uint32_t(oh), uint32_t(ow)};
      r[0] = op, r[9] = kh, r[10] = kw, r[11] = sh, r[12] = sw, r[13] = ph, r[14] = pw;
      r[15] = r[16] = 1, r[18] = flags;
    } else if (op == 7) {  // GLOBAL_AVGPOOL
      y = {x.group, x.c, 1, 1};
      r[0] = 7;
    } else if (op == 8) {  // MUL by a gate: a global pool of x (the squeeze-excite shape), or
                           // any earlier (C, 1, 1) value of x's group
      uint32_t gate = aio::kNone;
      for (uint32_t v = 0; v < b.values.size(); ++v) {
        const V& c = b.values[v];
        if (c.group == x.group && c.c == x.c && c.h == 1 && c.w == 1 && !b.is_concat(v) &&
            fdp.ConsumeBool()) {
          gate = v;
          break;
        }
      }
      if (gate == aio::kNone) {
        uint32_t p[20] = {0};
        p[0] = 7, p[1] = b.str("g" + std::to_string(i)), p[2] = cur, p[3] = aio::kNone;
        p[6] = p[7] = p[8] = aio::kNone;
        b.values.push_back({x.group, x.c, 1, 1});
        gate = p[4] = uint32_t(b.values.size() - 1);
        p[5] = fdp.ConsumeIntegralInRange<uint32_t>(0, aio::kMaxActV2);
        b.nodes.insert(b.nodes.end(), p, p + 20);
      }
      y = x;
      r[0] = 8, r[3] = gate;
    } else if (op == 9) {  // SOFTMAX over channels
      y = x;
      r[0] = 9, r[5] = 0;
    } else if (op == 11) {  // CONCAT with an earlier value of the same size, read by a 1x1 conv
                            // (a levelled one may only be read by a dense conv or a concat)
      uint32_t other = cur;
      for (uint32_t v = 0; v < b.values.size(); ++v) {
        const V& c = b.values[v];
        if (c.h == x.h && c.w == x.w && !b.is_concat(v) && fdp.ConsumeBool()) {
          other = v;
          break;
        }
      }
      if (b.is_concat(cur) || x.c + b.values[other].c > 64) continue;
      uint32_t p[20] = {0};
      p[0] = 11, p[1] = b.str("cat" + std::to_string(i)), p[2] = cur, p[3] = other;
      p[6] = p[7] = p[8] = aio::kNone;
      if (fdp.ConsumeBool()) std::swap(p[2], p[3]);
      b.values.push_back({aio::kNone, x.c + b.values[other].c, x.h, x.w});
      p[4] = uint32_t(b.values.size() - 1);
      b.concats.push_back(p[4]);
      b.nodes.insert(b.nodes.end(), p, p + 20);
      const uint32_t co = fdp.ConsumeIntegralInRange<uint32_t>(1, 16);
      y = {fdp.ConsumeBool() ? new_group(co) : aio::kNone, co, x.h, x.w};
      r[0] = 1, r[2] = p[4], r[9] = r[10] = r[11] = r[12] = r[15] = r[16] = r[17] = 1;
      r[6] = b.tensor({y.c, b.values[p[4]].c, 1, 1}, fdp);
      if (fdp.ConsumeBool()) r[7] = b.tensor({levels, y.c}, fdp);
      if (fdp.ConsumeBool()) r[8] = b.tensor({levels, y.c}, fdp);
    } else {  // RESIZE by integer factors, nearest or bilinear (maps kept small)
      const uint32_t sh = fdp.ConsumeIntegralInRange<uint32_t>(1, 3), sw = fdp.ConsumeIntegralInRange<uint32_t>(1, 3);
      if (x.h * sh > 48 || x.w * sw > 48) continue;
      y = {x.group, x.c, x.h * sh, x.w * sw};
      r[0] = 10, r[11] = sh, r[12] = sw, r[18] = fdp.ConsumeIntegralInRange<uint32_t>(0, 1);
    }
    b.values.push_back(y);
    r[4] = uint32_t(b.values.size() - 1);
    b.nodes.insert(b.nodes.end(), r, r + 20);
    if (fdp.ConsumeIntegralInRange<int>(0, 3) != 0) cur = r[4];  // else a branch off `cur`
  }
  if (b.nodes.empty()) return {};
  // Output: the last node's value (a random earlier one sometimes: an output read by later ops).
  uint32_t out = b.nodes[b.nodes.size() - 20 + 4];
  if (fdp.ConsumeBool()) {
    const uint32_t pick = b.nodes[20 * fdp.ConsumeIntegralInRange<size_t>(0, b.nodes.size() / 20 - 1) + 4];
    if (!b.is_concat(pick)) out = pick;
  }
  return b.bytes(levels, out, in_c, in_h, in_w);
}

bool close(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0, e = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return false;
    if (std::isnan(a[i]) || std::isinf(a[i]) || std::isinf(b[i])) continue;
    m = std::max(m, double(std::fabs(a[i])));
    e = std::max(e, double(std::fabs(a[i] - b[i])));
  }
  return e <= 1e-3 * std::max(1.0, m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  const std::vector<uint8_t> file = generate(fdp);
  if (file.empty()) return 0;
  try {
    (void)aio::parse_model(file.data(), file.size());
  } catch (const aio::Error& e) {
    std::fprintf(stderr, "generated model rejected: %s\n", e.what());
    std::abort();
  }
  aio::EngineOptions one, many;
  one.threads = 1;
  many.threads = 3;
  auto e1 = aio::Engine::load_memory(file.data(), file.size(), one);
  auto e3 = aio::Engine::load_memory(file.data(), file.size(), many);
  const aio::Shape s = e1->input_shape();
  const size_t n_in = size_t(s.c) * s.h * s.w;
  std::vector<float> x(2 * n_in);
  for (size_t i = 0; i < n_in; ++i) x[i] = x[n_in + i] = float(int(i % 13) - 6) / 4.f;
  for (size_t k = 0; k < e1->num_levels(); ++k) {
    const aio::Shape o = e1->output_shape(k);
    const size_t n_out = size_t(o.c) * o.h * o.w;
    std::vector<float> y1(n_out), y3(n_out), yb(2 * n_out);
    e1->run_at(k, x.data(), 1, y1.data());
    e3->run_at(k, x.data(), 1, y3.data());
    e1->run_at(k, x.data(), 2, yb.data());
    if (std::memcmp(yb.data(), y1.data(), n_out * 4) != 0 ||
        std::memcmp(yb.data() + n_out, y1.data(), n_out * 4) != 0) {
      std::fprintf(stderr, "level %zu: batch of 2 differs from single runs\n", k);
      std::abort();
    }
    if (!close(y1, y3)) {
      std::fprintf(stderr, "level %zu: 1 thread and 3 threads disagree\n", k);
      std::abort();
    }
  }
  return 0;
}
