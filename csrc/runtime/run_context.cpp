// RunContext allocation and the free list.
#include "runtime/run_context.h"

namespace aio {

RunContext::RunContext(const Model& m)
    : arena(m.plan.arena_floats),
      scratch(m.scratch_floats),
      values(m.num_values, nullptr) {
  for (size_t v = 0; v < m.num_values; ++v)
    if (m.plan.offset[v] != BufferPlan::kExternal) values[v] = arena.data() + m.plan.offset[v];
}

std::unique_ptr<RunContext> ContextPool::acquire() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!free_.empty()) {
      auto ctx = std::move(free_.back());
      free_.pop_back();
      return ctx;
    }
  }
  auto ctx = std::make_unique<RunContext>(model_);  // outside the lock: may be large
  // Room for every context ever created, so release() (called from a destructor) never allocates.
  std::lock_guard<std::mutex> lk(mu_);
  free_.reserve(++created_);
  return ctx;
}

void ContextPool::release(std::unique_ptr<RunContext> ctx) {
  if (!ctx) return;
  std::lock_guard<std::mutex> lk(mu_);
  free_.push_back(std::move(ctx));
}

}  // namespace aio
