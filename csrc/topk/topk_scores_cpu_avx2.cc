// topk_scores's CPU loops built for the avx2 path (see cpu_kernels.h).
#include <immintrin.h>
#include <cstring>

#include "topk/topk_scores_internal.h"

#define YDNN_ISA_NS avx2
#define YDNN_ISA_AVX2 1
#pragma GCC target("avx2,fma,f16c")
#include "topk/topk_scores_cpu_kernels.h"

namespace ydnn {
namespace topk_detail {
const TopkCpuKernels& topk_kernels_avx2() { return avx2::kernels(); }
}  // namespace topk_detail
}  // namespace ydnn
