// Test-only hooks of the kernel dispatch. The runtime never includes this header.
#pragma once

namespace aio {

// Re-selects the kernel table as AIO_FORCE_ISA would ("scalar", "avx2", "avx512", "neon"; an ISA
// the CPU lacks falls back to the best available one). Not thread-safe: call only while no kernel runs.
void force_isa_for_tests(const char* isa);

// Whether the CPU and OS support the named ISA ("scalar" always does).
bool isa_supported(const char* isa);

}  // namespace aio
