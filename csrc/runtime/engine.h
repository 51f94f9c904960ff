// aio::Engine: a loaded .aio model that runs any of its pruning levels.
//
// The model (weights, plan) is immutable after load. set_level() only stores an integer, so it is
// O(1), allocates nothing and moves no weight. run() may be called from several threads at once:
// each call takes the level current when it starts and finishes at that level, even if set_level()
// runs meanwhile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"

namespace aio {

struct Shape {
  uint32_t c = 0, h = 0, w = 0;
};

struct LevelInfo {
  float keep_ratio = 1.0f;       // nominal keep ratio written by the exporter
  uint64_t flops = 0;            // 2 x multiply-adds of conv and linear layers, batch 1
  uint64_t params = 0;           // weights and per-channel biases this level uses
  std::vector<uint32_t> widths;  // channels kept in each group
};

// One op's share of a profiled run (Engine::profile).
struct OpProfile {
  std::string name;    // node name from the file
  std::string kind;    // "conv3x3/s1", "dwconv3x3/s2", "add", "linear", ...
  double ms = 0;       // median over the profiled repeats, milliseconds
  uint64_t flops = 0;  // 2 x multiply-adds at the profiled level (0 for ops without MACs)
};

struct EngineOptions {
  int threads = 0;  // 0: one per available core (one per CPU in `cpus` when pinned)
  // Resource limits, checked at load. A well-formed file can still declare work no device should
  // accept: a few hundred bytes can describe a 1x32768x65536 input (8 GiB per activation) or a
  // chain of padded pools that computes for hours. A model over a limit is refused with
  // ErrorCode::Unsupported and a message giving its needs. 0: no limit.
  uint64_t max_activation_bytes = uint64_t(1) << 30;  // activation arena per image (1 GiB)
  uint64_t max_flops = 0;                             // level 0, per image
  // 3x3 stride-1 convolutions with 16+ input channels on maps of 14 x 14 and more by Winograd
  // F(2x2, 3x3): 2.25x fewer multiplies (ResNet-18: 17-28 % less time per image, by level and
  // thread count) for 16/9 of those layers' weights, or F(4x4, 3x3) where it does clearly less
  // work (conv2d.cpp, winograd_tile): 4x fewer for 4x the weights (ResNet-18: 47.1 MB without
  // Winograd, 56.4 MB with it on AVX-512), with a different rounding (kernels.h). false: no
  // Winograd, all levels in the memory of one model.
  bool winograd = true;
  // Pin the pool's worker threads to these CPUs (e.g. one big.LITTLE cluster: a policy's
  // related_cpus). Empty: no pinning. The calling thread is worker 0 and keeps its own affinity:
  // pin it too (sched_setaffinity) for the whole run to stay on the cluster. The set is read back
  // after pinning (Engine::affinity); a set the kernel refuses outright fails the load.
  std::vector<int> cpus{};
};

class Model;  // parsed file plus packed weights (runtime/model.h); opaque to users

class Engine {
 public:
  // Load from a file or from bytes (copied). Throws aio::Error with a message naming the problem.
  static std::unique_ptr<Engine> load_file(const std::string& path, const EngineOptions& opts = {});
  static std::unique_ptr<Engine> load_memory(const void* data, size_t size,
                                             const EngineOptions& opts = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const std::string& name() const;
  const std::vector<std::string>& labels() const;
  size_t num_levels() const;
  const LevelInfo& level_info(size_t level) const;  // throws InvalidArgument when out of range
  Shape input_shape() const;
  Shape output_shape(size_t level) const;
  int threads() const;
  // CPUs the worker threads run on, read back from the kernel after pinning (EngineOptions::cpus);
  // empty without pinning or without worker threads (threads == 1).
  const std::vector<int>& affinity() const;
  // "" when the read-back set is the one asked for; otherwise what the kernel changed.
  const std::string& affinity_note() const;

  size_t level() const;
  void set_level(size_t level);  // O(1); throws InvalidArgument when out of range

  // Runs n images (NCHW float32, contiguous, n * input size floats) at the current level and
  // writes n * output size floats. Returns the level used.
  size_t run(const float* input, size_t n, float* output);
  // Same, at a given level, leaving the current level alone.
  void run_at(size_t level, const float* input, size_t n, float* output);

  // Per-op timing of one image at `level`: runs it `repeats` times (with the pool, like run())
  // and returns each op's median time. Timing is done only here; run() has no timing code.
  std::vector<OpProfile> profile(size_t level, const float* input, size_t repeats);

  // Bytes of weights held in memory (packed), all levels together.
  size_t weight_bytes() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aio
