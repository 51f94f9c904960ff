// Regression cases from fuzzing the .aio reader (tools/fuzz.sh, docs/reliability.md).
//
// Every file in tests/fuzz/regressions/ is fed to parse_model and, when accepted, loaded and run at
// every level with exactly-sized buffers (so ASan, in tools/sanitize.sh, sees any overrun). A file
// must either load and run, or fail with aio::Error(Format) whose message contains the expected
// text below: a crash input found by the fuzzer goes there (minimised), with its expectation here.
// The checked-in seeds are the named adversarial files of tests/fuzz/make_corpus.py (valid
// checksums, one hostile field), regenerated with `make_corpus.py --regressions DIR`.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "check.h"
#include "format/model_file.h"
#include "runtime/engine.h"

namespace fs = std::filesystem;

namespace {

// file name -> text the reader's message must contain ("" : the file must load and run).
const std::map<std::string, std::string> kExpect = {
    {"valid_output_mid", ""},
    {"adv_int32_max_dim", "size overflows"},
    {"adv_multidim_overflow", "size overflows"},
    {"adv_nbytes_wraps", "does not match its dimensions"},
    {"adv_tensor_offset_wraps", "lies outside the data section"},
    {"adv_count_max", "too many nodes"},
    {"adv_count_1e6_nodes", "metadata truncated while reading nodes"},
    {"adv_levels_x_groups", "metadata truncated while reading level tables"},
    {"adv_string_len_max", "metadata truncated while reading strings"},
    {"adv_bad_utf8", "is not valid UTF-8"},
    {"adv_levels_not_nested", "levels must be nested"},
    {"adv_value_huge", "too large (1048576, 1048576, 1048576)"},
    {"adv_self_input", "is not produced by an earlier node"},
    {"adv_output_is_input", "output value must be produced by a node"},
    {"adv_kernel_max", "kernel, stride and dilation must be in [1, 2^20]"},
    {"adv_dilation_huge", ""},  // a 1x1 kernel: any dilation is valid,
    {"adv_meta_size_huge", "metadata section lies outside the file"},
    {"adv_data_offset_past_end", "data section"},
    // Format version 2's fields (base: valid_se_resize_softmax).
    {"valid_se_resize_softmax", ""},
    {"adv_gate_wrong_width", "(MUL \"mul\"): gate has 2 channels, input has 4"},
    {"adv_gate_not_per_channel", "gate must have shape (C, 1, 1), has (4, 3, 3)"},
    {"adv_gate_missing", "(MUL \"mul\"): needs two inputs (x and the gate)"},
    {"adv_gate_other_group", "gate is in group NONE, input in group 0"},
    {"adv_resize_scale_zero", "(RESIZE \"up\"): scale 0 x 2 must be an integer in [1, 64]"},
    {"adv_resize_scale_max", "scale 2 x 4294967295 must be an integer in [1, 64]"},
    {"adv_resize_scale_2p16", "scale 65536 x 2 must be an integer in [1, 64]"},
    {"adv_resize_shape_mismatch", "output value 6 has shape (4, 6, 7), expected (4, 6, 6)"},
    {"adv_resize_unknown_flags", "(RESIZE \"up\"): unknown flags 2"},
    {"adv_resize_kernel_set", "kernel, padding, dilation and groups must be 0"},
    {"adv_softmax_act", "(SOFTMAX \"sm\"): takes no activation"},
    {"adv_mul_act_unknown", "(MUL \"mul\"): unknown activation 7"},
    {"adv_v2_op_in_v1_file", "activation 5 needs format version 2, the file is version 1"},
    {"valid_concat", ""},
    {"adv_concat_grouped_output", "(CONCAT \"cat\"): output must have group NONE"},
    {"adv_concat_levelled_output", "output value 3 is a levelled concatenation"},
    {"adv_concat_in_v1_file", "(CONCAT \"cat\"): op 11 needs format version 2"},
};

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Loads and runs every level; returns the error message ("" on success).
std::string load_and_run(const std::vector<uint8_t>& bytes) {
  try {
    // parse_model on an exactly-sized heap copy: a read past the end is an ASan report.
    std::vector<uint8_t> exact(bytes);
    (void)aio::parse_model(exact.data(), exact.size());
    aio::EngineOptions o;
    o.threads = 2;
    auto eng = aio::Engine::load_memory(bytes.data(), bytes.size(), o);
    const aio::Shape s = eng->input_shape();
    std::vector<float> x(size_t(s.c) * s.h * s.w, 0.25f);
    for (size_t k = 0; k < eng->num_levels(); ++k) {
      const aio::Shape os = eng->output_shape(k);
      std::vector<float> y(size_t(os.c) * os.h * os.w);
      eng->run_at(k, x.data(), 1, y.data());
    }
    return "";
  } catch (const aio::Error& e) {
    if (e.code() != aio::ErrorCode::Format) return std::string("WRONG CODE: ") + e.what();
    return e.what();
  }
}

}  // namespace

int main() {
  const fs::path dir = fs::path(__FILE__).parent_path() / "../fuzz/regressions";
  AIO_CHECK(fs::is_directory(dir));
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const std::string msg = load_and_run(read_file(entry.path()));
    ++n;
    const auto it = kExpect.find(name);
    if (it == kExpect.end()) {
      std::printf("%s: no expectation in kExpect (got: \"%s\")\n", name.c_str(), msg.c_str());
      AIO_CHECK(false);
    } else if (it->second.empty() ? !msg.empty() : msg.find(it->second) == std::string::npos) {
      std::printf("%s: expected \"%s\", got \"%s\"\n", name.c_str(), it->second.c_str(),
                  msg.c_str());
      AIO_CHECK(false);
    }
  }
  AIO_CHECK(n == kExpect.size());
  std::printf("test_fuzz_regressions: %zu files\n", n);
  return aio_test::finish("test_fuzz_regressions");
}
