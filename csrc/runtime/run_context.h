// Per-call state of Engine::run: an activation arena, op scratch and the value->pointer
// table. Contexts are recycled through a free list, so a new one is created only when more calls
// run at the same time than ever before; steady-state runs allocate nothing.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "runtime/aligned_buffer.h"
#include "runtime/model.h"

namespace aio {

struct RunContext {
  explicit RunContext(const Model& m);
  AlignedBuffer arena;
  AlignedBuffer scratch;       // Model::scratch_floats, shared by the op running
  std::vector<float*> values;  // arena pointers; the output entry is set per image
};

class ContextPool {
 public:
  explicit ContextPool(const Model& m) : model_(m) {}
  std::unique_ptr<RunContext> acquire();
  void release(std::unique_ptr<RunContext> ctx);

 private:
  const Model& model_;
  std::mutex mu_;
  size_t created_ = 0;
  std::vector<std::unique_ptr<RunContext>> free_;
};

// RAII lease of a context.
class ContextLease {
 public:
  explicit ContextLease(ContextPool& pool) : pool_(pool), ctx_(pool.acquire()) {}
  ~ContextLease() { pool_.release(std::move(ctx_)); }
  ContextLease(const ContextLease&) = delete;
  ContextLease& operator=(const ContextLease&) = delete;
  RunContext& operator*() const { return *ctx_; }
  RunContext* operator->() const { return ctx_.get(); }

 private:
  ContextPool& pool_;
  std::unique_ptr<RunContext> ctx_;
};

}  // namespace aio
