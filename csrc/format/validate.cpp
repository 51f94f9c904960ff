// Graph and shape checks: levels nested, indices in range, values produced once in topological
// order, and every node's tensors and output shape agreeing with its inputs.
#include "format/validate.h"

#include <string>
#include <vector>

#include "base/error.h"

namespace aio {
namespace {

constexpr uint64_t kMaxDim = 1u << 20;
// Activation buffers are planned at full width; a bound keeps their sizes far from overflow.
constexpr uint64_t kMaxValueElems = uint64_t(1) << 31;
// Levelled concatenations x levels (their per-level widths are kept in the ModelFile).
constexpr uint64_t kMaxConcatWidths = uint64_t(1) << 24;

[[noreturn]] void fail(const std::string& msg) { throw Error(ErrorCode::Format, msg); }

std::string shape_str(const ValueDesc& v) {
  return "(" + std::to_string(v.c) + ", " + std::to_string(v.h) + ", " + std::to_string(v.w) + ")";
}
std::string group_str(uint32_t g) { return g == kNone ? "NONE" : std::to_string(g); }

// Checks for one node; `where` prefixes every message ("node 5 (CONV2D "layer1.0.conv1")").
class NodeChecker {
 public:
  NodeChecker(const ModelFile& m, const NodeDesc& n, std::string where)
      : m_(m), n_(n), where_(std::move(where)) {}

  [[noreturn]] void bad(const std::string& msg) const { fail(where_ + ": " + msg); }

  const ValueDesc& in0() const { return m_.values[n_.in0]; }
  const ValueDesc& out() const { return m_.values[n_.out]; }

  void no_in1() const {
    if (n_.in1 != kNone) bad("takes one input, has a second");
  }
  void no_tensors() const {
    if (n_.weight != kNone || n_.scale != kNone || n_.bias != kNone) bad("takes no tensors");
  }
  void flags_allowed(uint32_t mask) const {
    if ((n_.flags & ~mask) != 0) bad("unknown flags " + std::to_string(n_.flags));
  }
  void same_group_and_shape(const ValueDesc& a, const char* a_name, const ValueDesc& b,
                            const char* b_name) const {
    if (a.group != b.group)
      bad(std::string(a_name) + " is in group " + group_str(a.group) + ", " + b_name +
          " in group " + group_str(b.group));
    if (a.c != b.c || a.h != b.h || a.w != b.w)
      bad(std::string(a_name) + " has shape " + shape_str(a) + ", " + b_name + " has " +
          shape_str(b));
  }
  void same_group(const ValueDesc& a, const ValueDesc& b) const {
    if (a.group != b.group)
      bad("input is in group " + group_str(a.group) + ", output in group " + group_str(b.group));
    if (a.c != b.c)
      bad("input has " + std::to_string(a.c) + " channels, output " + std::to_string(b.c));
  }
  void out_shape(uint64_t c, uint64_t h, uint64_t w) const {
    const ValueDesc& o = out();
    if (o.c != c || o.h != h || o.w != w)
      bad("output value " + std::to_string(n_.out) + " has shape " + shape_str(o) + ", expected (" +
          std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) + ")");
  }
  void geometry(bool pool) const {
    const uint32_t g[] = {n_.kh, n_.kw, n_.sh, n_.sw, n_.dh, n_.dw};
    for (uint32_t x : g)
      if (x < 1 || x > kMaxDim) bad("kernel, stride and dilation must be in [1, 2^20]");
    if (pool) {
      if (n_.dh != 1 || n_.dw != 1) bad("pool dilation must be 1");
      if (n_.ph > n_.kh / 2 || n_.pw > n_.kw / 2) bad("pool padding must be at most kernel/2");
    } else if (n_.ph >= n_.kh || n_.pw >= n_.kw) {
      bad("padding must be smaller than the kernel");
    }
  }
  void window_output(uint32_t c, bool ceil_mode) const {
    const ValueDesc& x = in0();
    const uint64_t h = conv_out_size(x.h, n_.kh, n_.sh, n_.ph, n_.dh, ceil_mode);
    const uint64_t w = conv_out_size(x.w, n_.kw, n_.sw, n_.pw, n_.dw, ceil_mode);
    if (h == 0 || w == 0) bad("window larger than the padded input " + shape_str(x));
    out_shape(c, h, w);
  }
  // A per-level scale or bias: [n_levels][rows], or absent.
  void level_vector(uint32_t t, const char* what, uint64_t rows) const {
    if (t == kNone) return;
    if (t >= m_.tensors.size()) bad(std::string(what) + " tensor index out of range");
    const TensorDesc& d = m_.tensors[t];
    if (d.ndim != 2 || d.dims[0] != m_.num_levels() || d.dims[1] != rows)
      bad(std::string(what) + " \"" + d.name + "\" must have shape [" +
          std::to_string(m_.num_levels()) + "][" + std::to_string(rows) + "]");
  }
  const TensorDesc& weight(uint32_t ndim) const {
    if (n_.weight == kNone) bad("needs a weight");
    if (n_.weight >= m_.tensors.size()) bad("weight tensor index out of range");
    const TensorDesc& d = m_.tensors[n_.weight];
    if (d.ndim != ndim)
      bad("weight \"" + d.name + "\" must have " + std::to_string(ndim) + " dims");
    return d;
  }

