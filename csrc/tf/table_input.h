// The table input of ydnn's ops: a plain tensor, or a resource variable
// read in place under its shared lock. The resource form is what keeps a
// tf.Variable from being copied: after any sparse update TF marks a variable
// copy-on-read, and a dense ReadVariableOp would then copy the whole table
// on every step.
#pragma once

#include <optional>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"

namespace ydnn {
namespace tf {

// Holds the table for the duration of Compute: a tensor input, or a
// resource variable's tensor under a shared lock. `index` is the op input
// that holds it.
template <bool kResource>
class TableInput {
 public:
  absl::Status Acquire(::tensorflow::OpKernelContext* ctx, ::tensorflow::DataType dtype,
                       int index = 0) {
    if (!kResource) {
      table_ = &ctx->input(index);
      return absl::OkStatus();
    }
    TF_RETURN_IF_ERROR(LookupResource(ctx, ::tensorflow::HandleFromInput(ctx, index), &var_));
    lock_.emplace(*var_->mu());
    if (!var_->is_initialized)
      return absl::FailedPreconditionError("table: the variable is not initialized");
    if (var_->tensor()->dtype() != dtype)
      return absl::InvalidArgumentError(
          absl::StrCat("table: variable has dtype ", DataTypeString(var_->tensor()->dtype()),
                       " but the op was built for ", DataTypeString(dtype)));
    table_ = var_->tensor();
    return absl::OkStatus();
  }
  const ::tensorflow::Tensor& get() const { return *table_; }

 private:
  const ::tensorflow::Tensor* table_ = nullptr;
  ::tensorflow::core::RefCountPtr<::tensorflow::Var> var_;
  std::optional<tsl::tf_shared_lock> lock_;
};

}  // namespace tf
}  // namespace ydnn
