#include "dvfs/monitor.h"

namespace aio::dvfs {

Monitor::Monitor(FrequencySource& source, Governor& governor, std::chrono::microseconds poll,
                 Callback on_change)
    : source_(source),
      governor_(governor),
      poll_(poll),
      on_change_(std::move(on_change)),
      thread_([this] { loop(); }) {}

Monitor::~Monitor() { stop(); }

void Monitor::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Monitor::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void Monitor::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    try {
      Reading r = source_.read();
      double f = r.cpu_mhz > 0 ? r.cpu_mhz : r.gpu_mhz;
      last_mhz_.store(f);
      size_t before = governor_.level();
      size_t after = governor_.update(f);
      if (after != before && on_change_) on_change_(before, after, f);
    } catch (const std::exception& e) {
      lock.lock();
      error_ = e.what();
      return;
    }
    lock.lock();
    cv_.wait_for(lock, poll_, [this] { return stop_; });
  }
}

}  // namespace aio::dvfs
