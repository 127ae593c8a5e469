// embedding_pool's CPU loops built for the scalar path (see cpu_kernels.h).
#include <immintrin.h>

#include "embedding_pool/embedding_pool_internal.h"

#define YDNN_ISA_NS scalar

#include "embedding_pool/embedding_pool_cpu_kernels.h"

namespace ydnn {
namespace pool_detail {
const PoolCpuKernels& pool_kernels_scalar() { return scalar::kernels(); }
}  // namespace pool_detail
}  // namespace ydnn
