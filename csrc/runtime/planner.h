// Activation buffer plan: every intermediate value gets an offset in one arena, planned ONCE at
// full width (level 0 is the largest, so every level fits) with liveness reuse.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/model_file.h"
#include "ops/fusion.h"

namespace aio {

struct BufferPlan {
  static constexpr size_t kExternal = SIZE_MAX;  // value 0 (caller's input) and the model output
  std::vector<size_t> offset;  // per value, in floats from the arena start (64-byte aligned)
  size_t arena_floats = 0;
  // Values that live inside another (Fusions::view_of, the model output): the engine points
  // values[value] at values[base] + offset once the output's address is known.
  struct View {
    uint32_t value, base;
    size_t offset;
  };
  std::vector<View> views;
};

// A node fused into another (fusions) writes no buffer; its inputs live until that node has run.
BufferPlan plan_buffers(const ModelFile& m, const Fusions& fusions = {});

}  // namespace aio
