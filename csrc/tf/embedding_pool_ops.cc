// TensorFlow ops for embedding_pool: schemas, shape functions, and kernels
// that validate, allocate and call the host functions of
// csrc/embedding_pool. Two table inputs: a plain tensor, or a resource
// variable read in place under its lock. The resource form is what keeps a
// tf.Variable from being copied: after any sparse update TF marks a variable
// copy-on-read, and a dense ReadVariableOp would then copy the whole table
// on every step.
//
// row_info is int64: the lengths [B] of padded ids [B, L], or the row_splits
// [B+1] of ragged ids [N] (attr ragged). weights share the ids' shape when
// has_weights, else they are an ignored empty tensor.
#include "embedding_pool/embedding_pool.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tf/table_input.h"
#include "tf/tf_adapter.h"

namespace ydnn {
namespace tf {

using ::tensorflow::shape_inference::ShapeHandle;

namespace {

// [B, D] from ids / row_info and the table (tensor or resource handle data).
absl::Status PoolShape(InferenceContext* c, bool grad) {
  bool ragged;
  TF_RETURN_IF_ERROR(c->GetAttr("ragged", &ragged));
  auto batch = ragged ? c->UnknownDim() : c->Dim(c->input(1), 0);
  if (ragged && c->RankKnown(c->input(2)) && c->ValueKnown(c->Dim(c->input(2), 0)))
    batch = c->MakeDim(std::max<int64_t>(0, c->Value(c->Dim(c->input(2), 0)) - 1));
  auto dim = c->UnknownDim();
  if (c->input_handle_shapes_and_types(0) != nullptr &&
      !c->input_handle_shapes_and_types(0)->empty()) {
    ShapeHandle t = (*c->input_handle_shapes_and_types(0))[0].shape;
    if (c->RankKnown(t)) dim = c->Dim(t, 1);
  } else if (c->RankKnown(c->input(0))) {
    dim = c->Dim(c->input(0), 1);
  }
  if (!grad) {
    c->set_output(0, c->Matrix(batch, dim));
  } else {
    c->set_output(0, c->Vector(c->UnknownDim()));
    c->set_output(1, c->Matrix(c->UnknownDim(), dim));
    c->set_output(2, c->input(3));
  }
  return absl::OkStatus();
}

}  // namespace

// The four ops share their leading inputs and attributes; they differ in
// the table input (tensor or resource) and in forward vs gradient.
#define YDNN_POOL_OP(NAME, TABLE)                          \
  REGISTER_OP(NAME)                                        \
      .Input("table: " TABLE)                              \
      .Input("ids: Tid")                                   \
      .Input("row_info: int64")                            \
      .Input("weights: float")                             \
      .Attr("T: {float, half, bfloat16}")                  \
      .Attr("Tid: {int32, int64}")                         \
      .Attr("combiner: {'sum', 'mean', 'sqrtn'} = 'mean'") \
      .Attr("ragged: bool = false")                        \
      .Attr("has_weights: bool = false")                   \
      .Attr("validate_ids: bool = true")

#define YDNN_POOL_FORWARD_OP(NAME, TABLE)                                            \
  YDNN_POOL_OP(NAME, TABLE).Output("pooled: T").SetShapeFn([](InferenceContext* c) { \
    return PoolShape(c, false);                                                      \
  })

#define YDNN_POOL_GRAD_OP(NAME, TABLE) \
  YDNN_POOL_OP(NAME, TABLE)            \
      .Input("pooled: T")              \
      .Input("grad: T")                \
      .Output("unique_ids: Tid")       \
      .Output("grad_rows: T")          \
      .Output("grad_weights: float")   \
      .SetShapeFn([](InferenceContext* c) { return PoolShape(c, true); })

YDNN_POOL_FORWARD_OP("YdnnEmbeddingPool", "T")
    .Doc("Fused gather + pool of embedding rows; see ydnn_kernels.embedding_pool.");
YDNN_POOL_FORWARD_OP("YdnnEmbeddingPoolResource", "resource")
    .Doc("YdnnEmbeddingPool reading a resource variable in place.");
YDNN_POOL_GRAD_OP("YdnnEmbeddingPoolGrad", "T")
    .Doc("Sparse gradient of YdnnEmbeddingPool: rows summed per unique id.");
YDNN_POOL_GRAD_OP("YdnnEmbeddingPoolResourceGrad", "resource")
    .Doc("YdnnEmbeddingPoolGrad reading a resource variable in place.");

class PoolOpBase : public OpKernel {
 public:
  explicit PoolOpBase(OpKernelConstruction* c) : OpKernel(c) {
    std::string combiner;
    OP_REQUIRES_OK(c, c->GetAttr("combiner", &combiner));
    combiner_ = combiner == "sum"    ? Combiner::kSum
                : combiner == "mean" ? Combiner::kMean
                                     : Combiner::kSqrtn;
    OP_REQUIRES_OK(c, c->GetAttr("ragged", &ragged_));
    OP_REQUIRES_OK(c, c->GetAttr("has_weights", &has_weights_));
    OP_REQUIRES_OK(c, c->GetAttr("validate_ids", &validate_ids_));
  }

