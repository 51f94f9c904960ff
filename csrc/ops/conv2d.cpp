// CONV2D: one path per layer, chosen at load; each keeps its own weight image (packed A panels of
// 12 or 32 rows, Winograd's transformed ones, or the depthwise taps).
//  - pointwise (1x1, stride 1, no padding, groups 1): GEMM with B = the input itself, no im2col;
//  - 3x3 stride 1 (groups 1) on maps of at least kWinogradMinPixels: Winograd F(4x4, 3x3) or
//    F(2x2, 3x3), whichever does less work on the map (winograd_tile), at the levels of at
//    least kWinogradMinChannels input channels; a layer with narrower levels also keeps the
//    packed A panels and runs those levels by the implicit GEMM (im2col_at);
//  - short K on wide maps (a first layer on 3 channels): conv_direct, no packing at all;
//  - 3x3 levels of few channels (NEON): conv3x3_rows, taps read from zero-bordered input rows with
//    the packed A panels, no im2col (rows3x3_at);
//  - small maps (kCoutLanesMaxMapPixels or fewer pixels), more than one tap: conv_cout_lanes,
//    output channels in lanes, where pixels in lanes leave lanes idle and im2col costs a pass
//    (and a direct layer's levels of whole 32-channel strips, from a second packing);
//  - general (groups 1): implicit GEMM (gemm_conv), im2col fused into the GEMM's B packing;
//  - depthwise (groups == C_in == C_out): the depthwise kernel, split by channels;
//  - grouped (other groups, never pruned): per group and column block, implicit GEMM on the
//    group's rows of the packed weight.
// Levels are prefixes: rows < c_out(level), K < c_in(level)*kh*kw, with the full-width strides.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ops/ops.h"

