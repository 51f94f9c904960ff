// aio::Engine: load, level switching and (concurrent) runs. See engine.h for the contract.
#include "runtime/engine.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <thread>

#include "runtime/model.h"
#include "runtime/run_context.h"
#include "runtime/thread_pool.h"

namespace aio {
namespace {

int available_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

// 0: one per core this process may use, or one per pinned CPU (one per core of the cluster).
int resolve_threads(int requested, const std::vector<int>& cpus) {
  if (requested < 0)
    throw Error(ErrorCode::InvalidArgument, "threads must be >= 0 (0: one per core)");
  if (requested > 1024) throw Error(ErrorCode::InvalidArgument, "threads must be <= 1024");
  if (requested == 0 && !cpus.empty()) {
    std::vector<int> distinct(cpus);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    return static_cast<int>(std::min<size_t>(distinct.size(), 1024));
  }
  return requested == 0 ? available_cpus() : requested;
}

// Holds the thread pool for one run; a concurrent run that finds it busy runs single-threaded.
class PoolLease {
 public:
  explicit PoolLease(ThreadPool& p) : pool_(p.try_acquire() ? &p : nullptr) {}
  ~PoolLease() {
    if (pool_) pool_->release();
  }
  PoolLease(const PoolLease&) = delete;
  PoolLease& operator=(const PoolLease&) = delete;
  ThreadPool* get() const { return pool_; }

 private:
  ThreadPool* pool_;
};

}  // namespace

struct Engine::Impl {
  Impl(std::unique_ptr<Model> m, int threads, const std::vector<int>& cpus)
      : model(std::move(m)), pool(threads, cpus), contexts(*model) {
    // One context up front: the first run allocates nothing, and a model whose activations do
    // not fit in memory fails at load rather than at its first run.
    contexts.release(contexts.acquire());
  }

  std::unique_ptr<Model> model;
  ThreadPool pool;
  ContextPool contexts;
  std::atomic<size_t> level{0};

  void check_level(size_t k) const {
    if (k >= model->levels.size())
      throw Error(ErrorCode::InvalidArgument,
                  "level " + std::to_string(k) + " out of range (model has " +
                      std::to_string(model->levels.size()) + " levels)");
  }

  // times: nullptr for ordinary runs; else one slot per op, filled with that op's seconds (the
  // profiler's path: the branch is per op, not per tile, so plain runs pay nothing measurable).
  void run(size_t k, const float* input, size_t n, float* output, double* times = nullptr) {
    check_level(k);
    if (n == 0) return;
    if (input == nullptr || output == nullptr)
      throw Error(ErrorCode::InvalidArgument, "run: input and output must not be null");
    const Model& m = *model;
    ContextLease ctx(contexts);
    PoolLease lease(pool);
    OpContext oc;
    oc.values = ctx->values.data();
    oc.scratch = ctx->scratch.data();
    oc.pool = lease.get();
    oc.level = k;
    const size_t in_floats = m.input_floats(), out_floats = m.output_floats(k);
    for (size_t i = 0; i < n; ++i) {
      oc.input = input + i * in_floats;
      ctx->values[m.output_value] = output + i * out_floats;  // the last op writes straight out
      // Values that live inside the output (fusion.h) move with it, image by image.
      for (const BufferPlan::View& v : m.plan.views)
        ctx->values[v.value] = ctx->values[v.base] + v.offset;
      if (times == nullptr) {
        for (const auto& op : m.ops) op->run(oc);
      } else {
        for (size_t j = 0; j < m.ops.size(); ++j) {
          const auto t0 = std::chrono::steady_clock::now();
          m.ops[j]->run(oc);
          times[j] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
      }
    }
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

namespace {
std::string human_bytes(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1024.0 * 1024.0));
  return buf;
}

// EngineOptions' resource limits (see engine.h), before any activation memory is reserved.
void check_limits(const Model& m, const EngineOptions& opts) {
  const uint64_t act =
      (static_cast<uint64_t>(m.plan.arena_floats) + m.scratch_floats) * sizeof(float);
  if (opts.max_activation_bytes && act > opts.max_activation_bytes)
    throw Error(ErrorCode::Unsupported,
                "the model needs " + human_bytes(act) + " of activations per image (input " +
                    std::to_string(m.input.c) + "x" + std::to_string(m.input.h) + "x" +
                    std::to_string(m.input.w) + "), over the limit of " +
                    human_bytes(opts.max_activation_bytes) +
                    " (EngineOptions.max_activation_bytes; raise it to load this model)");
  const uint64_t flops = m.levels.empty() ? 0 : m.levels[0].flops;
  if (opts.max_flops && flops > opts.max_flops)
    throw Error(ErrorCode::Unsupported, "the model needs " + std::to_string(flops) +
                                            " FLOPs per image at level 0, over the limit of " +
                                            std::to_string(opts.max_flops) +
                                            " (EngineOptions.max_flops)");
}

// Builds the model, checks its limits, then `make` builds the engine's runtime state; `where`
// prefixes error messages (the path).
template <class MakeImpl>
auto build_engine(std::vector<uint8_t> bytes, const std::string& where, const EngineOptions& opts,
                  MakeImpl make) {
  const std::string prefix = where.empty() ? "" : where + ": ";
  try {
    OpOptions ops;
    ops.winograd = opts.winograd;
    std::unique_ptr<Model> m = Model::build(std::move(bytes), ops);
    check_limits(*m, opts);
    return make(std::move(m));
  } catch (const Error& e) {
    throw Error(e.code(), prefix + e.what());
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::Format, prefix + "model too large for this machine's memory");
  }
}
}  // namespace

std::unique_ptr<Engine> Engine::load_memory(const void* data, size_t size,
                                            const EngineOptions& opts) {
  const int threads = resolve_threads(opts.threads, opts.cpus);
  if (data == nullptr && size != 0)
    throw Error(ErrorCode::InvalidArgument, "load_memory: null data");
  std::vector<uint8_t> bytes(size);
  if (size) std::memcpy(bytes.data(), data, size);
  return build_engine(std::move(bytes), "", opts, [&](std::unique_ptr<Model> m) {
    // The constructor is private, so make_unique cannot reach it; ownership is immediate.
    return std::unique_ptr<Engine>(
        new Engine(std::make_unique<Impl>(std::move(m), threads, opts.cpus)));
  });
}

std::unique_ptr<Engine> Engine::load_file(const std::string& path, const EngineOptions& opts) {
  const int threads = resolve_threads(opts.threads, opts.cpus);
  // A directory or a device "opens" as a stream but has no meaningful size (tellg() can be huge).
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
    throw Error(ErrorCode::Io, "cannot read model file '" + path + "': not a regular file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    throw Error(ErrorCode::Io, "cannot open model file '" + path + "': " + std::strerror(errno));
  const std::streamoff end = in.tellg();
  if (end < 0) throw Error(ErrorCode::Io, "cannot read model file '" + path + "'");
  std::vector<uint8_t> bytes(static_cast<size_t>(end));
  in.seekg(0);
  if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), end))
    throw Error(ErrorCode::Io, "cannot read model file '" + path + "'");
  return build_engine(std::move(bytes), path, opts, [&](std::unique_ptr<Model> m) {
    // The constructor is private, so make_unique cannot reach it; ownership is immediate.
    return std::unique_ptr<Engine>(
        new Engine(std::make_unique<Impl>(std::move(m), threads, opts.cpus)));
  });
}

