// Winograd F(2x2, 3x3) convolution (see winograd_conv3x3 in kernels.h): weight transform at load,
// and per block of output tiles: input transform into packed GEMM strips, 16 GEMMs, output
// transform with the epilogue.
//
// With B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] and
// A^T = [1 1 1 0; 0 1 -1 -1]: Y = A^T [(G w G^T) . (B^T d B)] A for a 4x4 input tile d that
// starts at (2 ty - ph, 2 tx - pw). The transforms are per ISA (the table's winograd_input and
// winograd_output, over runs of tiles on one tile row); the 16 products are the GEMM
// micro-kernel's.
#include <algorithm>
#include <vector>

#include "kernels/kernels_internal.h"

namespace aio {
namespace {

using detail::Scratch;
using detail::thread_scratch;

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

}  // namespace

WinogradWeights WinogradWeights::transform(const float* w, size_t M, size_t C) {
  // u[t][o][c] for t = 4 * a + b: (G w G^T)[a][b].
  std::vector<float> u(16 * M * C);
  for (size_t o = 0; o < M; ++o) {
    for (size_t c = 0; c < C; ++c) {
      const float* g = w + (o * C + c) * 9;
      float gw[4][3];  // G w
      for (size_t j = 0; j < 3; ++j) {
        const float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        gw[0][j] = g0;
        gw[1][j] = 0.5f * (g0 + g1 + g2);
        gw[2][j] = 0.5f * (g0 - g1 + g2);
        gw[3][j] = g2;
      }
      for (size_t a = 0; a < 4; ++a) {
        const float r0 = gw[a][0], r1 = gw[a][1], r2 = gw[a][2];
        const float v[4] = {r0, 0.5f * (r0 + r1 + r2), 0.5f * (r0 - r1 + r2), r2};
        for (size_t b = 0; b < 4; ++b) u[((4 * a + b) * M + o) * C + c] = v[b];
      }
    }
  }
  WinogradWeights out;
  for (size_t t = 0; t < 16; ++t) out.u_[t] = PackedA::pack(u.data() + t * M * C, M, C, C);
  return out;
}

size_t WinogradWeights::bytes() const {
  size_t b = 0;
  for (const PackedA& p : u_) b += p.bytes();
  return b;
}

size_t winograd_tiles(const ConvGeom& g) { return ceil_div(g.h_out, 2) * ceil_div(g.w_out, 2); }

namespace {

// One tile-row run of a block: tiles [tx0, tx0 + n) of tile row ty, at block position j.
struct Segment {
  size_t ty, tx0, n, j;
};

// A block's tiles (at most one strip, so at most kMaxNR runs), split into runs that lie on one
// tile row. Computed once per block: the transforms then loop over channels without divisions.
size_t block_segments(const ConvGeom& g, size_t t0, size_t t1, Segment* out) {
  const size_t tw = ceil_div(g.w_out, 2);
  size_t count = 0;
  for (size_t t = t0; t < t1;) {
    const size_t ty = t / tw, tx0 = t % tw, n = std::min(tw - tx0, t1 - t);
    out[count++] = {ty, tx0, n, t - t0};
    t += n;
  }
  return count;
}

// Portable transforms (every ISA without its own), one tile at a time.
void input_portable(const float* plane, const ConvGeom& g, size_t ty, size_t tx0, size_t n,
                    float* v, size_t stride) {
  const long h_in = static_cast<long>(g.h_in), w_in = static_cast<long>(g.w_in);
  for (size_t i = 0; i < n; ++i) {
    float d[4][4];
    for (size_t r = 0; r < 4; ++r) {
      const long iy = static_cast<long>(2 * ty + r) - static_cast<long>(g.ph);
      for (size_t s = 0; s < 4; ++s) {
        const long ix = static_cast<long>(2 * (tx0 + i) + s) - static_cast<long>(g.pw);
        d[r][s] = iy >= 0 && iy < h_in && ix >= 0 && ix < w_in ? plane[iy * w_in + ix] : 0.f;
      }
    }
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

void output_portable(const float* p, size_t stride, size_t n, float scale, float bias,
                     const float* res0, const float* res1, float* y0, float* y1, size_t cols,
                     Act act) {
  for (size_t i = 0; i < n; ++i) {
    float q[2][4];  // A^T M
    for (size_t s = 0; s < 4; ++s) {
      const float* ps = p + s * stride + i;
      q[0][s] = ps[0] + ps[4 * stride] + ps[8 * stride];
      q[1][s] = ps[4 * stride] - ps[8 * stride] - ps[12 * stride];
    }
    for (size_t dy = 0; dy < 2; ++dy) {
      float* y = dy ? y1 : y0;
      const float* res = dy ? res1 : res0;
      if (y == nullptr) continue;
      const float out[2] = {q[dy][0] + q[dy][1] + q[dy][2], q[dy][1] - q[dy][2] - q[dy][3]};
      for (size_t dx = 0; dx < 2 && 2 * i + dx < cols; ++dx) {
        const size_t x = 2 * i + dx;
        y[x] = detail::apply_act(scale * out[dx] + bias + (res ? res[x] : 0.f), act);
      }
    }
  }
}

// prod[m][nr] = U (rows [0, m), columns [0, C)) x v (C x nr, row-major), straight through the
// micro-kernel: a block is a single strip, so the GEMM driver's N and M blocking had nothing to
// do but cost its setup 16 times per block, which small levels (C = 16-32) felt.
void multiply(const detail::KernelTable& kt, const PackedA& u, const float* v, size_t C, size_t m,
              size_t nb, float* prod) {
  using detail::kKC;
  using detail::kMR;
  const size_t nr = kt.gemm_nr;
  if (C == 0) {
    std::fill(prod, prod + m * nr, 0.f);
    return;
  }
  for (size_t row = 0; row < m; row += kMR) {
    const float* panel = u.data() + row * u.cols();  // row is a panel start: kMR rows x K
    for (size_t k0 = 0; k0 < C; k0 += kKC)
      kt.gemm(std::min(kMR, m - row), nb, std::min(kKC, C - k0), panel + k0 * kMR, v + k0 * nr, nr,
              prod + row * nr, nr, k0 > 0, nullptr);
  }
}

}  // namespace

// Tiles go through the products in blocks of one B strip (nr = 32 on AVX-512): a one-strip packed
// matrix is plain row-major (C x nr), so the input transform writes it in place, and a block's
// transformed input (16 x C x nr floats) and products (16 x M x nr) stay in L2. Blocks of 2-4
// strips, each weight panel then reused from L1, measured no faster on ResNet-18.
void winograd_conv3x3(const WinogradWeights& w, const float* x, const ConvGeom& g, size_t m,
                      float* y, size_t t0, size_t t1, const Epilogue& epi) {
  const detail::KernelTable& kt = detail::table();
  const size_t C = g.c_in, HW = g.h_out * g.w_out, plane_in = g.h_in * g.w_in;
  const size_t nr = kt.gemm_nr;
  // One cache line past a multiple of 4 KiB: the transforms touch all 16 matrices at the same
  // offset, and 16 streams 4 KiB apart would share one L1 set (12 ways).
  const size_t v_floats = C * nr + 16, m_floats = m * nr + 16;
  float* v = thread_scratch(Scratch::Winograd, 16 * (v_floats + m_floats));
  float* prod = v + 16 * v_floats;
  Segment segs[detail::kMaxNR];
  for (size_t b0 = t0; b0 < t1; b0 += nr) {
    const size_t nb = std::min(nr, t1 - b0);
    const size_t n_segs = block_segments(g, b0, b0 + nb, segs);
    // The micro-kernel multiplies the lanes past nb too (it never stores them): keep them finite.
    if (nb < nr)
      for (size_t t = 0; t < 16; ++t)
        for (size_t c = 0; c < C; ++c)
          std::fill(v + t * v_floats + c * nr + nb, v + t * v_floats + (c + 1) * nr, 0.f);
    for (size_t c = 0; c < C; ++c)
      for (size_t s = 0; s < n_segs; ++s)
        kt.winograd_input(x + c * plane_in, g, segs[s].ty, segs[s].tx0, segs[s].n,
                          v + c * nr + segs[s].j, v_floats);
    for (size_t t = 0; t < 16; ++t)
      multiply(kt, w.element(t), v + t * v_floats, C, m, nb, prod + t * m_floats);
    for (size_t o = 0; o < m; ++o) {
      const float scale = epi.scale ? epi.scale[o] : 1.f;
      const float bias = epi.bias ? epi.bias[o] : 0.f;
      for (size_t s = 0; s < n_segs; ++s) {
        const Segment& sg = segs[s];
        const size_t ox = 2 * sg.tx0, cols = std::min(2 * sg.n, g.w_out - ox);
        const size_t at0 = o * HW + 2 * sg.ty * g.w_out + ox, at1 = at0 + g.w_out;
        const bool row1 = 2 * sg.ty + 1 < g.h_out;
        const float* res = epi.residual;
        kt.winograd_output(prod + o * nr + sg.j, m_floats, sg.n, scale, bias,
                           res ? res + at0 : nullptr, res && row1 ? res + at1 : nullptr, y + at0,
                           row1 ? y + at1 : nullptr, cols, epi.act);
      }
    }
  }
}

namespace detail {
void fill_table_winograd_scalar(KernelTable& t) {
  t.winograd_input = input_portable;
  t.winograd_output = output_portable;
}
}  // namespace detail

}  // namespace aio
