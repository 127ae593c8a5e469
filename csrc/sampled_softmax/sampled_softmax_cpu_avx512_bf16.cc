// sampled_softmax's CPU loops for compute_dtype bfloat16 on AVX512_BF16 (see
// cpu_bf16_kernels.h): the AVX-512 loops plus vdpbf16ps logits.
#include <immintrin.h>
#include <cmath>
#include <cstring>
#include <limits>

#include "sampled_softmax/sampled_softmax_internal.h"

#define YDNN_ISA_NS avx512_bf16
#define YDNN_ISA_AVX512 1
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2,avx512bf16")
#include "sampled_softmax/sampled_softmax_cpu_kernels.h"
// after the float32 loops, whose pieces it uses
#include "sampled_softmax/sampled_softmax_cpu_bf16_kernels.h"

namespace ydnn {
namespace softmax_detail {
const SoftmaxCpuKernels& softmax_kernels_avx512_bf16() { return avx512_bf16::bf16_kernels(); }
}  // namespace softmax_detail
}  // namespace ydnn
