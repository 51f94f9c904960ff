// Building a Model from file bytes: parse + validate, build ops (packing weights), plan buffers,
// compute each level's FLOPs and parameters.
#include "runtime/model.h"

#include <algorithm>

#include "format/model_file.h"

namespace aio {
namespace {

// A short label for per-layer profiles: the op and, for convolutions, kernel and stride.
std::string op_kind(const ModelFile& f, const NodeDesc& n) {
  switch (n.op) {
    case OpCode::Conv2d: {
      const bool dw = n.groups > 1 && n.groups == f.values[n.in0].c;
      std::string k = dw ? "dwconv" : (n.groups > 1 ? "gconv" : "conv");
      return k + std::to_string(n.kh) + "x" + std::to_string(n.kw) + "/s" + std::to_string(n.sh);
    }
    case OpCode::Linear: return "linear";
    case OpCode::Add: return "add";
    case OpCode::Act: return "act";
    case OpCode::MaxPool: return "maxpool";
    case OpCode::AvgPool: return "avgpool";
    case OpCode::GlobalAvgPool: return "global_avgpool";
    case OpCode::Mul: return "mul";
    case OpCode::Softmax: return "softmax";
    case OpCode::Concat: return "concat";
    case OpCode::Resize:
      return std::string(n.flags & kFlagBilinear ? "bilinear" : "nearest") + "x" +
             std::to_string(n.sh);
  }
  return "op";
}

}  // namespace

std::unique_ptr<Model> Model::build(std::vector<uint8_t> bytes, const OpOptions& opts) {
  auto model = std::make_unique<Model>();
  Model& md = *model;
  {
    const ModelFile f = parse_model(bytes.data(), bytes.size());
    md.name = f.name;
    md.labels = f.labels;
    md.input = Shape{f.input_c, f.input_h, f.input_w};
    md.output_value = f.output_value;
    md.num_values = f.values.size();
    md.ops.reserve(f.nodes.size());
    const Fusions fusions = plan_fusions(f);
    for (size_t i = 0; i < f.nodes.size(); ++i) {
      md.ops.push_back(make_op(f, i, opts, fusions));
      md.op_names.push_back(f.nodes[i].name);
      md.op_kinds.push_back(op_kind(f, f.nodes[i]));
    }
    md.plan = plan_buffers(f, fusions);
    for (const auto& op : md.ops) {
      md.scratch_floats = std::max(md.scratch_floats, op->scratch_floats());
      md.weight_bytes += op->weight_bytes();
    }
    const ValueDesc& out = f.values[f.output_value];
    for (size_t k = 0; k < f.num_levels(); ++k) {
      LevelInfo info;
      info.keep_ratio = f.keep_ratio[k];
      for (const auto& op : md.ops) {
        info.flops = sat_add(info.flops, sat_mul(2, op->macs(k)));
        info.params = sat_add(info.params, op->params(k));
      }
      info.widths.assign(f.widths.begin() + k * f.num_groups(),
                         f.widths.begin() + (k + 1) * f.num_groups());
      md.levels.push_back(std::move(info));
      md.output_shape.push_back(Shape{f.channels(f.output_value, k), out.h, out.w});
    }
  }  // the ModelFile borrows `bytes`; it is gone before the bytes are freed
  bytes.clear();
  bytes.shrink_to_fit();
  return model;
}

}  // namespace aio