namespace aio {
namespace {

enum class ConvPath { Pointwise, Im2col, Winograd, Direct, CoutLanes, Depthwise, Grouped };

// Column block of the grouped path's tiles (the GEMM driver packs at most 256 columns of B at a
// time).
constexpr size_t kColBlock = 256;

// Maps up to this many pixels, whose whole im2col matrix fits in kSharedBBytes, may be split
// over rows with B packed once and shared (see PackedBLayout): their pixels are too few to split
// evenly over workers in 32-wide strips (196 = 6.1 strips), and row tiles that each packed B
// again would pay for it once per tile. (1x1 layers read a short-K B in place, so their row
// tiles repeat no packing; sharing a packed B measured no gain on MobileNetV2.)
constexpr size_t kSharedBMaxPixels = 4 * kPackedColBlock;
constexpr size_t kSharedBBytes = size_t(4) << 20;

// Winograd pays for its transforms and its 16/9 weights only on large maps, and for its input
// transform only with enough channels to share it (a first layer on 3 channels goes direct).
// Channels per level: a Winograd layer's levels of fewer input channels run the implicit GEMM
// (im2col_at) where the transforms are narrow (kWinogradNarrowMinLanes). ResNet-20 (32x32) on
// NEON, instructions per inference under qemu (cortex-a72, 1 thread, aarch64_insns.py): L2 (8
// channels on the 32 x 32 maps) 6.05 -> 5.34 M, L3 (also 8 on the 16 x 16 maps) 2.89 -> 2.06 M;
// L0 and L1 (16 and more) keep Winograd.
constexpr size_t kWinogradMinPixels = 196;
constexpr size_t kWinogradMinChannels = 16;

// Transforms of at least this many tiles per vector (winograd_lanes: AVX-512's) keep Winograd at
// the narrow levels too. ResNet-20 (32x32) new/old, paired, interleaved, 1 thread, medians of 31
// rounds on a busy 2-core host: AVX-512 with the narrow levels on the implicit GEMM 1.10 / 1.25 /
// 1.09 at L1-L3 (so it keeps Winograd); AIO_FORCE_ISA=avx2 (portable transforms) 1.00 / 0.86 /
// 0.98.
constexpr size_t kWinogradNarrowMinLanes = 16;

// Output tile side of a Winograd layer: F(4x4, 3x3) (36 multiplies per 16 outputs, 4x the layer's
// weights) where it does clearly less work than F(2x2, 3x3) (16 per 4, 16/9 of them), in its
// products and in its transforms:
//  - the GEMM multiplies whole strips of gemm_col_align() tiles, so its work is alpha^2 x the
//    tiles rounded up to strips: F(4x4) needs at most kWinogradF4MaxWork of F(2x2)'s;
//  - the transforms hold one tile row's tiles per vector (winograd_lanes): F(4x4) needs its tile
//    rows to fill at least kWinogradF4MinRowFill of the vectors they take;
//  - at least kWinogradF4MinChannels input channels (the transforms' share falls with channels).
// Measured on AVX-512 (strips of 32 tiles, vectors of 16), per layer, F(4x4) / F(2x2) time,
// paired, 1 thread (benchmarks/winograd_tiles.py --layers): ResNet-18's 56 x 56 x 64 layers
// 0.75-0.80 at level 0, 0.79-0.88 at L1, 0.91-0.94 at L2, 0.94-1.05 at L3 (16 channels): taken.
// Its 28 x 28 x 128 layers (GEMM work 0.64, but 7 tiles per row fill 7 of 16 lanes) 0.81-0.89 at
// L0 and 1.08-1.21 at L2-L3: not taken (row fill). Its 14 x 14 layers (16 tiles, half a strip:
// work 1.13) 1.24-1.41: not taken. ResNet-20's 32 x 32 x 16 layers made the model 1.17-1.32x
// slower (channels). On NEON (strips of 8 tiles, vectors of 4) the 28 x 28 and 14 x 14 layers
// take F(4x4) as well (work 0.64, rows fill 7/8 and 4/4).
// AIO_WINOGRAD_TILE=2|4 in the environment when a layer is built forces one (A/B measurements,
// tests); other values are ignored.
constexpr double kWinogradF4MaxWork = 0.8;
constexpr double kWinogradF4MinRowFill = 0.75;
constexpr size_t kWinogradF4MinChannels = 64;

// Maps smaller than kWinogradMinPixels take Winograd F(4x4) where the ISA has no conv_cout_lanes
// kernel (they would run the implicit GEMM) and its transforms fill vectors of at least
// kWinogradSmallMinLanes tiles: NEON. There a 7 x 7 or 8 x 8 map is 4 tiles, one 4-column
// micro-kernel strip, 36 x 4 columns of products per output row and input channel against the
// implicit GEMM's 9 x 49 (or 64); F(2x2) would need 16 x 16. ResNet-18's three 7 x 7 x 512
// layers on NEON (qemu, cortex-a72, 1 thread, aarch64_insns.py): 361.2 -> see docs/benchmarks.md.
// x86 keeps its paths: AVX-512 has conv_cout_lanes, AVX2's transforms are the portable ones.
constexpr size_t kWinogradSmallMinLanes = 4;

// F(4x4) also needs at most half the implicit GEMM's columns of products (columns rounded up to
// the 4-column strips the micro-kernel takes for a partial one): 6 x 6 maps and larger.
bool winograd_small_map(const ConvGeom& full) {
  auto round4 = [](size_t n) { return (n + 3) / 4 * 4; };
  const size_t products = 36 * round4(winograd_tiles(full, 4)),
               direct = 9 * round4(full.h_out * full.w_out);
  return !conv_cout_lanes_available(full) && winograd_lanes(4) >= kWinogradSmallMinLanes &&
         2 * products <= direct;
}

// F(4x4)'s channel minimum: kWinogradF4MinChannels where measured (AVX-512, and the portable
// transforms), but any Winograd layer's on NEON, whose 4-tile transforms (zero-bordered input,
// whole-vector stores) cost little beside the products: ResNet-20's 16- and 32-channel layers
// (32 x 32 and 16 x 16 maps) in F(4x4), instructions per inference under qemu (cortex-a72, 1
// thread, aarch64_insns.py) L0 11.8 -> 8.4 M, L1 9.7 -> 6.8 M, L2 4.6 -> 4.1 M.
size_t f4_min_channels() {
  return winograd_lanes(4) == kWinogradSmallMinLanes ? kWinogradMinChannels
                                                     : kWinogradF4MinChannels;
}

size_t winograd_tile(const ConvGeom& g, size_t channels) {
  if (const char* e = std::getenv("AIO_WINOGRAD_TILE")) {
    const size_t forced = static_cast<size_t>(std::atoi(e));
    if (winograd_tile_supported(forced)) return forced;
  }
  if (g.h_out * g.w_out < kWinogradMinPixels) return 4;  // winograd_small_map
  if (channels < f4_min_channels()) return 2;
  const size_t nr = gemm_col_align();
  auto work = [&](size_t tile) {
    const size_t strips = (winograd_tiles(g, tile) + nr - 1) / nr;
    return double((tile + 2) * (tile + 2)) * double(strips);
  };
  const size_t lanes = winograd_lanes(4), row = (g.w_out + 3) / 4;
  const double fill = double(row) / double((row + lanes - 1) / lanes * lanes);
  return work(4) <= kWinogradF4MaxWork * work(2) && fill >= kWinogradF4MinRowFill ? 4 : 2;
}

// 3x3 layers' levels of fewer than kWinogradMinChannels input channels (Winograd's narrow levels,
// and stride-2 layers') take conv3x3_rows where the ISA has it (NEON), and so do the levels of
// up to kRows3x3SmallMapChannels on maps under kWinogradMinPixels (F(4x4) on 4 tiles: the
// transforms' and the per-position products' fixed costs outweigh 16-channel products). ResNet-20
// (32x32) on NEON, instructions per inference under qemu (cortex-a72, 1 thread,
// aarch64_insns.py): L3 (4, 8 and 16 channels) 1.390 -> 1.049 M, of which its 16-channel 8 x 8
// layers about 0.04 M (Winograd F(4x4) there before); L2's 16-channel 16 x 16 layers stay on
// Winograd (with the kernel's first version: 3.34 M, against 3.56 M with them direct).
constexpr size_t kRows3x3SmallMapChannels = 16;
// A first layer (fewer than kRows3x3FirstLayerChannels input channels) only at up to
// kRows3x3MaxRows output channels: its K of 27 makes the implicit GEMM's packing cheap beside the
// per-tile work of tiles that sum only 3 channels. MobileNetV2's first layer (3 -> 32, stride 2)
// at level 0: 104.05 M instructions with the implicit GEMM, 104.43 M with conv3x3_rows.
constexpr size_t kRows3x3FirstLayerChannels = 4;
constexpr size_t kRows3x3MaxRows = 16;

// Maps of at most this many output pixels take conv_cout_lanes (where the ISA has its kernel), for
// kernels of more than one tap. Measured A/B, interleaved (AIO_COUT_LANES, a switch removed
// since), layer medians: the 3x3 layers of ResNet-18's 7 x 7 stage 0.67-0.85 of the im2col
// path's time, its 14 x 14 stride-2 layer 0.68-0.99, ResNet-20's 8 x 8 layers 0.81-0.95. Not
// taken: 1x1 layers (MobileNetV2's on 7 x 7 and 14 x 14 maps: 0.81-1.13 at L0, 1 thread, up to
// 2.4x slower at L3, whose short K leaves the tile's transpose unamortised; ResNet's strided 1x1
// 1.05-1.5 at L0), 28 x 28 maps (0.83-1.07; 16 x 16: 0.94-1.43), and a first layer as a whole
// (ResNet-18's conv1: 0.77-0.97 at L0-L2 but 1.07-1.49 at L3): it chooses per level instead
// (kLanesMinK).
constexpr size_t kCoutLanesMaxMapPixels = 196;

// A Direct layer (short K on a wide map: a network's first layer) also keeps its weights packed
// for conv_cout_lanes (a second copy of a small layer: ResNet-18's conv1 is 37 KB) and runs it at
// the levels whose width is a whole number of 32-channel strips. ResNet-18's conv1, A/B
// interleaved (per-layer medians, 7 rounds, two sessions): L0 (64 channels) 0.81-0.87 of the
// direct convolution's time at 1 and 2 threads, L2 (32) 0.78-0.96; L1 (48: a strip and a half)
// 1.08-1.23 and L3 (16) 1.01-1.10 stay direct. Not for a K as short as MobileNetV2's first
// layer (27; in isolation 0.35 ms against the direct convolution's 0.28-0.29), where the tile's
// transpose is not amortised.
constexpr size_t kLanesMinK = 64;

class Conv2d final : public Op {
 public:
  Conv2d(const ModelFile& m, const NodeDesc& n, const OpOptions& opts, const NodeDesc* gate)
      : in_(gate ? gate->in0 : n.in0),
        out_(n.out),
        res_(n.in1),
        gate_(gate ? gate->in1 : kNone),
        act_(act_of(n.act)) {
    const ValueDesc& x = m.values[n.in0];
    const ValueDesc& y = m.values[n.out];
    geom_ = window_geom(m, n);
    groups_ = n.groups;
    taps_ = size_t(n.kh) * n.kw;
    c_out_full_ = y.c;
    for (size_t k = 0; k < m.num_levels(); ++k) {
      cin_.push_back(m.channels(n.in0, k));
      cout_.push_back(m.channels(n.out, k));
    }
    const float* w = m.tensor_data(n.weight);
    const size_t k_full = size_t(x.c / groups_) * taps_;
    if (groups_ == 1) {
      path_ = (taps_ == 1 && n.sh == 1 && n.sw == 1 && n.ph == 0 && n.pw == 0) ? ConvPath::Pointwise
                                                                               : ConvPath::Im2col;
      const bool winograd_shape = n.kh == 3 && n.kw == 3 && n.sh == 1 && n.sw == 1 &&
                                  n.dh == 1 && n.dw == 1;
      ConvGeom full = geom_;
      full.c_in = x.c;
      if (path_ == ConvPath::Im2col && opts.winograd && winograd_shape &&
          (pixels() >= kWinogradMinPixels || winograd_small_map(full)) &&
          x.c >= kWinogradMinChannels)
        path_ = ConvPath::Winograd;
      if (path_ == ConvPath::Im2col && conv_direct_available(full)) path_ = ConvPath::Direct;
      if (path_ == ConvPath::Im2col && taps_ > 1 && pixels() <= kCoutLanesMaxMapPixels &&
          conv_cout_lanes_available(full))
        path_ = ConvPath::CoutLanes;
      if (path_ == ConvPath::Direct && k_full >= kLanesMinK && conv_cout_lanes_available(full) &&
          std::any_of(cout_.begin(), cout_.end(),
                      [](uint32_t c) { return c % kCoutLanesStrip == 0; }))
        lanes_ = PackedA::pack(w, y.c, k_full, k_full, kCoutLanesStrip);
      if (path_ == ConvPath::Winograd)
        winograd_ = WinogradWeights::transform(w, y.c, x.c, winograd_tile(geom_, x.c));
      // A Winograd layer's levels narrower than kWinogradMinChannels run the implicit GEMM from
      // a second image of the weights (im2col_at), unless the transforms are wide enough to
      // keep (kWinogradNarrowMinLanes); only such layers keep both images.
      if (path_ != ConvPath::Winograd ||
          (winograd_lanes(winograd_.tile()) < kWinogradNarrowMinLanes &&
           std::any_of(cin_.begin(), cin_.end(),
                       [](uint32_t c) { return c < kWinogradMinChannels; })) ||
          (conv3x3_rows_available(geom_, 4) && any_rows3x3_level()))
        packed_ = PackedA::pack(w, y.c, k_full, k_full,
                                path_ == ConvPath::CoutLanes ? kCoutLanesStrip : kGemmRowAlign);
    } else if (groups_ == x.c && groups_ == y.c) {
      path_ = ConvPath::Depthwise;
      dw_weight_.assign(w, w + size_t(y.c) * taps_);
    } else {
      path_ = ConvPath::Grouped;
      packed_ = PackedA::pack(w, y.c, k_full, k_full);
    }
    if (path_ == ConvPath::Im2col && pixels() <= kSharedBMaxPixels) {
      const size_t floats = packed_b_layout(k_full, pixels()).floats();
      if (floats * sizeof(float) <= kSharedBBytes) shared_b_floats_ = floats;
    }
    scale_.load(m, n.scale, y.c);
    bias_.load(m, n.bias, y.c);
    levels_ = m.num_levels();
  }

