// TensorFlow op for log-uniform candidate sampling (csrc/sampler); the
// seeds, draw counter and outputs it shares with the unigram op are in
// sampler_kernel.h.
#include "sampler/sampler.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tf/sampler_kernel.h"
#include "tf/tf_adapter.h"

namespace ydnn {
namespace tf {

YDNN_SAMPLER_OP("YdnnLogUniformSample", 0, .Input("true_ids: int64"),
                .Attr("min_id: int").Attr("max_id: int"))
    .Doc(
        "Log-uniform candidate sampling over [min_id, max_id]; see "
        "ydnn_kernels.log_uniform_sample.");

// The same sampler at an explicit place in its stream: the call's draws
// are first_draw, first_draw + 1, ... (a pure function of the seeds and
// first_draw). The model passes step * 2^32: unique sampling stops at 2^31
// draws, so no two steps' draws overlap, and a resumed run continues the
// stream of an unbroken one exactly.
YDNN_SAMPLER_OP("YdnnLogUniformSampleAt", 0, .Input("true_ids: int64").Input("first_draw: int64"),
                .Attr("min_id: int").Attr("max_id: int"))
    .Doc(
        "YdnnLogUniformSample with its draws starting at first_draw; see "
        "ydnn_kernels.log_uniform_sample(first_draw=...).");

template <typename Device>
class LogUniformSampleOp : public SamplerKernel {
 public:
  explicit LogUniformSampleOp(OpKernelConstruction* c) : SamplerKernel(c) {
    OP_REQUIRES_OK(c, InitArgs(c, &args_));
    OP_REQUIRES_OK(c, c->GetAttr("min_id", &args_.min_id));
    OP_REQUIRES_OK(c, c->GetAttr("max_id", &args_.max_id));
    OP_REQUIRES_OK(c, ToTf(log_uniform_check(args_)));
  }

  void Compute(OpKernelContext* ctx) override {
    auto sample = [&](const SamplerCall& call, SamplerScratch* scratch, int64_t* num_tries) {
      LogUniformArgs a = args_;
      a.counter = call.counter;
      if constexpr (kOnCpu<Device>) {
        TfParallelFor parallel(ctx);
        TF_RETURN_IF_ERROR(ToTf(log_uniform_sample_cpu(a, call.sampled, call.sampled_ec, num_tries,
                                                       scratch, parallel)));
        log_uniform_expected_count_cpu(a, call.true_ids, call.num_true, *num_tries, call.true_ec,
                                       parallel);
      } else {
#if defined(YDNN_WITH_CUDA)
        void* stream = GpuStream(ctx);
        Tensor workspace;
        const size_t bytes = log_uniform_sample_workspace_cuda(a);
        TF_RETURN_IF_ERROR(AllocateWorkspace(ctx, bytes, &workspace));
        TF_RETURN_IF_ERROR(ToTf(
            log_uniform_sample_cuda(a, call.sampled, num_tries, workspace.data(), bytes, stream)));
        log_uniform_expected_count_cuda(a, call.true_ids, call.num_true, *num_tries, call.true_ec,
                                        stream);
        log_uniform_expected_count_cuda(a, call.sampled, call.num_sampled, *num_tries,
                                        call.sampled_ec, stream);
#endif
      }
      return absl::OkStatus();
    };
    if (ctx->num_inputs() == 1) return run(ctx, args_.num_sampled, ctx->input(0), sample);
    const Tensor& first = ctx->input(1);
    OP_REQUIRES(
        ctx, TensorShapeUtils::IsScalar(first.shape()) && first.scalar<int64_t>()() >= 0,
        absl::InvalidArgumentError("first_draw must be a non-negative int64 scalar, got shape " +
                                   first.shape().DebugString() +
                                   (first.NumElements() == 1
                                        ? ", value " + std::to_string(first.flat<int64_t>()(0))
                                        : std::string())));
    run_at(ctx, args_.num_sampled, ctx->input(0), static_cast<uint64_t>(first.scalar<int64_t>()()),
           sample);
  }

 private:
  LogUniformArgs args_;
};

REGISTER_KERNEL_BUILDER(Name("YdnnLogUniformSample").Device(::tensorflow::DEVICE_CPU),
                        LogUniformSampleOp<Eigen::ThreadPoolDevice>);
REGISTER_KERNEL_BUILDER(Name("YdnnLogUniformSampleAt").Device(::tensorflow::DEVICE_CPU),
                        LogUniformSampleOp<Eigen::ThreadPoolDevice>);
#if defined(YDNN_WITH_CUDA)
REGISTER_KERNEL_BUILDER(
    Name("YdnnLogUniformSample").Device(::tensorflow::DEVICE_GPU).HostMemory("num_tries"),
    LogUniformSampleOp<GpuDevice>);
REGISTER_KERNEL_BUILDER(Name("YdnnLogUniformSampleAt")
                            .Device(::tensorflow::DEVICE_GPU)
                            .HostMemory("first_draw")
                            .HostMemory("num_tries"),
                        LogUniformSampleOp<GpuDevice>);
#endif

}  // namespace tf
}  // namespace ydnn
