// Per-thread kernel scratch (see thread_scratch in kernels_internal.h).
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>

#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {
namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

struct Buffer {
  std::unique_ptr<float, FreeDeleter> data;
  size_t cap = 0;  // floats
};

}  // namespace

float* thread_scratch(Scratch slot, size_t floats) {
  thread_local Buffer bufs[static_cast<size_t>(Scratch::Count)];
  Buffer& b = bufs[static_cast<size_t>(slot)];
  if (floats > b.cap || !b.data) {
    const size_t bytes = (std::max<size_t>(floats, 1) * sizeof(float) + 4095) / 4096 * 4096;
    b.data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!b.data) {
      b.cap = 0;
      throw std::bad_alloc();
    }
    b.cap = bytes / sizeof(float);
  }
  return b.data.get();
}

}  // namespace detail
}  // namespace aio
