// What every TensorFlow op adapter needs: TF's thread pool behind our
// ParallelFor, Status conversion, the CUDA stream, dtype mapping.
#pragma once

#include <string>

#include "common/parallel.h"
#include "common/status.h"
#include "common/types.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/types.h"
#if defined(YDNN_WITH_CUDA)
#include "xla/stream_executor/stream.h"
#endif

namespace ydnn {
namespace tf {

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

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<Eigen::half> { static constexpr DType value = DType::kFloat16; };
template <> struct DTypeOf<Eigen::bfloat16> { static constexpr DType value = DType::kBFloat16; };

template <typename Id> struct IdTypeOf;
template <> struct IdTypeOf<int32_t> { static constexpr IdType value = IdType::kInt32; };
template <> struct IdTypeOf<int64_t> { static constexpr IdType value = IdType::kInt64; };

#if defined(YDNN_WITH_CUDA)
// The cudaStream_t of the op's GPU stream.
inline void* GpuStream(tensorflow::OpKernelContext* ctx) {
  return ctx->op_device_context()->stream()->platform_specific_handle().stream;
}
#endif

}  // namespace tf
}  // namespace ydnn
