// sampled_softmax's CPU loops built for the avx512 path (see cpu_kernels.h).
#include <immintrin.h>
#include <cmath>
#include <cstring>
#include <limits>

#include "sampled_softmax/sampled_softmax_internal.h"

#define YDNN_ISA_NS avx512
#define YDNN_ISA_AVX512 1
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2")
#include "sampled_softmax/sampled_softmax_cpu_kernels.h"

namespace ydnn {
namespace softmax_detail {
const SoftmaxCpuKernels& softmax_kernels_avx512() { return avx512::kernels(); }
}  // namespace softmax_detail
}  // namespace ydnn
