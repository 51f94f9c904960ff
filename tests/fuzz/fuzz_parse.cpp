// libFuzzer target (a): aio::parse_model on raw bytes, then on the checksum-fixed copy.
// Contract under test (csrc/format/model_file.h): parse_model either returns a ModelFile whose
// every index is in range, or throws aio::Error(ErrorCode::Format); it never reads outside the
// buffer, never crashes, never throws anything else. The input lives in its own heap block of
// exactly `size` bytes, so ASan catches any read past the end.
#include <cstdio>
#include <cstdlib>

#include "base/error.h"
#include "format/model_file.h"
#include "fuzz_common.h"

namespace {

void check_invariants(const aio::ModelFile& m) {
  // What the runtime relies on without re-checking (model_file.h): spot-check it.
  const size_t nv = m.values.size();
  bool ok = nv > 0 && m.output_value < nv && !m.nodes.empty() && m.num_levels() > 0 &&
            m.widths.size() == m.num_levels() * m.num_groups();
  for (const auto& n : m.nodes) {
    ok = ok && n.in0 < nv && n.out < nv && (n.in1 == aio::kNone || n.in1 < nv);
    for (uint32_t t : {n.weight, n.scale, n.bias}) ok = ok && (t == aio::kNone || t < m.tensors.size());
  }
  for (const auto& t : m.tensors) ok = ok && t.offset <= m.data_size && t.nbytes <= m.data_size - t.offset;
  for (const auto& v : m.values) ok = ok && (v.group == aio::kNone || v.group < m.num_groups());
  if (!ok) {
    std::fprintf(stderr, "parse_model accepted a model that breaks its own invariants\n");
    std::abort();
  }
}

void parse_one(const uint8_t* data, size_t size) {
  try {
    const aio::ModelFile m = aio::parse_model(data, size);
    check_invariants(m);
  } catch (const aio::Error& e) {
    if (e.code() != aio::ErrorCode::Format) {
      std::fprintf(stderr, "parse_model threw a non-Format error: %s\n", e.what());
      std::abort();
    }
  }
  // Anything else (std::bad_alloc, std::length_error, ...) escapes and libFuzzer reports it.
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  parse_one(data, size);
  const std::vector<uint8_t> fixed = aio_fuzz::fix_up(data, size);
  parse_one(fixed.data(), fixed.size());
  return 0;
}
