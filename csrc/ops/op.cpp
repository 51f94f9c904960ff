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

namespace {
// FLOPs per worker that justify one more (smaller) tile for load balance.
constexpr uint64_t kBalanceFlops = 16000000;
}  // namespace

Tiling plan_tiles(size_t rows, size_t cols, size_t workers, uint64_t flops, size_t nb_max) {
  Tiling t;
  rows = std::max<size_t>(rows, 1);
  cols = std::max<size_t>(cols, 1);
  t.serial = workers <= 1 || flops < kSerialFlops;
  // Tile edges on micro-kernel boundaries (panel height, kernel width) so only the matrix edges
  // produce partial micro-tiles.
  const size_t col_align = std::max<size_t>(1, gemm_col_align());
  const size_t row_align = std::max<size_t>(1, kGemmRowAlign);
  auto round_up = [](size_t v, size_t a) { return (v + a - 1) / a * a; };
  // Column blocks first (every row panel streams its weights once per block). The caller is
  // worker 0 and every worker claims tiles dynamically. Small layers get one tile per worker:
  // smaller tiles re-pack B once per row tile and pay a claim each, and on a shared machine a
  // late worker then costs nothing but its share (measured on ResNet-20, 2 threads, L0: 4 tiles
  // per worker 1.16 ms, 1 per worker 0.81 ms). Large layers (>= kBalanceFlops per extra tile)
  // get up to 4 per worker, so a worker slowed by another process hands tiles to the faster one.
  const uint64_t per_worker =
      std::min<uint64_t>(4, std::max<uint64_t>(1, flops / workers / kBalanceFlops));
  const size_t target = t.serial ? 1 : workers * static_cast<size_t>(per_worker);
  size_t n_tiles = (cols + nb_max - 1) / nb_max;
  // More tiles for parallelism, never fewer than the scratch cap allows.
  n_tiles = std::max(n_tiles, std::min(target, std::max<size_t>(1, cols / col_align)));
  // A whole number of tiles per worker: 13 equal tiles on 2 workers idle one for 1/13 of the op.
  if (!t.serial && n_tiles > workers) n_tiles = round_up(n_tiles, workers);
  t.nb = (cols + n_tiles - 1) / n_tiles;
  if (t.nb < cols) t.nb = std::min(cols, std::min(nb_max, round_up(t.nb, col_align)));
  t.n_tiles = (cols + t.nb - 1) / t.nb;  // t.nb <= nb_max holds: n_tiles >= cols / nb_max
  // Then row panels when the columns alone leave workers idle (narrow levels, small images).
  size_t m_tiles = 1;
  if (t.n_tiles < target)
    m_tiles = std::min((target + t.n_tiles - 1) / t.n_tiles, std::max<size_t>(1, rows / row_align));
  t.mb = (rows + m_tiles - 1) / m_tiles;
  if (t.mb < rows) t.mb = std::min(rows, round_up(t.mb, row_align));
  t.m_tiles = (rows + t.mb - 1) / t.mb;
  return t;
}

std::unique_ptr<Op> make_op(const ModelFile& m, size_t index) {
  const NodeDesc& n = m.nodes[index];
  switch (n.op) {
    case OpCode::Conv2d: return make_conv2d(m, n);
    case OpCode::Linear: return make_linear(m, n);
    case OpCode::Add: return make_add(m, n);
    case OpCode::Act: return make_act(m, n);
    case OpCode::MaxPool:
    case OpCode::AvgPool: return make_pool(m, n);
    case OpCode::GlobalAvgPool: return make_global_avgpool(m, n);
  }
  throw Error(ErrorCode::Unsupported, "node " + std::to_string(index) + ": unsupported op");
}

}  // namespace aio