 protected:
  // Checks shapes and fills the framework-free argument struct.
  absl::Status BuildArgs(OpKernelContext* ctx, const Tensor& table, DType dtype, IdType id_type,
                         PoolArgs* a) const {
    const Tensor& ids = ctx->input(1);
    const Tensor& row_info = ctx->input(2);
    const Tensor& weights = ctx->input(3);
    auto dims = [](const Tensor& t) {
      const auto d = t.shape().dim_sizes();
      return std::vector<int64_t>(d.begin(), d.end());
    };
    TF_RETURN_IF_ERROR(ToTf(embedding_pool_shapes(
        {dims(table), dims(ids), dims(row_info), dims(weights)}, ragged_, has_weights_, a)));
    a->table = table.data();
    a->table_dtype = dtype;
    a->ids = ids.data();
    a->id_type = id_type;
    a->lengths = ragged_ ? nullptr : row_info.flat<int64_t>().data();
    a->row_splits = ragged_ ? row_info.flat<int64_t>().data() : nullptr;
    a->weights = has_weights_ ? weights.flat<float>().data() : nullptr;
    a->combiner = combiner_;
    return absl::OkStatus();
  }

  // Acquires the table (held until `table` goes out of scope) and fills `a`.
  template <typename T, typename Id, bool kResource>
  absl::Status Prepare(OpKernelContext* ctx, TableInput<kResource>* table, PoolArgs* a) const {
    TF_RETURN_IF_ERROR(table->Acquire(ctx, tensorflow::DataTypeToEnum<T>::v()));
    return BuildArgs(ctx, table->get(), DTypeOf<T>::value, IdTypeOf<Id>::value, a);
  }

  Combiner combiner_;
  bool ragged_, has_weights_, validate_ids_;
};

template <typename Device, typename T, typename Id, bool kResource>
class EmbeddingPoolOp : public PoolOpBase {
 public:
  using PoolOpBase::PoolOpBase;

  void Compute(OpKernelContext* ctx) override {
    TableInput<kResource> table;
    PoolArgs a;
    OP_REQUIRES_OK(ctx, (Prepare<T, Id>(ctx, &table, &a)));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({a.num_bags, a.dim}), &out));
    if constexpr (kOnCpu<Device>) {
      OP_REQUIRES_OK(ctx, ToTf(embedding_pool_forward_cpu(a, out->data(), TfParallelFor(ctx))));
    } else {
#if defined(YDNN_WITH_CUDA)
      void* stream = GpuStream(ctx);
      Tensor error;
      int64_t* error_ptr = nullptr;
      if (validate_ids_) {
        OP_REQUIRES_OK(ctx, ctx->allocate_temp(tensorflow::DT_INT64, TensorShape({2}), &error));
        error_ptr = error.flat<int64_t>().data();
      }
      OP_REQUIRES_OK(ctx, ToTf(embedding_pool_forward_cuda(a, out->data(), error_ptr, stream)));
      if (validate_ids_)
        OP_REQUIRES_OK(ctx, ToTf(embedding_pool_check_error_cuda(a, error_ptr, stream)));
#endif
    }
  }
};

template <typename Device, typename T, typename Id, bool kResource>
class EmbeddingPoolGradOp : public PoolOpBase {
 public:
  using PoolOpBase::PoolOpBase;

