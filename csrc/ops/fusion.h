// Fusions across nodes, decided once at load from the validated graph: which node computes
// another's output on the fly, so that output is never written.
//  - Squeeze-excite gate into its projection: a MUL (x * gate, no activation after it) whose only
//    reader is a pointwise CONV2D (1x1, stride 1, no padding, groups 1). The conv multiplies row k
//    of its B (input channel k) by gate[k] while packing (gemm_segments' gated source); the MUL
//    runs as nothing and its output has no buffer.
// AIO_FUSE=0 in the environment at load turns every fusion off (A/B measurements, and the tests
// that compare the fused path with the unfused one).
#pragma once

#include <cstdint>
#include <vector>

#include "format/model_file.h"

namespace aio {

struct Fusions {
  // Per node: for a pointwise conv, the MUL node whose gated output it reads by gating its
  // input while packing; else kNone.
  std::vector<uint32_t> gated_by;
  // Per node: the node that computes this node's output on the fly (its output has no buffer,
  // and its inputs live until that node has run); else kNone.
  std::vector<uint32_t> fused_into;

  bool fused(size_t node) const { return node < fused_into.size() && fused_into[node] != kNone; }
  uint32_t gate_of(size_t node) const {
    return node < gated_by.size() ? gated_by[node] : kNone;
  }
};

// The fusions of a validated model (none when AIO_FUSE=0).
Fusions plan_fusions(const ModelFile& m);

}  // namespace aio
