// Portable GEMM driver: blocks K, N and M, packs B blocks, and calls the ISA's micro-kernel.
#include <algorithm>
#include <cstring>

#include "kernels/kernels_internal.h"

namespace aio {
namespace {

using detail::kKC;
using detail::kMaxNR;
using detail::kMC;
using detail::kMR;
using detail::kNC;

// The B packing buffer of the calling thread: sized once for the largest block.
float* pack_buffer() {
  return detail::thread_scratch(detail::Scratch::GemmPackB,
                                kKC * ((kNC + kMaxNR - 1) / kMaxNR * kMaxNR));
}

}  // namespace

size_t gemm_col_align() { return detail::table().gemm_nr; }

namespace {

// Equal K blocks (e.g. 300 = 150 + 150, not 256 + 44): no short block with its C reload overhead
// amortised over few k. K == 0 still makes one (empty) block.
size_t k_block_size(size_t K) {
  if (K == 0) return 1;
  const size_t k_blocks = (K + kKC - 1) / kKC;
  return (K + k_blocks - 1) / k_blocks;
}

// Longest K for which gemm reads B in place (see gemm).
constexpr size_t kDirectMaxK = 128;

// Where the micro-kernels read one K x N block of B: columns [0, direct_cols) straight from the
// caller's matrix (direct + j, row stride ld), the rest from packed strips (strip of column j at
// packed + (j - direct_cols) * kc, row stride nr).
struct BBlock {
  const float* direct = nullptr;
  size_t ld = 0, direct_cols = 0;
  const float* packed = nullptr;
};

// How the driver walks the tiles of one B block.
enum class TileOrder {
  // Strip outer, panels inner: one B strip stays in L1 while the A panels stream from L2.
  StripOuter,
  // Panel outer, strips inner: C is written one panel (12 rows) at a time, row after row, instead
  // of 12 rows x 32 columns of every one of the M rows per strip. For a large C (written to
  // memory, not L2) with a short in-place K, the many interleaved write streams of StripOuter
  // cost more than re-reading B from L2 once per panel: MobileNetV2's 16 -> 96 expansion at
  // 112 x 112 (C 4.8 MB, K 16), 0.71-0.76 -> 0.45 ms.
  PanelOuter,
};

// One K range of a blocked GEMM: its own packed A (panels panel_stride floats apart, the range's
// first column at apack) and K columns; gemm_segments' sources, or one for gemm and gemm_conv.
struct ASegment {
  const float* apack;
  size_t panel_stride, K;
};

// The blocked driver shared by gemm, gemm_conv and gemm_segments; pack(s, k0, kc, n0, nb, dst)
// describes rows [k0, k0 + kc) of segment s's B x columns [n0, n0 + nb) as a BBlock, packing into
// dst what it must. The segments' K blocks follow one another into the same C tiles (the first
// block stores, the others accumulate, the last applies the epilogue), so a sum over several K
// ranges never leaves the N block.
// n_block: the N block width; wider than kNC only where pack() reads B in place (it then packs
// at most a last partial strip).
template <class PackB>
void gemm_blocked(const ASegment* segs, size_t n_segs, float* c, size_t ldc, size_t m0,
                  size_t m1, size_t n0, size_t n1, const Epilogue& epi, PackB&& pack,
                  size_t n_block = kNC, TileOrder order = TileOrder::StripOuter) {
  const detail::KernelTable& t = detail::table();
  const size_t nr = t.gemm_nr;
  float* bpack = pack_buffer();
  // The last segment with columns (K == 0 everywhere: segment 0 runs one empty block so the
  // epilogue is applied to zero sums).
  size_t last_seg = 0;
  for (size_t s = 0; s < n_segs; ++s)
    if (segs[s].K > 0) last_seg = s;

  for (size_t nb0 = n0; nb0 < n1; nb0 += n_block) {
    const size_t nb = std::min(n_block, n1 - nb0);
    bool first = true;
    for (size_t s = 0; s <= last_seg; ++s) {
      const ASegment& seg = segs[s];
      if (seg.K == 0 && s != last_seg) continue;
      const size_t K = seg.K, kc_step = k_block_size(K);
      for (size_t k0 = 0;; k0 += kc_step) {
        const size_t kc = std::min(kc_step, K - k0);
        const bool last = s == last_seg && k0 + kc >= K;
        // Packed strips are zero-padded, so micro-kernels load whole vectors without masks, and
        // each strip streams contiguously (no TLB walk over ldb-strided rows for every A panel).
        const BBlock bb = pack(s, k0, kc, nb0, nb, bpack);
        // The epilogue of the tile at rows [row, ...) and column j0 of the block.
        auto tile_epi = [&](size_t row, size_t j0) {
          detail::TileEpilogue te{};
          if (last) {
            te.scale = epi.scale ? epi.scale + row : nullptr;
            te.bias = epi.bias ? epi.bias + row : nullptr;
            te.residual = epi.residual ? epi.residual + row * ldc + nb0 + j0 : nullptr;
            te.act = epi.act;
          }
          return te;
        };
        auto a_at = [&](size_t row) {
          return seg.apack + (row / kMR) * seg.panel_stride + k0 * kMR + row % kMR;
        };
        // Rows [row, row + mr) of one panel times the strip at column j0 of the block.
        auto tile = [&](size_t row, size_t mr, size_t j0) {
          const size_t nc = std::min(nr, nb - j0);
          const bool direct = j0 < bb.direct_cols;
          const float* bs = direct ? bb.direct + j0 : bb.packed + (j0 - bb.direct_cols) * kc;
          const detail::TileEpilogue te = tile_epi(row, j0);
          t.gemm(mr, nc, kc, a_at(row), bs, direct ? bb.ld : nr, c + row * ldc + nb0 + j0, ldc,
                 !first, last ? &te : nullptr);
        };
        // Columns [j0, j1) (j0 a strip start) of rows [row, row + mr) of one panel: runs of whole
        // strips (in place, then packed) through gemm_strips, a partial last strip through gemm.
        auto strip_runs = [&](size_t row, size_t mr, size_t j0, size_t j1) {
          const size_t whole_end = j0 + (j1 - j0) / nr * nr;
          for (size_t j = j0; j < whole_end;) {
            const bool direct = j < bb.direct_cols;
            const size_t end = direct ? std::min(whole_end, bb.direct_cols) : whole_end;
            const float* bs = direct ? bb.direct + j : bb.packed + (j - bb.direct_cols) * kc;
            const detail::TileEpilogue te = tile_epi(row, j);
            t.gemm_strips(mr, (end - j) / nr, kc, a_at(row), bs, direct ? nr : nr * kc,
                          direct ? bb.ld : nr, c + row * ldc + nb0 + j, ldc, !first,
                          last ? &te : nullptr);
            j = end;
          }
          if (whole_end < j1) tile(row, mr, whole_end);
        };
        // Blocks end on panel boundaries so only the range's own edges make partial tiles.
        for (size_t mb0 = m0, mb1 = 0; mb0 < m1; mb0 = mb1) {
          mb1 = std::min(m1, mb0 / kMR * kMR + kMC);
          if (t.gemm_strips) {
            // Panel outer within column chunks of kNC: a panel's K block stays in L1 while the
            // chunk's strips (in L2) stream past it, one call per panel and chunk.
            for (size_t c0 = 0; c0 < nb; c0 += kNC)
              for (size_t row = mb0; row < mb1;) {
                const size_t mr = std::min(kMR - row % kMR, mb1 - row);
                strip_runs(row, mr, c0, std::min(nb, c0 + kNC));
                row += mr;
              }
            continue;
          }
          if (order == TileOrder::PanelOuter) {
            for (size_t row = mb0; row < mb1;) {
              const size_t mr = std::min(kMR - row % kMR, mb1 - row);
              for (size_t j0 = 0; j0 < nb; j0 += nr) tile(row, mr, j0);
              row += mr;
            }
            continue;
          }
          for (size_t j0 = 0; j0 < nb; j0 += nr)
            for (size_t row = mb0; row < mb1;) {
              const size_t mr = std::min(kMR - row % kMR, mb1 - row);
              tile(row, mr, j0);
              row += mr;
            }
        }
        first = false;
        if (k0 + kc >= K) break;
      }
    }
  }
}

// One segment: gemm and gemm_conv's driver.
template <class PackB>
void gemm_blocked(const float* apack, size_t panel_stride, size_t K, float* c, size_t ldc,
                  size_t m0, size_t m1, size_t n0, size_t n1, const Epilogue& epi, PackB&& pack,
                  size_t n_block = kNC, TileOrder order = TileOrder::StripOuter) {
  const ASegment seg{apack, panel_stride, K};
  gemm_blocked(
      &seg, 1, c, ldc, m0, m1, n0, n1, epi,
      [&](size_t, size_t k0, size_t kc, size_t nb0, size_t nb, float* dst) {
        return pack(k0, kc, nb0, nb, dst);
      },
      n_block, order);
}

// C ranges of at least this many bytes, written with a short in-place K, take TileOrder::
// PanelOuter: the range is then written to memory rather than kept in L2 (2 MiB per core here).
// MobileNetV2 (L0, 1 thread): the 1.8 MB ranges of the 56 x 56 expansions gain 3-5 %; ranges of
// 0.3-0.8 MB lost 5-17 % (fewer B re-reads matter more there than write streams).
constexpr size_t kPanelOuterMinBytes = size_t{1} << 20;

}  // namespace

void gemm(const PackedA& a, size_t K, const float* b, size_t ldb, float* c, size_t ldc, size_t m0,
          size_t m1, size_t n0, size_t n1, const Epilogue& epi) {
  if (m0 >= m1 || n0 >= n1) return;
  if (n1 - n0 == 1) {
    const detail::KernelTable& t = detail::table();
    const size_t panel_stride = a.panel_stride();
    const float* apack = a.data();
    for (size_t row = m0; row < m1;) {
      const size_t panel = row / kMR, r0 = row % kMR, mr = std::min(kMR - r0, m1 - row);
      const detail::TileEpilogue te{epi.scale ? epi.scale + row : nullptr,
                                    epi.bias ? epi.bias + row : nullptr,
                                    epi.residual ? epi.residual + row * ldc + n0 : nullptr, epi.act};
      t.gemv(mr, K, apack + panel * panel_stride + r0, b + n0, ldb, c + row * ldc + n0, ldc, &te);
      row += mr;
    }
    return;
  }
  const GemmSource src{&a, K, b, ldb, nullptr};
  gemm_segments(&src, 1, c, ldc, m0, m1, n0, n1, epi);
}

namespace {

// pack_b with every row k of B multiplied by gate[k] (a squeeze-excite gate on the input
// channels), for ISAs without their own: strips of nr columns, kc x nr each, zero-padded.
void pack_b_scaled_portable(const float* b, size_t ldb, size_t kc, size_t nb, const float* gate,
                            float* dst) {
  const size_t nr = detail::table().gemm_nr;
  for (size_t j0 = 0; j0 < nb; j0 += nr) {
    const size_t w = std::min(nr, nb - j0);
    for (size_t k = 0; k < kc; ++k) {
      const float s = gate[k];
      for (size_t j = 0; j < w; ++j) dst[j] = b[k * ldb + j0 + j] * s;
      for (size_t j = w; j < nr; ++j) dst[j] = 0.f;
      dst += nr;
    }
  }
}

}  // namespace

void gemm_segments(const GemmSource* src, size_t n_src, float* c, size_t ldc, size_t m0,
                   size_t m1, size_t n0, size_t n1, const Epilogue& epi) {
  if (m0 >= m1 || n0 >= n1 || n_src == 0) return;
  const detail::KernelTable& t = detail::table();
  const auto pack_scaled = t.pack_b_scaled ? t.pack_b_scaled : pack_b_scaled_portable;
  ASegment segs[kMaxGemmSources];
  const size_t n_segs = std::min(n_src, kMaxGemmSources);
  // With a short K, packing B costs about as much as the multiply (each packed element feeds only
  // M FMAs), so whole strips are read in place and only a partial last strip (which the kernels
  // would over-read) is packed. With a long K the strided rows would thrash the TLB: pack. A
  // gated B is always packed: the gate is applied on the way into the strips.
  bool in_place[kMaxGemmSources];
  bool all_in_place = true;
  for (size_t s = 0; s < n_segs; ++s) {
    segs[s] = {src[s].a->data(), src[s].a->panel_stride(), src[s].K};
    in_place[s] = src[s].K <= kDirectMaxK && src[s].gate == nullptr;
    all_in_place = all_in_place && in_place[s];
  }
  const size_t nr = t.gemm_nr;
  // In place, B needs no packing buffer, so the N block can be the whole range: a panel then
  // writes its rows end to end (one segment only: several would sweep the whole C once each).
  const bool panel_outer = n_segs == 1 && all_in_place &&
                           (m1 - m0) * (n1 - n0) * sizeof(float) >= kPanelOuterMinBytes;
  gemm_blocked(segs, n_segs, c, ldc, m0, m1, n0, n1, epi,
               [&](size_t s, size_t k0, size_t kc, size_t nb0, size_t nb, float* dst) {
                 BBlock bb;
                 // An empty K block reads no B at all (and b may be null then).
                 if (kc == 0) {
                   bb.packed = dst;
                   return bb;
                 }
                 const GemmSource& g = src[s];
                 const float* b = g.b + k0 * g.ldb + nb0;
                 if (g.gate != nullptr) {
                   pack_scaled(b, g.ldb, kc, nb, g.gate + k0, dst);
                   bb.packed = dst;
                   return bb;
                 }
                 if (!in_place[s]) {
                   t.pack_b(b, g.ldb, kc, nb, dst);
                   bb.packed = dst;
                   return bb;
                 }
                 bb.direct = b;
                 bb.ld = g.ldb;
                 bb.direct_cols = nb / nr * nr;
                 if (bb.direct_cols < nb) {
                   t.pack_b(b + bb.direct_cols, g.ldb, kc, nb - bb.direct_cols, dst);
                   bb.packed = dst;
                 }
                 return bb;
               },
               panel_outer ? n1 - n0 : kNC,
               panel_outer ? TileOrder::PanelOuter : TileOrder::StripOuter);
}

void gemm_conv(const PackedA& a, const float* x, const ConvGeom& g, float* c, size_t ldc,
               size_t m0, size_t m1, size_t n0, size_t n1, const Epilogue& epi) {
  if (m0 >= m1 || n0 >= n1) return;
  const detail::KernelTable& t = detail::table();
  const size_t K = g.c_in * g.kh * g.kw;
  gemm_blocked(a.data(), a.panel_stride(), K, c, ldc, m0, m1, n0, n1, epi,
               [&](size_t k0, size_t kc, size_t nb0, size_t nb, float* dst) {
                 t.pack_conv_b(x, g, k0, kc, nb0, nb, t.gemm_nr, dst);
                 BBlock bb;
                 bb.packed = dst;
                 return bb;
               });
}

static_assert(kPackedColBlock == kNC, "prepacked column blocks are the driver's N blocks");

PackedBLayout packed_b_layout(size_t K, size_t N) {
  PackedBLayout l;
  l.K = K;
  l.N = N;
  l.kc_step = k_block_size(K);
  l.k_blocks = K == 0 ? 1 : (K + l.kc_step - 1) / l.kc_step;
  l.n_blocks = std::max<size_t>(1, (N + kNC - 1) / kNC);
  return l;
}

size_t PackedBLayout::floats() const {
  const size_t nr = detail::table().gemm_nr;
  return std::max<size_t>(K, 1) * ((N + nr - 1) / nr * nr);
}

// Column block nb holds K x round_up(width, nr) floats, K block after K block (each kc x width,
// strips of nr inside); full column blocks are kNC wide, a multiple of nr.
size_t PackedBLayout::offset(size_t nb, size_t kb) const {
  const size_t nr = detail::table().gemm_nr;
  const size_t width = std::min(kNC, N - nb * kNC);
  return nb * kNC * std::max<size_t>(K, 1) + kb * kc_step * ((width + nr - 1) / nr * nr);
}

namespace {
struct BlockRange {
  size_t k0, kc, n0, nb;
};
BlockRange block_range(const PackedBLayout& l, size_t block) {
  const size_t nb = block / l.k_blocks, kb = block % l.k_blocks;
  const size_t k0 = kb * l.kc_step, n0 = nb * kNC;
  return {k0, std::min(l.kc_step, l.K - std::min(l.K, k0)), n0, std::min(kNC, l.N - n0)};
}
}  // namespace

void pack_conv_b_block(const float* x, const ConvGeom& g, const PackedBLayout& l, size_t block,
                       float* packed) {
  const BlockRange r = block_range(l, block);
  if (r.kc == 0 || r.nb == 0) return;
  const detail::KernelTable& t = detail::table();
  t.pack_conv_b(x, g, r.k0, r.kc, r.n0, r.nb, t.gemm_nr,
                packed + l.offset(block / l.k_blocks, block % l.k_blocks));
}

void gemm_prepacked(const PackedA& a, const PackedBLayout& l, const float* packed, float* c,
                    size_t ldc, size_t m0, size_t m1, size_t n0, size_t n1, const Epilogue& epi) {
  if (m0 >= m1 || n0 >= n1) return;
  gemm_blocked(a.data(), a.panel_stride(), l.K, c, ldc, m0, m1, n0, n1, epi,
               [&](size_t k0, size_t /*kc*/, size_t nb0, size_t /*nb*/, float* /*dst*/) {
                 BBlock bb;
                 bb.packed = packed + l.offset(nb0 / kNC, k0 / l.kc_step);
                 return bb;
               });
}

}  // namespace aio