  void conv2d() const {
    const ValueDesc& x = in0();
    const ValueDesc& y = out();
    flags_allowed(0);
    geometry(false);
    const uint32_t g = n_.groups;
    if (g < 1) bad("groups must be >= 1");
    if (x.c % g != 0 || y.c % g != 0)
      bad("groups " + std::to_string(g) + " does not divide the channels");
    if (g > 1) {
      const bool depthwise = g == x.c && g == y.c;
      if (depthwise && x.group != y.group) bad("depthwise input and output must share a group");
      if (!depthwise && (x.group != kNone || y.group != kNone))
        bad("grouped (non-depthwise) conv needs unpruned input and output (group NONE)");
    }
    const TensorDesc& w = weight(4);
    const uint64_t expect[4] = {y.c, x.c / g, n_.kh, n_.kw};
    for (int i = 0; i < 4; ++i)
      if (w.dims[i] != expect[i])
        bad("weight \"" + w.name + "\" has shape [" + std::to_string(w.dims[0]) + "][" +
            std::to_string(w.dims[1]) + "][" + std::to_string(w.dims[2]) + "][" +
            std::to_string(w.dims[3]) + "], expected [" + std::to_string(expect[0]) + "][" +
            std::to_string(expect[1]) + "][" + std::to_string(expect[2]) + "][" +
            std::to_string(expect[3]) + "]");
    level_vector(n_.scale, "scale", y.c);
    level_vector(n_.bias, "bias", y.c);
    window_output(y.c, false);
    if (n_.in1 != kNone) same_group_and_shape(m_.values[n_.in1], "residual", y, "output");
  }

  void linear() const {
    const ValueDesc& x = in0();
    const ValueDesc& y = out();
    no_in1();
    flags_allowed(0);
    const TensorDesc& w = weight(2);
    const uint64_t cols = uint64_t(x.c) * x.h * x.w;
    if (w.dims[0] != y.c)
      bad("weight \"" + w.name + "\" has " + std::to_string(w.dims[0]) + " rows, expected " +
          std::to_string(y.c));
    if (w.dims[1] != cols)
      bad("weight \"" + w.name + "\" has " + std::to_string(w.dims[1]) + " columns, expected " +
          std::to_string(cols));
    level_vector(n_.scale, "scale", y.c);
    level_vector(n_.bias, "bias", y.c);
    out_shape(y.c, 1, 1);
  }

  void add() const {
    no_tensors();
    flags_allowed(0);
    if (n_.in1 == kNone) bad("needs two inputs");
    same_group_and_shape(in0(), "input 0", m_.values[n_.in1], "input 1");
    same_group_and_shape(in0(), "input", out(), "output");
  }

