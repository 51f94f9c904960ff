// Kernel API of allinone: the only header the runtime includes from csrc/kernels/.
//
// Kernels are single-threaded functions over a sub-range of the output; the runtime's thread pool
// splits work and calls them. Kernels never know about levels: a level is a prefix of the packed
// weights (fewer rows, shorter K), passed as sizes plus the full model's strides.
// ISA selection happens once, in platform.cpp; nothing else calls cpuid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace aio {

// Epilogue activations, numbered as the file's `act` codes (docs/format.md). Sigmoid and
// HardSigmoid (relu6(x + 3) / 6, PyTorch's) are the squeeze-excite gates (format version 2).
enum class Act : uint32_t {
  None = 0,
  Relu = 1,
  Relu6 = 2,
  Silu = 3,
  Hardswish = 4,
  Sigmoid = 5,
  HardSigmoid = 6,
};
constexpr uint32_t kMaxAct = 6;

// Applied to every output element: y = act(scale[row] * acc + bias[row] + residual).
struct Epilogue {
  const float* scale = nullptr;     // per output row (channel); nullptr means 1
  const float* bias = nullptr;      // per output row; nullptr means 0
  const float* residual = nullptr;  // same layout and leading dimension as C, or nullptr
  Act act = Act::None;
};

// Rows per packed weight panel of the GEMM micro-kernels (see the tiling hints below).
constexpr size_t kGemmRowAlign = 12;

// Weights A[M][K] (row = output channel, K input-channel-major) packed once at load into the
// layout the GEMM micro-kernels want. Packing keeps whole K columns inside each row panel in order,
// so any (rows < m, cols < k) prefix is served without a copy.
class PackedA {
 public:
  PackedA() = default;
  // Packs a row-major M x K matrix with leading dimension lda (lda >= K) into panels of
  // panel_rows rows (the GEMM's kGemmRowAlign; conv_cout_lanes wants kCoutLanesStrip).
  static PackedA pack(const float* a, size_t M, size_t K, size_t lda,
                      size_t panel_rows = kGemmRowAlign);
  size_t rows() const { return m_; }
  size_t cols() const { return k_; }
  size_t panel_rows() const { return panel_rows_; }
  // Floats from one panel to the next (the full model's K times the panel height).
  size_t panel_stride() const { return k_ * panel_rows_; }
  size_t bytes() const;
  const float* data() const { return data_.get(); }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> data_;
  size_t m_ = 0, k_ = 0, panel_rows_ = kGemmRowAlign;
};

// C[m][n] = epi(sum_{k<K} A[m][k] * B[k][n]) for m in [m0, m1), n in [n0, n1).
// A: the first rows/cols of a PackedA (m1 <= a.rows(), K <= a.cols()). B: row-major, ldb.
// C: row-major, ldc; rows >= m1 and columns outside [n0, n1) are never written.
// epi.residual must not overlap C when K > 256 (C holds partial sums between K blocks).
// N == 1 (n1 - n0 == 1) takes a rows-in-lanes GEMV path (Linear layers).
void gemm(const PackedA& a, size_t K, const float* b, size_t ldb, float* c, size_t ldc, size_t m0,
          size_t m1, size_t n0, size_t n1, const Epilogue& epi);

// Tiling hints for callers that split one GEMM across threads: sub-ranges whose m0 is a multiple
// of kGemmRowAlign (the packed panel height) and whose n0 is a multiple of gemm_col_align() (the
// chosen micro-kernel's width: 32 on AVX-512) make no partial micro-tiles except at the edges.
size_t gemm_col_align();

