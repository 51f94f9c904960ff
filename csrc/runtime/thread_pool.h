// A persistent thread pool for one run at a time. The calling thread is worker 0; the others spin
// briefly between jobs (a hand-off costs ~0.1 us spinning versus ~7 us waking a sleeping thread)
// and sleep on a condition variable after ~1 ms without work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace aio {

// Non-owning, non-allocating reference to a callable `void(size_t task, size_t worker)`. The
// callable must outlive the call it is passed to (a lambda temporary in the argument list does).
class TaskFn {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, TaskFn>>>
  TaskFn(F&& f)  // NOLINT(google-explicit-constructor): meant to bind lambdas implicitly
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, size_t t, size_t w) {
          (*static_cast<std::remove_reference_t<F>*>(o))(t, w);
        }) {}
  TaskFn() : obj_(nullptr), call_([](void*, size_t, size_t) {}) {}
  void operator()(size_t task, size_t worker) const { call_(obj_, task, worker); }

 private:
  void* obj_;
  void (*call_)(void*, size_t, size_t);
};

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(task, worker) for task in [0, n) on all workers (worker < size()); returns when all
  // are done. Not re-entrant: one caller at a time (see try_acquire).
  void parallel_for(size_t n, TaskFn fn);

  // Exclusive use by one run; a caller that fails runs single-threaded instead of waiting.
  bool try_acquire() { return !busy_.exchange(true, std::memory_order_acquire); }
  void release() { busy_.store(false, std::memory_order_release); }

 private:
  void worker_loop(size_t id);
  void run_tasks(size_t worker);

  std::vector<std::thread> workers_;
  std::atomic<bool> busy_{false};
  // The job: `ticket_` packs (generation, task count, next task index) into one word, so a worker
  // that wakes late can never claim a task of a job other than the one it read, and a claim is a
  // single CAS. fn_ is written before the ticket is published (release) and read after a
  // successful claim (acquire); it cannot change while a claimed task is unfinished.
  std::atomic<uint64_t> ticket_{0};
  std::atomic<size_t> done_{0};
  TaskFn fn_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace aio
