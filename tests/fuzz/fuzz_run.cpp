// libFuzzer target (b): Engine::load_memory + one zero-input forward pass at every level.
//
// Reaches what parse_model accepts: op construction, weight packing, the buffer planner and every
// kernel, on "reader-valid but odd" models (tiny or huge kernels, strides, paddings, ceil_mode,
// depthwise/grouped convs, residuals, dead values, any level table). The checksum-fixed copy of the
// input is used (see fuzz_common.h). A model over the fuzz budget (work per run, activation or
// weight memory) is skipped before load, so each input stays in the millisecond range; the budget
// is a harness limit, not a runtime one.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "format/model_file.h"
#include "fuzz_common.h"
#include "runtime/engine.h"

namespace {

constexpr uint64_t kMaxWork = 4u << 20;        // multiply-adds (or window reads), all nodes
constexpr uint64_t kMaxActFloats = 4u << 20;   // sum of all value sizes at full width
constexpr uint64_t kMaxScratchFloats = 4u << 20;  // im2col-sized scratch of one conv
constexpr uint64_t kMaxLevels = 16;

// True when running the model stays inside the fuzz budget. Uses only fields parse_model checked.
bool within_budget(const aio::ModelFile& m) {
  if (m.num_levels() > kMaxLevels) return false;
  uint64_t act = 0;
  for (const auto& v : m.values) act += uint64_t(v.c) * v.h * v.w;  // each <= 2^31, n <= 1e6
  if (act > kMaxActFloats) return false;
  uint64_t work = 0;
  for (const auto& n : m.nodes) {
    const aio::ValueDesc& x = m.values[n.in0];
    const aio::ValueDesc& y = m.values[n.out];
    const uint64_t out = uint64_t(y.c) * y.h * y.w;
    uint64_t per = 1;
    switch (n.op) {
      case aio::OpCode::Conv2d: {
        const uint64_t g = std::max<uint32_t>(n.groups, 1);
        const uint64_t k = uint64_t(x.c / g) * n.kh * n.kw;  // each factor <= 2^20
        if (k * y.h * y.w > kMaxScratchFloats) return false;
        per = k;
        break;
      }
      case aio::OpCode::Linear: per = uint64_t(x.c) * x.h * x.w; break;
      case aio::OpCode::MaxPool:
      case aio::OpCode::AvgPool: per = uint64_t(n.kh) * n.kw; break;
      case aio::OpCode::GlobalAvgPool: per = uint64_t(x.h) * x.w; break;
      default: break;
    }
    if (per > kMaxWork || out > kMaxWork) return false;
    work += out * per;
    if (work > kMaxWork) return false;
  }
  return true;
}

// AIO_FUZZ_STATS=1: print how many inputs were parsed, run, or skipped for the budget (to check
// that the corpus really reaches the kernels).
struct Stats {
  size_t inputs = 0, rejected = 0, over_budget = 0, ran = 0, levels = 0;
  ~Stats() {
    if (std::getenv("AIO_FUZZ_STATS"))
      std::fprintf(stderr, "fuzz_run: %zu inputs, %zu rejected by the reader, %zu over budget, "
                   "%zu loaded and run (%zu level runs)\n", inputs, rejected, over_budget, ran, levels);
  }
} stats;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = aio_fuzz::fix_up(data, size);
  ++stats.inputs;
  try {
    if (!within_budget(aio::parse_model(bytes.data(), bytes.size()))) {
      ++stats.over_budget;
      return 0;
    }
  } catch (const aio::Error&) {
    ++stats.rejected;
    return 0;  // target (a) checks the reader's errors
  }
  ++stats.ran;
  aio::EngineOptions opts;
  opts.threads = 1 + (size & 1);  // odd sizes also exercise the thread pool (2 threads)
  std::unique_ptr<aio::Engine> eng;
  try {
    eng = aio::Engine::load_memory(bytes.data(), bytes.size(), opts);
  } catch (const aio::Error& e) {
    std::fprintf(stderr, "load_memory rejected a model parse_model accepted: %s\n", e.what());
    std::abort();
  }
  const aio::Shape in = eng->input_shape();
  const std::vector<float> x(size_t(in.c) * in.h * in.w, 0.0f);
  for (size_t k = 0; k < eng->num_levels(); ++k) {
    const aio::Shape o = eng->output_shape(k);
    // Exactly sized (no slack): ASan reports any write past the declared output shape.
    std::vector<float> y(size_t(o.c) * o.h * o.w, std::nanf(""));
    eng->run_at(k, x.data(), 1, y.data());
    ++stats.levels;
    // A zero input through finite weights must give finite outputs; NaN/Inf weights may not.
    (void)y;
  }
  return 0;
}
