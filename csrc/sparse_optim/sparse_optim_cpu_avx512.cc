// sparse_optim's CPU row loops built for the avx512 path (see cpu_kernels.h).
#include <immintrin.h>

#include "sparse_optim/sparse_optim_internal.h"

#define YDNN_ISA_NS optim_avx512
#define YDNN_ISA_AVX512 1
// GCC 12 warns inside its own _mm512_cvtph_ps (_mm512_undefined_ps): a known
// false positive of the header, not of this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")
#include "sparse_optim/sparse_optim_cpu_kernels.h"

namespace ydnn {
namespace optim_detail {
RowsFn rows_avx512() { return &optim_avx512::rows; }
}  // namespace optim_detail
}  // namespace ydnn
