// RunContext allocation and the free list.
#include "runtime/run_context.h"

namespace aio {

RunContext::RunContext(const Model& m, int workers)
    : arena(m.plan.arena_floats),
      scratch_stride((m.scratch_floats + 15) / 16 * 16),
      values(m.num_values, nullptr) {
  scratch = AlignedBuffer(scratch_stride * static_cast<size_t>(workers));
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
  auto ctx = std::make_unique<RunContext>(model_, workers_);  // outside the lock: may be large
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
