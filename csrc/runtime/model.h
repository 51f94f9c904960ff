// aio::Model: everything immutable an Engine needs after load — level metadata, the operators
// with their packed weights, and the activation buffer plan. The file bytes are gone by then.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/op.h"
#include "runtime/engine.h"
#include "runtime/planner.h"

namespace aio {

class Model {
 public:
  // Parses, validates and packs; `bytes` is released before returning.
  static std::unique_ptr<Model> build(std::vector<uint8_t> bytes, const OpOptions& opts = {});

  std::string name;
  std::vector<std::string> labels;
  std::vector<LevelInfo> levels;
  Shape input;
  std::vector<Shape> output_shape;  // per level
  uint32_t output_value = 0;
  size_t num_values = 0;
  std::vector<std::unique_ptr<Op>> ops;  // execution order
  std::vector<std::string> op_names;     // per op: the node's name in the file
  // per op: "conv3x3/s1", "add", ...; profiles add the algorithm of the level ("/winograd")
  std::vector<std::string> op_kinds;
  BufferPlan plan;
  size_t scratch_floats = 0;  // the largest op's Op::scratch_floats()
  size_t weight_bytes = 0;

  size_t input_floats() const { return size_t(input.c) * input.h * input.w; }
  size_t output_floats(size_t level) const {
    const Shape& s = output_shape[level];
    return size_t(s.c) * s.h * s.w;
  }
};

}  // namespace aio