  uint64_t macs(size_t level) const override {
    const uint64_t pixels = uint64_t(geom_.h_out) * geom_.w_out;
    const uint64_t cin_per_group = path_ == ConvPath::Depthwise ? 1 : cin_[level] / groups_;
    return sat_mul(sat_mul(sat_mul(cout_[level], cin_per_group), taps_), pixels);
  }
  uint64_t params(size_t level) const override {
    const uint64_t cin_per_group = path_ == ConvPath::Depthwise ? 1 : cin_[level] / groups_;
    return sat_add(sat_mul(sat_mul(cout_[level], cin_per_group), taps_), cout_[level]);
  }
  size_t scratch_floats() const override { return shared_b_floats_; }
  size_t weight_bytes() const override {
    return packed_.bytes() + lanes_.bytes() + winograd_.bytes() + dw_weight_.size() * sizeof(float) +
           scale_.bytes(levels_) + bias_.bytes(levels_);
  }

  const char* algorithm(size_t level) const override {
    switch (path_) {
      case ConvPath::Winograd:
        return rows3x3_at(level) ? "rows3x3" : im2col_at(level) ? "im2col" : "winograd";
      case ConvPath::Im2col: return rows3x3_at(level) ? "rows3x3" : "";
      case ConvPath::Direct: return lanes_at(level) ? "cout_lanes" : "direct";
      case ConvPath::CoutLanes: return "cout_lanes";
      case ConvPath::Pointwise: return gate_ != kNone ? "gated" : "";
      default: return "";
    }
  }

