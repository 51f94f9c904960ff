// Winograd convolution F(m x m, 3x3) for output tiles of m = 2 or 4 pixels a side (see
// winograd_conv3x3 in kernels.h): weight transform at load, and per block of output tiles: input
// transform into packed GEMM strips, a = (m + 2)^2 GEMMs (one per transformed position), output
// transform with the epilogue.
//
// Y = A^T [(G w G^T) . (B^T d B)] A for the (m + 2) x (m + 2) input tile d that starts at
// (m ty - ph, m tx - pw). The transforms are per ISA (the table's winograd[], over runs of tiles
// on one tile row); the products are the GEMM micro-kernel's.
//
// F(2x2, 3x3), interpolation points 0, 1, -1, inf:
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// F(4x4, 3x3), points 0, 1, -1, 2, -2, inf (Lavin & Gray's matrices, as ncnn's):
//   B^T = [4  0 -5  0 1 0;   G = [ 1/4     0    0;    A^T = [1 1  1 1  1 0;
//          0 -4 -4  1 1 0;        -1/6  -1/6 -1/6;           0 1 -1 2 -2 0;
//          0  4 -4 -1 1 0;        -1/6   1/6 -1/6;           0 1  1 4  4 0;
//          0 -2 -1  2 1 0;         1/24  1/12 1/6;           0 1 -1 8 -8 1]
//          0  2 -1 -2 1 0;         1/24 -1/12 1/6;
//          0  4  0 -5 0 1]            0     0    1]
// F(4x4) multiplies 36 times per 16 outputs (F(2x2): 16 per 4; direct: 9 per output), at the
// price of larger transform coefficients: its rounding error is a few times F(2x2)'s (measured in
// tests/cpp/test_kernels_spatial.cpp, stated in kernels.h).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/kernels_internal.h"

