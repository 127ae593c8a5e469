#include "common/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace ydnn {
namespace {

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
  if (const char* cap = std::getenv("YDNN_CPU_ISA")) {
    CpuIsa want = best;
    if (std::strcmp(cap, "scalar") == 0)
      want = CpuIsa::kScalar;
    else if (std::strcmp(cap, "avx2") == 0)
      want = CpuIsa::kAvx2;
    else if (std::strcmp(cap, "avx512") == 0)
      want = CpuIsa::kAvx512;
    if (static_cast<int>(want) < static_cast<int>(best)) best = want;
  }
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

}  // namespace ydnn