  void run(const OpContext& ctx) const override {
    const size_t k = ctx.level;
    Epilogue epi;
    epi.scale = scale_.at(k);
    epi.bias = bias_.at(k);
    epi.residual = res_ == kNone ? nullptr : ctx.in(res_);
    epi.act = act_;
    const float* x = ctx.in(in_);
    float* y = ctx.out(out_);
    switch (path_) {
      case ConvPath::Pointwise: return run_pointwise(ctx, x, y, epi);
      case ConvPath::Im2col:
        if (rows3x3_at(k)) return run_rows(ctx, x, y, epi, conv3x3_rows);
        return run_im2col(ctx, x, y, epi);
      case ConvPath::Winograd:
        if (rows3x3_at(k)) return run_rows(ctx, x, y, epi, conv3x3_rows);
        if (im2col_at(k)) return run_im2col(ctx, x, y, epi);
        return run_winograd(ctx, x, y, epi);
      case ConvPath::Direct:
        if (lanes_at(k)) return run_cout_lanes(ctx, x, y, epi, lanes_);
        return run_direct(ctx, x, y, epi);
      case ConvPath::CoutLanes: return run_cout_lanes(ctx, x, y, epi, packed_);
      case ConvPath::Depthwise: return run_depthwise(ctx, x, y, epi);
      case ConvPath::Grouped: return run_grouped(ctx, x, y, epi);
    }
  }

