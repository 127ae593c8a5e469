// TensorFlow op YdnnSparseApply: one sparse optimizer step (SGD, Adagrad,
// row-wise Adagrad, lazy Adam; see csrc/sparse_optim/sparse_optim.h) applied
// in place to a resource variable and its slot variables.
//
// Like TF's ResourceSparseApply* ops it takes the variables' handles, never
// a dense copy: the table and slots are looked up, locked in address order
// (exclusively: concurrent steps on one table serialise instead of racing),
// switched to copy-on-read mode (so a dense read elsewhere copies instead of
// aliasing the buffer we write), and updated where they live. A buffer still
// shared with an earlier read is copied once first, as TF does.
//
// lr and step are tensors read every step (learning-rate schedules, the
// optimizer's iteration counter), in host memory on the GPU.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "sparse_optim/sparse_optim.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tf/tf_adapter.h"

namespace ydnn {
namespace tf {

REGISTER_OP("YdnnSparseApply")
    .Input("var: resource")
    .Input("slots: num_slots * resource")
    .Input("indices: Tindices")
    .Input("values: T")
    .Input("lr: float")
    .Input("step: int64")
    .Attr("kind: {'sgd', 'adagrad', 'rowwise_adagrad', 'lazy_adam'}")
    .Attr("num_slots: int >= 0")
    .Attr("T: {float, half, bfloat16}")
    .Attr("Tindices: {int32, int64}")
    .Attr("weight_decay: float = 0.0")
    .Attr("epsilon: float = 1e-7")
    .Attr("beta_1: float = 0.9")
    .Attr("beta_2: float = 0.999")
    .Attr("stochastic_rounding: bool = false")
    .Attr("seed: int = 0")
    .Attr("indices_unique: bool = false")
    .Attr("validate_indices: bool = true")
    .SetShapeFn(::tensorflow::shape_inference::NoOutputs)
    .Doc(
        "Sparse optimizer step on the rows of `var` named by `indices`, in place; "
        "see ydnn_kernels.sparse_apply.");

namespace {

OptimKind ParseKind(const std::string& k) {
  if (k == "sgd") return OptimKind::kSgd;
  if (k == "adagrad") return OptimKind::kAdagrad;
  if (k == "rowwise_adagrad") return OptimKind::kRowWiseAdagrad;
  return OptimKind::kLazyAdam;
}

std::vector<int64_t> Dims(const Tensor& t) {
  const auto d = t.shape().dim_sizes();
  return std::vector<int64_t>(d.begin(), d.end());
}

// The table and slot variables, locked for the duration of Compute.
class LockedVars {
 public:
  absl::Status Acquire(OpKernelContext* ctx, int num_slots) {
    for (int i = 0; i <= num_slots; ++i) {
      tensorflow::core::RefCountPtr<tensorflow::Var> v;
      TF_RETURN_IF_ERROR(LookupResource(ctx, tensorflow::HandleFromInput(ctx, i), &v));
      vars_.push_back(std::move(v));
    }
    std::vector<tsl::mutex*> mus;
    for (auto& v : vars_) mus.push_back(v->mu());
    std::sort(mus.begin(), mus.end());
    mus.erase(std::unique(mus.begin(), mus.end()), mus.end());
    for (tsl::mutex* mu : mus) locks_.push_back(std::make_unique<tsl::mutex_lock>(*mu));
    return absl::OkStatus();
  }
  tensorflow::Var* var(int i) const { return vars_[i].get(); }

