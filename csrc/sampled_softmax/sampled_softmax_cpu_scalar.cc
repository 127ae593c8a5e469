// sampled_softmax's CPU loops built for the scalar path (see cpu_kernels.h).
#include <cmath>
#include <cstring>
#include <limits>

#include "sampled_softmax/sampled_softmax_internal.h"

#define YDNN_ISA_NS scalar

#include "sampled_softmax/sampled_softmax_cpu_kernels.h"

namespace ydnn {
namespace softmax_detail {
const SoftmaxCpuKernels& softmax_kernels_scalar() { return scalar::kernels(); }
}  // namespace softmax_detail
}  // namespace ydnn
