// topk_scores's CPU loops built for the avx512 path (see cpu_kernels.h).
#include <immintrin.h>
#include <cstring>

#include "topk/topk_scores_internal.h"

#define YDNN_ISA_NS avx512
#define YDNN_ISA_AVX512 1
// GCC 12 warns inside its own _mm512_cvtph_ps / _mm512_slli_epi32
// (_mm512_undefined_*): a known false positive of the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2")
#include "topk/topk_scores_cpu_kernels.h"

namespace ydnn {
namespace topk_detail {
const TopkCpuKernels& topk_kernels_avx512() { return avx512::kernels(); }
}  // namespace topk_detail
}  // namespace ydnn
