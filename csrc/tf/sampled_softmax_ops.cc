// TensorFlow ops for the fused sampled softmax: schemas, shape functions,
// and kernels that validate, allocate and call csrc/sampled_softmax. Like
// embedding_pool, each op has a tensor-table and a resource-table form (the
// item embedding variable is read in place, never copied or gathered).
//
// The forward returns the per-row loss, the per-row logsumexp (all the
// backward keeps: it recomputes the logits) and, when return_logits, the
// [B, 1 + J] logits for metrics ([B, 0] otherwise). compute_dtype picks the
// products' input precision (sampled_softmax.h); the gradient op takes the
// forward's.
//
// GPU kernels (CUDA build): the same ops on the op's stream, with a
// temporary workspace; ids and counts are checked on the device and each op
// syncs once (the forward for its checks, the backward's plan for the
// checks and the number of unique ids, which sizes two outputs).
#include "sampled_softmax/sampled_softmax.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tf/table_input.h"
#include "tf/tf_adapter.h"

namespace ydnn {
namespace tf {

using ::tensorflow::shape_inference::DimensionHandle;

namespace {

absl::Status SoftmaxShape(InferenceContext* c, bool grad) {
  const DimensionHandle batch = c->Dim(c->input(0), 0), dim = c->Dim(c->input(0), 1);
  if (grad) {
    c->set_output(0, c->input(0));
    c->set_output(1, c->Vector(c->UnknownDim()));
    c->set_output(2, c->Matrix(c->UnknownDim(), dim));
    return absl::OkStatus();
  }
  bool in_batch, return_logits;
  TF_RETURN_IF_ERROR(c->GetAttr("in_batch_negatives", &in_batch));
  TF_RETURN_IF_ERROR(c->GetAttr("return_logits", &return_logits));
  DimensionHandle cols = c->MakeDim(0);
  if (return_logits) {
    TF_RETURN_IF_ERROR(c->Add(c->Dim(c->input(3), 0), 1, &cols));
    if (in_batch) TF_RETURN_IF_ERROR(c->Add(cols, batch, &cols));
  }
  c->set_output(0, c->Vector(batch));
  c->set_output(1, c->Vector(batch));
  c->set_output(2, c->Matrix(batch, cols));
  return absl::OkStatus();
}

}  // namespace

#define YDNN_SOFTMAX_OP(NAME, TABLE)               \
  REGISTER_OP(NAME)                                \
      .Input("query: float")                       \
      .Input("table: " TABLE)                      \
      .Input("positive_ids: Tid")                  \
      .Input("sampled_ids: Tsid")                  \
      .Input("true_expected_count: float")         \
      .Input("sampled_expected_count: float")      \
      .Attr("T: {float, half, bfloat16}")          \
      .Attr("Tid: {int32, int64}")                 \
      .Attr("Tsid: {int32, int64}")                \
      .Attr("temperature: float = 1.0")            \
      .Attr("remove_accidental_hits: bool = true") \
      .Attr("in_batch_negatives: bool = false")    \
      .Attr("compute_dtype: {'float32', 'bfloat16'} = 'float32'")

#define YDNN_SOFTMAX_FORWARD_OP(NAME, TABLE) \
  YDNN_SOFTMAX_OP(NAME, TABLE)               \
      .Attr("return_logits: bool = false")   \
      .Output("loss: float")                 \
      .Output("lse: float")                  \
      .Output("logits: float")               \
      .SetShapeFn([](InferenceContext* c) { return SoftmaxShape(c, false); })

#define YDNN_SOFTMAX_GRAD_OP(NAME, TABLE) \
  YDNN_SOFTMAX_OP(NAME, TABLE)            \
      .Input("lse: float")                \
      .Input("grad_loss: float")          \
      .Output("grad_query: float")        \
      .Output("unique_ids: int64")        \
      .Output("grad_rows: T")             \
      .SetShapeFn([](InferenceContext* c) { return SoftmaxShape(c, true); })

YDNN_SOFTMAX_FORWARD_OP("YdnnSampledSoftmaxLoss", "T")
    .Doc("Fused sampled softmax cross-entropy; see ydnn_kernels.sampled_softmax_loss.");
YDNN_SOFTMAX_FORWARD_OP("YdnnSampledSoftmaxLossResource", "resource")
    .Doc("YdnnSampledSoftmaxLoss reading a resource variable in place.");
YDNN_SOFTMAX_GRAD_OP("YdnnSampledSoftmaxLossGrad", "T")
    .Doc("Gradients of YdnnSampledSoftmaxLoss: dense query, sparse table rows.");
YDNN_SOFTMAX_GRAD_OP("YdnnSampledSoftmaxLossResourceGrad", "resource")
    .Doc("YdnnSampledSoftmaxLossGrad reading a resource variable in place.");

class SoftmaxOpBase : public OpKernel {
 public:
  explicit SoftmaxOpBase(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, c->GetAttr("temperature", &temperature_));
    OP_REQUIRES_OK(c, c->GetAttr("remove_accidental_hits", &remove_accidental_hits_));
    OP_REQUIRES_OK(c, c->GetAttr("in_batch_negatives", &in_batch_));
    std::string compute;
    OP_REQUIRES_OK(c, c->GetAttr("compute_dtype", &compute));
    OP_REQUIRES_OK(c, ToTf(parse_compute_dtype(compute, &compute_dtype_)));
    OP_REQUIRES(c, temperature_ > 0.f && std::isfinite(temperature_),
                absl::InvalidArgumentError(
                    absl::StrCat("temperature must be positive and finite, got ", temperature_)));
  }

