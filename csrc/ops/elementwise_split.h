// Splitting an elementwise range [0, n) over workers in cache-friendly chunks.
#pragma once
#include <algorithm>
#include <cstddef>

#include "ops/op.h"

namespace aio {
// Calls fn(i0, i1) over [0, n) in chunks: one chunk when small (one FLOP per element assumed).
template <class F>
void split_range(const OpContext& ctx, size_t n, size_t flops_per_elem, F&& fn) {
  const bool serial = n * flops_per_elem < kSerialFlops;
  const size_t tasks = serial ? 1 : std::min<size_t>(4 * ctx.workers(), (n + 1023) / 1024);
  const size_t per = ((n + tasks - 1) / tasks + 15) / 16 * 16;  // 64-byte aligned chunk starts
  ctx.parallel(tasks, [&](size_t task, size_t) {
    const size_t i0 = std::min(n, task * per), i1 = std::min(n, i0 + per);
    if (i0 < i1) fn(i0, i1);
  });
}
}  // namespace aio
