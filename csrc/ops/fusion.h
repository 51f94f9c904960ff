// Fusions across nodes, decided once at load from the validated graph: which node computes
// another's output on the fly, so that output is never written.
//  - Squeeze-excite gate into its projection: a MUL (x * gate, no activation after it) whose only
//    reader is a pointwise CONV2D (1x1, stride 1, no padding, groups 1). The conv multiplies row k
//    of its B (input channel k) by gate[k] while packing (gemm_segments' gated source); the MUL
//    runs as nothing and its output has no buffer.
//  - Concatenation into the model's output: the values a CONCAT of unpruned values copies into
//    the output (YOLO's stacked heads: a 1x1 conv's output and two upsampled ones) are views of
//    the output at their channel offsets, so their producers (the head convs, the upsamplings)
//    write straight into it and the CONCAT copies nothing. Only where the value has no other
//    reader; nested concatenations of the output chain too.
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

  // Per value: the model output it is a view of, or kNone; view_offset: where it starts there
  // (floats). A view has no buffer of its own (the engine points it into the caller's output).
  std::vector<uint32_t> view_of;
  std::vector<size_t> view_offset;

  bool view(size_t v) const { return v < view_of.size() && view_of[v] != kNone; }
  bool fused(size_t node) const { return node < fused_into.size() && fused_into[node] != kNone; }
  uint32_t gate_of(size_t node) const {
    return node < gated_by.size() ? gated_by[node] : kNone;
  }
};

// The fusions of a validated model (none when AIO_FUSE=0).
Fusions plan_fusions(const ModelFile& m);

}  // namespace aio