 private:
  size_t pixels() const { return geom_.h_out * geom_.w_out; }

  // A Direct layer's levels whose width is whole strips take channels in lanes instead.
  bool lanes_at(size_t level) const {
    return lanes_.rows() > 0 && cout_[level] % kCoutLanesStrip == 0;
  }

  // A 3x3 layer's levels that take conv3x3_rows (where the ISA has it): see
  // kRows3x3SmallMapChannels and kRows3x3MaxRows.
  bool rows3x3_level(size_t level) const {
    const size_t cin = cin_[level];
    return taps_ == 9 && (cin >= kRows3x3FirstLayerChannels || cout_[level] <= kRows3x3MaxRows) &&
           (cin < kWinogradMinChannels ||
            (pixels() < kWinogradMinPixels && cin <= kRows3x3SmallMapChannels));
  }
  bool any_rows3x3_level() const {
    for (size_t k = 0; k < cin_.size(); ++k)
      if (rows3x3_level(k)) return true;
    return false;
  }
  bool rows3x3_at(size_t level) const {
    return (path_ == ConvPath::Im2col || path_ == ConvPath::Winograd) && packed_.rows() > 0 &&
           rows3x3_level(level) && conv3x3_rows_available(geom_, cout_[level]);
  }

  // A Winograd layer's levels of fewer than kWinogradMinChannels input channels, where the
  // transforms cost more than they save, take the implicit GEMM instead.
  bool im2col_at(size_t level) const {
    return path_ == ConvPath::Winograd && packed_.rows() > 0 && cin_[level] < kWinogradMinChannels;
  }

