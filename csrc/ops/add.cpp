// ADD: y = act(a + b) over the first c(level) channels (a prefix of both inputs).
#include <vector>

#include "ops/elementwise_split.h"
#include "ops/ops.h"

namespace aio {
namespace {

class Add final : public Op {
 public:
  Add(const ModelFile& m, const NodeDesc& n)
      : a_(n.in0), b_(n.in1), out_(n.out), act_(act_of(n.act)) {
    const ValueDesc& v = m.values[n.out];
    for (size_t k = 0; k < m.num_levels(); ++k)
      elems_.push_back(size_t(m.channels(n.out, k)) * v.h * v.w);
  }
  void run(const OpContext& ctx) const override {
    const float* a = ctx.in(a_);
    const float* b = ctx.in(b_);
    float* y = ctx.out(out_);
    split_range(ctx, elems_[ctx.level], 1,
                [&](size_t i0, size_t i1) { add_act(a, b, y, i0, i1, act_); });
  }

 private:
  uint32_t a_, b_, out_;
  Act act_;
  std::vector<size_t> elems_;  // per level
};

}  // namespace

std::unique_ptr<Op> make_add(const ModelFile& m, const NodeDesc& n) {
  return std::make_unique<Add>(m, n);
}

}  // namespace aio
