// TensorFlow ops for topk_scores (csrc/topk/topk_scores.h): the k best
// candidates of a whole table per query row, exact, without a [B, V] score
// matrix. Two table inputs, as the other table ops: a plain tensor, or a
// resource variable read in place under its lock (so serving from the
// model's item table never copies it).
//
// exclude / exclude_splits are the values [N] and row_splits [B+1] of the
// rows' exclusion lists when has_exclude, else ignored empty tensors. The
// ops have no gradient: retrieval is not differentiated.
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tf/table_input.h"
#include "tf/tf_adapter.h"
#include "topk/topk_scores.h"

namespace ydnn {
namespace tf {

namespace {

absl::Status TopkShape(InferenceContext* c) {
  int64_t k;
  TF_RETURN_IF_ERROR(c->GetAttr("k", &k));
  auto batch = c->RankKnown(c->input(0)) ? c->Dim(c->input(0), 0) : c->UnknownDim();
  c->set_output(0, c->Matrix(batch, k));
  c->set_output(1, c->Matrix(batch, k));
  return absl::OkStatus();
}

std::vector<int64_t> Dims(const Tensor& t) {
  const auto d = t.shape().dim_sizes();
  return std::vector<int64_t>(d.begin(), d.end());
}

}  // namespace

#define YDNN_TOPK_OP(NAME, TABLE)             \
  REGISTER_OP(NAME)                           \
      .Input("queries: float")                \
      .Input("table: " TABLE)                 \
      .Input("exclude: Tid")                  \
      .Input("exclude_splits: int64")         \
      .Output("scores: float")                \
      .Output("ids: int64")                   \
      .Attr("T: {float, half, bfloat16}")     \
      .Attr("Tid: {int32, int64} = DT_INT64") \
      .Attr("k: int >= 1")                    \
      .Attr("min_id: int >= 0 = 0")           \
      .Attr("has_exclude: bool = false")      \
      .Attr("validate: bool = true")          \
      .SetShapeFn(TopkShape)

YDNN_TOPK_OP("YdnnTopkScores", "T")
    .Doc("Exact top-k candidates by inner product; see ydnn_kernels.topk_scores.");
YDNN_TOPK_OP("YdnnTopkScoresResource", "resource")
    .Doc("YdnnTopkScores reading a resource variable in place.");

template <typename Device, typename T, typename Id, bool kResource>
class TopkScoresOp : public OpKernel {
 public:
  explicit TopkScoresOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, c->GetAttr("k", &k_));
    OP_REQUIRES_OK(c, c->GetAttr("min_id", &min_id_));
    OP_REQUIRES_OK(c, c->GetAttr("has_exclude", &has_exclude_));
    OP_REQUIRES_OK(c, c->GetAttr("validate", &validate_));
  }

  void Compute(OpKernelContext* ctx) override {
    TableInput<kResource> holder;
    OP_REQUIRES_OK(ctx, holder.Acquire(ctx, tensorflow::DataTypeToEnum<T>::v(), 1));
    const Tensor& table = holder.get();
    const Tensor& queries = ctx->input(0);
    const Tensor& exclude = ctx->input(2);
    const Tensor& splits = ctx->input(3);
    TopkArgs a;
    OP_REQUIRES_OK(
        ctx, ToTf(topk_scores_shapes({Dims(queries), Dims(table), Dims(exclude), Dims(splits)},
                                     has_exclude_, k_, min_id_, &a)));
    a.queries = queries.flat<float>().data();
    a.table = table.data();
    a.table_dtype = DTypeOf<T>::value;
    if (has_exclude_) {
      a.exclude = exclude.data();
      a.exclude_type = IdTypeOf<Id>::value;
      a.exclude_splits = splits.flat<int64_t>().data();
    }
    Tensor *scores = nullptr, *ids = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({a.num_queries, a.k}), &scores));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({a.num_queries, a.k}), &ids));
    if constexpr (kOnCpu<Device>) {
      OP_REQUIRES_OK(ctx, ToTf(topk_scores_cpu(a, scores->flat<float>().data(),
                                               ids->flat<int64_t>().data(), TfParallelFor(ctx))));
    } else {
#if defined(YDNN_WITH_CUDA)
      void* stream = GpuStream(ctx);
      Tensor workspace, error;
      const size_t bytes = topk_scores_workspace_cuda(a);
      OP_REQUIRES_OK(ctx, AllocateWorkspace(ctx, bytes, &workspace));
      int64_t* error_ptr = nullptr;
      if (validate_) {
        OP_REQUIRES_OK(ctx, ctx->allocate_temp(tensorflow::DT_INT64, TensorShape({2}), &error));
        error_ptr = error.flat<int64_t>().data();
      }
      OP_REQUIRES_OK(ctx,
                     ToTf(topk_scores_cuda(a, workspace.data(), bytes, scores->flat<float>().data(),
                                           ids->flat<int64_t>().data(), error_ptr, stream)));
      if (validate_) OP_REQUIRES_OK(ctx, ToTf(topk_scores_check_error_cuda(a, error_ptr, stream)));
#endif
    }
  }

 private:
  int64_t k_, min_id_;
  bool has_exclude_, validate_;
};

#define YDNN_REGISTER_TOPK(DEV, DEVICE, T, Id)                                             \
  REGISTER_KERNEL_BUILDER(                                                                 \
      Name("YdnnTopkScores").Device(DEV).TypeConstraint<T>("T").TypeConstraint<Id>("Tid"), \
      TopkScoresOp<DEVICE, T, Id, false>);                                                 \
  REGISTER_KERNEL_BUILDER(Name("YdnnTopkScoresResource")                                   \
                              .Device(DEV)                                                 \
                              .TypeConstraint<T>("T")                                      \
                              .TypeConstraint<Id>("Tid")                                   \
                              .HostMemory("table"),                                        \
                          TopkScoresOp<DEVICE, T, Id, true>);

YDNN_TF_REGISTER_TABLE_KERNELS(YDNN_REGISTER_TOPK)

}  // namespace tf
}  // namespace ydnn
