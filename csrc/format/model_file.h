// ModelFile: the parsed, fully checked contents of a .aio file (docs/format.md), as plain data.
//
// parse_model() validates every rule of the spec before returning, so the runtime can index
// values, tensors and widths without further checks. Tensor data is NOT copied: `data` points into
// the caller's byte buffer, which must outlive every use of the tensors (the engine packs the
// weights, copies the small per-level scale/bias, then frees the bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace aio {

constexpr uint32_t kNone = 0xFFFFFFFFu;

enum class OpCode : uint32_t {
  Conv2d = 1,
  Linear = 2,
  Add = 3,
  Act = 4,
  MaxPool = 5,
  AvgPool = 6,
  GlobalAvgPool = 7,
  // Format version 2:
  Mul = 8,      // x times a per-channel gate (squeeze-excite)
  Softmax = 9,  // over channels, at each pixel
  Resize = 10,  // nearest or bilinear upsampling by integer factors
  Concat = 11,  // two values along channels
};
// The highest op code of each format version (version 1 has ops 1-7 and activations 0-4).
constexpr uint32_t kMaxOpV1 = 7, kMaxOpV2 = 11;
constexpr uint32_t kMaxActV1 = 4, kMaxActV2 = 6;
// Largest RESIZE factor per axis.
constexpr uint32_t kMaxResizeScale = 64;
const char* op_name(OpCode op);  // "CONV2D", ... (as in messages of the spec)

constexpr uint32_t kFlagCeilMode = 1;
constexpr uint32_t kFlagCountIncludePad = 2;
constexpr uint32_t kFlagBilinear = 1;  // RESIZE: bilinear (half-pixel centres) instead of nearest

struct TensorDesc {
  std::string name;
  uint32_t ndim = 0;
  uint64_t dims[4] = {0, 0, 0, 0};
  uint64_t offset = 0;  // from the start of the data section
  uint64_t nbytes = 0;
  uint64_t numel() const { return nbytes / 4; }
};

struct ValueDesc {
  uint32_t group = kNone;  // kNone: never pruned
  uint32_t c = 0, h = 0, w = 0;
};

struct NodeDesc {
  OpCode op = OpCode::Act;
  std::string name;
  uint32_t in0 = kNone, in1 = kNone, out = kNone;
  uint32_t act = 0;
  uint32_t weight = kNone, scale = kNone, bias = kNone;
  uint32_t kh = 0, kw = 0, sh = 0, sw = 0, ph = 0, pw = 0, dh = 0, dw = 0, groups = 0, flags = 0;
};

struct ModelFile {
  uint32_t version = 1;  // format version of the file (1 or 2)
  std::string name;
  uint32_t input_c = 0, input_h = 0, input_w = 0;
  uint32_t output_value = 0;
  std::vector<uint32_t> group_width;  // full width per group
  std::vector<float> keep_ratio;      // per level
  std::vector<uint32_t> widths;       // [level][group], row-major
  std::vector<std::string> labels;
  std::vector<TensorDesc> tensors;
  std::vector<ValueDesc> values;
  std::vector<NodeDesc> nodes;
  const uint8_t* data = nullptr;  // data section (borrowed, see above)
  size_t data_size = 0;
  // Levelled concatenations (filled by validation): a CONCAT output with a pruned input has, at
  // level k, channels(in0, k) + channels(in1, k) channels: A's first ones, then B's. Per value,
  // its index into concat_widths ([concat][level]), or kNone.
  std::vector<uint32_t> concat_index;
  std::vector<uint32_t> concat_widths;
  std::vector<uint32_t> concat_inputs;  // [concat][2]: its in0 and in1

  size_t num_levels() const { return keep_ratio.size(); }
  size_t num_groups() const { return group_width.size(); }
  // Channels of value v at level k.
  uint32_t channels(size_t v, size_t level) const {
    const ValueDesc& d = values[v];
    if (d.group != kNone) return widths[level * group_width.size() + d.group];
    if (v < concat_index.size() && concat_index[v] != kNone)
      return concat_widths[size_t(concat_index[v]) * num_levels() + level];
    return d.c;
  }
  // True for a CONCAT output whose width changes with the level (see concat_index).
  bool levelled_concat(size_t v) const {
    return v < concat_index.size() && concat_index[v] != kNone;
  }
  const float* tensor_data(uint32_t t) const {
    return reinterpret_cast<const float*>(data + tensors[t].offset);
  }
};

// Parses and checks a whole file image. Throws aio::Error(ErrorCode::Format, message naming the
// problem). Never reads outside [bytes, bytes + size).
ModelFile parse_model(const uint8_t* bytes, size_t size);

// Output extent of a conv/pool along one axis per the spec; 0 when the window does not fit.
uint64_t conv_out_size(uint64_t in, uint64_t k, uint64_t s, uint64_t p, uint64_t d, bool ceil_mode);

}  // namespace aio