// Geometry of a 2-D convolution or pooling window on one image (NCHW, batch excluded).
struct ConvGeom {
  size_t c_in = 0, h_in = 0, w_in = 0;  // channels actually present (the level's width)
  size_t h_out = 0, w_out = 0;
  size_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// gemm's product for a convolution of image x (NCHW, one image, g.c_in channels), without an
// im2col buffer: B = im2col(x) restricted to K = g.c_in * kh * kw rows is generated block by block
// straight into the GEMM's packed strips. Columns are output pixels (p = y * w_out + x).
void gemm_conv(const PackedA& a, const float* x, const ConvGeom& g, float* c, size_t ldc,
               size_t m0, size_t m1, size_t n0, size_t n1, const Epilogue& epi);

// Direct convolution for layers whose im2col packing costs as much as their multiply: a short K
// (c_in * kh * kw <= 256, e.g. a network's first layer on 3 channels) over wide maps, column
// stride 1 or 2. The input rows are copied once per call into zero-padded, phase-split rows
// (even and odd columns apart at stride 2), so every tap of a run of 32 output pixels is one
// contiguous vector load and nothing is packed. Only where the ISA has the micro-kernel for it.
bool conv_direct_available(const ConvGeom& g);
// Output rows [oy0, oy1) for channels [m0, m1) of the convolution of image x (the level's g.c_in
// channels; A's K order as gemm_conv's). y: [rows][h_out * w_out]; single-threaded.
void conv_direct(const PackedA& a, const float* x, const ConvGeom& g, float* y, size_t m0,
                 size_t m1, size_t oy0, size_t oy1, const Epilogue& epi);

// 3x3 convolution (stride 1 or 2, dilation 1) for narrow layers, straight from a zero-bordered
// copy of the input rows: each tap of a tile of 8 or 16 output pixels is one vector load at a
// fixed offset, and the weights are the GEMM's packed panels (kMR rows, K-major), so nothing is
// packed per call. At 4-12 output channels the implicit GEMM's packing (9 c_in floats per
// pixel, reused by only M rows) costs about as much as its multiply. Only where the ISA has the
// kernel, for M a multiple of 4 and w_out a multiple of 8.
bool conv3x3_rows_available(const ConvGeom& g, size_t M);
// Output rows [oy0, oy1) for channels [m0, m1) (m0 a multiple of kGemmRowAlign) of the
// convolution of image x (the level's g.c_in channels; A as gemm_conv's). y: [M][h_out * w_out];
// single-threaded.
void conv3x3_rows(const PackedA& a, const float* x, const ConvGeom& g, float* y, size_t m0,
                  size_t m1, size_t oy0, size_t oy1, const Epilogue& epi);

// Convolution with output channels in vector lanes, for small maps. The GEMM and conv_direct put
// pixels in lanes: a 7 x 7 map fills 49 of 64 lanes (two 32-pixel strips) and a 14 x 14 one 196
// of 224, and both pack an im2col matrix first. Here each lane holds an output channel: weights
// are packed in strips of kCoutLanesStrip channels (PackedA with that panel height, K-major), a
// micro-tile is up to 14 output pixels (one or two runs along output rows) times one strip, and
// every pixel's tap is broadcast straight from a zero-padded copy of the input rows; nothing is
// packed per call. The tile is transposed in registers on the way out, so y keeps its NCHW layout.
constexpr size_t kCoutLanesStrip = 32;
// Whether conv_cout_lanes has a vector micro-kernel for g on this ISA (column stride 1 or 2; any
// kernel size, padding and dilation). Without one it still computes, on a portable tile.
bool conv_cout_lanes_available(const ConvGeom& g);
// Output channels [m0, m1) (m0 a multiple of kCoutLanesStrip) and output rows [oy0, oy1) of the
// convolution of image x (the level's g.c_in channels). w: PackedA of the full weight [M][K]
// (K = c_in * kh * kw, input-channel-major) with panel_rows() == kCoutLanesStrip; a level reads
// the first strips and the first K rows of each. y: [M][h_out * w_out]; single-threaded.
void conv_cout_lanes(const PackedA& w, const float* x, const ConvGeom& g, float* y, size_t m0,
                     size_t m1, size_t oy0, size_t oy1, const Epilogue& epi);

// B packed once per image and shared by every row tile. When a GEMM is split over rows (few
// columns: small feature maps), each row tile would otherwise re-pack the same B, so splitting
// rows only paid where columns could not be split at all. With B shared, a 14 x 14 map can be
// split over rows where its 196 pixels split badly over columns (ResNet-18 at 2 threads: 1.15 ->
// 1.02 ms per 14 x 14 layer). The op packs B into one buffer, block by block in parallel
// (pack_conv_b_block, one task per block), then splits the multiply as it likes
// (gemm_prepacked). Blocks are the GEMM driver's own: N in column blocks of up to 256, K in
// equal blocks of up to 256 rows.
struct PackedBLayout {
  size_t K = 0, N = 0;
  size_t kc_step = 1, k_blocks = 1, n_blocks = 1;
  size_t blocks() const { return k_blocks * n_blocks; }
  size_t floats() const;                     // buffer size (64-byte aligned buffer expected)
  size_t offset(size_t nb, size_t kb) const;  // start of block (column block nb, K block kb)
};
// Layout for a K x N matrix B packed for the chosen micro-kernel (call after the ISA is chosen).
PackedBLayout packed_b_layout(size_t K, size_t N);
// Packs block `block` (column block block / k_blocks, K block block % k_blocks) of the implicit
// im2col matrix of image x (K = g.c_in * kh * kw).
void pack_conv_b_block(const float* x, const ConvGeom& g, const PackedBLayout& l, size_t block,
                       float* packed);
// gemm's product with B from a buffer filled by pack_conv_b_block (all blocks), for
// rows [m0, m1) and columns [n0, n1); n0 must start a column block (a multiple of 256).
void gemm_prepacked(const PackedA& a, const PackedBLayout& l, const float* packed, float* c,
                    size_t ldc, size_t m0, size_t m1, size_t n0, size_t n1, const Epilogue& epi);
constexpr size_t kPackedColBlock = 256;

// 3x3, stride-1, undilated convolution by Winograd F(m x m, 3x3) (Lavin & Gray, 2016), m = 2 or 4:
// each (m + 2) x (m + 2) input tile becomes alpha^2 = (m + 2)^2 transformed values, alpha^2 GEMMs
// (one per transformed position) multiply them by the transformed weights, and each product tile
// becomes an m x m output tile. F(2x2): 16 multiplies per 4 outputs instead of 36 (2.25x fewer
// FLOPs) for 16/9 of the layer's weights; F(4x4): 36 per 16 (4x fewer) for 36/9 = 4x the weights.
// Rounding: the transforms add and scale, so the result differs from the direct sum by more than
// the GEMM's own rounding. Measured against a double-precision direct convolution (unit-range
// random data, C up to 300; tests/cpp/test_kernels_spatial.cpp), max |error| / max |result|:
// F(2x2) up to 6e-7 (bound tested: 1e-5, the kernels' tolerance), F(4x4) up to 9.4e-6, growing
// with C (4e-6 at C = 8; bound tested: 3e-5), whose transforms scale by up to 5 and 8. Whole
// models stay within the engine tests' 1e-4 x max |output| of PyTorch.
class WinogradWeights {
 public:
  WinogradWeights() = default;
  // w: [M][C][3][3] (PyTorch's layout); tile: m, 2 or 4 (anything else means 2). Element t of
  // U = G w G^T is packed as a M x C PackedA, so a level (rows < m, channels < c) is a prefix of
  // each, like PackedA itself.
  static WinogradWeights transform(const float* w, size_t M, size_t C, size_t tile = 2);
  size_t tile() const { return tile_; }
  size_t elements() const { return u_.size(); }  // (tile + 2)^2
  const PackedA& element(size_t t) const { return u_[t]; }
  size_t rows() const { return u_.empty() ? 0 : u_[0].rows(); }
  size_t bytes() const;

