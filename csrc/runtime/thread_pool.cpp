// Thread pool: lock-free task claiming, spin-then-sleep workers. See thread_pool.h.
#include "runtime/thread_pool.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#include "runtime/engine.h"  // aio::Error

namespace aio {
namespace {

constexpr unsigned kIdxBits = 20, kCountBits = 20;
constexpr uint64_t kIdxMask = (uint64_t(1) << kIdxBits) - 1;
constexpr uint64_t kCountMask = (uint64_t(1) << kCountBits) - 1;
constexpr size_t kMaxTasks = kIdxMask;  // per published job; larger jobs are issued in batches

uint64_t pack(uint64_t gen, uint64_t n, uint64_t idx) {
  return (gen << (kIdxBits + kCountBits)) | (n << kIdxBits) | idx;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// How long an idle worker spins before sleeping, counted in pause polls (~30-50 ns each on
// current x86, so ~1-2 ms of spinning): long enough to span the gap between the layers of one
// run, short enough not to burn a core when the engine is idle. Counted in polls, not wall time:
// on a shared machine a worker preempted mid-spin would otherwise "time out" without having
// spun, go to sleep, and then miss the next layers while the futex wake-up crawls through the
// run queue (measured: ResNet-20 at 2 threads with nice-10 fuzzers on the other core, the worker
// ran 0.4 % of the tasks with a 1 ms wall-clock budget and yielding between polls).
constexpr unsigned kSpinPolls = 1u << 15;

}  // namespace

namespace {
std::string cpu_list_str(const std::vector<int>& cpus) {
  std::string s;
  for (size_t i = 0; i < cpus.size(); ++i) s += (i ? "," : "") + std::to_string(cpus[i]);
  return s;
}
}  // namespace

ThreadPool::ThreadPool(int threads, const std::vector<int>& cpus) {
  const int n = std::max(1, threads);
  workers_.reserve(static_cast<size_t>(n - 1));
  for (int i = 1; i < n; ++i)
    workers_.emplace_back([this, i] { worker_loop(static_cast<size_t>(i)); });
  if (!cpus.empty()) {
    try {
      pin_workers(cpus);
    } catch (...) {
      shutdown();  // the destructor does not run for a throwing constructor
      throw;
    }
  }
}

void ThreadPool::pin_workers(const std::vector<int>& cpus) {
  std::vector<int> want(cpus);
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : want) {
    if (c < 0 || c >= CPU_SETSIZE)
      throw Error(ErrorCode::InvalidArgument,
                  "cpus: CPU " + std::to_string(c) + " is outside 0.." +
                      std::to_string(CPU_SETSIZE - 1));
    CPU_SET(c, &set);
  }
  // Pinned from here, on each worker's handle, so a refusal is an error of the constructor (and
  // of Engine load) rather than something a worker thread could only log.
  for (auto& t : workers_) {
    const int rc = pthread_setaffinity_np(t.native_handle(), sizeof set, &set);
    if (rc != 0)
      throw Error(ErrorCode::InvalidArgument,
                  "cannot pin worker threads to CPUs " + cpu_list_str(want) + ": " +
                      std::strerror(rc) +
                      " (CPUs offline, absent, or outside this process's cpuset?)");
  }
  std::vector<int> got;
  for (size_t i = 0; i < workers_.size(); ++i) {
    cpu_set_t back;
    CPU_ZERO(&back);
    const int rc = pthread_getaffinity_np(workers_[i].native_handle(), sizeof back, &back);
    if (rc != 0)
      throw Error(ErrorCode::Internal,
                  std::string("cannot read worker affinity back: ") + std::strerror(rc));
    std::vector<int> cur;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &back)) cur.push_back(c);
    if (i == 0) {
      got = cur;
    } else if (cur != got) {
      affinity_note_ = "workers read back different CPU sets (" + cpu_list_str(got) + " and " +
                       cpu_list_str(cur) + ")";
    }
  }
  affinity_ = got;
  if (affinity_note_.empty() && !workers_.empty() && got != want)
    affinity_note_ = "asked for CPUs " + cpu_list_str(want) + ", the kernel set " +
                     cpu_list_str(got);
#else
  (void)want;
  if (!workers_.empty())
    throw Error(ErrorCode::Unsupported, "cpus: thread pinning is implemented on Linux only");
#endif
}

void ThreadPool::shutdown() {
  stop_.store(true);
  {
    std::lock_guard<std::mutex> lk(mu_);
  }
  cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
}

ThreadPool::~ThreadPool() { shutdown(); }

void ThreadPool::run_tasks(size_t worker) {
  uint64_t t = ticket_.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t idx = t & kIdxMask;
    const uint64_t n = (t >> kIdxBits) & kCountMask;
    if (idx >= n) return;
    if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      fn_(static_cast<size_t>(idx), worker);
      done_.fetch_add(1, std::memory_order_release);
      t = ticket_.load(std::memory_order_acquire);
    }
  }
}

void ThreadPool::parallel_for(size_t n, TaskFn fn) {
  if (n == 0) return;
  if (workers_.empty() || n == 1) {
    for (size_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  for (size_t base = 0; base < n; base += kMaxTasks) {
    const size_t count = std::min(kMaxTasks, n - base);
    auto shifted = [&](size_t task, size_t worker) { fn(base + task, worker); };
    fn_ = TaskFn(shifted);
    done_.store(0, std::memory_order_relaxed);
    const uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
    ticket_.store(pack(gen & ((uint64_t(1) << 24) - 1), count, 0), std::memory_order_release);
    generation_.store(gen, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lk(mu_);
      cv_.notify_all();
    }
    run_tasks(0);
    while (done_.load(std::memory_order_acquire) < count) cpu_relax();
  }
}

void ThreadPool::worker_loop(size_t id) {
  uint64_t seen = generation_.load(std::memory_order_acquire);
  for (;;) {
    unsigned polls = 0;
    while (generation_.load(std::memory_order_acquire) == seen &&
           !stop_.load(std::memory_order_relaxed)) {
      cpu_relax();
      if (++polls >= kSpinPolls) {
        std::unique_lock<std::mutex> lk(mu_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        cv_.wait(lk, [&] {
          return generation_.load(std::memory_order_seq_cst) != seen || stop_.load();
        });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    run_tasks(id);
  }
}

}  // namespace aio
