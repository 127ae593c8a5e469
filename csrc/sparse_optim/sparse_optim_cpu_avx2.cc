// sparse_optim's CPU row loops built for the avx2 path (see cpu_kernels.h).
#include <immintrin.h>

#include "sparse_optim/sparse_optim_internal.h"

#define YDNN_ISA_NS optim_avx2
#define YDNN_ISA_AVX2 1
#pragma GCC target("avx2,fma,f16c")
#include "sparse_optim/sparse_optim_cpu_kernels.h"

namespace ydnn {
namespace optim_detail {
RowsFn rows_avx2() { return &optim_avx2::rows; }
}  // namespace optim_detail
}  // namespace ydnn