 protected:
  // Acquires the table (held until `table` goes out of scope), checks
  // shapes and fills the framework-free arguments.
  template <typename T, typename Id, typename Sid, bool kResource>
  absl::Status Prepare(OpKernelContext* ctx, TableInput<kResource>* table, SoftmaxArgs* a) const {
    TF_RETURN_IF_ERROR(table->Acquire(ctx, ::tensorflow::DataTypeToEnum<T>::v(), 1));
    auto dims = [](const Tensor& t) {
      const auto d = t.shape().dim_sizes();
      return std::vector<int64_t>(d.begin(), d.end());
    };
    const Tensor& t = table->get();
    TF_RETURN_IF_ERROR(
        ToTf(sampled_softmax_shapes({dims(ctx->input(0)), dims(t), dims(ctx->input(2)),
                                     dims(ctx->input(3)), dims(ctx->input(4)), dims(ctx->input(5))},
                                    a)));
    a->query = ctx->input(0).flat<float>().data();
    a->table = t.data();
    a->table_dtype = DTypeOf<T>::value;
    a->positive_ids = ctx->input(2).data();
    a->positive_id_type = IdTypeOf<Id>::value;
    a->sampled_ids = ctx->input(3).data();
    a->sampled_id_type = IdTypeOf<Sid>::value;
    a->true_expected_count = ctx->input(4).flat<float>().data();
    a->sampled_expected_count = ctx->input(5).flat<float>().data();
    a->temperature = temperature_;
    a->remove_accidental_hits = remove_accidental_hits_;
    a->in_batch = in_batch_;
    a->compute_dtype = compute_dtype_;
    return absl::OkStatus();
  }

  float temperature_;
  bool remove_accidental_hits_, in_batch_;
  DType compute_dtype_;
};

template <typename Device, typename T, typename Id, typename Sid, bool kResource>
class SampledSoftmaxOp : public SoftmaxOpBase {
 public:
  explicit SampledSoftmaxOp(OpKernelConstruction* c) : SoftmaxOpBase(c) {
    OP_REQUIRES_OK(c, c->GetAttr("return_logits", &return_logits_));
  }

  void Compute(OpKernelContext* ctx) override {
    TableInput<kResource> table;
    SoftmaxArgs a;
    OP_REQUIRES_OK(ctx, (Prepare<T, Id, Sid>(ctx, &table, &a)));
    Tensor *loss = nullptr, *lse = nullptr, *logits = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({a.batch}), &loss));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({a.batch}), &lse));
    OP_REQUIRES_OK(
        ctx, ctx->allocate_output(
                 2, TensorShape({a.batch, return_logits_ ? a.num_columns() + 1 : 0}), &logits));
    float* logits_ptr = return_logits_ ? logits->flat<float>().data() : nullptr;
    if constexpr (kOnCpu<Device>) {
      // One plan per thread: its buffers outlive the call.
      static thread_local SoftmaxPlan plan;
      OP_REQUIRES_OK(ctx, ToTf(plan.build(a, false)));
      OP_REQUIRES_OK(ctx, ToTf(sampled_softmax_forward_cpu(a, plan, loss->flat<float>().data(),
                                                           lse->flat<float>().data(), logits_ptr,
                                                           TfParallelFor(ctx))));
    } else {
#if defined(YDNN_WITH_CUDA)
      Tensor workspace;
      const size_t bytes = sampled_softmax_forward_workspace_cuda(a);
      OP_REQUIRES_OK(ctx, AllocateWorkspace(ctx, bytes, &workspace));
      OP_REQUIRES_OK(ctx, ToTf(sampled_softmax_forward_cuda(
                              a, workspace.data(), bytes, loss->flat<float>().data(),
                              lse->flat<float>().data(), logits_ptr, GpuStream(ctx))));
#endif
    }
  }

 private:
  bool return_logits_;
};

template <typename Device, typename T, typename Id, typename Sid, bool kResource>
class SampledSoftmaxGradOp : public SoftmaxOpBase {
 public:
  using SoftmaxOpBase::SoftmaxOpBase;

