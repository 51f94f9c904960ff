// Load-time fusion decisions (fusion.h).
#include "ops/fusion.h"

#include <cstdlib>
#include <cstring>

namespace aio {

namespace {

bool fusion_enabled() {
  const char* e = std::getenv("AIO_FUSE");
  return e == nullptr || std::strcmp(e, "0") != 0;
}

bool pointwise_conv(const NodeDesc& n) {
  return n.op == OpCode::Conv2d && n.groups == 1 && n.kh == 1 && n.kw == 1 && n.sh == 1 &&
         n.sw == 1 && n.ph == 0 && n.pw == 0;
}

}  // namespace

Fusions plan_fusions(const ModelFile& m) {
  const size_t nn = m.nodes.size(), nv = m.values.size();
  Fusions f;
  f.gated_by.assign(nn, kNone);
  f.fused_into.assign(nn, kNone);
  if (!fusion_enabled()) return f;
  // Readers of each value: how many input slots name it, and the last node that does.
  std::vector<uint32_t> reads(nv, 0), reader(nv, kNone);
  for (size_t i = 0; i < nn; ++i) {
    const NodeDesc& n = m.nodes[i];
    for (const uint32_t v : {n.in0, n.in1}) {
      if (v == kNone || v >= nv) continue;
      ++reads[v];
      reader[v] = static_cast<uint32_t>(i);
    }
  }
  for (size_t i = 0; i < nn; ++i) {
    const NodeDesc& n = m.nodes[i];
    if (n.op != OpCode::Mul || n.act != 0 || n.out == m.output_value || reads[n.out] != 1)
      continue;
    const uint32_t j = reader[n.out];
    const NodeDesc& c = m.nodes[j];
    // The gate scales B's rows, so the MUL's output must be the conv's B (in0) and nothing else.
    if (!pointwise_conv(c) || c.in0 != n.out || c.in1 == n.out || m.levelled_concat(n.in0))
      continue;
    f.gated_by[j] = static_cast<uint32_t>(i);
    f.fused_into[i] = j;
  }
  // Output concatenations, outermost first (nodes in reverse), so a nested one is a view before
  // its own inputs are looked at.
  f.view_of.assign(nv, kNone);
  f.view_offset.assign(nv, 0);
  for (size_t i = nn; i-- > 0;) {
    const NodeDesc& n = m.nodes[i];
    if (n.op != OpCode::Concat || m.levelled_concat(n.out)) continue;
    if (n.out != m.output_value && !f.view(n.out)) continue;
    const size_t base = n.out == m.output_value ? 0 : f.view_offset[n.out];
    const ValueDesc& a = m.values[n.in0];
    const size_t a_floats = size_t(a.c) * a.h * a.w;
    const uint32_t parts[2] = {n.in0, n.in1};
    const size_t offsets[2] = {base, base + a_floats};
    for (size_t p = 0; p < 2; ++p) {
      const uint32_t v = parts[p];
      // The caller's input is not ours to place; a value read twice (here, or elsewhere) must
      // keep its own buffer.
      if (v == 0 || v == m.output_value || n.in0 == n.in1 || reads[v] != 1 ||
          m.levelled_concat(v))
        continue;
      f.view_of[v] = m.output_value;
      f.view_offset[v] = offsets[p];
    }
  }
  return f;
}

}  // namespace aio
