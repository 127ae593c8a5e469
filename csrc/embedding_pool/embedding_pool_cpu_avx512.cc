// embedding_pool's CPU loops built for the avx512 path (see cpu_kernels.h).
#include <immintrin.h>

#include "embedding_pool/embedding_pool_internal.h"

#define YDNN_ISA_NS avx512
#define YDNN_ISA_AVX512 1
// GCC 12 warns inside its own _mm512_cvtph_ps (_mm512_undefined_ps): a known
// false positive of the header, not of this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#include "embedding_pool/embedding_pool_cpu_kernels.h"

namespace ydnn {
namespace pool_detail {
const PoolCpuKernels& pool_kernels_avx512() { return avx512::kernels(); }
}  // namespace pool_detail
}  // namespace ydnn
