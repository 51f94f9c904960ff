// A background thread that polls a frequency source and lets the governor re-pick the level,
// calling back on each change (e.g. Engine::set_level). RAII: the destructor stops and joins.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "dvfs/governor.h"
#include "dvfs/source.h"

namespace aio::dvfs {

class Monitor {
 public:
  // on_change(old_level, new_level, cpu_mhz) runs on the monitor thread.
  using Callback = std::function<void(size_t, size_t, double)>;

  Monitor(FrequencySource& source, Governor& governor, std::chrono::microseconds poll,
          Callback on_change = {});
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  void stop();
  double last_mhz() const { return last_mhz_.load(); }
  // Empty while healthy; the Unavailable message once the source failed (the thread then stops).
  std::string error() const;

 private:
  void loop();
  FrequencySource& source_;
  Governor& governor_;
  std::chrono::microseconds poll_;
  Callback on_change_;
  std::atomic<double> last_mhz_{0.0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string error_;
  std::thread thread_;  // last: starts after every member it uses is constructed
};

}  // namespace aio::dvfs
