// A persistent thread pool for one run at a time. The calling thread is worker 0; the others spin
// briefly between jobs (a hand-off costs ~0.1 us spinning versus ~7 us waking a sleeping thread)
// and sleep on a condition variable after ~1 ms without work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
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
  // cpus: when not empty, every worker thread (not the caller, worker 0) is pinned to this set of
  // CPUs with pthread_setaffinity_np and the set is read back (affinity()). Throws aio::Error
  // (InvalidArgument) when the kernel refuses the set, e.g. none of its CPUs is online or allowed
  // to this process. On non-Linux systems a non-empty set is refused as Unsupported.
  explicit ThreadPool(int threads, const std::vector<int>& cpus = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // The CPUs the workers may run on, read back from the kernel after pinning (sorted; the same
  // for every worker). Empty when no set was asked for or there are no worker threads. It can be
  // smaller than the set asked for: the kernel drops CPUs that are offline or outside the
  // process's cpuset; affinity_note() then says so.
  const std::vector<int>& affinity() const { return affinity_; }
  // "" when the read-back set equals the requested one; otherwise what differs.
  const std::string& affinity_note() const { return affinity_note_; }

  // Runs fn(task, worker) for task in [0, n) on all workers (worker < size()); returns when all
  // are done. Not re-entrant: one caller at a time (see try_acquire).
  void parallel_for(size_t n, TaskFn fn);

  // Exclusive use by one run; a caller that fails runs single-threaded instead of waiting.
  bool try_acquire() { return !busy_.exchange(true, std::memory_order_acquire); }
  void release() { busy_.store(false, std::memory_order_release); }

 private:
  void worker_loop(size_t id);
  void run_tasks(size_t worker);

  void pin_workers(const std::vector<int>& cpus);
  void shutdown();  // stops and joins the workers (destructor, or a constructor that throws)

  std::vector<std::thread> workers_;
  std::vector<int> affinity_;
  std::string affinity_note_;
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