  void act() const {
    no_in1();
    no_tensors();
    flags_allowed(0);
    same_group_and_shape(in0(), "input", out(), "output");
  }

  void pool(bool avg) const {
    no_in1();
    no_tensors();
    flags_allowed(avg ? kFlagCeilMode | kFlagCountIncludePad : kFlagCeilMode);
    geometry(true);
    same_group(in0(), out());
    window_output(in0().c, (n_.flags & kFlagCeilMode) != 0);
  }

  // Ops of version 2 carry no window: every geometry field but the ones named must be 0.
  void no_geometry(bool scales = false) const {
    const uint32_t g[] = {n_.kh, n_.kw, n_.ph, n_.pw, n_.dh, n_.dw, n_.groups};
    for (uint32_t x : g)
      if (x != 0) bad("kernel, padding, dilation and groups must be 0");
    if (!scales && (n_.sh != 0 || n_.sw != 0)) bad("stride must be 0");
  }

  void mul() const {
    no_tensors();
    flags_allowed(0);
    no_geometry();
    if (n_.in1 == kNone) bad("needs two inputs (x and the gate)");
    const ValueDesc& x = in0();
    const ValueDesc& gate = m_.values[n_.in1];
    if (gate.h != 1 || gate.w != 1)
      bad("gate must have shape (C, 1, 1), has " + shape_str(gate));
    if (gate.c != x.c)
      bad("gate has " + std::to_string(gate.c) + " channels, input has " + std::to_string(x.c));
    if (gate.group != x.group)
      bad("gate is in group " + group_str(gate.group) + ", input in group " + group_str(x.group) +
          " (a gate must be levelled with the tensor it gates)");
    same_group_and_shape(x, "input", out(), "output");
  }

  void softmax() const {
    no_in1();
    no_tensors();
    flags_allowed(0);
    no_geometry();
    if (n_.act != 0) bad("takes no activation");
    same_group_and_shape(in0(), "input", out(), "output");
  }

  void resize() const {
    no_in1();
    no_tensors();
    flags_allowed(kFlagBilinear);
    no_geometry(true);
    if (n_.sh < 1 || n_.sw < 1 || n_.sh > kMaxResizeScale || n_.sw > kMaxResizeScale)
      bad("scale " + std::to_string(n_.sh) + " x " + std::to_string(n_.sw) +
          " must be an integer in [1, " + std::to_string(kMaxResizeScale) + "] per axis");
    const ValueDesc& x = in0();
    same_group(x, out());
    out_shape(x.c, uint64_t(x.h) * n_.sh, uint64_t(x.w) * n_.sw);
  }

  // Levelled outputs (a pruned input) get their per-level widths in m.concat_widths.
  void concat(ModelFile& m) const {
    no_tensors();
    flags_allowed(0);
    no_geometry();
    if (n_.act != 0) bad("takes no activation");
    if (n_.in1 == kNone) bad("needs two inputs");
    const ValueDesc& a = in0();
    const ValueDesc& b = m_.values[n_.in1];
    if (a.h != b.h || a.w != b.w)
      bad("input 0 has shape " + shape_str(a) + ", input 1 has " + shape_str(b) +
          " (a concatenation needs equal height and width)");
    if (out().group != kNone)
      bad("output must have group NONE (its channels follow its inputs' levels)");
    out_shape(uint64_t(a.c) + b.c, a.h, a.w);
    const bool levelled = a.group != kNone || b.group != kNone || m_.levelled_concat(n_.in0) ||
                          m_.levelled_concat(n_.in1);
    if (!levelled) return;
    const size_t L = m_.num_levels();
    const uint64_t index = m.concat_widths.size() / L;
    if ((index + 1) * L > kMaxConcatWidths)
      bad("too many levelled concatenations times levels (limit " +
          std::to_string(kMaxConcatWidths) + ")");
    for (size_t k = 0; k < L; ++k)
      m.concat_widths.push_back(m_.channels(n_.in0, k) + m_.channels(n_.in1, k));
    m.concat_index[n_.out] = static_cast<uint32_t>(index);
    m.concat_inputs.push_back(n_.in0);
    m.concat_inputs.push_back(n_.in1);
  }

