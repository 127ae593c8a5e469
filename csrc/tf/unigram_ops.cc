// TensorFlow ops of the unigram sampler (csrc/unigram/unigram.h).
//
// YdnnUnigramTable (CPU): counts [V] + distortion -> alias table [V, 2],
// P [V], num_positive. Run once (ydnn_kernels.UnigramTable does so eagerly);
// its outputs are then inputs of every YdnnUnigramSample call, so the table
// lives on whichever device samples and is never rebuilt.
// YdnnUnigramSample (CPU + GPU): stateful like YdnnLogUniformSample (a
// Philox key from the seeds, a draw counter advanced by num_tries per call;
// sampler_kernel.h).
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tf/sampler_kernel.h"
#include "tf/tf_adapter.h"
#include "unigram/unigram.h"

namespace ydnn {
namespace tf {

REGISTER_OP("YdnnUnigramTable")
    .Input("counts: T")
    .Input("distortion: double")
    .Output("table: double")
    .Output("prob: double")
    .Output("num_positive: int64")
    .Attr("T: {float, double, int32, int64}")
    .SetShapeFn([](InferenceContext* c) {
      auto v = c->Dim(c->input(0), 0);
      c->set_output(0, c->Matrix(v, 2));
      c->set_output(1, c->Vector(v));
      c->set_output(2, c->Scalar());
      return absl::OkStatus();
    })
    .Doc("Alias table of a unigram sampler; see ydnn_kernels.UnigramTable.");

YDNN_SAMPLER_OP("YdnnUnigramSample", 3,
                .Input("table: double")
                    .Input("prob: double")
                    .Input("num_positive: int64")
                    .Input("true_ids: int64"), )
    .Doc("Unigram candidate sampling from an alias table; see ydnn_kernels.unigram_sample.");

template <typename T>
class UnigramTableOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* ctx) override {
    const Tensor& counts = ctx->input(0);
    const Tensor& distortion = ctx->input(1);
    OP_REQUIRES(ctx, counts.dims() == 1,
                absl::InvalidArgumentError("counts must be 1-D [V], got shape " +
                                           counts.shape().DebugString()));
    OP_REQUIRES(ctx, TensorShapeUtils::IsScalar(distortion.shape()),
                absl::InvalidArgumentError("distortion must be a scalar, got shape " +
                                           distortion.shape().DebugString()));
    const int64_t V = counts.NumElements();
    Tensor *table, *prob, *positive;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({V, 2}), &table));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({V}), &prob));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({}), &positive));
    std::vector<double> c(counts.flat<T>().data(), counts.flat<T>().data() + V);
    OP_REQUIRES_OK(
        ctx,
        ToTf(unigram_build(c.data(), V, distortion.scalar<double>()(), table->flat<double>().data(),
                           prob->flat<double>().data(), &positive->scalar<int64_t>()())));
  }
};

#define REGISTER_TABLE(T)                                                               \
  REGISTER_KERNEL_BUILDER(                                                              \
      Name("YdnnUnigramTable").Device(::tensorflow::DEVICE_CPU).TypeConstraint<T>("T"), \
      UnigramTableOp<T>);
REGISTER_TABLE(float)
REGISTER_TABLE(double)
REGISTER_TABLE(int32_t)
REGISTER_TABLE(int64_t)
#undef REGISTER_TABLE

