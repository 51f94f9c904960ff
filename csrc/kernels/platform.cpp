// ISA detection and the dispatch table: the only place that runs cpuid.
#include "kernels/platform.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/kernels_internal.h"

#if defined(AIO_X86_64)
#include <cpuid.h>
#elif defined(AIO_AARCH64)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace aio {
namespace detail {
namespace {

// Ranks order ISAs within one architecture only (Neon is never compared with Avx2).
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };

#if defined(AIO_X86_64)
// XCR0 via inline asm so this file needs no -mxsave (it must run on any x86-64).
unsigned long long read_xcr0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

// The best ISA both the CPU implements and the OS saves state for (a CPU flag alone is not enough:
// a kernel that does not enable YMM/ZMM state in XCR0 faults on the first vector instruction).
Isa detect_best() {
#if defined(AIO_X86_64)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::Scalar;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12),
             f16c = c & (1u << 29);
  if (!osxsave || !avx) return Isa::Scalar;
  const unsigned long long xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
  const bool zmm_state = (xcr0 & 0xE6) == 0xE6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!ymm_state) return Isa::Scalar;
  if (__get_cpuid_max(0, nullptr) < 7) return Isa::Scalar;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5);
  const bool avx512 = (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31));
  if (avx2 && fma && f16c && avx512 && zmm_state) return Isa::Avx512;
  if (avx2 && fma && f16c) return Isa::Avx2;
#elif defined(AIO_AARCH64)
  // ASIMD is mandatory in ARMv8.0-A Linux userspace; the hwcap check guards odd kernels/emulators.
  if (getauxval(AT_HWCAP) & HWCAP_ASIMD) return Isa::Neon;
#endif
  return Isa::Scalar;
}

// Whether `want` runs where `best` is the best ISA detected.
bool runs_on(Isa want, Isa best) {
  if (want == Isa::Scalar) return true;
  if (want == Isa::Neon || best == Isa::Neon) return want == best;
  return static_cast<int>(want) <= static_cast<int>(best);
}

Isa parse_isa(const char* s, Isa best) {
  if (!s || !*s) return best;
  Isa want = best;
  if (!std::strcmp(s, "scalar")) want = Isa::Scalar;
  else if (!std::strcmp(s, "avx2")) want = Isa::Avx2;
  else if (!std::strcmp(s, "avx512")) want = Isa::Avx512;
  else if (!std::strcmp(s, "neon")) want = Isa::Neon;
  return runs_on(want, best) ? want : best;
}

KernelTable build(Isa isa) {
  KernelTable t;
  fill_table_scalar(t);
#if defined(AIO_X86_64)
  if (isa >= Isa::Avx2) fill_table_avx2(t);
  if (isa >= Isa::Avx512) fill_table_avx512(t);
#elif defined(AIO_AARCH64)
  if (isa == Isa::Neon) {
    fill_table_neon(t);
    fill_table_ops_neon(t);
    fill_table_depthwise5_neon(t);
  }
#endif
  return t;
}

KernelTable& mutable_table() {
  static KernelTable t = build(parse_isa(std::getenv("AIO_FORCE_ISA"), detect_best()));
  return t;
}

}  // namespace

const KernelTable& table() { return mutable_table(); }

}  // namespace detail

const char* isa_name() { return detail::table().isa; }

const char* isa_features() {
  static const std::string features = [] {
    std::string s;
#if defined(AIO_AARCH64)
    // Bit values of the kernel ABI (arch/arm64/include/uapi/asm/hwcap.h), for older headers.
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    const auto add = [&s](bool has, const char* name) {
      if (!has) return;
      if (!s.empty()) s += ',';
      s += name;
    };
    add(hw & HWCAP_ASIMDHP, "fp16");
    add(hw & HWCAP_ASIMDDP, "dotprod");
    add(hw2 & HWCAP2_I8MM, "i8mm");
#endif
    return s;
  }();
  return features.c_str();
}

void force_isa_for_tests(const char* isa) {
  detail::mutable_table() = detail::build(detail::parse_isa(isa, detail::detect_best()));
}

bool isa_supported(const char* isa) {
  using detail::Isa;
  const Isa best = detail::detect_best();
  if (!std::strcmp(isa, "scalar")) return true;
  if (!std::strcmp(isa, "avx2")) return detail::runs_on(Isa::Avx2, best);
  if (!std::strcmp(isa, "avx512")) return detail::runs_on(Isa::Avx512, best);
  if (!std::strcmp(isa, "neon")) return detail::runs_on(Isa::Neon, best);
  return false;
}

}  // namespace aio
