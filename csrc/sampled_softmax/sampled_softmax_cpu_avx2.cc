// sampled_softmax's CPU loops built for the avx2 path (see cpu_kernels.h).
#include <immintrin.h>
#include <cmath>
#include <cstring>
#include <limits>

#include "sampled_softmax/sampled_softmax_internal.h"

#define YDNN_ISA_NS avx2
#define YDNN_ISA_AVX2 1
#pragma GCC target("avx2,fma,f16c")
#include "sampled_softmax/sampled_softmax_cpu_kernels.h"

namespace ydnn {
namespace softmax_detail {
const SoftmaxCpuKernels& softmax_kernels_avx2() { return avx2::kernels(); }
}  // namespace softmax_detail
}  // namespace ydnn
