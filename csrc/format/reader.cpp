// Container parsing of a .aio file: header, section bounds, checksums and the metadata records.
// Graph and shape rules live in validate.cpp. Every number read from the file is checked before
// it is used as a count, index, offset or size.
#include <algorithm>
#include <cstring>
#include <sstream>

#include "format/crc32.h"
#include "format/model_file.h"
#include "format/validate.h"
#include "base/error.h"

namespace aio {
namespace {

constexpr size_t kHeaderSize = 128;
constexpr uint64_t kMaxCount = 1000000;
constexpr uint64_t kAlign = 64;

[[noreturn]] void fail(const std::string& msg) { throw Error(ErrorCode::Format, msg); }

template <class T>
T load_le(const uint8_t* p) {
  // The file is little-endian and so is every target we build for; memcpy avoids unaligned reads.
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Sequential reader over the metadata section; every read is bounds-checked.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  void need(uint64_t bytes, const char* what) const {
    if (bytes > n_ - pos_) fail(std::string("metadata truncated while reading ") + what);
  }
  uint32_t u32(const char* what) {
    need(4, what);
    uint32_t v = load_le<uint32_t>(p_ + pos_);
    pos_ += 4;
    return v;
  }
  uint64_t u64(const char* what) {
    need(8, what);
    uint64_t v = load_le<uint64_t>(p_ + pos_);
    pos_ += 8;
    return v;
  }
  float f32(const char* what) {
    need(4, what);
    float v = load_le<float>(p_ + pos_);
    pos_ += 4;
    return v;
  }
  std::string bytes(uint32_t n, const char* what) {
    need(n, what);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  size_t remaining() const { return n_ - pos_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

void check_count(uint64_t n, const char* what) {
  if (n > kMaxCount) {
    std::ostringstream os;
    os << "too many " << what << ": " << n << " (limit " << kMaxCount << ")";
    fail(os.str());
  }
}

// Multiplication that fails on overflow instead of wrapping.
uint64_t mul_checked(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) fail(what + ": size overflows");
  return r;
}

std::string quote(const std::string& s) { return "\"" + s + "\""; }

// Strings reach Python (names, labels), which rejects invalid UTF-8 only when first touched;
// checking here makes a bad file fail at load with a clear message instead.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

const char* op_name(OpCode op) {
  switch (op) {
    case OpCode::Conv2d: return "CONV2D";
    case OpCode::Linear: return "LINEAR";
    case OpCode::Add: return "ADD";
    case OpCode::Act: return "ACT";
    case OpCode::MaxPool: return "MAXPOOL";
    case OpCode::AvgPool: return "AVGPOOL";
    case OpCode::GlobalAvgPool: return "GLOBAL_AVGPOOL";
    case OpCode::Mul: return "MUL";
    case OpCode::Softmax: return "SOFTMAX";
    case OpCode::Resize: return "RESIZE";
    case OpCode::Concat: return "CONCAT";
  }
  return "UNKNOWN";
}

ModelFile parse_model(const uint8_t* b, size_t size) {
  if (b == nullptr || size < kHeaderSize) {
    std::ostringstream os;
    os << "file truncated: " << size << " bytes, smaller than the 128-byte header";
    fail(os.str());
  }
  if (std::memcmp(b, "AIOMODEL", 8) != 0) fail("bad magic");
  const uint32_t version = load_le<uint32_t>(b + 8);
  // Version 2 added ops and activations only (docs/format.md): version 1 files read unchanged.
  if (version != 1 && version != 2) fail("unsupported version " + std::to_string(version));
  if (crc32(b, 124) != load_le<uint32_t>(b + 124)) fail("header checksum mismatch");
  const uint32_t header_size = load_le<uint32_t>(b + 12);
  const uint64_t file_size = load_le<uint64_t>(b + 16);
  const uint64_t meta_offset = load_le<uint64_t>(b + 24);
  const uint64_t meta_size = load_le<uint64_t>(b + 32);
  const uint64_t data_offset = load_le<uint64_t>(b + 40);
  const uint64_t data_size = load_le<uint64_t>(b + 48);
  if (header_size != kHeaderSize)
    fail("header_size is " + std::to_string(header_size) + ", expected 128");
  for (size_t i = 64; i < 124; ++i)
    if (b[i] != 0) fail("reserved header bytes are not zero");
  if (file_size > size)
    fail("file truncated: header says " + std::to_string(file_size) + " bytes, file has " +
         std::to_string(size));
  if (file_size != size)
    fail("file size mismatch: header says " + std::to_string(file_size) + " bytes, file has " +
         std::to_string(size));
  if (meta_offset != kHeaderSize)
    fail("meta_offset is " + std::to_string(meta_offset) + ", expected 128");
  if (meta_size == 0) fail("metadata section is empty");
  if (meta_size > size - meta_offset) fail("metadata section lies outside the file");
  if (data_offset % kAlign != 0) fail("data_offset is not a multiple of 64");
  if (data_offset < meta_offset + meta_size) fail("data section overlaps the metadata");
  if (data_offset > size || data_size != size - data_offset)
    fail("data section does not end at the end of the file");
  for (uint64_t i = meta_offset + meta_size; i < data_offset; ++i)
    if (b[i] != 0) fail("padding between metadata and data is not zero");
  if (crc32(b + meta_offset, meta_size) != load_le<uint32_t>(b + 56))
    fail("metadata checksum mismatch");
  if (crc32(b + data_offset, data_size) != load_le<uint32_t>(b + 60))
    fail("data checksum mismatch");

  ModelFile m;
  m.version = version;
  m.data = b + data_offset;
  m.data_size = data_size;
  Cursor cur(b + meta_offset, meta_size);

  // 1. Counts.
  uint32_t counts[16];
  for (uint32_t& c : counts) c = cur.u32("counts");
  const uint32_t n_strings = counts[0], n_groups = counts[1], n_levels = counts[2],
                 n_tensors = counts[3], n_values = counts[4], n_nodes = counts[5],
                 n_labels = counts[6], name_idx = counts[7];
  check_count(n_strings, "strings");
  check_count(n_groups, "groups");
  check_count(n_levels, "levels");
  check_count(n_tensors, "tensors");
  check_count(n_values, "values");
  check_count(n_nodes, "nodes");
  check_count(n_labels, "labels");
  m.input_c = counts[8];
  m.input_h = counts[9];
  m.input_w = counts[10];
  if (counts[11] != 0) fail("input_value must be 0, is " + std::to_string(counts[11]));
  m.output_value = counts[12];
  if (counts[13] != 0 || counts[14] != 0 || counts[15] != 0) fail("reserved counts are not zero");
  if (n_levels == 0) fail("model has no levels");
  const uint64_t n_widths = mul_checked(n_levels, n_groups, "level widths");
  // Cheap early check so a huge count cannot make us allocate before the truncation check.
  cur.need(mul_checked(n_widths + n_groups + n_levels + n_labels, 4, "metadata"), "level tables");

  // 2-5. Groups, keep ratios, widths, labels.
  m.group_width.resize(n_groups);
  for (auto& g : m.group_width) g = cur.u32("groups");
  m.keep_ratio.resize(n_levels);
  for (auto& k : m.keep_ratio) k = cur.f32("keep ratios");
  m.widths.resize(n_widths);
  for (auto& w : m.widths) w = cur.u32("level widths");
  std::vector<uint32_t> label_idx(n_labels);
  for (auto& l : label_idx) l = cur.u32("labels");

  // 6-8. Tensors, values, nodes (fixed-size records).
  cur.need(mul_checked(n_tensors, 64, "tensors"), "tensors");
  std::vector<uint32_t> tensor_name(n_tensors);
  m.tensors.resize(n_tensors);
  for (uint32_t i = 0; i < n_tensors; ++i) {
    TensorDesc& t = m.tensors[i];
    tensor_name[i] = cur.u32("tensors");
    const uint32_t dtype = cur.u32("tensors");
    t.ndim = cur.u32("tensors");
    const uint32_t reserved = cur.u32("tensors");
    for (uint64_t& d : t.dims) d = cur.u64("tensors");
    t.offset = cur.u64("tensors");
    t.nbytes = cur.u64("tensors");
    const std::string where = "tensor " + std::to_string(i);
    if (dtype != 1) fail(where + ": unsupported dtype " + std::to_string(dtype));
    if (reserved != 0) fail(where + ": reserved field is not zero");
    if (t.ndim < 1 || t.ndim > 4) fail(where + ": ndim " + std::to_string(t.ndim) + " not in 1..4");
  }
  cur.need(mul_checked(n_values, 16, "values"), "values");
  m.values.resize(n_values);
  for (ValueDesc& v : m.values) {
    v.group = cur.u32("values");
    v.c = cur.u32("values");
    v.h = cur.u32("values");
    v.w = cur.u32("values");
  }
  cur.need(mul_checked(n_nodes, 80, "nodes"), "nodes");
  std::vector<uint32_t> node_name(n_nodes);
  m.nodes.resize(n_nodes);
  for (uint32_t i = 0; i < n_nodes; ++i) {
    NodeDesc& n = m.nodes[i];
    uint32_t r[20];
    for (uint32_t& x : r) x = cur.u32("nodes");
    n.op = static_cast<OpCode>(r[0]);
    node_name[i] = r[1];
    n.in0 = r[2];
    n.in1 = r[3];
    n.out = r[4];
    n.act = r[5];
    n.weight = r[6];
    n.scale = r[7];
    n.bias = r[8];
    n.kh = r[9];
    n.kw = r[10];
    n.sh = r[11];
    n.sw = r[12];
    n.ph = r[13];
    n.pw = r[14];
    n.dh = r[15];
    n.dw = r[16];
    n.groups = r[17];
    n.flags = r[18];
    if (r[19] != 0) fail("node " + std::to_string(i) + ": reserved field is not zero");
  }

  // 9. Strings; nothing may follow them.
  std::vector<std::string> strings;
  strings.reserve(std::min<size_t>(n_strings, cur.remaining() / 4));
  for (uint32_t i = 0; i < n_strings; ++i) {
    const uint32_t len = cur.u32("strings");
    strings.push_back(cur.bytes(len, "strings"));
    if (!valid_utf8(strings.back())) fail("string " + std::to_string(i) + " is not valid UTF-8");
  }
  if (cur.remaining() != 0)
    fail(std::to_string(cur.remaining()) + " unexpected bytes after the strings in the metadata");

  auto str = [&](uint32_t idx, const std::string& what) -> const std::string& {
    if (idx >= strings.size())
      fail(what + ": string index " + std::to_string(idx) + " out of range (" +
           std::to_string(strings.size()) + " strings)");
    return strings[idx];
  };
  m.name = str(name_idx, "model name");
  m.labels.reserve(n_labels);
  for (uint32_t i = 0; i < n_labels; ++i)
    m.labels.push_back(str(label_idx[i], "label " + std::to_string(i)));
  for (uint32_t i = 0; i < n_nodes; ++i)
    m.nodes[i].name = str(node_name[i], "node " + std::to_string(i));

  // Tensor extents, now that names are known for the messages.
  for (uint32_t i = 0; i < n_tensors; ++i) {
    TensorDesc& t = m.tensors[i];
    t.name = str(tensor_name[i], "tensor " + std::to_string(i));
    const std::string where = "tensor " + std::to_string(i) + " (" + quote(t.name) + ")";
    uint64_t numel = 1;
    for (uint32_t d = 0; d < 4; ++d) {
      if (d < t.ndim) {
        if (t.dims[d] == 0) fail(where + ": dimension " + std::to_string(d) + " is 0");
        numel = mul_checked(numel, t.dims[d], where);
      } else if (t.dims[d] != 0) {
        fail(where + ": unused dimension " + std::to_string(d) + " is not 0");
      }
    }
    if (mul_checked(numel, 4, where) != t.nbytes)
      fail(where + ": nbytes " + std::to_string(t.nbytes) + " does not match its dimensions");
    if (t.offset % kAlign != 0) fail(where + ": offset is not a multiple of 64");
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      fail(where + " lies outside the data section");
  }

  validate_model(m);
  return m;
}

}  // namespace aio
