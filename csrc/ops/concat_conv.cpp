// CONV2D (groups 1) reading a levelled concatenation: the input is never copied. At level k the
// input is the first c_i(k) channels of each part i (concat_parts), in place in the parts' own
// buffers, so the weight's input columns split into one range per part, [offset_i, offset_i +
// c_i(k)) of the full width. Each range is packed once at load as its own PackedA (the columns
// of the part, input-channel-major as in the full weight): a level is still a prefix of each,
// with no copy and no repacking per level, and the GEMM accumulates over the parts' K ranges:
//   part 0:    t0 = scale * conv(W_0, x_0) + bias (+ residual)
//   part i:    t_i = scale * conv(W_i, x_i) + t_{i-1}          (the residual epilogue)
//   last part: y = act(...), the activation once, on the sum.
// Every part of one output tile runs in the same task, so the partial sums need no barrier. A 1x1
// consumer (up to kMaxGemmSources parts) sums the parts' K ranges inside one GEMM
// (gemm_segments: part after part into the same C tile, N block by N block), so no partial sum
// leaves the cache; YOLO's C3 and SPPF 1x1 layers at 80 x 80 (L0, 1 thread) had run 1.5-2.8x
// ORT's time writing and re-reading whole partial planes. Other consumers alternate the partial
// sums between two scratch planes (a residual must not overlap C, kernels.h).
#include <algorithm>
#include <vector>

#include "ops/ops.h"

namespace aio {
namespace {

class ConcatConv final : public Op {
 public:
  ConcatConv(const ModelFile& m, const NodeDesc& n)
      : out_(n.out), res_(n.in1), act_(act_of(n.act)) {
    const ValueDesc& x = m.values[n.in0];
    const ValueDesc& y = m.values[n.out];
    geom_ = window_geom(m, n);
    taps_ = size_t(n.kh) * n.kw;
    pointwise_ = taps_ == 1 && n.sh == 1 && n.sw == 1 && n.ph == 0 && n.pw == 0;
    parts_ = concat_parts(m, n.in0);
    const float* w = m.tensor_data(n.weight);
    const size_t k_full = size_t(x.c) * taps_;
    for (const ConcatPart& p : parts_) {
      packed_.push_back(
          PackedA::pack(w + size_t(p.offset) * taps_, y.c, size_t(p.channels) * taps_, k_full));
      std::vector<uint32_t> c;
      for (size_t k = 0; k < m.num_levels(); ++k) c.push_back(m.channels(p.value, k));
      cin_.push_back(std::move(c));
    }
    for (size_t k = 0; k < m.num_levels(); ++k) cout_.push_back(m.channels(n.out, k));
    c_out_full_ = y.c;
    scale_.load(m, n.scale, y.c);
    bias_.load(m, n.bias, y.c);
    levels_ = m.num_levels();
  }

  uint64_t macs(size_t level) const override {
    uint64_t cin = 0;
    for (const auto& c : cin_) cin += c[level];
    return sat_mul(sat_mul(sat_mul(cout_[level], cin), taps_), pixels());
  }
  uint64_t params(size_t level) const override {
    uint64_t cin = 0;
    for (const auto& c : cin_) cin += c[level];
    return sat_add(sat_mul(sat_mul(cout_[level], cin), taps_), cout_[level]);
  }
  size_t scratch_floats() const override { return segments() ? 0 : 2 * plane(); }
  size_t weight_bytes() const override {
    size_t b = scale_.bytes(levels_) + bias_.bytes(levels_);
    for (const PackedA& p : packed_) b += p.bytes();
    return b;
  }
  const char* algorithm(size_t /*level*/) const override { return "concat_k_ranges"; }

  void run(const OpContext& ctx) const override {
    const size_t k = ctx.level, M = cout_[k], P = pixels();
    float* y = ctx.out(out_);
    const Tiling t = plan_tiles(M, P, ctx.workers(), 2 * macs(k));
    if (segments()) {
      Epilogue epi;
      epi.scale = scale_.at(k);
      epi.bias = bias_.at(k);
      epi.residual = res_ == kNone ? nullptr : ctx.in(res_);
      epi.act = act_;
      GemmSource src[kMaxGemmSources];
      for (size_t i = 0; i < parts_.size(); ++i) {
        src[i].a = &packed_[i];
        src[i].K = cin_[i][k];
        src[i].b = ctx.in(parts_[i].value);
        src[i].ldb = P;
      }
      ctx.parallel(
          t.count(),
          [&](size_t task, size_t) {
            const Tiling::Range r = t.range(task);
            gemm_segments(src, parts_.size(), y, P, r.m0, r.m1, r.n0, r.n1, epi);
          },
          t.serial);
      return;
    }
    float* tmp[2] = {ctx.scratch, ctx.scratch + plane()};
    ctx.parallel(
        t.count(),
        [&](size_t task, size_t) {
          const Tiling::Range r = t.range(task);
          const float* prev = res_ == kNone ? nullptr : ctx.in(res_);
          for (size_t i = 0; i < parts_.size(); ++i) {
            const bool last = i + 1 == parts_.size();
            Epilogue epi;
            epi.scale = scale_.at(k);
            epi.bias = i == 0 ? bias_.at(k) : nullptr;
            epi.residual = prev;
            epi.act = last ? act_ : Act::None;
            float* dst = last ? y : tmp[i % 2];
            const float* x = ctx.in(parts_[i].value);
            ConvGeom g = geom_;
            g.c_in = cin_[i][k];
            if (pointwise_)
              gemm(packed_[i], g.c_in, x, P, dst, P, r.m0, r.m1, r.n0, r.n1, epi);
            else
              gemm_conv(packed_[i], x, g, dst, P, r.m0, r.m1, r.n0, r.n1, epi);
            prev = dst;
          }
        },
        t.serial);
  }

 private:
  size_t pixels() const { return geom_.h_out * geom_.w_out; }
  bool segments() const { return pointwise_ && parts_.size() <= kMaxGemmSources; }
  size_t plane() const { return (c_out_full_ * pixels() + 15) / 16 * 16; }

  uint32_t out_, res_;
  Act act_;
  ConvGeom geom_;
  size_t taps_ = 1, c_out_full_ = 0, levels_ = 0;
  bool pointwise_ = false;
  std::vector<ConcatPart> parts_;
  std::vector<PackedA> packed_;             // per part: the columns of its channels
  std::vector<std::vector<uint32_t>> cin_;  // [part][level]
  std::vector<uint32_t> cout_;
  LevelVectors scale_, bias_;
};

}  // namespace

std::unique_ptr<Op> make_concat_conv(const ModelFile& m, const NodeDesc& n) {
  return std::make_unique<ConcatConv>(m, n);
}

}  // namespace aio