  void run_pointwise(const OpContext& ctx, const float* x, float* y, const Epilogue& epi) const {
    const size_t M = cout_[ctx.level], K = cin_[ctx.level], P = pixels();
    if (gate_ != kNone) {
      // The gated input x * gate is never written: B's rows are scaled while they are packed.
      GemmSource src;
      src.a = &packed_;
      src.K = K;
      src.b = x;
      src.ldb = P;
      src.gate = ctx.in(gate_);
      const Tiling t = plan_tiles(M, P, ctx.workers(), 2 * macs(ctx.level), /*rows_free=*/true);
      ctx.parallel(
          t.count(),
          [&](size_t task, size_t) {
            const Tiling::Range r = t.range(task);
            gemm_segments(&src, 1, y, P, r.m0, r.m1, r.n0, r.n1, epi);
          },
          t.serial);
      return;
    }
    // Row tiles read B (the input) in place for K <= 128; for longer K each packs all columns, so
    // rows are taken only where they balance the workers clearly better (plan_tiles). MobileNetV2's
    // 14 x 14 projections (196 pixels, 64 rows: 96 + 100 columns against 36 + 28 rows) ran
    // 0.86-0.90 of the row split's time at 2 threads.
    const Tiling t = plan_tiles(M, P, ctx.workers(), 2 * macs(ctx.level), /*rows_free=*/true);
    ctx.parallel(
        t.count(),
        [&](size_t task, size_t) {
          const Tiling::Range r = t.range(task);
          gemm(packed_, K, x, P, y, P, r.m0, r.m1, r.n0, r.n1, epi);
        },
        t.serial);
  }

  void run_im2col(const OpContext& ctx, const float* x, float* y, const Epilogue& epi) const {
    const size_t M = cout_[ctx.level], P = pixels();
    ConvGeom g = geom_;
    g.c_in = cin_[ctx.level];
    const bool rows_free = shared_b_floats_ > 0 && ctx.scratch != nullptr;
    const Tiling t = plan_tiles(M, P, ctx.workers(), 2 * macs(ctx.level), rows_free);
    if (rows_free && !t.serial && t.m_tiles > 1)
      return run_shared_b(ctx, x, g, y, epi, t);
    ctx.parallel(
        t.count(),
        [&](size_t task, size_t) {
          const Tiling::Range r = t.range(task);
          gemm_conv(packed_, x, g, y, P, r.m0, r.m1, r.n0, r.n1, epi);
        },
        t.serial);
  }

