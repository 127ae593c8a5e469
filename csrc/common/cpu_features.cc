#include "common/cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ydnn {
namespace {

// The ladder YDNN_CPU_ISA caps: scalar 0, avx2 1, avx512 2, avx512_bf16 3,
// amx 4. Unset or unknown: no cap.
int Cap() {
  static const char* const kNames[] = {"scalar", "avx2", "avx512", "avx512_bf16", "amx"};
  if (const char* cap = std::getenv("YDNN_CPU_ISA"))
    for (int i = 0; i < 5; ++i)
      if (std::strcmp(cap, kNames[i]) == 0) return i;
  return 4;
}

CpuIsa Detect() {
  CpuIsa best = CpuIsa::kScalar;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    best = CpuIsa::kAvx2;
  if (best == CpuIsa::kAvx2 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    best = CpuIsa::kAvx512;
#endif
  const int cap = Cap();
  return cap < static_cast<int>(best) ? static_cast<CpuIsa>(cap) : best;
}

// AMX needs the CPU's AMX-TILE and AMX-BF16, the OS's tile state in XCR0
// (bits 17, 18), and Linux's permission for this process (since 5.16 the
// 8 KB tile state is lent only on request; refused, or an older kernel,
// the first tile instruction would fault).
bool AmxUsable() {
#if defined(__linux__) && defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 22)) || !(d & (1u << 24)))
    return false;
  unsigned lo, hi;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;
  constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

CpuBf16 DetectBf16() {
  CpuBf16 best = CpuBf16::kNone;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  // CPUID.(7, 1):EAX bit 5 is AVX512_BF16.
  if (cpu_isa() == CpuIsa::kAvx512 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5)))
    best = CpuBf16::kAvx512Bf16;
#endif
  const int cap = Cap();
  if (cap < 3) return CpuBf16::kNone;
  if (best == CpuBf16::kAvx512Bf16 && cap >= 4 && AmxUsable()) best = CpuBf16::kAmx;
  return best;
}

}  // namespace

CpuIsa cpu_isa() {
  static const CpuIsa isa = Detect();
  return isa;
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar:
      return "scalar";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kAvx512:
      return "avx512";
  }
  return "?";
}

CpuBf16 cpu_bf16() {
  static const CpuBf16 level = DetectBf16();
  return level;
}

const char* cpu_bf16_name(CpuBf16 level) {
  switch (level) {
    case CpuBf16::kNone:
      return "none";
    case CpuBf16::kAvx512Bf16:
      return "avx512_bf16";
    case CpuBf16::kAmx:
      return "amx";
  }
  return "?";
}

}  // namespace ydnn
