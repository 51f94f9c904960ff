// Private to csrc/kernels/: the dispatch table that platform.cpp fills once, and the pieces the
// portable drivers share with the per-ISA micro-kernels. Not installed, not included by the runtime.
#pragma once

#include <cmath>
#include <cstddef>

#include "kernels/kernels.h"

namespace aio {
namespace detail {

// Rows per packed A panel. One value for every ISA so one packed image serves all of them:
// AVX-512 runs 12x32 tiles, AVX2 two 6x16 half-panels, scalar any row count.
constexpr size_t kMR = kGemmRowAlign;
// K and N blocking of the GEMM driver: a KC x NC block of B is packed (about 256 KiB, L2-resident)
// and a KC-long A panel slice (12 KiB) streams from L2 while one B strip (<= 32 KiB) stays in L1.
constexpr size_t kKC = 256;
constexpr size_t kNC = 256;
// M blocking keeps the A rows re-read for every B strip (MC x KC floats) inside L2.
constexpr size_t kMC = 384;

// How many k steps ahead the GEMM micro-kernels prefetch their A (weight) panel. A K block of a
// panel is a 12 KB run, and consecutive panels are a whole panel (K x 12 floats) apart; for layers
// whose weights do not fit in L2 (ResNet-18's 7 x 7 and 14 x 14 stages, MobileNetV2's last 1x1
// layers) the hardware prefetcher did not keep the FMAs fed. Measured on ResNet-18 L0, 1 thread,
// interleaved A/B: 33.6-33.7 -> 30.1-30.9 ms (7 x 7 stage 10.0-10.3 -> 7.9-8.1 ms); MobileNetV2
// 7.9-8.1 -> 7.5-7.7 ms; AVX2 kernels, ResNet-18: 61.3-62.6 -> 59.8-60.9 ms. 32-64 steps were
// best; 16 gained less, 256 lost some of it.
constexpr size_t kPrefetchA = 48;
// Widest B strip any micro-kernel uses; the packing buffer is sized for it.
constexpr size_t kMaxNR = 32;

// The epilogue as one micro-tile sees it: pointers already offset to the tile's first row/column.
struct TileEpilogue {
  const float* scale;     // per row, or nullptr
  const float* bias;      // per row, or nullptr
  const float* residual;  // at the tile's [0][0], leading dimension ldc, or nullptr
  Act act;
};

// One micro-tile: C[mr][nc] (+)= A_panel[.. mr rows ..] * B_strip, then the epilogue if epi != null.
//   a: first row of the tile inside a packed A panel, at the block's first k; stride kMR per k.
//   b: packed B strip, ldb (= nr) floats per k, zero-padded past nc: nr columns are always
//      loaded (no load masks), nc <= nr stored.
//   c: tile's [0][0] in C, leading dimension ldc; exactly mr rows x nc columns are written.
//   accumulate: add the partial sums already in C (earlier K blocks).
using GemmUkernelFn = void (*)(size_t mr, size_t nc, size_t kc, const float* a, const float* b,
                               size_t ldb, float* c, size_t ldc, bool accumulate,
                               const TileEpilogue* epi);

// The micro-kernel with B row k read at base + off[k] (whole nr-wide rows, nothing packed): the
// direct convolution's taps, each a contiguous run of one (phase-split) input row. Same a, c, epi
// conventions as GemmUkernelFn; the rows must be readable for nr floats even past nc.
using GemmOffsetsFn = void (*)(size_t mr, size_t nc, size_t kc, const float* a, const float* base,
                               const ptrdiff_t* off, float* c, size_t ldc, bool accumulate,
                               const TileEpilogue* epi);

// One output column (N == 1, e.g. a Linear layer): rows in lanes instead of pixels in lanes,
// which would leave 31 of 32 lanes idle. Same a/c/epi conventions as GemmUkernelFn; b[k * ldb] is the
// column; the whole K is done in one call.
using GemvFn = void (*)(size_t mr, size_t K, const float* a, const float* b, size_t ldb, float* c,
                        size_t ldc, const TileEpilogue* epi);

// A run of `strips` whole strips (nc = nr each) against the same rows of one A panel: strip s
// of B at b + s * b_step (row stride ldb), its C tile at c + s * nr (epi->residual likewise).
// Otherwise as GemmUkernelFn. The per-tile set-up of a call per tile (the driver's pointer work,
// dispatch, saving registers, the epilogue's mode tests) is paid once per run.
using GemmStripsFn = void (*)(size_t mr, size_t strips, size_t kc, const float* a, const float* b,
                              size_t b_step, size_t ldb, float* c, size_t ldc, bool accumulate,
                              const TileEpilogue* epi);

// aio::conv3x3_rows with A as its panels (a: panel 0, panel_stride floats between panels),
// same contract otherwise (the ISA's whole kernel: its padded copy, tiles and epilogue).
using Conv3x3RowsFn = void (*)(const float* a, size_t panel_stride, const float* x,
                               const ConvGeom& g, float* y, size_t m0, size_t m1, size_t oy0,
                               size_t oy1, const Epilogue& epi);

// Packs B[kc][nb] (leading dimension ldb) into strips of nr columns, each [k][nr], zero-padded
// past nb, strip after strip (strip j at dst + j * nr * kc).
using PackBFn = void (*)(const float* b, size_t ldb, size_t kc, size_t nb, float* dst);
using PackBScaledFn = void (*)(const float* b, size_t ldb, size_t kc, size_t nb,
                               const float* gate, float* dst);

// Implicit-GEMM B packing for a convolution: the rows [k0, k0 + kc) x pixels [p0, p0 + nb) of the
// (never materialised) im2col matrix of image x, written straight into pack_b's strip layout
// (strips of nr columns, zero-padded). nb <= kNC. Fusing im2col into the copy pack_b makes anyway
// removes one full pass over the K x N matrix and the per-row call overhead of a separate im2col.
using PackConvBFn = void (*)(const float* x, const ConvGeom& g, size_t k0, size_t kc, size_t p0,
                             size_t nb, size_t nr, float* dst);
// Portable version (any nr).
void pack_conv_b_portable(const float* x, const ConvGeom& g, size_t k0, size_t kc, size_t p0,
                          size_t nb, size_t nr, float* dst);
// Per-thread scratch of at least `floats` floats, 64-byte aligned, one buffer per slot (so kernels
// that nest, like the Winograd driver around the GEMM, keep theirs apart). It grows on demand and
// is then reused, so a warm inference path does not allocate.
enum class Scratch {
  GemmPackB,
  ConvRows,
  ConvRowBuf,
  Plane,
  Winograd,
  ConvDirect,
  CoutLanes,
  Count
};
float* thread_scratch(Scratch slot, size_t floats);

// The two transforms of Winograd F(m x m, 3x3) (see winograd.cpp; m = 2 or 4, alpha = m + 2) for
// n <= gemm_nr tiles of one tile-row segment: tiles [tx0, tx0 + n) of tile row ty.
// The alpha^2 matrices of the transformed positions t lie `stride` floats apart: element i of
// matrix t is v[t * stride + i].
// Input: B^T d B of each tile's alpha x alpha window of one channel plane (zero outside the
// image), into v[t * stride + i] for the alpha^2 positions t and i < n. Transforms of `lanes`
// tiles a vector may also write i up to n rounded up to a whole vector (finite values, the
// windows of the tiles after the segment's): the driver transforms a block's segments in order,
// channel by channel, so a later segment or channel overwrites them, and leaves 16 floats after
// the last channel.
using WinogradInputFn = void (*)(const float* plane, const ConvGeom& g, size_t ty, size_t tx0,
                                 size_t n, float* v, size_t stride);
// Output: from the alpha^2 products p[t * stride + i], y = act(scale * (A^T M A) + bias + residual)
// for the segment's first `cols` pixels of output row m ty + r, at y[r], for each r < m whose y[r]
// is not null (rows past the map are null); res, if not null, holds each row's residual (laid out
// as y; y may be the residual).
using WinogradOutputFn = void (*)(const float* p, size_t stride, size_t n, float scale,
                                  float bias, const float* const* res, float* const* y,
                                  size_t cols, Act act);
struct WinogradFns {
  WinogradInputFn input = nullptr;
  WinogradOutputFn output = nullptr;
  size_t lanes = 1;  // tiles per vector (one tile-row segment per vector: see winograd_lanes)
  // Products of a whole kMR-row panel times at most 4 columns (a block of at most 4 tiles: the
  // 4 tiles of a 7 x 7 map), C[kMR][4] = A_panel (k x kMR) x B (k x 4, contiguous), ldc floats
  // per row of C, all kMR rows and 4 columns written (rows past the level's are the panel's
  // other rows or zeros); nullptr: the GEMM micro-kernel.
  // The input transforms want a zero-bordered copy of the input (the driver makes one: windows
  // then never cross the image's edge, and a vector's lanes past n read zeros, not past the
  // plane's end), rather than the image with its padding in g.
  bool padded_input = false;
  void (*narrow_product)(size_t k, const float* a, const float* b, float* c, size_t ldc) = nullptr;
  // The output transform of one segment for mc channels at once (channel o: products at
  // p + o p_step, rows at y[r] + o plane and res[r] + o plane, scale[o] and bias[o], either
  // array nullptr meaning 1 and 0), where per-call costs matter; nullptr: `output` per channel.
  void (*output_run)(const float* p, size_t stride, size_t p_step, size_t n, size_t mc,
                     const float* scale, const float* bias, const float* const* res,
                     float* const* y, size_t plane, size_t cols, Act act) = nullptr;
  // The input transform of one segment for `channels` channels at once (channel c's plane at
  // plane + c plane_step, its columns at v + c v_step); nullptr: `input` per channel.
  void (*input_run)(const float* plane, size_t plane_step, size_t channels, const ConvGeom& g,
                    size_t ty, size_t tx0, size_t n, float* v, size_t v_step,
                    size_t stride) = nullptr;
};
// Output tile sides with transforms (F(2x2, 3x3) and F(4x4, 3x3)): KernelTable::winograd[i] for
// tile 2 (i + 1).
constexpr size_t kWinogradTiles = 2;
constexpr size_t kMaxWinogradTile = 2 * kWinogradTiles;
constexpr size_t winograd_index(size_t tile) { return tile / 2 - 1; }

// One micro-tile of conv_cout_lanes (see kernels.h): `runs` (1 or 2) runs of `w` output pixels
// (runs * w <= kCoutLanesMaxPixels) times one strip of nc <= kCoutLanesStrip output channels.
//   wts: the strip's packed weights, [k][kCoutLanesStrip], 64-byte aligned.
//   x: where the padded input of the tile's first pixel starts; pixel c of run i reads tap k at
//      x[off[k] + i * run_pitch_in + c * s] (s: column stride, 1 or 2).
//   y: channel 0 of the strip at the run's first pixel, ldy floats per channel; run i's pixels
//      start at y + i * run_pitch_out. epi (never null): scale/bias from the strip's first
//      channel, residual laid out as y and positioned like it.
using CoutLanesTileFn = void (*)(size_t w, size_t runs, size_t s, size_t K, const float* wts,
                                 const float* x, const ptrdiff_t* off, size_t run_pitch_in,
                                 float* y, size_t ldy, size_t run_pitch_out, size_t nc,
                                 const TileEpilogue* epi);
// Output pixels per conv_cout_lanes tile: 14 x 2 accumulators of 16 lanes leave registers for
// the two weight vectors and a broadcast.
constexpr size_t kCoutLanesMaxPixels = 14;

// Whole depthwise op for a channel range (same contract as aio::depthwise_conv).
using DepthwiseFn = void (*)(const float* x, const float* w, const ConvGeom& g, float* y,
                             size_t c0, size_t c1, const Epilogue& epi);

// Whole max-pool op for a channel and row range (same contract as aio::max_pool).
using MaxPoolFn = void (*)(const float* x, const ConvGeom& g, float* y, size_t c0, size_t c1,
                           size_t oy0, size_t oy1);

// Same contract as aio::add_act.
using AddActFn = void (*)(const float* a, const float* b, float* y, size_t i0, size_t i1, Act act);

// Same contract as aio::scale_channels.
using ScaleChannelsFn = void (*)(const float* x, const float* gate, float* y, size_t hw,
                                 size_t c0, size_t c1, Act act);
// Same contracts as aio::avg_pool and aio::global_avg_pool.
using AvgPoolFn = void (*)(const float* x, const ConvGeom& g, bool count_pad, float* y, size_t c0,
                           size_t c1);
using GlobalAvgPoolFn = void (*)(const float* x, size_t hw, float* y, size_t c0, size_t c1);
// acc[i] += x[i] for i < n: the vertical sums of average pooling, its bulk of the work.
using AddRowFn = void (*)(float* acc, const float* x, size_t n);
// Average pooling with the vertical sums done by add_row (the horizontal windows and the
// divisors are the same on every ISA); the portable versions (every ISA without its own).
void avg_pool_rows(const float* x, const ConvGeom& g, bool count_pad, float* y, size_t c0,
                   size_t c1, AddRowFn add_row);
void avg_pool_portable(const float* x, const ConvGeom& g, bool count_pad, float* y, size_t c0,
                       size_t c1);
void global_avg_pool_portable(const float* x, size_t hw, float* y, size_t c0, size_t c1);

// Same contracts as aio::softmax_channels and aio::resize; the portable versions (every ISA
// without its own).
using SoftmaxFn = void (*)(const float* x, float* y, size_t c, size_t hw, size_t p0, size_t p1);
using ResizeFn = void (*)(const ResizePlan& p, const float* x, float* y, size_t c0, size_t c1);
void softmax_portable(const float* x, float* y, size_t c, size_t hw, size_t p0, size_t p1);
void resize_portable(const ResizePlan& p, const float* x, float* y, size_t c0, size_t c1);

struct KernelTable {
  const char* isa = "scalar";
  const char* gemm_name = "";
  size_t gemm_nr = 8;  // B strip width the GEMM micro-kernel expects
  GemmUkernelFn gemm = nullptr;
  GemmOffsetsFn gemm_offsets = nullptr;  // only where a direct convolution pays (AVX-512)
  PackBFn pack_b = nullptr;  // packs strips of gemm_nr columns
  PackConvBFn pack_conv_b = nullptr;  // implicit-GEMM conv packing, strips of gemm_nr columns
  GemvFn gemv = nullptr;
  const char* depthwise_name = "";
  DepthwiseFn depthwise = nullptr;
  MaxPoolFn max_pool = nullptr;
  AddActFn add_act = nullptr;
  double (*fma_peak)(double seconds) = nullptr;  // see aio::fma_peak_gflops
  WinogradFns winograd[kWinogradTiles];  // F(2x2, 3x3), F(4x4, 3x3): see winograd_index
  CoutLanesTileFn cout_lanes_tile = nullptr;  // only where it pays (AVX-512); else portable
  ScaleChannelsFn scale_channels = nullptr;
  AvgPoolFn avg_pool = avg_pool_portable;
  GlobalAvgPoolFn global_avg_pool = global_avg_pool_portable;
  SoftmaxFn softmax = softmax_portable;
  ResizeFn resize = resize_portable;
  // Depthwise 5x5 (EfficientNet, MobileNetV3), only where `depthwise` does not cover it (NEON):
  // aio::depthwise_conv sends 5x5 layers here when it is set.
  DepthwiseFn depthwise5 = nullptr;
  GemmStripsFn gemm_strips = nullptr;  // only where it pays (NEON); else tile by tile
  Conv3x3RowsFn conv3x3_rows = nullptr;  // only where it pays (NEON)
  // pack_b with row k scaled by gate[k] (gemm_segments' gated sources); null: portable.
  PackBScaledFn pack_b_scaled = nullptr;
};

// The table chosen at first use (detection, or AIO_FORCE_ISA). Never null entries, except
// those marked "only where".
const KernelTable& table();

// Each ISA's file overwrites the entries it implements; platform.cpp calls them in ISA order.
void fill_table_scalar(KernelTable& t);
void fill_table_peak_scalar(KernelTable& t);      // called by fill_table_scalar
void fill_table_winograd_scalar(KernelTable& t);  // called by fill_table_scalar
// Times call(iters) (flops_per_call FLOPs per iteration) for about `seconds`; the best GFLOP/s.
double time_fma_loop(double seconds, double flops_per_call, double (*call)(long));
#if defined(AIO_X86_64)
void fill_table_avx2(KernelTable& t);
void fill_table_avx512(KernelTable& t);
void fill_table_depthwise_avx2(KernelTable& t);    // called by fill_table_avx2
void fill_table_depthwise_avx512(KernelTable& t);  // called by fill_table_avx512
void fill_table_pool_avx512(KernelTable& t);       // called by fill_table_avx512
void fill_table_peak_avx2(KernelTable& t);         // called by fill_table_avx2
void fill_table_peak_avx512(KernelTable& t);       // called by fill_table_avx512
void fill_table_elementwise_avx512(KernelTable& t);  // called by fill_table_avx512
void fill_table_elementwise_avx2(KernelTable& t);    // called by fill_table_avx2
void fill_table_conv_pack_avx512(KernelTable& t);    // called by fill_table_avx512
void fill_table_winograd_avx512(KernelTable& t);     // called by fill_table_avx512
void fill_table_cout_lanes_avx512(KernelTable& t);   // called by fill_table_avx512
#endif
#if defined(AIO_AARCH64)
void fill_table_neon(KernelTable& t);
void fill_table_winograd_neon(KernelTable& t);   // called by fill_table_neon
void fill_table_depthwise_neon(KernelTable& t);  // called by fill_table_neon
void fill_table_conv3x3_neon(KernelTable& t);    // called by fill_table_neon
void fill_table_pool_neon(KernelTable& t);       // called by fill_table_neon
void fill_table_elementwise_neon(KernelTable& t);  // called by fill_table_neon: add_act, peak
void fill_table_conv_pack_neon(KernelTable& t);  // called by fill_table_neon
// The format-2 operators (called by platform.cpp after fill_table_neon): scale_channels, softmax,
// resize (ops_neon.cpp) and depthwise5 (depthwise5_neon.cpp).
void fill_table_ops_neon(KernelTable& t);
void fill_table_depthwise5_neon(KernelTable& t);
#endif

// The vector depthwise kernels first copy each channel plane into a zero-bordered scratch plane
// (row/column 0 = input index -ph/-pw) so every tap is an unmasked load with no bounds tests.
// cols is a multiple of `lanes` and wide enough for the last whole vector of outputs (stride 2
// loads two vectors per output vector).
struct PaddedPlane {
  size_t rows, cols;
};
PaddedPlane depthwise_padded_geom(const ConvGeom& g, size_t lanes);

// Portable add + activation (every ISA without its own).
void add_act_portable(const float* a, const float* b, float* y, size_t i0, size_t i1, Act act);

// Portable per-channel gate (every ISA without its own).
void scale_channels_portable(const float* x, const float* gate, float* y, size_t hw, size_t c0,
                             size_t c1, Act act);

// Portable max pooling; the vector version falls back to it for strides above 2.
void max_pool_portable(const float* x, const ConvGeom& g, float* y, size_t c0, size_t c1,
                       size_t oy0, size_t oy1);

// Portable reference depthwise; the vector versions fall back to it for odd geometries.
void depthwise_conv_scalar(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0,
                           size_t c1, const Epilogue& epi);

// `static` on purpose: a shared inline function compiled into an AVX-512 translation unit could be
// the copy the linker keeps for everyone, putting AVX-512 code on the baseline path.
static inline float apply_act(float v, Act act) {
  switch (act) {
    case Act::None:
      return v;
    case Act::Relu:
      return v > 0.f ? v : 0.f;
    case Act::Relu6:
      return v > 0.f ? (v < 6.f ? v : 6.f) : 0.f;
    case Act::Silu:
      return v / (1.f + std::exp(-v));
    case Act::Hardswish: {
      float t = v + 3.f;
      t = t > 0.f ? (t < 6.f ? t : 6.f) : 0.f;
      return v * t / 6.f;
    }
    case Act::Sigmoid:
      return 1.f / (1.f + std::exp(-v));
    case Act::HardSigmoid: {
      const float t = v + 3.f;
      return (t > 0.f ? (t < 6.f ? t : 6.f) : 0.f) / 6.f;
    }
  }
  return v;
}

// Epilogue of one GEMV column: mr row sums in acc, one output per row at c[r * ldc].
static inline void gemv_epilogue(size_t mr, const float* acc, float* c, size_t ldc,
                                 const TileEpilogue* epi) {
  for (size_t r = 0; r < mr; ++r) {
    float v = acc[r];
    if (epi->scale) v *= epi->scale[r];
    if (epi->bias) v += epi->bias[r];
    if (epi->residual) v += epi->residual[r * ldc];
    c[r * ldc] = apply_act(v, epi->act);
  }
}

}  // namespace detail
}  // namespace aio