const std::string& Engine::name() const { return impl_->model->name; }
const std::vector<std::string>& Engine::labels() const { return impl_->model->labels; }
size_t Engine::num_levels() const { return impl_->model->levels.size(); }
const LevelInfo& Engine::level_info(size_t level) const {
  impl_->check_level(level);
  return impl_->model->levels[level];
}
Shape Engine::input_shape() const { return impl_->model->input; }
Shape Engine::output_shape(size_t level) const {
  impl_->check_level(level);
  return impl_->model->output_shape[level];
}
int Engine::threads() const { return impl_->pool.size(); }
const std::vector<int>& Engine::affinity() const { return impl_->pool.affinity(); }
const std::string& Engine::affinity_note() const { return impl_->pool.affinity_note(); }
size_t Engine::level() const { return impl_->level.load(std::memory_order_acquire); }
void Engine::set_level(size_t level) {
  impl_->check_level(level);
  impl_->level.store(level, std::memory_order_release);
}

size_t Engine::run(const float* input, size_t n, float* output) {
  const size_t k = impl_->level.load(std::memory_order_acquire);  // fixed for the whole call
  impl_->run(k, input, n, output);
  return k;
}

void Engine::run_at(size_t level, const float* input, size_t n, float* output) {
  impl_->run(level, input, n, output);
}

std::vector<OpProfile> Engine::profile(size_t level, const float* input, size_t repeats) {
  impl_->check_level(level);
  const Model& m = *impl_->model;
  repeats = std::max<size_t>(1, repeats);
  std::vector<float> out(m.output_floats(level));
  std::vector<double> t(m.ops.size());
  std::vector<std::vector<double>> samples(m.ops.size(), std::vector<double>(repeats));
  impl_->run(level, input, 1, out.data());  // warm-up: caches, pack buffers, sleeping workers
  for (size_t r = 0; r < repeats; ++r) {
    impl_->run(level, input, 1, out.data(), t.data());
    for (size_t j = 0; j < t.size(); ++j) samples[j][r] = t[j];
  }
  std::vector<OpProfile> res(m.ops.size());
  for (size_t j = 0; j < m.ops.size(); ++j) {
    auto& s = samples[j];
    std::nth_element(s.begin(), s.begin() + s.size() / 2, s.end());
    const std::string algorithm = m.ops[j]->algorithm(level);
    res[j] = OpProfile{m.op_names[j],
                       m.op_kinds[j] + (algorithm.empty() ? "" : "/" + algorithm),
                       s[s.size() / 2] * 1e3,
                       sat_mul(2, m.ops[j]->macs(level))};
  }
  return res;
}

size_t Engine::weight_bytes() const { return impl_->model->weight_bytes; }

}  // namespace aio
