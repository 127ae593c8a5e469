// sparse_optim's CPU row loops built for the scalar path (see cpu_kernels.h).
#include <immintrin.h>

#include "sparse_optim/sparse_optim_internal.h"

#define YDNN_ISA_NS optim_scalar
#include "sparse_optim/sparse_optim_cpu_kernels.h"

namespace ydnn {
namespace optim_detail {
RowsFn rows_scalar() { return &optim_scalar::rows; }
}  // namespace optim_detail
}  // namespace ydnn