  // Two phases, two barriers: pack the im2col matrix block by block into the scratch, then
  // multiply in t's row tiles (one per worker) times the column blocks.
  void run_shared_b(const OpContext& ctx, const float* x, const ConvGeom& g, float* y,
                    const Epilogue& epi, const Tiling& t) const {
    const size_t M = cout_[ctx.level], P = pixels();
    const PackedBLayout l = packed_b_layout(g.c_in * taps_, P);
    float* packed = ctx.scratch;
    ctx.parallel(l.blocks(),
                 [&](size_t block, size_t) { pack_conv_b_block(x, g, l, block, packed); });
    ctx.parallel(t.m_tiles * l.n_blocks, [&](size_t task, size_t) {
      const size_t m0 = task / l.n_blocks * t.mb, n0 = task % l.n_blocks * kPackedColBlock;
      gemm_prepacked(packed_, l, packed, y, P, m0, std::min(M, m0 + t.mb), n0,
                     std::min(P, n0 + kPackedColBlock), epi);
    });
  }

  // One contiguous run of whole GEMM strips of tiles per worker (split_strips). ResNet-18's
  // 28 x 28 layers (196 tiles: 6 strips of 32 and 4 tiles) split 96 + 100 rather than 128 + 68
  // (whole strips, rounded up): at L0 they ran 1.70-1.81x faster on 2 threads than on 1, against
  // 1.57-1.61x.
  void run_winograd(const OpContext& ctx, const float* x, float* y, const Epilogue& epi) const {
    ConvGeom g = geom_;
    g.c_in = cin_[ctx.level];
    const size_t M = cout_[ctx.level], T = winograd_tiles(g, winograd_.tile());
    const bool serial = 2 * macs(ctx.level) < kSerialFlops;
    const StripSplit s = split_strips(T, gemm_col_align(), serial ? 1 : ctx.workers());
    ctx.parallel(s.runs, [&](size_t task, size_t) {
      const size_t t0 = task * s.width, t1 = task + 1 == s.runs ? T : t0 + s.width;
      winograd_conv3x3(winograd_, x, g, M, y, t0, t1, epi);
    }, serial);
  }

  void run_direct(const OpContext& ctx, const float* x, float* y, const Epilogue& epi) const {
    ConvGeom g = geom_;
    g.c_in = cin_[ctx.level];
    if (!conv_direct_available(g)) return run_im2col(ctx, x, y, epi);  // ISA switched (tests)
    run_rows(ctx, x, y, epi, conv_direct);
  }

  // Output rows split over workers for a kernel that copies the input rows it reads
  // (conv_direct, conv3x3_rows).
  using RowsKernel = void (*)(const PackedA&, const float*, const ConvGeom&, float*, size_t,
                              size_t, size_t, size_t, const Epilogue&);
  void run_rows(const OpContext& ctx, const float* x, float* y, const Epilogue& epi,
                RowsKernel kernel) const {
    ConvGeom g = geom_;
    g.c_in = cin_[ctx.level];
    const size_t M = cout_[ctx.level], H = g.h_out;
    const bool serial = 2 * macs(ctx.level) < kSerialFlops;
    const size_t tasks = serial ? 1 : std::min(H, ctx.workers());
    const size_t per = (H + tasks - 1) / tasks;
    ctx.parallel(
        tasks,
        [&](size_t task, size_t) {
          const size_t oy0 = task * per, oy1 = std::min(H, oy0 + per);
          kernel(packed_, x, g, y, 0, M, oy0, oy1, epi);
        },
        serial);
  }

