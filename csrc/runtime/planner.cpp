// Greedy slot reuse over value lifetimes. Node i's output is placed before its inputs are freed,
// so no op ever reads and writes the same memory. A slot grows to its largest tenant. The inputs
// of a levelled concatenation live as long as its readers (they read the inputs in place).
#include "runtime/planner.h"

#include <algorithm>

namespace aio {

BufferPlan plan_buffers(const ModelFile& m, const Fusions& fusions) {
  const size_t nv = m.values.size(), nn = m.nodes.size();
  std::vector<size_t> last_use(nv, 0);
  for (size_t i = 0; i < nn; ++i) {
    const NodeDesc& n = m.nodes[i];
    last_use[n.out] = std::max(last_use[n.out], i);  // a dead output still needs room while written
    last_use[n.in0] = std::max(last_use[n.in0], i);
    if (n.in1 != kNone) last_use[n.in1] = std::max(last_use[n.in1], i);
  }
  // A levelled concatenation is never copied: its readers read its inputs in place, so those
  // live as long as it does (in reverse, so an outer concatenation extends an inner one first).
  for (size_t i = nn; i-- > 0;) {
    const NodeDesc& n = m.nodes[i];
    if (n.op != OpCode::Concat || !m.levelled_concat(n.out)) continue;
    last_use[n.in0] = std::max(last_use[n.in0], last_use[n.out]);
    last_use[n.in1] = std::max(last_use[n.in1], last_use[n.out]);
  }
  // A fused node's inputs are read when the node that computes it on the fly runs.
  for (size_t i = 0; i < nn; ++i) {
    if (!fusions.fused(i)) continue;
    const NodeDesc& n = m.nodes[i];
    const size_t j = fusions.fused_into[i];
    last_use[n.in0] = std::max(last_use[n.in0], j);
    if (n.in1 != kNone) last_use[n.in1] = std::max(last_use[n.in1], j);
  }

  struct Slot {
    size_t size = 0;  // floats, rounded to 16 (64 bytes)
    bool free = true;
  };
  std::vector<Slot> slots;
  std::vector<size_t> slot_of(nv, SIZE_MAX);
  std::vector<std::vector<uint32_t>> dies_after(nn);
  for (size_t v = 1; v < nv; ++v)
    if (v != m.output_value) dies_after[last_use[v]].push_back(static_cast<uint32_t>(v));

  for (size_t i = 0; i < nn; ++i) {
    const uint32_t v = m.nodes[i].out;
    // (a levelled concatenation, a fused node's output and a view have no buffer of their own)
    if (v != m.output_value && !m.levelled_concat(v) && !fusions.fused(i) && !fusions.view(v)) {
      const ValueDesc& d = m.values[v];
      const size_t need = (size_t(d.c) * d.h * d.w + 15) / 16 * 16;
      // Best fit among free slots; else grow the largest free one; else a new slot.
      size_t best = SIZE_MAX, largest = SIZE_MAX;
      for (size_t s = 0; s < slots.size(); ++s) {
        if (!slots[s].free) continue;
        if (slots[s].size >= need && (best == SIZE_MAX || slots[s].size < slots[best].size))
          best = s;
        if (largest == SIZE_MAX || slots[s].size > slots[largest].size) largest = s;
      }
      if (best == SIZE_MAX) best = largest;
      if (best == SIZE_MAX) {
        best = slots.size();
        slots.push_back({});
      }
      slots[best].size = std::max(slots[best].size, need);
      slots[best].free = false;
      slot_of[v] = best;
    }
    for (uint32_t dead : dies_after[i])
      if (slot_of[dead] != SIZE_MAX) slots[slot_of[dead]].free = true;
  }

  BufferPlan plan;
  std::vector<size_t> slot_offset(slots.size());
  for (size_t s = 0; s < slots.size(); ++s) {
    slot_offset[s] = plan.arena_floats;
    plan.arena_floats += slots[s].size;
  }
  plan.offset.assign(nv, BufferPlan::kExternal);
  for (size_t v = 1; v < nv; ++v) {
    if (slot_of[v] != SIZE_MAX) plan.offset[v] = slot_offset[slot_of[v]];
    if (fusions.view(v))
      plan.views.push_back({static_cast<uint32_t>(v), fusions.view_of[v], fusions.view_offset[v]});
  }
  return plan;
}

}  // namespace aio
