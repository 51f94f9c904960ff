// Shared by the C API's translation units: handle structs and the guard that turns every C++
// exception into a status plus a thread-local message. Never installed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "allinone/allinone.h"
#include "dvfs/replay.h"
#include "dvfs/source.h"
#include "runtime/engine.h"

namespace aio::capi {

// Records the calling thread's error message (no allocation: cannot throw).
void set_error(const char* fn, const char* what) noexcept;
const char* last_error() noexcept;

// An argument the caller got wrong: becomes AIO_STATUS_INVALID_ARGUMENT.
[[noreturn]] void bad_arg(const std::string& what);

aio_status status_from_current_exception(const char* fn) noexcept;

// Runs body(); maps any exception to a status and a message prefixed with the function name.
template <class F>
aio_status guard(const char* fn, F&& body) noexcept {
  try {
    body();
    return AIO_STATUS_OK;
  } catch (...) {
    return status_from_current_exception(fn);
  }
}

// Checks batch and buffer lengths against the engine's shapes at `level`.
void check_buffers(const aio::Engine& e, size_t level, uint32_t batch, const float* input,
                   uint64_t input_len, const float* output, uint64_t output_len);

template <class T>
void require(const T* p, const char* name) {
  if (!p) bad_arg(std::string(name) + " is NULL");
}

// Options structs: the caller's struct_size must cover at least the first published version;
// a larger one (a newer header) is accepted and its unknown tail ignored.
template <class T>
T read_options(const T* user, const T& defaults, size_t v1_size, const char* name) {
  T o = defaults;
  if (!user) return o;
  if (user->struct_size < v1_size || user->struct_size > 65536)
    bad_arg(std::string(name) + ".struct_size " + std::to_string(user->struct_size) +
            " is not a valid size (expected sizeof(" + name + ") = " + std::to_string(sizeof(T)) +
            ")");
  std::memcpy(&o, user, std::min<size_t>(user->struct_size, sizeof(T)));
  o.struct_size = sizeof(T);
  return o;
}

// Output structs: fills what the caller's struct_size covers.
template <class T>
void write_struct(T* user, T value, size_t v1_size, const char* name) {
  require(user, name);
  if (user->struct_size < v1_size || user->struct_size > 65536)
    bad_arg(std::string(name) + "->struct_size " + std::to_string(user->struct_size) +
            " is not a valid size (set it to sizeof(" + name + ") = " + std::to_string(sizeof(T)) +
            ")");
  const uint32_t size = user->struct_size;
  value.struct_size = static_cast<uint32_t>(std::min<size_t>(size, sizeof(T)));
  std::memcpy(user, &value, std::min<size_t>(size, sizeof(T)));
}

// A source shared by its C handle and any adaptive handle using it. Every call is serialised, so
// a monitor thread may read while the application moves a replay's time.
class SharedSource : public dvfs::FrequencySource {
 public:
  explicit SharedSource(std::unique_ptr<dvfs::FrequencySource> inner)
      : inner_(std::move(inner)),
        replay_(dynamic_cast<dvfs::ReplaySource*>(inner_.get())),
        name_(inner_->name()),
        describe_(inner_->describe()) {}
  std::string name() const override { return name_; }
  std::string describe() const override { return describe_; }
  dvfs::Reading read() override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_->read();
  }
  double max_mhz() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_->max_mhz();
  }
  bool emulated() const override { return inner_->emulated(); }
  // nullptr unless this is a replayed trace.
  template <class F>
  void with_replay(const char* fn, F&& f) {
    if (!replay_) bad_arg(std::string(fn) + " needs a replay source, not '" + name_ + "'");
    std::lock_guard<std::mutex> lock(mu_);
    f(*replay_);
  }
  const std::string& name_ref() const { return name_; }
  const std::string& describe_ref() const { return describe_; }

 private:
  mutable std::mutex mu_;
  std::unique_ptr<dvfs::FrequencySource> inner_;
  dvfs::ReplaySource* replay_;
  std::string name_, describe_;
};

}  // namespace aio::capi

struct aio_engine {
  std::shared_ptr<aio::Engine> engine;
};

struct aio_source {
  std::shared_ptr<aio::capi::SharedSource> source;
};
