// TensorFlow op for log-uniform candidate sampling (csrc/sampler).
//
// Stateful like TF's samplers: each kernel instance owns a Philox key (the
// seeds) and a draw counter that advances by num_tries per call, so every
// call draws fresh ids, and the same seeds replay the same sequence of calls
// on the CPU and on the GPU. seed = seed2 = 0 picks a random key, as TF does.
#include <mutex>
#include <random>

#include "sampler/sampler.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tf/tf_adapter.h"

namespace ydnn {
namespace tf {

using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::shape_inference::InferenceContext;

REGISTER_OP("YdnnLogUniformSample")
    .Input("true_ids: int64")
    .Output("sampled_ids: int64")
    .Output("true_expected_count: float")
    .Output("sampled_expected_count: float")
    .Output("num_tries: int64")
    .Attr("num_sampled: int")
    .Attr("min_id: int")
    .Attr("max_id: int")
    .Attr("unique: bool = true")
    .Attr("seed: int = 0")
    .Attr("seed2: int = 0")
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) {
      int64_t num_sampled;
      TF_RETURN_IF_ERROR(c->GetAttr("num_sampled", &num_sampled));
      c->set_output(0, c->Vector(num_sampled));
      c->set_output(1, c->input(0));
      c->set_output(2, c->Vector(num_sampled));
      c->set_output(3, c->Scalar());
      return absl::OkStatus();
    })
    .Doc("Log-uniform candidate sampling over [min_id, max_id]; see "
         "ydnn_kernels.log_uniform_sample.");

template <typename Device>
class LogUniformSampleOp : public OpKernel {
 public:
  explicit LogUniformSampleOp(OpKernelConstruction* c) : OpKernel(c) {
    int64_t seed, seed2;
    OP_REQUIRES_OK(c, c->GetAttr("num_sampled", &args_.num_sampled));
    OP_REQUIRES_OK(c, c->GetAttr("min_id", &args_.min_id));
    OP_REQUIRES_OK(c, c->GetAttr("max_id", &args_.max_id));
    OP_REQUIRES_OK(c, c->GetAttr("unique", &args_.unique));
    OP_REQUIRES_OK(c, c->GetAttr("seed", &seed));
    OP_REQUIRES_OK(c, c->GetAttr("seed2", &seed2));
    OP_REQUIRES_OK(c, ToTf(log_uniform_check(args_)));
    if (seed == 0 && seed2 == 0) {
      std::random_device rd;
      seed = (int64_t(rd()) << 32) | rd();
      seed2 = (int64_t(rd()) << 32) | rd();
    }
    args_.key = static_cast<uint64_t>(seed);
    args_.stream = static_cast<uint64_t>(seed2);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& true_ids = ctx->input(0);
    const int64_t S = args_.num_sampled;
    Tensor *sampled, *true_ec, *sampled_ec, *tries;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({S}), &sampled));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, true_ids.shape(), &true_ec));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({S}), &sampled_ec));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, TensorShape({}), &tries));
    int64_t* ids = sampled->flat<int64_t>().data();
    int64_t num_tries = 0;
    // One call at a time per kernel: the counter orders the calls' draws.
    std::lock_guard<std::mutex> lock(mu_);
    LogUniformArgs a = args_;
    a.counter = counter_;
    if constexpr (std::is_same_v<Device, Eigen::ThreadPoolDevice>) {
      TfParallelFor parallel(ctx);
      OP_REQUIRES_OK(ctx, ToTf(log_uniform_sample_cpu(a, ids, &num_tries, &scratch_, parallel)));
      log_uniform_expected_count_cpu(a, true_ids.flat<int64_t>().data(), true_ids.NumElements(),
                                     num_tries, true_ec->flat<float>().data(), parallel);
      log_uniform_expected_count_cpu(a, ids, S, num_tries, sampled_ec->flat<float>().data(),
                                     parallel);
    } else {
#if defined(YDNN_WITH_CUDA)
      void* stream = GpuStream(ctx);
      Tensor workspace;
      const int64_t bytes = static_cast<int64_t>(log_uniform_sample_workspace_cuda(a));
      OP_REQUIRES_OK(ctx, ctx->allocate_temp(tensorflow::DT_INT8, TensorShape({bytes}), &workspace));
      OP_REQUIRES_OK(ctx, ToTf(log_uniform_sample_cuda(a, ids, &num_tries, workspace.data(), bytes,
                                                       stream)));
      log_uniform_expected_count_cuda(a, true_ids.flat<int64_t>().data(), true_ids.NumElements(),
                                      num_tries, true_ec->flat<float>().data(), stream);
      log_uniform_expected_count_cuda(a, ids, S, num_tries, sampled_ec->flat<float>().data(),
                                      stream);
#endif
    }
    tries->scalar<int64_t>()() = num_tries;
    counter_ += static_cast<uint64_t>(num_tries);
  }

 private:
  LogUniformArgs args_;
  std::mutex mu_;  // guards counter_ and scratch_
  uint64_t counter_ = 0;
  SamplerScratch scratch_;
};

REGISTER_KERNEL_BUILDER(Name("YdnnLogUniformSample").Device(::tensorflow::DEVICE_CPU),
                        LogUniformSampleOp<Eigen::ThreadPoolDevice>);
#if defined(YDNN_WITH_CUDA)
struct SamplerGpuTag {};
REGISTER_KERNEL_BUILDER(Name("YdnnLogUniformSample")
                            .Device(::tensorflow::DEVICE_GPU)
                            .HostMemory("num_tries"),
                        LogUniformSampleOp<SamplerGpuTag>);
#endif

}  // namespace tf
}  // namespace ydnn
