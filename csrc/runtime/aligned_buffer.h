// A 64-byte aligned float array (cache-line and AVX-512 aligned), owned through unique_ptr.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace aio {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t floats) {
    if (floats == 0) return;
    const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) throw std::bad_alloc();
    data_.reset(static_cast<float*>(p));
    size_ = floats;
  }
  float* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  size_t size_ = 0;
};

}  // namespace aio
