// CONCAT along channels. A levelled concatenation (a pruned input) is never copied: at level k it
// is A's first a_k channels then B's first b_k, and its readers (dense convolutions, other
// concatenations; validated) read A and B in place, the convolution summing over two K ranges of
// its weights (concat_conv.cpp). A concatenation of unpruned values is a plain value: copied.
#include <cstring>

#include "ops/ops.h"

namespace aio {
namespace {

class Concat final : public Op {
 public:
  Concat(const ModelFile& m, const NodeDesc& n, const Fusions& f)
      : a_(n.in0), b_(n.in1), out_(n.out), in_place_(m.levelled_concat(n.out)) {
    const ValueDesc& a = m.values[n.in0];
    a_floats_ = size_t(a.c) * a.h * a.w;
    const ValueDesc& b = m.values[n.in1];
    b_floats_ = size_t(b.c) * b.h * b.w;
    // An input that is a view of the output (fusion.h) was written in place by its producer.
    if (f.view(n.in0)) a_floats_ = 0;
    if (f.view(n.in1)) b_floats_ = 0;
    if (a_floats_ == 0 && b_floats_ == 0) in_place_ = true;
    b_offset_ = size_t(a.c) * a.h * a.w;
  }
  void run(const OpContext& ctx) const override {
    if (in_place_) return;
    float* y = ctx.out(out_);
    if (a_floats_) std::memcpy(y, ctx.in(a_), a_floats_ * sizeof(float));
    if (b_floats_) std::memcpy(y + b_offset_, ctx.in(b_), b_floats_ * sizeof(float));
  }
  const char* algorithm(size_t /*level*/) const override { return in_place_ ? "in_place" : ""; }

 private:
  uint32_t a_, b_, out_;
  bool in_place_;
  size_t a_floats_ = 0, b_floats_ = 0, b_offset_ = 0;  // floats to copy (0: written in place)
};

}  // namespace

std::unique_ptr<Op> make_concat(const ModelFile& m, const NodeDesc& n, const Fusions& f) {
  return std::make_unique<Concat>(m, n, f);
}

}  // namespace aio
