// NEON (ASIMD, ARMv8.0) kernels: the table entries aarch64 overrides. Every aarch64 CPU runs
// these; entries left alone stay on the portable path.
#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {

void fill_table_neon(KernelTable& t) {
  t.isa = "neon";
  fill_table_winograd_neon(t);
}

}  // namespace detail
}  // namespace aio
