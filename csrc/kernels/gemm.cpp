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

// The blocked driver shared by gemm and gemm_conv; pack(k0, kc, n0, nb, dst) describes the B block
// rows [k0, k0 + kc) x columns [n0, n0 + nb) as a BBlock, packing into dst what it must.
// A: packed row panels at apack, panel_stride floats apart (a level reads a prefix of each).
template <class PackB>
void gemm_blocked(const float* apack, size_t panel_stride, size_t K, float* c, size_t ldc,
                  size_t m0, size_t m1, size_t n0, size_t n1, const Epilogue& epi, PackB&& pack) {
  const detail::KernelTable& t = detail::table();
  const size_t nr = t.gemm_nr;
  float* bpack = pack_buffer();
  const size_t kc_step = k_block_size(K);

  for (size_t nb0 = n0; nb0 < n1; nb0 += kNC) {
    const size_t nb = std::min(kNC, n1 - nb0);
    // K == 0 still runs one (empty) block so the epilogue is applied to zero sums.
    for (size_t k0 = 0;; k0 += kc_step) {
      const size_t kc = std::min(kc_step, K - k0);
      const bool first = k0 == 0, last = k0 + kc >= K;
      // Packed strips are zero-padded, so micro-kernels load whole vectors without masks, and each
      // strip streams contiguously (no TLB walk over ldb-strided rows for every A panel).
      const BBlock bb = pack(k0, kc, nb0, nb, bpack);
      // Blocks end on panel boundaries so only the range's own edges make partial tiles.
      for (size_t mb0 = m0, mb1 = 0; mb0 < m1; mb0 = mb1) {
        mb1 = std::min(m1, mb0 / kMR * kMR + kMC);
        // Strip outer, panels inner: one B strip stays in L1 while the A panels stream from L2.
        for (size_t j0 = 0; j0 < nb; j0 += nr) {
          const size_t nc = std::min(nr, nb - j0);
          const bool direct = j0 < bb.direct_cols;
          const float* bs = direct ? bb.direct + j0 : bb.packed + (j0 - bb.direct_cols) * kc;
          const size_t ldb = direct ? bb.ld : nr;
          for (size_t row = mb0; row < mb1;) {
            const size_t panel = row / kMR, r0 = row % kMR;
            const size_t mr = std::min(kMR - r0, mb1 - row);
            float* ct = c + row * ldc + nb0 + j0;
            detail::TileEpilogue te{};
            if (last) {
              te.scale = epi.scale ? epi.scale + row : nullptr;
              te.bias = epi.bias ? epi.bias + row : nullptr;
              te.residual = epi.residual ? epi.residual + row * ldc + nb0 + j0 : nullptr;
              te.act = epi.act;
            }
            t.gemm(mr, nc, kc, apack + panel * panel_stride + k0 * kMR + r0, bs, ldb, ct, ldc,
                   !first, last ? &te : nullptr);
            row += mr;
          }
        }
      }
      if (last) break;
    }
  }
}

}  // namespace

void gemm(const PackedA& a, size_t K, const float* b, size_t ldb, float* c, size_t ldc, size_t m0,
          size_t m1, size_t n0, size_t n1, const Epilogue& epi) {
  if (m0 >= m1 || n0 >= n1) return;
  const detail::KernelTable& t = detail::table();
  const size_t panel_stride = a.cols() * kMR;
  const float* apack = a.data();
  if (n1 - n0 == 1) {
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
  // With a short K, packing B costs about as much as the multiply (each packed element feeds only
  // M FMAs), so whole strips are read in place and only a partial last strip (which the kernels
  // would over-read) is packed. With a long K the strided rows would thrash the TLB: pack.
  const size_t nr = t.gemm_nr;
  const bool in_place = K <= kDirectMaxK;
  gemm_blocked(apack, panel_stride, K, c, ldc, m0, m1, n0, n1, epi,
               [&](size_t k0, size_t kc, size_t nb0, size_t nb, float* dst) {
                 BBlock bb;
                 // An empty K block reads no B at all (and b may be null then).
                 if (kc == 0) {
                   bb.packed = dst;
                   return bb;
                 }
                 const float* src = b + k0 * ldb + nb0;
                 if (!in_place) {
                   t.pack_b(src, ldb, kc, nb, dst);
                   bb.packed = dst;
                   return bb;
                 }
                 bb.direct = src;
                 bb.ld = ldb;
                 bb.direct_cols = nb / nr * nr;
                 if (bb.direct_cols < nb) {
                   t.pack_b(src + bb.direct_cols, ldb, kc, nb - bb.direct_cols, dst);
                   bb.packed = dst;
                 }
                 return bb;
               });
}

void gemm_conv(const PackedA& a, const float* x, const ConvGeom& g, float* c, size_t ldc,
               size_t m0, size_t m1, size_t n0, size_t n1, const Epilogue& epi) {
  if (m0 >= m1 || n0 >= n1) return;
  const detail::KernelTable& t = detail::table();
  const size_t K = g.c_in * g.kh * g.kw;
  gemm_blocked(a.data(), a.cols() * kMR, K, c, ldc, m0, m1, n0, n1, epi,
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
  gemm_blocked(a.data(), a.cols() * kMR, l.K, c, ldc, m0, m1, n0, n1, epi,
               [&](size_t k0, size_t /*kc*/, size_t nb0, size_t /*nb*/, float* /*dst*/) {
                 BBlock bb;
                 bb.packed = packed + l.offset(nb0 / kNC, k0 / l.kc_step);
                 return bb;
               });
}

}  // namespace aio