  void Compute(OpKernelContext* ctx) override {
    TableInput<kResource> table;
    PoolArgs a;
    OP_REQUIRES_OK(ctx, (Prepare<T, Id>(ctx, &table, &a)));
    const Tensor& pooled = ctx->input(4);
    const Tensor& grad = ctx->input(5);
    const TensorShape out_shape({a.num_bags, a.dim});
    OP_REQUIRES(ctx, grad.shape() == out_shape && pooled.shape() == out_shape,
                absl::InvalidArgumentError(absl::StrCat(
                    "grad and pooled must have shape ", out_shape.DebugString(), ", got ",
                    grad.shape().DebugString(), " and ", pooled.shape().DebugString())));
    Tensor* grad_weights = nullptr;
    OP_REQUIRES_OK(ctx,
                   ctx->allocate_output(2, has_weights_ ? ctx->input(3).shape() : TensorShape({0}),
                                        &grad_weights));
    float* gw = has_weights_ ? grad_weights->flat<float>().data() : nullptr;
    Tensor *unique_ids = nullptr, *rows = nullptr;
    if constexpr (kOnCpu<Device>) {
      TfParallelFor parallel(ctx);
      // One plan per thread: its buffers outlive the call (see PoolGradPlan).
      static thread_local PoolGradPlan plan;
      OP_REQUIRES_OK(ctx, ToTf(embedding_pool_backward_plan_cpu(a, &plan, parallel)));
      const int64_t u = plan.num_unique();
      OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({u}), &unique_ids));
      OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({u, a.dim}), &rows));
      OP_REQUIRES_OK(
          ctx, ToTf(embedding_pool_backward_cpu(a, plan, grad.data(), pooled.data(),
                                                unique_ids->data(), rows->data(), gw, parallel)));
    } else {
#if defined(YDNN_WITH_CUDA)
      void* stream = GpuStream(ctx);
      Tensor workspace;
      const size_t bytes = embedding_pool_backward_workspace_cuda(a);
      OP_REQUIRES_OK(ctx, AllocateWorkspace(ctx, bytes, &workspace));
      int64_t u = 0;
      OP_REQUIRES_OK(
          ctx, ToTf(embedding_pool_backward_plan_cuda(a, workspace.data(), bytes, &u, stream)));
      OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({u}), &unique_ids));
      OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({u, a.dim}), &rows));
      OP_REQUIRES_OK(
          ctx, ToTf(embedding_pool_backward_cuda(a, workspace.data(), u, grad.data(), pooled.data(),
                                                 unique_ids->data(), rows->data(), gw, stream)));
#endif
    }
  }
};

#define YDNN_REGISTER_POOL(DEV, DEVICE, T, Id)                                                    \
  REGISTER_KERNEL_BUILDER(                                                                        \
      Name("YdnnEmbeddingPool").Device(DEV).TypeConstraint<T>("T").TypeConstraint<Id>("Tid"),     \
      EmbeddingPoolOp<DEVICE, T, Id, false>);                                                     \
  REGISTER_KERNEL_BUILDER(Name("YdnnEmbeddingPoolResource")                                       \
                              .Device(DEV)                                                        \
                              .TypeConstraint<T>("T")                                             \
                              .TypeConstraint<Id>("Tid")                                          \
                              .HostMemory("table"),                                               \
                          EmbeddingPoolOp<DEVICE, T, Id, true>);                                  \
  REGISTER_KERNEL_BUILDER(                                                                        \
      Name("YdnnEmbeddingPoolGrad").Device(DEV).TypeConstraint<T>("T").TypeConstraint<Id>("Tid"), \
      EmbeddingPoolGradOp<DEVICE, T, Id, false>);                                                 \
  REGISTER_KERNEL_BUILDER(Name("YdnnEmbeddingPoolResourceGrad")                                   \
                              .Device(DEV)                                                        \
                              .TypeConstraint<T>("T")                                             \
                              .TypeConstraint<Id>("Tid")                                          \
                              .HostMemory("table"),                                               \
                          EmbeddingPoolGradOp<DEVICE, T, Id, true>);

YDNN_TF_REGISTER_TABLE_KERNELS(YDNN_REGISTER_POOL)

}  // namespace tf
}  // namespace ydnn