 private:
  std::vector<tensorflow::core::RefCountPtr<tensorflow::Var>> vars_;
  std::vector<std::unique_ptr<tsl::mutex_lock>> locks_;
};

}  // namespace

template <typename Device, typename T, typename Id>
class SparseApplyOp : public OpKernel {
 public:
  explicit SparseApplyOp(OpKernelConstruction* c) : OpKernel(c) {
    std::string kind;
    OP_REQUIRES_OK(c, c->GetAttr("kind", &kind));
    kind_ = ParseKind(kind);
    OP_REQUIRES_OK(c, c->GetAttr("num_slots", &num_slots_));
    OP_REQUIRES(
        c, num_slots_ == sparse_optim_num_slots(kind_),
        absl::InvalidArgumentError(absl::StrCat(kind, " takes ", sparse_optim_num_slots(kind_),
                                                " slot variable(s), got ", num_slots_)));
    OP_REQUIRES_OK(c, c->GetAttr("weight_decay", &hyper_.weight_decay));
    OP_REQUIRES_OK(c, c->GetAttr("epsilon", &hyper_.epsilon));
    OP_REQUIRES_OK(c, c->GetAttr("beta_1", &hyper_.beta1));
    OP_REQUIRES_OK(c, c->GetAttr("beta_2", &hyper_.beta2));
    OP_REQUIRES_OK(c, c->GetAttr("stochastic_rounding", &hyper_.stochastic_rounding));
    int64_t seed = 0;
    OP_REQUIRES_OK(c, c->GetAttr("seed", &seed));
    hyper_.seed = static_cast<uint64_t>(seed);
    OP_REQUIRES_OK(c, c->GetAttr("indices_unique", &indices_unique_));
    OP_REQUIRES_OK(c, c->GetAttr("validate_indices", &validate_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& indices = ctx->input(num_slots_ + 1);
    const Tensor& values = ctx->input(num_slots_ + 2);
    const Tensor& lr = ctx->input(num_slots_ + 3);
    const Tensor& step = ctx->input(num_slots_ + 4);
    OP_REQUIRES(ctx, lr.NumElements() == 1 && step.NumElements() == 1,
                absl::InvalidArgumentError(absl::StrCat("lr and step must be scalars, got shapes ",
                                                        lr.shape().DebugString(), " and ",
                                                        step.shape().DebugString())));
    OptimHyper h = hyper_;
    h.lr = lr.flat<float>()(0);
    h.step = step.flat<int64_t>()(0);

    LockedVars vars;
    OP_REQUIRES_OK(ctx, vars.Acquire(ctx, num_slots_));
    SparseOptimShapes shapes;
    for (int i = 0; i <= num_slots_; ++i) {
      tensorflow::Var* v = vars.var(i);
      const char* what = i == 0 ? "var" : "slot";
      OP_REQUIRES(ctx, v->is_initialized,
                  absl::FailedPreconditionError(absl::StrCat(what, " ", i, " is not initialized")));
      const tensorflow::DataType want =
          i == 0 ? tensorflow::DataTypeToEnum<T>::v() : tensorflow::DT_FLOAT;
      OP_REQUIRES(ctx, v->tensor()->dtype() == want,
                  absl::InvalidArgumentError(absl::StrCat(
                      i == 0 ? "var" : "slot variables", " must be ", DataTypeString(want),
                      ", got ", DataTypeString(v->tensor()->dtype()), " (input ", i, ")")));
      OP_REQUIRES_OK(ctx, PrepareInPlace(ctx, v));
      if (i == 0)
        shapes.table = Dims(*v->tensor());
      else
        shapes.slots.push_back(Dims(*v->tensor()));
    }
    shapes.ids = Dims(indices);
    shapes.grad = Dims(values);
    SparseOptimArgs a;
    OP_REQUIRES_OK(ctx, ToTf(sparse_optim_check(shapes, h, kind_, &a)));
    a.table = vars.var(0)->tensor()->data();
    a.table_dtype = DTypeOf<T>::value;
    a.slot0 = num_slots_ > 0 ? vars.var(1)->tensor()->flat<float>().data() : nullptr;
    a.slot1 = num_slots_ > 1 ? vars.var(2)->tensor()->flat<float>().data() : nullptr;
    a.ids = indices.data();
    a.id_type = IdTypeOf<Id>::value;
    a.grad = values.data();
    a.ids_unique = indices_unique_;
    if constexpr (kOnCpu<Device>) {
      OP_REQUIRES_OK(ctx, ToTf(sparse_optim_apply_cpu(a, TfParallelFor(ctx))));
    } else {
#if defined(YDNN_WITH_CUDA)
      void* stream = GpuStream(ctx);
      Tensor workspace, error;
      const size_t bytes = sparse_optim_workspace_cuda(a);
      OP_REQUIRES_OK(ctx, AllocateWorkspace(ctx, bytes, &workspace));
      int64_t* error_ptr = nullptr;
      if (validate_) {
        OP_REQUIRES_OK(ctx, ctx->allocate_temp(tensorflow::DT_INT64, TensorShape({1}), &error));
        error_ptr = error.flat<int64_t>().data();
      }
      OP_REQUIRES_OK(ctx,
                     ToTf(sparse_optim_apply_cuda(a, workspace.data(), bytes, error_ptr, stream)));
      if (validate_) OP_REQUIRES_OK(ctx, ToTf(sparse_optim_check_error_cuda(a, error_ptr, stream)));
#endif
    }
  }

 private:
  // TF's EnsureSparseVariableAccess: a buffer shared with a live read is
  // copied once, and the variable goes copy-on-read so later dense reads copy
  // instead of aliasing what this op writes in place.
  absl::Status PrepareInPlace(OpKernelContext* ctx, tensorflow::Var* v) {
    Tensor* t = v->tensor();
    if (!t->RefCountIsOne()) {
      Tensor copy;
      tsl::AllocatorAttributes attr;
      attr.set_gpu_compatible(true);
      TF_RETURN_IF_ERROR(ctx->allocate_temp(t->dtype(), t->shape(), &copy, attr));
      const size_t bytes = t->TotalBytes();
      if constexpr (kOnCpu<Device>) {
        if (bytes) std::memcpy(copy.data(), t->data(), bytes);
      } else {
#if defined(YDNN_WITH_CUDA)
        TF_RETURN_IF_ERROR(
            ToTf(sparse_optim_copy_cuda(copy.data(), t->data(), bytes, GpuStream(ctx))));
#endif
      }
      *t = copy;
    }
    v->copy_on_read_mode.store(true);
    return absl::OkStatus();
  }

  OptimKind kind_;
  int num_slots_ = 0;
  OptimHyper hyper_;
  bool indices_unique_ = false, validate_ = true;
};

#define YDNN_REGISTER_SPARSE_APPLY(DEV, DEVICE, T, Id)        \
  REGISTER_KERNEL_BUILDER(Name("YdnnSparseApply")             \
                              .Device(DEV)                    \
                              .TypeConstraint<T>("T")         \
                              .TypeConstraint<Id>("Tindices") \
                              .HostMemory("lr")               \
                              .HostMemory("step"),            \
                          SparseApplyOp<DEVICE, T, Id>);

YDNN_TF_REGISTER_TABLE_KERNELS(YDNN_REGISTER_SPARSE_APPLY)

}  // namespace tf
}  // namespace ydnn