  void Compute(OpKernelContext* ctx) override {
    TableInput<kResource> table;
    SoftmaxArgs a;
    OP_REQUIRES_OK(ctx, (Prepare<T, Id, Sid>(ctx, &table, &a)));
    const Tensor& lse = ctx->input(6);
    const Tensor& grad_loss = ctx->input(7);
    const TensorShape rows({a.batch});
    OP_REQUIRES(ctx, lse.shape() == rows && grad_loss.shape() == rows,
                absl::InvalidArgumentError(absl::StrCat(
                    "lse and grad_loss must have shape ", rows.DebugString(), ", got ",
                    lse.shape().DebugString(), " and ", grad_loss.shape().DebugString())));
    Tensor *grad_query = nullptr, *unique_ids = nullptr, *grad_rows = nullptr;
    auto allocate = [&](int64_t u) -> absl::Status {
      TF_RETURN_IF_ERROR(ctx->allocate_output(0, TensorShape({a.batch, a.dim}), &grad_query));
      TF_RETURN_IF_ERROR(ctx->allocate_output(1, TensorShape({u}), &unique_ids));
      return ctx->allocate_output(2, TensorShape({u, a.dim}), &grad_rows);
    };
    if constexpr (kOnCpu<Device>) {
      static thread_local SoftmaxPlan plan;
      OP_REQUIRES_OK(ctx, ToTf(plan.build(a, true)));
      OP_REQUIRES_OK(ctx, allocate(plan.num_unique()));
      OP_REQUIRES_OK(ctx, ToTf(sampled_softmax_backward_cpu(
                              a, plan, lse.flat<float>().data(), grad_loss.flat<float>().data(),
                              grad_query->flat<float>().data(), unique_ids->flat<int64_t>().data(),
                              grad_rows->data(), TfParallelFor(ctx))));
    } else {
#if defined(YDNN_WITH_CUDA)
      void* stream = GpuStream(ctx);
      Tensor workspace;
      const size_t bytes = sampled_softmax_backward_workspace_cuda(a);
      OP_REQUIRES_OK(ctx, AllocateWorkspace(ctx, bytes, &workspace));
      int64_t u = 0;
      OP_REQUIRES_OK(
          ctx, ToTf(sampled_softmax_backward_plan_cuda(a, workspace.data(), bytes, &u, stream)));
      OP_REQUIRES_OK(ctx, allocate(u));
      OP_REQUIRES_OK(ctx, ToTf(sampled_softmax_backward_cuda(
                              a, workspace.data(), bytes, u, lse.flat<float>().data(),
                              grad_loss.flat<float>().data(), grad_query->flat<float>().data(),
                              unique_ids->flat<int64_t>().data(), grad_rows->data(), stream)));
#endif
    }
  }
};

// The resource forms keep the handle in host memory (the variable's tensor
// itself lives on the op's device), as embedding_pool's do.
#define YDNN_REGISTER_SOFTMAX_SID(DEV, DEVICE, T, Id, Sid)                  \
  REGISTER_KERNEL_BUILDER(Name("YdnnSampledSoftmaxLoss")                    \
                              .Device(DEV)                                  \
                              .TypeConstraint<T>("T")                       \
                              .TypeConstraint<Id>("Tid")                    \
                              .TypeConstraint<Sid>("Tsid"),                 \
                          SampledSoftmaxOp<DEVICE, T, Id, Sid, false>);     \
  REGISTER_KERNEL_BUILDER(Name("YdnnSampledSoftmaxLossResource")            \
                              .Device(DEV)                                  \
                              .TypeConstraint<T>("T")                       \
                              .TypeConstraint<Id>("Tid")                    \
                              .TypeConstraint<Sid>("Tsid")                  \
                              .HostMemory("table"),                         \
                          SampledSoftmaxOp<DEVICE, T, Id, Sid, true>);      \
  REGISTER_KERNEL_BUILDER(Name("YdnnSampledSoftmaxLossGrad")                \
                              .Device(DEV)                                  \
                              .TypeConstraint<T>("T")                       \
                              .TypeConstraint<Id>("Tid")                    \
                              .TypeConstraint<Sid>("Tsid"),                 \
                          SampledSoftmaxGradOp<DEVICE, T, Id, Sid, false>); \
  REGISTER_KERNEL_BUILDER(Name("YdnnSampledSoftmaxLossResourceGrad")        \
                              .Device(DEV)                                  \
                              .TypeConstraint<T>("T")                       \
                              .TypeConstraint<Id>("Tid")                    \
                              .TypeConstraint<Sid>("Tsid")                  \
                              .HostMemory("table"),                         \
                          SampledSoftmaxGradOp<DEVICE, T, Id, Sid, true>);

// Both sampled-id types for each (T, Id) the shared helper registers.
#define YDNN_REGISTER_SOFTMAX(DEV, DEVICE, T, Id)        \
  YDNN_REGISTER_SOFTMAX_SID(DEV, DEVICE, T, Id, int32_t) \
  YDNN_REGISTER_SOFTMAX_SID(DEV, DEVICE, T, Id, int64_t)

YDNN_TF_REGISTER_TABLE_KERNELS(YDNN_REGISTER_SOFTMAX)

}  // namespace tf
}  // namespace ydnn
