// Shared helpers of the operators: the op factory, tiling, per-level vectors.
#include "ops/op.h"

#include <algorithm>
#include <cstring>

#include "ops/ops.h"
#include "runtime/engine.h"

namespace aio {

void LevelVectors::load(const ModelFile& m, uint32_t tensor, size_t rows_) {
  rows = rows_;
  if (tensor == kNone) return;
  const size_t n = m.num_levels() * rows;
  data = std::make_unique<float[]>(n);
  std::memcpy(data.get(), m.tensor_data(tensor), n * sizeof(float));
}

StripSplit split_strips(size_t cols, size_t align, size_t parts) {
  // A partial last strip of at most half a strip (a one-vector tile) is not counted as a strip.
  const size_t strips = (cols + (align - 1) / 2) / align;
  if (strips <= 1 || parts <= 1) return {cols, 1};
  const size_t k = std::min(parts, strips);
  const size_t per = (strips + k - 1) / k;
  return {per * align, (strips + per - 1) / per};
}

// How much better balanced a row split must be than a column split to be chosen (see below).
constexpr double kRowSplitMargin = 0.1;

Tiling plan_tiles(size_t rows, size_t cols, size_t workers, uint64_t flops, bool rows_free) {
  Tiling t;
  rows = std::max<size_t>(rows, 1);
  cols = std::max<size_t>(cols, 1);
  t.serial = workers <= 1 || flops < kSerialFlops;
  // Tile edges on micro-kernel boundaries (panel height, kernel width) so only the matrix edges
  // produce partial micro-tiles.
  const size_t col_align = std::max<size_t>(1, gemm_col_align());
  const size_t row_align = std::max<size_t>(1, kGemmRowAlign);
  auto round_up = [](size_t v, size_t a) { return (v + a - 1) / a * a; };
  // Column blocks first (every row panel streams its weights once per block), one tile per
  // worker: smaller tiles re-pack B once per row tile, re-stream the weights and pay a claim
  // each. Measured on the quiet machine at 2 threads: ResNet-20 L0 0.81 ms with one tile per
  // worker against 1.16 with four; ResNet-18 L0 18.3 against 18.9 ms, MobileNetV2 L0 4.68
  // against 4.98 (per-layer sums). Four per worker had been meant to let a worker slowed by
  // another process hand tiles to the faster one; on a quiet machine it only costs.
  const size_t target = t.serial ? 1 : workers;
  t.rows = rows;
  t.cols = cols;
  const StripSplit cs = split_strips(cols, col_align, target);
  t.nb = cs.width;
  t.n_tiles = cs.runs;
  if (rows_free && !t.serial && t.n_tiles <= workers) {
    // Largest share of a worker over a fair share, splitting columns (strips of col_align) or
    // rows (panels of row_align): 196 pixels make strips of 96 + 100 (1.02), 256 rows panels
    // of 132 + 124 (1.03), 64 rows 36 + 28 (1.13).
    const size_t widest = std::max(std::min(cols, t.nb), cols - (t.n_tiles - 1) * t.nb);
    const double col_load = static_cast<double>(widest) * workers / cols;
    const size_t panels = (rows + row_align - 1) / row_align;
    const size_t mb = (panels + workers - 1) / workers * row_align;
    const double row_load = static_cast<double>(std::min(rows, mb)) * workers / rows;
    // Rows only for a clear gain: a row tile reads every column of the input, half of which the
    // previous layer (split by columns) left in the other core's cache. MobileNetV2's 28 x 28
    // expansions (784 pixels: 1.06 by columns, 1.00 by rows) ran 14-22 % slower split by rows;
    // its 14 x 14 layers (1.31 against 1.03) 10-19 % faster.
    if (row_load + kRowSplitMargin < col_load) {
      t.nb = cols;
      t.n_tiles = 1;
      t.mb = mb;
      t.m_tiles = (rows + mb - 1) / mb;
      return t;
    }
  }
  // Then row panels when the columns alone leave workers idle (narrow levels, small images).
  size_t m_tiles = 1;
  if (t.n_tiles < target)
    m_tiles = std::min((target + t.n_tiles - 1) / t.n_tiles, std::max<size_t>(1, rows / row_align));
  t.mb = (rows + m_tiles - 1) / m_tiles;
  if (t.mb < rows) t.mb = std::min(rows, round_up(t.mb, row_align));
  t.m_tiles = (rows + t.mb - 1) / t.mb;
  return t;
}

std::vector<ConcatPart> concat_parts(const ModelFile& m, uint32_t v) {
  std::vector<ConcatPart> parts;
  std::vector<uint32_t> stack{v};  // depth-first, in1 pushed first so in0 comes out first
  uint32_t offset = 0;
  while (!stack.empty()) {
    const uint32_t u = stack.back();
    stack.pop_back();
    if (m.levelled_concat(u)) {
      const size_t ci = m.concat_index[u];
      stack.push_back(m.concat_inputs[2 * ci + 1]);
      stack.push_back(m.concat_inputs[2 * ci]);
      continue;
    }
    parts.push_back({u, offset, m.values[u].c});
    offset += m.values[u].c;
  }
  return parts;
}

namespace {

// A node another one computes on the fly (fusion.h): nothing to run, no weights.
class FusedAway final : public Op {
 public:
  void run(const OpContext& /*ctx*/) const override {}
  const char* algorithm(size_t /*level*/) const override { return "fused"; }
};

}  // namespace

std::unique_ptr<Op> make_op(const ModelFile& m, size_t index, const OpOptions& opts,
                            const Fusions& fusions) {
  const NodeDesc& n = m.nodes[index];
  if (fusions.fused(index)) return std::make_unique<FusedAway>();
  switch (n.op) {
    case OpCode::Conv2d: {
      if (m.levelled_concat(n.in0)) return make_concat_conv(m, n);
      const uint32_t gate = fusions.gate_of(index);
      return make_conv2d(m, n, opts, gate == kNone ? nullptr : &m.nodes[gate]);
    }
    case OpCode::Linear: return make_linear(m, n);
    case OpCode::Add: return make_add(m, n);
    case OpCode::Act: return make_act(m, n);
    case OpCode::MaxPool:
    case OpCode::AvgPool: return make_pool(m, n);
    case OpCode::GlobalAvgPool: return make_global_avgpool(m, n);
    case OpCode::Mul: return make_mul(m, n);
    case OpCode::Softmax: return make_softmax(m, n);
    case OpCode::Resize: return make_resize(m, n);
    case OpCode::Concat: return make_concat(m, n, fusions);
  }
  throw Error(ErrorCode::Unsupported, "node " + std::to_string(index) + ": unsupported op");
}

}  // namespace aio