 private:
  std::vector<PackedA> u_;
  size_t tile_ = 2;
};
// Whether F(tile x tile, 3x3) is implemented (2 and 4).
bool winograd_tile_supported(size_t tile);
// Tiles per vector of the chosen ISA's F(tile x tile) transforms (16 on AVX-512, 4 on NEON, 1
// portable). A vector holds tiles of one tile row only, so a map whose tile rows are narrower
// than a vector leaves lanes idle in the transforms.
size_t winograd_lanes(size_t tile);
// Output tiles (tile x tile pixels each) of a Winograd convolution, row-major:
// t = ty * tiles_w + tx. Tiles go through the GEMM in blocks of one strip, so tile ranges that
// start on a multiple of gemm_col_align() make no partial strips except at their ends.
size_t winograd_tiles(const ConvGeom& g, size_t tile);
// Output tiles [t0, t1) (of winograd_tiles(g, w.tile())) of the convolution of image x (g.c_in
// channels, the level's) for output channels [0, m): y [m][h_out][w_out] with the epilogue
// applied. Kernel contract as gemm_conv (single-threaded; the op splits tiles over workers).
void winograd_conv3x3(const WinogradWeights& w, const float* x, const ConvGeom& g, size_t m,
                      float* y, size_t t0, size_t t1, const Epilogue& epi);

// im2col for output pixels [p0, p1) (p = y * w_out + x): col[(c*kh + i)*kw + j][p] with leading
// dimension ldcol. Out-of-image taps are 0.
void im2col(const float* x, const ConvGeom& g, float* col, size_t ldcol, size_t p0, size_t p1);

// Depthwise conv for channels [c0, c1): x [C][h_in][w_in]; w holds kh*kw taps per channel,
// channel after channel; y [C][h_out][w_out]. Epilogue scale/bias are indexed by channel; the
// residual has y's layout. (g.c_in is the channel count of x and y.)
void depthwise_conv(const float* x, const float* w, const ConvGeom& g, float* y, size_t c0,
                    size_t c1, const Epilogue& epi);

// Pooling for channels [c0, c1). count_pad: average divisor counts padded taps. max_pool writes
// output rows [oy0, oy1) only, so workers can split rows as the layer before them did (each then
// reads the input rows its own core wrote).
void max_pool(const float* x, const ConvGeom& g, float* y, size_t c0, size_t c1, size_t oy0,
              size_t oy1);
void avg_pool(const float* x, const ConvGeom& g, bool count_pad, float* y, size_t c0, size_t c1);
// y[c] = mean(x[c][:]) for c in [c0, c1); hw = spatial size.
void global_avg_pool(const float* x, size_t hw, float* y, size_t c0, size_t c1);

// y[i] = act(a[i] + b[i]) (b may be nullptr) for i in [i0, i1). In place allowed (y == a).
void add_act(const float* a, const float* b, float* y, size_t i0, size_t i1, Act act);

// y[c][p] = act(x[c][p] * gate[c]) for channels [c0, c1) of hw pixels each: a squeeze-excite
// gate (one factor per channel) with the activation that follows it fused. In place allowed.
void scale_channels(const float* x, const float* gate, float* y, size_t hw, size_t c0, size_t c1,
                    Act act);

// Softmax over the c channels of each pixel of x [c][hw], for pixels [p0, p1): y[k][p] =
// exp(x[k][p] - max_k x[.][p]) / sum. In place allowed (y == x). Classifier heads have hw == 1
// (the channels contiguous), segmentation heads a whole map.
void softmax_channels(const float* x, float* y, size_t c, size_t hw, size_t p0, size_t p1);

// Upsampling of [C][h_in][w_in] planes by integer factors (sh, sw): nearest (PyTorch's "nearest":
// source index floor(dst / s)) or bilinear with half-pixel centres (align_corners=False: source
// coordinate (dst + 0.5) / s - 0.5, clamped at 0). The source taps of every output row and column
// are the same for each channel, so they are computed once, at load.
struct ResizeTap {
  uint32_t i0, i1;  // source indices (i1 = i0 for nearest)
  float w1;         // weight of i1 (1 - w1 for i0)
};
struct ResizePlan {
  size_t h_in = 0, w_in = 0, sh = 1, sw = 1;
  bool bilinear = false;
  std::vector<ResizeTap> rows, cols;  // h_in * sh and w_in * sw taps
  static ResizePlan make(size_t h_in, size_t w_in, size_t sh, size_t sw, bool bilinear);
};
// Channels [c0, c1) of x into y [C][h_in * sh][w_in * sw]; single-threaded.
void resize(const ResizePlan& p, const float* x, float* y, size_t c0, size_t c1);

// FP32 multiply-add throughput of the calling thread, in GFLOP/s, with the chosen ISA's widest
// vectors (independent FMA chains in registers, no memory traffic): the core's compute peak that
// kernel efficiency is measured against. Runs for about `seconds`; call it from several threads at
// once for a multi-core peak (each returns its own core's rate).
double fma_peak_gflops(double seconds = 0.2);

// Which micro-kernels were chosen at load ("avx512", "avx2", "neon", "scalar"). AIO_FORCE_ISA in
// the environment (scalar|avx2|avx512|neon) overrides detection, for tests; asking for an ISA the
// CPU lacks falls back to the best available one.
const char* isa_name();

// ARMv8.2 extensions this CPU has, for the kernels that will use them, comma-separated in this
// order: "fp16" (half-precision arithmetic, HWCAP_ASIMDHP), "dotprod" (int8 dot product,
// HWCAP_ASIMDDP), "i8mm" (int8 matrix multiply, HWCAP2_I8MM); "" when none (every x86-64 CPU, and
// ARMv8.0 cores such as the Cortex-A72). Read from getauxval once. What the CPU has, not what the
// chosen kernels use: AIO_FORCE_ISA does not change it, and the fp32 NEON kernels use none.
const char* isa_features();

// One K range of a GEMM whose weights and input come in pieces: columns [0, K) of a (a level's
// prefix, as for gemm) times rows [0, K) of B (row-major, ldb), each row k of B multiplied by
// gate[k] where gate is not null (a squeeze-excite gate on the input channels, applied while B is
// packed, so the gated tensor is never written).
struct GemmSource {
  const PackedA* a = nullptr;
  size_t K = 0;
  const float* b = nullptr;
  size_t ldb = 0;
  const float* gate = nullptr;
};
// Most sources one gemm_segments call takes (a concatenation's parts; SPPF has four).
constexpr size_t kMaxGemmSources = 8;
// C[m][n] = epi(sum over sources s of A_s B_s) for m in [m0, m1), n in [n0, n1): the sources' K
// ranges accumulate into the same C tiles one after another, N block by N block, with no partial
// sums written outside C (a levelled concatenation's consumer; a gated pointwise conv). Contract
// as gemm's (epi.residual must not overlap C); at most kMaxGemmSources sources.
void gemm_segments(const GemmSource* src, size_t n_src, float* c, size_t ldc, size_t m0,
                   size_t m1, size_t n0, size_t n1, const Epilogue& epi);

}  // namespace aio