namespace aio {
namespace {

using detail::Scratch;
using detail::thread_scratch;
using detail::WinogradFns;

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

// G of F(tile x tile, 3x3): alpha x 3, row-major, in double (the weight transform rounds once).
const double* g_matrix(size_t tile) {
  static const double g2[4 * 3] = {1, 0, 0, .5, .5, .5, .5, -.5, .5, 0, 0, 1};
  static const double g4[6 * 3] = {1. / 4,  0,       0,      -1. / 6, -1. / 6, -1. / 6,
                                   -1. / 6, 1. / 6,  -1. / 6, 1. / 24, 1. / 12, 1. / 6,
                                   1. / 24, -1. / 12, 1. / 6, 0,       0,       1};
  return tile == 4 ? g4 : g2;
}

}  // namespace

bool winograd_tile_supported(size_t tile) { return tile == 2 || tile == 4; }

WinogradWeights WinogradWeights::transform(const float* w, size_t M, size_t C, size_t tile) {
  if (!winograd_tile_supported(tile)) tile = 2;
  const size_t alpha = tile + 2, elems = alpha * alpha;
  const double* G = g_matrix(tile);
  // u[t][o][c] for t = alpha * a + b: (G w G^T)[a][b], computed in double and rounded once.
  std::vector<float> u(elems * M * C);
  std::vector<double> gw(alpha * 3);
  for (size_t o = 0; o < M; ++o) {
    for (size_t c = 0; c < C; ++c) {
      const float* k = w + (o * C + c) * 9;
      for (size_t a = 0; a < alpha; ++a)  // G w
        for (size_t j = 0; j < 3; ++j)
          gw[a * 3 + j] = G[a * 3] * k[j] + G[a * 3 + 1] * k[3 + j] + G[a * 3 + 2] * k[6 + j];
      for (size_t a = 0; a < alpha; ++a)  // (G w) G^T
        for (size_t b = 0; b < alpha; ++b) {
          const double v =
              gw[a * 3] * G[b * 3] + gw[a * 3 + 1] * G[b * 3 + 1] + gw[a * 3 + 2] * G[b * 3 + 2];
          u[((alpha * a + b) * M + o) * C + c] = static_cast<float>(v);
        }
    }
  }
  WinogradWeights out;
  out.tile_ = tile;
  out.u_.reserve(elems);
  for (size_t t = 0; t < elems; ++t)
    out.u_.push_back(PackedA::pack(u.data() + t * M * C, M, C, C));
  return out;
}

size_t WinogradWeights::bytes() const {
  size_t b = 0;
  for (const PackedA& p : u_) b += p.bytes();
  return b;
}

size_t winograd_lanes(size_t tile) {
  if (!winograd_tile_supported(tile)) return 1;
  return detail::table().winograd[detail::winograd_index(tile)].lanes;
}

size_t winograd_tiles(const ConvGeom& g, size_t tile) {
  return ceil_div(g.h_out, tile) * ceil_div(g.w_out, tile);
}

namespace {

// One tile-row run of a block: tiles [tx0, tx0 + n) of tile row ty, at block position j.
struct Segment {
  size_t ty, tx0, n, j;
};

// A block's tiles (at most one strip, so at most kMaxNR runs), split into runs that lie on one
// tile row. Computed once per block: the transforms then loop over channels without divisions.
size_t block_segments(const ConvGeom& g, size_t tile, size_t t0, size_t t1, Segment* out) {
  const size_t tw = ceil_div(g.w_out, tile);
  size_t count = 0;
  for (size_t t = t0; t < t1;) {
    const size_t ty = t / tw, tx0 = t % tw, n = std::min(tw - tx0, t1 - t);
    out[count++] = {ty, tx0, n, t - t0};
    t += n;
  }
  return count;
}

// The (tile + 2)^2 input window of tile tx of tile row ty, zero outside the image.
template <size_t kTile>
void load_window(const float* plane, const ConvGeom& g, size_t ty, size_t tx,
                 float (*d)[kTile + 2]) {
  const long h_in = static_cast<long>(g.h_in), w_in = static_cast<long>(g.w_in);
  for (size_t r = 0; r < kTile + 2; ++r) {
    const long iy = static_cast<long>(kTile * ty + r) - static_cast<long>(g.ph);
    for (size_t s = 0; s < kTile + 2; ++s) {
      const long ix = static_cast<long>(kTile * tx + s) - static_cast<long>(g.pw);
      d[r][s] = iy >= 0 && iy < h_in && ix >= 0 && ix < w_in ? plane[iy * w_in + ix] : 0.f;
    }
  }
}

// Portable transforms (every ISA without its own), one tile at a time.
void input_f2_portable(const float* plane, const ConvGeom& g, size_t ty, size_t tx0, size_t n,
                       float* v, size_t stride) {
  for (size_t i = 0; i < n; ++i) {
    float d[4][4];
    load_window<2>(plane, g, ty, tx0 + i, d);
    for (size_t s = 0; s < 4; ++s) {  // B^T d, column by column
      const float a = d[0][s], b = d[1][s], c = d[2][s], e = d[3][s];
      d[0][s] = a - c;
      d[1][s] = b + c;
      d[2][s] = c - b;
      d[3][s] = b - e;
    }
    for (size_t r = 0; r < 4; ++r) {  // (B^T d) B, row by row
      float* vr = v + 4 * r * stride + i;
      vr[0] = d[r][0] - d[r][2];
      vr[stride] = d[r][1] + d[r][2];
      vr[2 * stride] = d[r][2] - d[r][1];
      vr[3 * stride] = d[r][1] - d[r][3];
    }
  }
}

// B^T x for F(4x4): the six sums of Lavin & Gray's B^T, sharing the pairs that rows 1-4 use.
inline void bt6(const float* x, size_t xs, float* r, size_t rs) {
  const float x0 = x[0], x1 = x[xs], x2 = x[2 * xs], x3 = x[3 * xs], x4 = x[4 * xs],
              x5 = x[5 * xs];
  const float a = x4 - 4.f * x2, b = x3 - 4.f * x1;  // rows 1, 2
  const float c = x4 - x2, d = 2.f * (x3 - x1);      // rows 3, 4
  r[0] = 4.f * x0 - 5.f * x2 + x4;
  r[rs] = a + b;
  r[2 * rs] = a - b;
  r[3 * rs] = c + d;
  r[4 * rs] = c - d;
  r[5 * rs] = 4.f * x1 - 5.f * x3 + x5;
}

void input_f4_portable(const float* plane, const ConvGeom& g, size_t ty, size_t tx0, size_t n,
                       float* v, size_t stride) {
  for (size_t i = 0; i < n; ++i) {
    float d[6][6], h[6][6];
    load_window<4>(plane, g, ty, tx0 + i, d);
    for (size_t s = 0; s < 6; ++s) bt6(&d[0][s], 6, &h[0][s], 6);  // B^T d, column by column
    for (size_t r = 0; r < 6; ++r) bt6(h[r], 1, v + 6 * r * stride + i, stride);  // (B^T d) B
  }
}

// y = act(scale * out + bias + res) for the first `cols` pixels of each output row r < rows
// whose y[r] is set; out[r][x] for x < cols.
template <size_t kTile>
void store_tile(const float (*out)[kTile], size_t x0, size_t cols, float scale, float bias,
                const float* const* res, float* const* y, Act act) {
  for (size_t r = 0; r < kTile; ++r) {
    if (y[r] == nullptr) continue;
    for (size_t dx = 0; dx < kTile && x0 + dx < cols; ++dx) {
      const size_t x = x0 + dx;
      y[r][x] = detail::apply_act(scale * out[r][dx] + bias + (res ? res[r][x] : 0.f), act);
    }
  }
}

void output_f2_portable(const float* p, size_t stride, size_t n, float scale, float bias,
                        const float* const* res, float* const* y, size_t cols, Act act) {
  for (size_t i = 0; i < n; ++i) {
    float q[2][4];  // A^T M
    for (size_t s = 0; s < 4; ++s) {
      const float* ps = p + s * stride + i;
      q[0][s] = ps[0] + ps[4 * stride] + ps[8 * stride];
      q[1][s] = ps[4 * stride] - ps[8 * stride] - ps[12 * stride];
    }
    float out[2][2];
    for (size_t r = 0; r < 2; ++r) {
      out[r][0] = q[r][0] + q[r][1] + q[r][2];
      out[r][1] = q[r][1] - q[r][2] - q[r][3];
    }
    store_tile<2>(out, 2 * i, cols, scale, bias, res, y, act);
  }
}

// A^T x for F(4x4): four outputs from six, sharing the sums and differences of x1, x2 and x3, x4.
inline void at6(const float* x, size_t xs, float* r, size_t rs) {
  const float a = x[xs] + x[2 * xs], b = x[xs] - x[2 * xs];
  const float c = x[3 * xs] + x[4 * xs], d = x[3 * xs] - x[4 * xs];
  r[0] = x[0] + a + c;
  r[rs] = b + 2.f * d;
  r[2 * rs] = a + 4.f * c;
  r[3 * rs] = b + 8.f * d + x[5 * xs];
}

void output_f4_portable(const float* p, size_t stride, size_t n, float scale, float bias,
                        const float* const* res, float* const* y, size_t cols, Act act) {
  for (size_t i = 0; i < n; ++i) {
    float q[4][6], out[4][4];
    for (size_t s = 0; s < 6; ++s) at6(p + s * stride + i, 6 * stride, &q[0][s], 6);  // A^T M
    for (size_t r = 0; r < 4; ++r) at6(q[r], 1, out[r], 1);                            // (A^T M) A
    store_tile<4>(out, 4 * i, cols, scale, bias, res, y, act);
  }
}

// Bytes of products computed at once (alpha^2 matrices of one strip, for a block of output rows),
// so that they stay in L2 beside the transformed input between the GEMMs and the output transform:
// F(2x2) takes up to 312 rows in one block (every ResNet layer it runs, as before F(4x4) came),
// F(4x4) 132 (ResNet-18's 256-row layers in two blocks).
constexpr size_t kProdBytes = 640 << 10;

// Output-row block: equal blocks of whole kMR-row panels, each within kProdBytes.
size_t row_block(size_t m, size_t elems, size_t nr) {
  using detail::kMR;
  const size_t most = std::max(kMR, kProdBytes / (elems * nr * sizeof(float)) / kMR * kMR);
  const size_t blocks = ceil_div(m, most);
  return std::max<size_t>(1, std::min(m, ceil_div(ceil_div(m, blocks), kMR) * kMR));
}

// prod[r - r0][nr] for rows r in [r0, r1) = U (columns [0, C)) x v (C x vr, row-major), straight
// through the micro-kernel: a block is a single strip, so the GEMM driver's N and M blocking had
// nothing to do but cost its setup per position per block, which small levels (C = 16-32) felt.
// A block of at most 4 tiles takes the ISA's narrow product where it has one (v then 4 floats a
// row, vr = 4), whole kMR-row panels over all of C at once: prod needs rows up to r1 rounded up
// to a panel (the driver's m_floats).
void multiply(const detail::KernelTable& kt, const WinogradFns& fns, const PackedA& u,
              const float* v, size_t vr, size_t C, size_t r0, size_t r1, size_t nb, float* prod) {
  using detail::kKC;
  using detail::kMR;
  const size_t nr = kt.gemm_nr;
  if (C == 0) {
    std::fill(prod, prod + (r1 - r0) * nr, 0.f);
    return;
  }
  const auto narrow = nb <= 4 ? fns.narrow_product : nullptr;
  for (size_t row = r0; row < r1; row += kMR) {
    const float* panel = u.data() + row * u.cols();  // row is a panel start: kMR rows x K
    const size_t mr = std::min(kMR, r1 - row);
    if (narrow) {
      narrow(C, panel, v, prod + (row - r0) * nr, nr);
      continue;
    }
    for (size_t k0 = 0; k0 < C; k0 += kKC) {
      const size_t kc = std::min(kKC, C - k0);
      kt.gemm(mr, nb, kc, panel + k0 * kMR, v + k0 * vr, vr, prod + (row - r0) * nr, nr, k0 > 0,
              nullptr);
    }
  }
}

}  // namespace

// Tiles go through the products in blocks of one B strip (nr = 32 on AVX-512): a one-strip packed
// matrix is plain row-major (C x nr), so the input transform writes it in place, and a block's
// transformed input (alpha^2 x C x nr floats) and products (alpha^2 x row_block x nr) stay in L2.
// Blocks of 2-4 strips, each weight panel then reused from L1, measured no faster on ResNet-18
// (F(2x2)).
void winograd_conv3x3(const WinogradWeights& w, const float* x, const ConvGeom& g, size_t m,
                      float* y, size_t t0, size_t t1, const Epilogue& epi) {
  const detail::KernelTable& kt = detail::table();
  const size_t tile = w.tile(), elems = w.elements();
  const WinogradFns& fns = kt.winograd[detail::winograd_index(tile)];
  const size_t C = g.c_in, HW = g.h_out * g.w_out;
  const size_t nr = kt.gemm_nr, mb = row_block(m, elems, nr);
  // A zero-bordered copy of the input rows that tile rows [ty0, ty1) read, where the transforms
  // want it (fns.padded_input): windows at the edges then take the same path as the others. Wide
  // enough for a vector of fns.lanes tiles that starts at the last tile, and one tile more (NEON's
  // F(4x4) loads 20 columns for 18); its geometry has no padding, and tile rows count from ty0.
  const size_t tw = ceil_div(g.w_out, tile), ty0 = t0 / tw;
  ConvGeom gi = g;
  const float* xi = x;
  if (fns.padded_input && t0 < t1) {
    const size_t ty1 = (t1 - 1) / tw + 1;
    gi.h_in = (ty1 - ty0) * tile + 2;
    gi.w_in = tile * (tw + fns.lanes) + 2;
    gi.ph = gi.pw = 0;
    // Zeroed in one pass, then one copy per image row (three library calls per row, two of
    // them for a few floats of border, cost more than the copies).
    float* pad = thread_scratch(Scratch::Plane, C * gi.h_in * gi.w_in);
    std::fill(pad, pad + C * gi.h_in * gi.w_in, 0.f);
    const size_t left = std::min(g.pw, gi.w_in), body = std::min(g.w_in, gi.w_in - left);
    // Padded rows [r0, r1) hold image rows r + tile ty0 - ph; the others stay zero.
    const long shift = static_cast<long>(tile * ty0) - static_cast<long>(g.ph);
    const size_t r0 = static_cast<size_t>(std::clamp(-shift, 0L, static_cast<long>(gi.h_in)));
    const size_t r1 = static_cast<size_t>(
        std::clamp(static_cast<long>(g.h_in) - shift, static_cast<long>(r0),
                   static_cast<long>(gi.h_in)));
    for (size_t c = 0; c < C; ++c) {
      const size_t iy0 = static_cast<size_t>(static_cast<long>(r0) + shift);
      const float* src = x + (c * g.h_in + iy0) * g.w_in;
      float* dst = pad + (c * gi.h_in + r0) * gi.w_in + left;
      for (size_t r = r0; r < r1; ++r, src += g.w_in, dst += gi.w_in)
        std::copy(src, src + body, dst);
    }
    xi = pad;
  }
  const size_t ty_base = xi == x ? 0 : ty0, plane_in = gi.h_in * gi.w_in;
  // One cache line past a multiple of 4 KiB: the transforms touch all matrices at the same
  // offset, and 16-36 streams 4 KiB apart would share one L1 set (12 ways).
  const size_t v_floats = C * nr + 16, m_floats = ceil_div(mb, detail::kMR) * detail::kMR * nr + 16;
  float* v = thread_scratch(Scratch::Winograd, elems * (v_floats + m_floats));
  float* prod = v + elems * v_floats;
  Segment segs[detail::kMaxNR];
  for (size_t b0 = t0; b0 < t1; b0 += nr) {
    const size_t nb = std::min(nr, t1 - b0);
    const size_t n_segs = block_segments(g, tile, b0, b0 + nb, segs);
    // A narrow block (fns.narrow_product) keeps v 4 floats a row, which the transforms' whole
    // vectors fill (a segment's lanes past its tiles are overwritten by the next segment or
    // channel: see WinogradFns). Otherwise the micro-kernel multiplies the lanes past nb too (it
    // never stores them): keep them finite.
    const bool narrow = nb <= 4 && fns.narrow_product;
    const size_t vr = narrow ? 4 : nr;
    if (nb < nr && !narrow)
      for (size_t t = 0; t < elems; ++t)
        for (size_t c = 0; c < C; ++c)
          std::fill(v + t * v_floats + c * nr + nb, v + t * v_floats + (c + 1) * nr, 0.f);
    // input_run takes a segment through all channels, segment after segment: right where no
    // segment's whole vectors pass the end of the row (they would land in the next channel's
    // row, which an earlier segment has written); otherwise channel after channel, as written.
    bool by_segment = fns.input_run != nullptr;
    for (size_t s = 0; s < n_segs && by_segment; ++s)
      by_segment = segs[s].j + ceil_div(segs[s].n, fns.lanes) * fns.lanes <= vr;
    if (by_segment) {
      for (size_t s = 0; s < n_segs; ++s)
        fns.input_run(xi, plane_in, C, gi, segs[s].ty - ty_base, segs[s].tx0, segs[s].n,
                      v + segs[s].j, vr, v_floats);
    } else {
      for (size_t c = 0; c < C; ++c)
        for (size_t s = 0; s < n_segs; ++s)
          fns.input(xi + c * plane_in, gi, segs[s].ty - ty_base, segs[s].tx0, segs[s].n,
                    v + c * vr + segs[s].j, v_floats);
    }
    for (size_t o0 = 0; o0 < m; o0 += mb) {
      const size_t o1 = std::min(m, o0 + mb);
      for (size_t t = 0; t < elems; ++t)
        multiply(kt, fns, w.element(t), v + t * v_floats, vr, C, o0, o1, nb, prod + t * m_floats);
      // Each segment's output rows for channel 0 (null past the map), once per block; channel o
      // adds o planes.
      size_t at[detail::kMaxNR][detail::kMaxWinogradTile], cols[detail::kMaxNR];
      for (size_t s = 0; s < n_segs; ++s) {
        const Segment& sg = segs[s];
        const size_t ox = tile * sg.tx0;
        cols[s] = std::min(tile * sg.n, g.w_out - ox);
        for (size_t r = 0; r < tile; ++r)
          at[s][r] = tile * sg.ty + r < g.h_out ? (tile * sg.ty + r) * g.w_out + ox : SIZE_MAX;
      }
      if (fns.output_run) {
        for (size_t s = 0; s < n_segs; ++s) {
          float* rows[detail::kMaxWinogradTile] = {};
          const float* res_rows[detail::kMaxWinogradTile] = {};
          for (size_t r = 0; r < tile; ++r) {
            if (at[s][r] == SIZE_MAX) break;
            rows[r] = y + o0 * HW + at[s][r];
            if (epi.residual) res_rows[r] = epi.residual + o0 * HW + at[s][r];
          }
          fns.output_run(prod + segs[s].j, m_floats, nr, segs[s].n, o1 - o0,
                         epi.scale ? epi.scale + o0 : nullptr, epi.bias ? epi.bias + o0 : nullptr,
                         epi.residual ? res_rows : nullptr, rows, HW, cols[s], epi.act);
        }
        continue;
      }
      for (size_t o = o0; o < o1; ++o) {
        const float scale = epi.scale ? epi.scale[o] : 1.f;
        const float bias = epi.bias ? epi.bias[o] : 0.f;
        float* const yo = y + o * HW;
        const float* const ro = epi.residual ? epi.residual + o * HW : nullptr;
        for (size_t s = 0; s < n_segs; ++s) {
          float* rows[detail::kMaxWinogradTile] = {};
          const float* res_rows[detail::kMaxWinogradTile] = {};
          for (size_t r = 0; r < tile; ++r) {
            if (at[s][r] == SIZE_MAX) break;
            rows[r] = yo + at[s][r];
            if (ro) res_rows[r] = ro + at[s][r];
          }
          fns.output(prod + (o - o0) * nr + segs[s].j, m_floats, segs[s].n, scale, bias,
                     ro ? res_rows : nullptr, rows, cols[s], epi.act);
        }
      }
    }
  }
}

namespace detail {
void fill_table_winograd_scalar(KernelTable& t) {
  t.winograd[winograd_index(2)] = {input_f2_portable, output_f2_portable, 1};
  t.winograd[winograd_index(4)] = {input_f4_portable, output_f4_portable, 1};
}
}  // namespace detail

}  // namespace aio