  // A levelled concatenation is read in place, as its inputs' channel prefixes: only a dense
  // convolution (its weight columns in two ranges) and another concatenation can read it.
  void concat_readers() const {
    auto check = [&](uint32_t v, bool conv_input) {
      if (v == kNone || !m_.levelled_concat(v)) return;
      if (n_.op == OpCode::Concat || (conv_input && n_.groups == 1)) return;
      bad("value " + std::to_string(v) +
          " is a levelled concatenation; only CONV2D (groups 1, as its input) and CONCAT can "
          "read one");
    };
    check(n_.in0, n_.op == OpCode::Conv2d);
    check(n_.in1, false);
  }

  void global_pool() const {
    no_in1();
    no_tensors();
    flags_allowed(0);
    same_group(in0(), out());
    out_shape(in0().c, 1, 1);
  }

 private:
  const ModelFile& m_;
  const NodeDesc& n_;
  std::string where_;
};

void check_levels(const ModelFile& m) {
  const size_t ng = m.num_groups();
  for (size_t g = 0; g < ng; ++g) {
    const uint32_t full = m.group_width[g];
    if (full < 1 || full > kMaxDim)
      fail("group " + std::to_string(g) + ": full width must be in [1, 2^20]");
    for (size_t k = 0; k < m.num_levels(); ++k) {
      const uint32_t w = m.widths[k * ng + g];
      if (w < 1 || w > full)
        fail("level " + std::to_string(k) + ", group " + std::to_string(g) + ": width " +
             std::to_string(w) + " not in [1, " + std::to_string(full) + "]");
      if (k > 0 && w > m.widths[(k - 1) * ng + g])
        fail("level " + std::to_string(k) + ", group " + std::to_string(g) + ": width " +
             std::to_string(w) + " exceeds level " + std::to_string(k - 1) +
             "'s (levels must be nested)");
    }
  }
}

void check_values(const ModelFile& m) {
  if (m.values.empty()) fail("model has no values");
  for (size_t i = 0; i < m.values.size(); ++i) {
    const ValueDesc& v = m.values[i];
    const std::string where = "value " + std::to_string(i);
    if (v.c < 1 || v.h < 1 || v.w < 1 || v.c > kMaxDim || v.h > kMaxDim || v.w > kMaxDim)
      fail(where + ": every dimension must be in [1, 2^20], shape is " + shape_str(v));
    if (uint64_t(v.c) * v.h * v.w > kMaxValueElems) fail(where + ": too large " + shape_str(v));
    if (v.group != kNone) {
      if (v.group >= m.num_groups())
        fail(where + ": group " + std::to_string(v.group) + " out of range (" +
             std::to_string(m.num_groups()) + " groups)");
      if (v.c != m.group_width[v.group])
        fail(where + ": has " + std::to_string(v.c) + " channels, its group " +
             std::to_string(v.group) + " has full width " + std::to_string(m.group_width[v.group]));
    }
  }
  const ValueDesc& in = m.values[0];
  if (in.group != kNone || in.c != m.input_c || in.h != m.input_h || in.w != m.input_w)
    fail("value 0 must be the input: group NONE, shape (input_c, input_h, input_w)");
  if (m.output_value >= m.values.size())
    fail("output value " + std::to_string(m.output_value) + " out of range (" +
         std::to_string(m.values.size()) + " values)");
  if (m.output_value == 0) fail("output value must be produced by a node, not the input");
}

}  // namespace

