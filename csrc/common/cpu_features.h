// Run-time choice of the CPU vector path.
//
// A default build must run on any x86-64 with AVX2 (and on machines without
// it), yet use AVX-512 where the CPU has it. Each kernel that benefits is
// compiled once per ISA in its own translation unit (under
// `#pragma GCC target`), and callers pick one with cpu_isa() at run time.
// YDNN_CPU_ISA=scalar|avx2|avx512 caps the choice (for tests and benchmarks
// of the lower paths on an AVX-512 machine).
#pragma once

namespace ydnn {

enum class CpuIsa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The best ISA this CPU supports, capped by YDNN_CPU_ISA. Cached.
CpuIsa cpu_isa();
const char* cpu_isa_name(CpuIsa isa);

}  // namespace ydnn