  // Strips of output channels or output rows over the workers, whichever balances better (strips
  // on a tie: each worker then reads only its share of the weights).
  void run_cout_lanes(const OpContext& ctx, const float* x, float* y, const Epilogue& epi,
                      const PackedA& w) const {
    ConvGeom g = geom_;
    g.c_in = cin_[ctx.level];
    const size_t M = cout_[ctx.level], H = g.h_out;
    const size_t strips = (M + kCoutLanesStrip - 1) / kCoutLanesStrip;
    const bool serial = 2 * macs(ctx.level) < kSerialFlops;
    const size_t workers = serial ? 1 : ctx.workers();
    const size_t per_strip = (strips + workers - 1) / workers, per_row = (H + workers - 1) / workers;
    const bool by_rows = per_row * strips < per_strip * H;
    const size_t tasks = std::min(workers, by_rows ? H : strips);
    ctx.parallel(
        tasks,
        [&](size_t task, size_t) {
          if (by_rows) {
            const size_t oy0 = task * per_row;
            conv_cout_lanes(w, x, g, y, 0, M, oy0, std::min(H, oy0 + per_row), epi);
          } else {
            const size_t m0 = task * per_strip * kCoutLanesStrip;
            conv_cout_lanes(w, x, g, y, m0, std::min(M, m0 + per_strip * kCoutLanesStrip),
                            0, H, epi);
          }
        },
        serial || tasks == 1);
  }

  void run_depthwise(const OpContext& ctx, const float* x, float* y, const Epilogue& epi) const {
    ConvGeom g = geom_;
    g.c_in = cin_[ctx.level];
    const size_t C = g.c_in;
    const bool serial = 2 * macs(ctx.level) < kSerialFlops;
    const size_t tasks = serial ? 1 : std::min(C, 4 * ctx.workers());
    const size_t per = (C + tasks - 1) / tasks;
    ctx.parallel(tasks, [&](size_t task, size_t) {
      const size_t c0 = task * per, c1 = std::min(C, c0 + per);
      if (c0 < c1) depthwise_conv(x, dw_weight_.data(), g, y, c0, c1, epi);
    });
  }

  void run_grouped(const OpContext& ctx, const float* x, float* y, const Epilogue& epi) const {
    // Grouped convs are never pruned (validated), so the full width is every level's width.
    const size_t P = pixels(), rows = c_out_full_ / groups_;
    ConvGeom g = geom_;
    g.c_in = cin_[0] / groups_;
    const size_t in_stride = g.c_in * geom_.h_in * geom_.w_in;
    const size_t col_tiles = (P + kColBlock - 1) / kColBlock;
    const size_t nb = (P + col_tiles - 1) / col_tiles;
    const size_t tasks = groups_ * col_tiles;
    auto body = [&](size_t task, size_t) {
      const size_t grp = task / col_tiles, p0 = (task % col_tiles) * nb;
      gemm_conv(packed_, x + grp * in_stride, g, y, P, grp * rows, (grp + 1) * rows, p0,
                std::min(P, p0 + nb), epi);
    };
    ctx.parallel(tasks, body, 2 * macs(0) < kSerialFlops);
  }

  uint32_t in_, out_, res_;
  uint32_t gate_;  // a fused squeeze-excite gate on the input channels (pointwise only), or kNone
  Act act_;
  ConvGeom geom_;
  size_t groups_ = 1, taps_ = 1, c_out_full_ = 0, levels_ = 1;
  ConvPath path_ = ConvPath::Im2col;
  std::vector<uint32_t> cin_, cout_;  // per level
  PackedA packed_;
  PackedA lanes_;  // Direct layers: also packed for conv_cout_lanes, taken at levels that fill a strip
  WinogradWeights winograd_;
  std::vector<float> dw_weight_;
  LevelVectors scale_, bias_;
  size_t shared_b_floats_ = 0;  // > 0: small map, run_shared_b at 2+ workers (its scratch)
};

}  // namespace

std::unique_ptr<Op> make_conv2d(const ModelFile& m, const NodeDesc& n, const OpOptions& opts,
                                const NodeDesc* gate) {
  return std::make_unique<Conv2d>(m, n, opts, gate);
}

}  // namespace aio