uint64_t conv_out_size(uint64_t in, uint64_t k, uint64_t s, uint64_t p, uint64_t d,
                       bool ceil_mode) {
  // Callers bound every argument by 2^32, so none of this overflows 64 bits.
  const uint64_t span = d * (k - 1) + 1;
  const uint64_t padded = in + 2 * p;
  if (s == 0 || padded < span) return 0;
  const uint64_t room = padded - span;
  uint64_t out = (ceil_mode ? (room + s - 1) / s : room / s) + 1;
  // PyTorch: with ceil_mode the last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

void validate_model(ModelFile& m) {
  if (m.input_c < 1 || m.input_h < 1 || m.input_w < 1 || m.input_c > kMaxDim ||
      m.input_h > kMaxDim || m.input_w > kMaxDim)
    fail("input shape must have every dimension in [1, 2^20]");
  check_levels(m);
  check_values(m);
  if (m.nodes.empty()) fail("model has no nodes");

  const size_t nv = m.values.size();
  m.concat_index.assign(nv, kNone);
  m.concat_widths.clear();
  m.concat_inputs.clear();
  std::vector<char> produced(nv, 0);
  produced[0] = 1;  // the input
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const NodeDesc& n = m.nodes[i];
    const uint32_t op = static_cast<uint32_t>(n.op);
    const uint32_t max_op = m.version >= 2 ? kMaxOpV2 : kMaxOpV1;
    if (op < 1 || op > kMaxOpV2)
      fail("node " + std::to_string(i) + " (\"" + n.name + "\"): unknown op " + std::to_string(op));
    const std::string where =
        "node " + std::to_string(i) + " (" + op_name(n.op) + " \"" + n.name + "\")";
    if (op > max_op)
      fail(where + ": op " + std::to_string(op) + " needs format version 2, the file is version " +
           std::to_string(m.version));
    if (n.act > kMaxActV2) fail(where + ": unknown activation " + std::to_string(n.act));
    if (n.act > (m.version >= 2 ? kMaxActV2 : kMaxActV1))
      fail(where + ": activation " + std::to_string(n.act) +
           " needs format version 2, the file is version " + std::to_string(m.version));
    auto check_input = [&](uint32_t v, const char* what) {
      if (v >= nv)
        fail(where + ": " + what + " value " + std::to_string(v) + " out of range (" +
             std::to_string(nv) + " values)");
      if (!produced[v])
        fail(where + ": " + what + " value " + std::to_string(v) +
             " is not produced by an earlier node");
    };
    check_input(n.in0, "input");
    if (n.in1 != kNone) check_input(n.in1, "second input");
    if (n.out >= nv)
      fail(where + ": output value " + std::to_string(n.out) + " out of range (" +
           std::to_string(nv) + " values)");
    if (produced[n.out])
      fail(where + ": output value " + std::to_string(n.out) + " is already produced");
    for (uint32_t t : {n.weight, n.scale, n.bias})
      if (t != kNone && t >= m.tensors.size())
        fail(where + ": tensor index " + std::to_string(t) + " out of range (" +
             std::to_string(m.tensors.size()) + " tensors)");

    NodeChecker c(m, n, where);
    switch (n.op) {
      case OpCode::Conv2d: c.conv2d(); break;
      case OpCode::Linear: c.linear(); break;
      case OpCode::Add: c.add(); break;
      case OpCode::Act: c.act(); break;
      case OpCode::MaxPool: c.pool(false); break;
      case OpCode::AvgPool: c.pool(true); break;
      case OpCode::GlobalAvgPool: c.global_pool(); break;
      case OpCode::Mul: c.mul(); break;
      case OpCode::Softmax: c.softmax(); break;
      case OpCode::Resize: c.resize(); break;
      case OpCode::Concat: c.concat(m); break;
    }
    c.concat_readers();
    produced[n.out] = 1;
  }
  if (m.levelled_concat(m.output_value))
    fail("output value " + std::to_string(m.output_value) +
         " is a levelled concatenation; a model's output needs one channel range");
  for (size_t v = 1; v < nv; ++v)
    if (!produced[v]) fail("value " + std::to_string(v) + " is not produced by any node");
}

}  // namespace aio
