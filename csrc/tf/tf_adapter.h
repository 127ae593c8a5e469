// What every TensorFlow op adapter needs: TF's thread pool behind our
// ParallelFor, Status conversion, dtype mapping, the device tags and kernel
// registration over dtypes, the CUDA stream and workspaces.
#pragma once

#include <string>
#include <type_traits>

#include "common/parallel.h"
#include "common/status.h"
#include "common/types.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/types.h"
#if defined(YDNN_WITH_CUDA)
#include "xla/stream_executor/stream.h"
#endif

namespace ydnn {
namespace tf {

// The TensorFlow names every op adapter uses.
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::TensorShapeUtils;
using ::tensorflow::shape_inference::InferenceContext;

// Runs kernels on the op's intra-op pool, so ydnn ops share TF's threads.
class TfParallelFor final : public ParallelFor {
 public:
  explicit TfParallelFor(tensorflow::OpKernelContext* ctx)
      : pool_(ctx->device()->tensorflow_cpu_worker_threads()->workers) {}
  void operator()(int64_t n, int64_t cost_per_unit, const RangeFn& fn) const override {
    if (n > 0) pool_->ParallelFor(n, cost_per_unit, fn);
  }
  int num_threads() const override { return pool_->NumThreads(); }

 private:
  tsl::thread::ThreadPool* pool_;
};

inline absl::Status ToTf(const Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.code() == StatusCode::kInvalidArgument) return absl::InvalidArgumentError(s.message());
  return absl::InternalError(s.message());
}

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::kFloat32;
};
template <>
struct DTypeOf<Eigen::half> {
  static constexpr DType value = DType::kFloat16;
};
template <>
struct DTypeOf<Eigen::bfloat16> {
  static constexpr DType value = DType::kBFloat16;
};

template <typename Id>
struct IdTypeOf;
template <>
struct IdTypeOf<int32_t> {
  static constexpr IdType value = IdType::kInt32;
};
template <>
struct IdTypeOf<int64_t> {
  static constexpr IdType value = IdType::kInt64;
};

// An op class's Device parameter: Eigen::ThreadPoolDevice runs the CPU
// kernels, GpuDevice the CUDA ones (it is only a tag: the CUDA kernels take
// the op's stream, never an Eigen device).
struct GpuDevice {};

template <typename Device>
constexpr bool kOnCpu = std::is_same_v<Device, Eigen::ThreadPoolDevice>;

#if defined(YDNN_WITH_CUDA)
// The cudaStream_t of the op's GPU stream.
inline void* GpuStream(tensorflow::OpKernelContext* ctx) {
  return ctx->op_device_context()->stream()->platform_specific_handle().stream;
}
#endif

// A temporary byte buffer from the op's allocator (on the op's device): the
// CUDA kernels' workspace.
inline absl::Status AllocateWorkspace(OpKernelContext* ctx, size_t bytes, Tensor* workspace) {
  return ctx->allocate_temp(::tensorflow::DT_INT8, TensorShape({static_cast<int64_t>(bytes)}),
                            workspace);
}

}  // namespace tf
}  // namespace ydnn

// REGISTER(DEV, Device, T, Id) for every table dtype T (float, half,
// bfloat16) and id type Id (int32, int64), on the CPU and, in a CUDA build,
// on the GPU: the registrations of the table ops. REGISTER must end its
// statements with ';'.
#define YDNN_TF_REGISTER_IDS(REGISTER, DEV, DEVICE, T) \
  REGISTER(DEV, DEVICE, T, int32_t)                    \
  REGISTER(DEV, DEVICE, T, int64_t)
#define YDNN_TF_REGISTER_DTYPES_IDS(REGISTER, DEV, DEVICE) \
  YDNN_TF_REGISTER_IDS(REGISTER, DEV, DEVICE, float)       \
  YDNN_TF_REGISTER_IDS(REGISTER, DEV, DEVICE, Eigen::half) \
  YDNN_TF_REGISTER_IDS(REGISTER, DEV, DEVICE, Eigen::bfloat16)
#if defined(YDNN_WITH_CUDA)
#define YDNN_TF_REGISTER_TABLE_KERNELS(REGISTER)                                           \
  YDNN_TF_REGISTER_DTYPES_IDS(REGISTER, ::tensorflow::DEVICE_CPU, Eigen::ThreadPoolDevice) \
  YDNN_TF_REGISTER_DTYPES_IDS(REGISTER, ::tensorflow::DEVICE_GPU, ::ydnn::tf::GpuDevice)
#else
#define YDNN_TF_REGISTER_TABLE_KERNELS(REGISTER) \
  YDNN_TF_REGISTER_DTYPES_IDS(REGISTER, ::tensorflow::DEVICE_CPU, Eigen::ThreadPoolDevice)
#endif
