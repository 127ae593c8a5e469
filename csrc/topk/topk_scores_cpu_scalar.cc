// topk_scores's CPU loops built for the scalar path (see cpu_kernels.h).
#include <cstring>

#include "topk/topk_scores_internal.h"

#define YDNN_ISA_NS scalar
#include "topk/topk_scores_cpu_kernels.h"

namespace ydnn {
namespace topk_detail {
const TopkCpuKernels& topk_kernels_scalar() { return scalar::kernels(); }
}  // namespace topk_detail
}  // namespace ydnn
