// Run-time choice of the CPU vector path.
//
// A default build must run on any x86-64 with AVX2 (and on machines without
// it), yet use AVX-512 where the CPU has it. Each kernel that benefits is
// compiled once per ISA in its own translation unit (under
// `#pragma GCC target`), and callers pick one with cpu_isa() at run time.
// Beyond the vector ISA, cpu_bf16() says which bfloat16 dot products the CPU
// offers (for sampled softmax's compute_dtype = bfloat16).
// YDNN_CPU_ISA=scalar|avx2|avx512|avx512_bf16|amx caps both choices on that
// one ladder (for tests and benchmarks of the lower paths on a machine that
// has the higher ones): avx512 leaves AVX-512 and no bfloat16 instructions,
// avx512_bf16 leaves vdpbf16ps but not AMX.
#pragma once

namespace ydnn {

enum class CpuIsa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The best ISA this CPU supports, capped by YDNN_CPU_ISA. Cached.
CpuIsa cpu_isa();
const char* cpu_isa_name(CpuIsa isa);

// kAvx512Bf16: AVX512_BF16 (vdpbf16ps) on top of cpu_isa() == kAvx512.
// kAmx: also AMX-BF16 tiles, which Linux lends a process only on request
// (arch_prctl ARCH_REQ_XCOMP_PERM, made once here); refused, it is
// kAvx512Bf16. Capped by YDNN_CPU_ISA. Cached.
enum class CpuBf16 : int { kNone = 0, kAvx512Bf16 = 1, kAmx = 2 };
CpuBf16 cpu_bf16();
const char* cpu_bf16_name(CpuBf16 level);

}  // namespace ydnn
