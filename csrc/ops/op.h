// The operator interface between the engine and csrc/ops/*.cpp.
//
// An Op is built once at load from the parsed file (make_op): it packs or copies what it needs
// from the file bytes, so the engine can free them afterwards. run() executes one image at one
// level, splitting work over the thread pool in tiles; it never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "format/model_file.h"
#include "ops/fusion.h"
#include "kernels/kernels.h"
#include "runtime/thread_pool.h"

namespace aio {

// Everything one op needs for one image of one run.
struct OpContext {
  const float* input = nullptr;    // value 0 of this image (the caller's data, never written)
  float* const* values = nullptr;  // buffer of every other value (full-width capacity)
  float* scratch = nullptr;        // Op::scratch_floats() floats, 64-byte aligned, for this run
  ThreadPool* pool = nullptr;      // nullptr: run on the calling thread only
  size_t level = 0;

  const float* in(uint32_t v) const { return v == 0 ? input : values[v]; }
  float* out(uint32_t v) const { return values[v]; }
  size_t workers() const { return pool ? static_cast<size_t>(pool->size()) : 1; }
  // Runs fn(task, worker) for every task, in parallel when a pool is available and the work is
  // worth a hand-off (serial: the layer is below kSerialFlops; its tasks then only bound scratch).
  template <class F>
  void parallel(size_t n_tasks, F&& fn, bool serial = false) const {
    if (pool != nullptr && n_tasks > 1 && !serial) {
      pool->parallel_for(n_tasks, TaskFn(fn));
    } else {
      for (size_t t = 0; t < n_tasks; ++t) fn(t, size_t{0});
    }
  }
};

class Op {
 public:
  virtual ~Op() = default;
  virtual void run(const OpContext& ctx) const = 0;
  // Scratch one run of the op needs (floats, at the widest level), shared by all its tasks: the
  // engine reserves the largest op's need once per concurrent call.
  virtual size_t scratch_floats() const { return 0; }
  // Multiply-adds and parameters (weights + one bias per output channel) at a level.
  virtual uint64_t macs(size_t /*level*/) const { return 0; }
  virtual uint64_t params(size_t /*level*/) const { return 0; }
  // Bytes this op keeps in memory (packed weights, per-level scale/bias).
  virtual size_t weight_bytes() const { return 0; }
  // The algorithm the op runs at `level` where it has several ("winograd"; chosen at load, and
  // for some layers per level), for profiles; else "".
  virtual const char* algorithm(size_t /*level*/) const { return ""; }
};

// Load-time choices between algorithms that compute the same thing (EngineOptions passes them).
struct OpOptions {
  bool winograd = true;  // 3x3 stride-1 convolutions on large maps by Winograd F(2x2) or F(4x4)
};

// Builds the op for node `index` of a validated model, as `fusions` (plan_fusions) has it: a node
// fused into another runs as nothing, and its consumer computes its output on the fly. Throws
// aio::Error(Unsupported) for an operator configuration the runtime cannot run.
std::unique_ptr<Op> make_op(const ModelFile& m, size_t index, const OpOptions& opts = {},
                            const Fusions& fusions = {});

// Layers below this many FLOPs run on one thread: a hand-off costs more than it saves.
constexpr uint64_t kSerialFlops = 500000;

// Epilogue activation from the file's code (validated to be <= 4).
inline Act act_of(uint32_t code) { return static_cast<Act>(code); }

// Spatial geometry of a windowed node (conv or pool) at full width: input and output sizes from
// its values, window, stride, padding and dilation from the node. c_in is set per level by the op.
inline ConvGeom window_geom(const ModelFile& m, const NodeDesc& n) {
  const ValueDesc& x = m.values[n.in0];
  const ValueDesc& y = m.values[n.out];
  ConvGeom g;
  g.h_in = x.h;
  g.w_in = x.w;
  g.h_out = y.h;
  g.w_out = y.w;
  g.kh = n.kh;
  g.kw = n.kw;
  g.sh = n.sh;
  g.sw = n.sw;
  g.ph = n.ph;
  g.pw = n.pw;
  g.dh = n.dh;
  g.dw = n.dw;
  return g;
}

// One channel range of a levelled concatenation (ModelFile::concat_index): a value that holds its
// own buffer, at channel `offset` of the full-width concatenation, `channels` wide at full width.
struct ConcatPart {
  uint32_t value, offset, channels;
};
// The ranges of levelled concatenation v, nested concatenations flattened, in channel order.
std::vector<ConcatPart> concat_parts(const ModelFile& m, uint32_t v);

// Per-level scale or bias copied out of the file ([n_levels][rows]); empty when absent.
struct LevelVectors {
  std::unique_ptr<float[]> data;
  size_t rows = 0;
  void load(const ModelFile& m, uint32_t tensor, size_t rows_);
  const float* at(size_t level) const { return data ? data.get() + level * rows : nullptr; }
  size_t bytes(size_t levels) const { return data ? levels * rows * sizeof(float) : 0; }
};

// Work split for a rows x cols output: tiles of mb rows x nb columns, the last tile of a
// direction also taking what lies past it (a partial strip rides on the last worker's share).
struct Tiling {
  size_t rows = 0, cols = 0;
  size_t mb = 0, nb = 0, m_tiles = 1, n_tiles = 1;
  bool serial = false;  // run the tiles on the calling thread
  size_t count() const { return m_tiles * n_tiles; }
  struct Range {
    size_t m0, m1, n0, n1;
  };
  // Rows [m0, m1) and columns [n0, n1) of tile `task` (row tile task / n_tiles, column tile
  // task % n_tiles).
  Range range(size_t task) const {
    const size_t i = task / n_tiles, j = task % n_tiles;
    return {i * mb, i + 1 == m_tiles ? rows : std::min(rows, (i + 1) * mb), j * nb,
            j + 1 == n_tiles ? cols : std::min(cols, (j + 1) * nb)};
  }
};
// Columns cut into at most `parts` runs of whole strips of `align`, `width` columns each but
// the last, which runs to the end: a partial last strip of at most half a strip rides on it.
// 196 columns in strips of 32 over 2 parts: 96 + 100, not 128 + 68.
struct StripSplit {
  size_t width, runs;
};
StripSplit split_strips(size_t cols, size_t align, size_t parts);

// Splits rows x cols into one tile per worker (never below 16 x 16-ish pieces), over columns
// first; one tile when the layer is tiny or there is one worker.
// rows_free: the caller can split rows at little extra cost on B (packed once and shared, or read
// in place), so rows are split instead of columns where that balances the workers clearly better.
Tiling plan_tiles(size_t rows, size_t cols, size_t workers, uint64_t flops,
                  bool rows_free = false);

// Saturating arithmetic for FLOP and parameter counts of adversarially large models.
inline uint64_t sat_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}
inline uint64_t sat_add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

}  // namespace aio