template <typename Device>
class UnigramSampleOp : public SamplerKernel {
 public:
  explicit UnigramSampleOp(OpKernelConstruction* c) : SamplerKernel(c) {
    OP_REQUIRES_OK(c, InitArgs(c, &args_));
    OP_REQUIRES(c, args_.num_sampled >= 1,
                absl::InvalidArgumentError("num_sampled must be >= 1, got " +
                                           std::to_string(args_.num_sampled)));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& table = ctx->input(0);
    const Tensor& prob = ctx->input(1);
    const Tensor& positive = ctx->input(2);
    OP_REQUIRES(ctx, table.dims() == 2 && table.dim_size(1) == 2,
                absl::InvalidArgumentError("table must be [V, 2], got shape " +
                                           table.shape().DebugString()));
    OP_REQUIRES(ctx, prob.dims() == 1 && prob.dim_size(0) == table.dim_size(0),
                absl::InvalidArgumentError(
                    "prob must be [V] with the table's V = " + std::to_string(table.dim_size(0)) +
                    ", got shape " + prob.shape().DebugString()));
    OP_REQUIRES(ctx, TensorShapeUtils::IsScalar(positive.shape()),
                absl::InvalidArgumentError("num_positive must be a scalar, got shape " +
                                           positive.shape().DebugString()));
    UnigramArgs a = args_;
    a.num_ids = table.dim_size(0);
    a.num_positive = positive.scalar<int64_t>()();
    OP_REQUIRES_OK(ctx, ToTf(unigram_check(a)));
    const double* t = table.flat<double>().data();
    const double* p = prob.flat<double>().data();
    int64_t max_unique = 0;
    OP_REQUIRES_OK(ctx, validate_once(ctx, t, p, a, &max_unique));
    OP_REQUIRES_OK(ctx, ToTf(unigram_check_reachable(a.num_sampled, a.unique, max_unique)));
    run(ctx, a.num_sampled, ctx->input(3),
        [&](const SamplerCall& call, SamplerScratch* scratch, int64_t* num_tries) {
          a.counter = call.counter;
          const int64_t S = call.num_sampled;
          if constexpr (kOnCpu<Device>) {
            TfParallelFor parallel(ctx);
            TF_RETURN_IF_ERROR(
                ToTf(unigram_sample_cpu(a, t, call.sampled, num_tries, scratch, parallel)));
            unigram_expected_count_cpu(a, p, call.true_ids, call.num_true, *num_tries, call.true_ec,
                                       parallel);
            unigram_expected_count_cpu(a, p, call.sampled, S, *num_tries, call.sampled_ec,
                                       parallel);
          } else {
#if defined(YDNN_WITH_CUDA)
            void* stream = GpuStream(ctx);
            Tensor workspace;
            const size_t bytes = unigram_sample_workspace_cuda(a);
            TF_RETURN_IF_ERROR(AllocateWorkspace(ctx, bytes, &workspace));
            TF_RETURN_IF_ERROR(ToTf(unigram_sample_cuda(a, t, call.sampled, num_tries,
                                                        workspace.data(), bytes, stream)));
            unigram_expected_count_cuda(a, p, call.true_ids, call.num_true, *num_tries,
                                        call.true_ec, stream);
            unigram_expected_count_cuda(a, p, call.sampled, S, *num_tries, call.sampled_ec, stream);
#endif
          }
          return absl::OkStatus();
        });
  }

 private:
  // The op takes the table as an ordinary tensor, so a hand-built one can
  // reach it: each table buffer is validated (O(V)) the first time this
  // kernel sees it; a UnigramTable's tensors are the same buffers every
  // call, so training pays the check once. unigram_pick keeps any table
  // memory-safe in between.
  absl::Status validate_once(OpKernelContext* ctx, const double* t, const double* p,
                             const UnigramArgs& a, int64_t* max_unique) {
    Seen now{t, p, a.num_ids, a.num_positive, 0};
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (now == seen_) {
        *max_unique = seen_.max_unique;
        return absl::OkStatus();
      }
    }
    Status s;
    if constexpr (kOnCpu<Device>) {
      s = unigram_validate(t, p, a.num_ids, a.num_positive, &now.max_unique);
    } else {
#if defined(YDNN_WITH_CUDA)
      s = unigram_validate_cuda(t, p, a.num_ids, a.num_positive, &now.max_unique, GpuStream(ctx));
#endif
    }
    TF_RETURN_IF_ERROR(ToTf(s));
    *max_unique = now.max_unique;
    std::lock_guard<std::mutex> lock(mu_);
    seen_ = now;
    return absl::OkStatus();
  }

  struct Seen {
    const double* table = nullptr;
    const double* prob = nullptr;
    int64_t num_ids = 0, num_positive = 0;
    int64_t max_unique = 0;  // the table's, found by the check
    bool operator==(const Seen& o) const {
      return table == o.table && prob == o.prob && num_ids == o.num_ids &&
             num_positive == o.num_positive;
    }
  };
  UnigramArgs args_;
  std::mutex mu_;
  Seen seen_;
};

REGISTER_KERNEL_BUILDER(Name("YdnnUnigramSample").Device(::tensorflow::DEVICE_CPU),
                        UnigramSampleOp<Eigen::ThreadPoolDevice>);
#if defined(YDNN_WITH_CUDA)
REGISTER_KERNEL_BUILDER(Name("YdnnUnigramSample")
                            .Device(::tensorflow::DEVICE_GPU)
                            .HostMemory("num_positive")
                            .HostMemory("num_tries"),
                        UnigramSampleOp<GpuDevice>);
#endif

}  // namespace tf
}  // namespace ydnn
