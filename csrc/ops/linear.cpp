// LINEAR: y = act(scale * (W x) + bias) with x the input flattened in NCHW order. At a level the
// input's first c_in(level) channels are a prefix of the flattened vector, so level k uses
// rows < c_out(k) and columns < c_in(k)*H*W of the packed weight: a GEMM with N = 1.
#include <algorithm>
#include <vector>

#include "ops/ops.h"

namespace aio {
namespace {

class Linear final : public Op {
 public:
  Linear(const ModelFile& m, const NodeDesc& n) : in_(n.in0), out_(n.out), act_(act_of(n.act)) {
    const ValueDesc& x = m.values[n.in0];
    const ValueDesc& y = m.values[n.out];
    spatial_ = size_t(x.h) * x.w;
    const size_t k_full = size_t(x.c) * spatial_;
    packed_ = PackedA::pack(m.tensor_data(n.weight), y.c, k_full, k_full);
    for (size_t k = 0; k < m.num_levels(); ++k) {
      cin_.push_back(m.channels(n.in0, k));
      cout_.push_back(m.channels(n.out, k));
    }
    scale_.load(m, n.scale, y.c);
    bias_.load(m, n.bias, y.c);
    levels_ = m.num_levels();
  }

  uint64_t macs(size_t level) const override {
    return sat_mul(sat_mul(cout_[level], cin_[level]), spatial_);
  }
  uint64_t params(size_t level) const override { return sat_add(macs(level), cout_[level]); }
  size_t weight_bytes() const override {
    return packed_.bytes() + scale_.bytes(levels_) + bias_.bytes(levels_);
  }

  void run(const OpContext& ctx) const override {
    const size_t k = ctx.level, M = cout_[k], K = cin_[k] * spatial_;
    Epilogue epi;
    epi.scale = scale_.at(k);
    epi.bias = bias_.at(k);
    epi.act = act_;
    const float* x = ctx.in(in_);
    float* y = ctx.out(out_);
    const Tiling t = plan_tiles(M, 1, ctx.workers(), 2 * macs(k));
    ctx.parallel(
        t.count(),
        [&](size_t task, size_t) {
          const size_t m0 = task * t.mb;
          gemm(packed_, K, x, 1, y, 1, m0, std::min(M, m0 + t.mb), 0, 1, epi);
        },
        t.serial);
  }

 private:
  uint32_t in_, out_;
  Act act_;
  size_t spatial_ = 1, levels_ = 1;
  std::vector<uint32_t> cin_, cout_;
  PackedA packed_;
  LevelVectors scale_, bias_;
};

}  // namespace

std::unique_ptr<Op> make_linear(const ModelFile& m, const NodeDesc& n) {
  return std::make_unique<Linear>(m, n);
}

}  // namespace aio
