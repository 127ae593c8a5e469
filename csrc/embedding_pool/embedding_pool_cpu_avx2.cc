// embedding_pool's CPU loops built for the avx2 path (see cpu_kernels.h).
#include <immintrin.h>

#include "embedding_pool/embedding_pool_internal.h"

#define YDNN_ISA_NS avx2
#define YDNN_ISA_AVX2 1
#pragma GCC target("avx2,fma,f16c")
#include "embedding_pool/embedding_pool_cpu_kernels.h"

namespace ydnn {
namespace pool_detail {
const PoolCpuKernels& pool_kernels_avx2() { return avx2::kernels(); }
}  // namespace pool_detail
}  // namespace ydnn
