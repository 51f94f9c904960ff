// Winograd transforms for NEON (see winograd.cpp for the algorithm and the portable versions).
#include "kernels/kernels_internal.h"

namespace aio {
namespace detail {

void fill_table_winograd_neon(KernelTable& t) { (void)t; }

}  // namespace detail
}  // namespace aio
