// Fused sampled softmax cross-entropy: logits, logQ correction, accidental
// hits, temperature and the loss in one pass, with a backward that
// recomputes instead of keeping a [B, 1+J] tensor.
//
// Shapes: query q [B, D] float32; table C [V, D] (float32, float16 or
// bfloat16, read in place); positive ids pos [B]; sampled ids s [S] shared by
// the batch; true_ec [B], sampled_ec [S] (expected counts from the sampler).
// The shared candidate columns are, in order,
//   in_batch = false:  col = s                         J = S
//   in_batch = true:   col = (pos[0..B), s)            J = B + S
// with logQ_j = log(true_ec[j]) for an in-batch column j < B and
// log(sampled_ec[j - B]) (resp. [j]) for a sampled one.
//
// Per row b, in this order (the docstring of the Python op repeats it):
//   z_pos  = q_b . C[pos_b] - log(true_ec_b)
//   z_j    = q_b . C[col_j] - logQ_j                  j in [0, J)
//   masked: z_j = -inf when col_j == pos_b and either the column is in-batch
//           (the row's own positive and its duplicates, always) or
//           remove_accidental_hits; its probability is then exactly 0
//   z     /= temperature
//   lse_b  = logsumexp(z_pos, z_0 .. z_{J-1});   loss_b = lse_b - z_pos
// Backward with upstream g_b and p = exp(z - lse_b):
//   dz_j = g_b p_j / T,   dz_pos = g_b (p_pos - 1) / T
//   dq_b = dz_pos C[pos_b] + sum_j dz_j C[col_j]
//   dC[id] = sum over (b, column) whose id is `id` of dz q_b
// returned as rows of the U sorted unique ids of pos ∪ s (duplicates summed).
//
// Compute precision (compute_dtype): float32 takes every product's inputs
// as given (a 16-bit table widened exactly). bfloat16 is what Keras's
// mixed_bfloat16 does for a matmul: every product takes its inputs rounded
// to bfloat16 (to nearest, ties to even) and accumulates in float32. That
// is q and C in the logits (forward, and the backward's recompute), and in
// the backward dz (dz_pos included), C and q in dq = dz C and dC = dz q.
// Products of two bfloat16 values are exact in float32, so a float32 FMA on
// rounded inputs computes what a bfloat16 dot instruction does (up to the
// order of the sums); the logsumexp, the loss, dz itself and every sum stay
// float32, and the outputs keep their dtypes (grad_query float32,
// grad_rows the table's).
//
// Work: 2·B·J·D flops forward, 6·B·J·D backward (recompute, dq, dC).
// Bytes that must move: the J + B candidate rows ((J + B)·D·sizeof(T),
// read from memory once (on the CPU once per work item when the split is by
// columns, once in all when it is by rows) and from cache per row block),
// q and dq (B·D·4), the U gradient rows (U·D·4). The logits [B, 1+J] are
// written only on request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/parallel.h"
#include "common/status.h"
#include "common/types.h"

namespace ydnn {

struct SoftmaxArgs {
  int64_t batch = 0;        // B
  int64_t dim = 0;          // D
  int64_t num_rows = 0;     // V
  int64_t num_sampled = 0;  // S
  const float* query = nullptr;
  const void* table = nullptr;
  DType table_dtype = DType::kFloat32;
  const void* positive_ids = nullptr;
  IdType positive_id_type = IdType::kInt64;
  const void* sampled_ids = nullptr;
  IdType sampled_id_type = IdType::kInt64;
  const float* true_expected_count = nullptr;     // [B]
  const float* sampled_expected_count = nullptr;  // [S]
  float temperature = 1.f;
  bool remove_accidental_hits = true;
  bool in_batch = false;
  DType compute_dtype = DType::kFloat32;  // kFloat32 or kBFloat16 (see above)

  int64_t num_columns() const { return num_sampled + (in_batch ? batch : 0); }
};

// Shapes of (query, table, positive_ids, sampled_ids, true_expected_count,
// sampled_expected_count): sets B, D, V, S in `a`, or names the input whose
// shape is wrong.
Status sampled_softmax_shapes(const std::vector<std::vector<int64_t>>& dims, SoftmaxArgs* a);

// Checks the scalar arguments (sizes >= 0, V >= 1, temperature > 0 and
// finite, compute_dtype float32 or bfloat16); the host entry points also
// check ids and expected counts.
Status sampled_softmax_check(const SoftmaxArgs& a);

// "float32" or "bfloat16" (the op attribute and the Python argument) into
// `out`; otherwise an InvalidArgument naming compute_dtype and the value.
Status parse_compute_dtype(const std::string& name, DType* out);

// The error for expected count `value` at `name`[i] (not > 0, or not
// finite), the same text on the CPU and the GPU. A count of 0 is what a
// sampler reports for an id it can never draw, most often a positive below
// its range (padding id 0 with min_sampled_id = 1), so the text says so.
Status bad_expected_count(const char* name, int64_t i, float value);

// Everything derived from the ids and counts that both passes need, built
// once per call on the host: column ids and logQ, per-row masked columns,
// and for the backward the sorted unique ids with, for each, the columns and
// the rows whose positive it is (what the gradient reduction sums).
// Buffers are reused from call to call by whoever keeps the plan.
class SoftmaxPlan {
 public:
  // Validates ids (in [0, V)) and expected counts (> 0, finite), naming the
  // argument, index and value on failure.
  Status build(const SoftmaxArgs& a, bool with_unique);

  int64_t num_columns() const { return static_cast<int64_t>(col_id_.size()); }
  int64_t num_unique() const { return static_cast<int64_t>(unique_.size()); }

  std::vector<int64_t> col_id_, pos_id_;
  std::vector<float> col_logq_, pos_logq_;
  std::vector<int64_t> hit_start_;                       // [B + 1] CSR over hit_col_
  std::vector<int32_t> hit_col_;                         // masked columns of each row, ascending
  std::vector<std::pair<int64_t, int32_t>> cols_by_id_;  // (id, column), sorted
  // Backward only: unique_[u] owns cols_by_id_[col_start_[u], col_start_[u+1])
  // and pos_by_id_[pos_start_[u], pos_start_[u+1]).
  std::vector<int64_t> unique_;
  std::vector<std::pair<int64_t, int32_t>> pos_by_id_;  // (id, row), sorted
  std::vector<int64_t> col_start_, pos_start_;
};

// ---------------------------------------------------------------- CPU ----
// loss, lse: [B]. logits: [B, 1 + J] (column 0 the positive) or nullptr.
// Fails with InvalidArgument when a row's loss is not finite (a scaled logit
// beyond float32, or inf/NaN in query or table).
Status sampled_softmax_forward_cpu(const SoftmaxArgs& a, const SoftmaxPlan& plan, float* loss,
                                   float* lse, float* logits, const ParallelFor& parallel);

// grad_loss, lse: [B]; grad_query: [B, D]; unique_ids: [U] (U =
// plan.num_unique(), plan built with_unique); grad_rows: [U, D] of the
// table's dtype, accumulated in float32.
Status sampled_softmax_backward_cpu(const SoftmaxArgs& a, const SoftmaxPlan& plan, const float* lse,
                                    const float* grad_loss, float* grad_query, int64_t* unique_ids,
                                    void* grad_rows, const ParallelFor& parallel);

// --------------------------------------------------------------- CUDA ----
// Pointers in SoftmaxArgs and the outputs are device memory; `stream` is a
// cudaStream_t; `workspace` is caller-allocated device memory of at least
// the size the matching *_workspace_cuda returns. Defined only in a CUDA
// build (YDNN_WITH_CUDA). The semantics, order and messages are the CPU's:
// ids and expected counts are checked on the device (a bad id is read as row
// 0 and never dereferenced), and the one host sync of each call reads the
// first bad index back and returns the CPU's InvalidArgument.
//
// Forward: loss, lse [B]; logits [B, 1 + J] or nullptr. One sync (the
// checks, including the CPU's "loss of row b is not finite").
size_t sampled_softmax_forward_workspace_cuda(const SoftmaxArgs& a);
Status sampled_softmax_forward_cuda(const SoftmaxArgs& a, void* workspace, size_t workspace_bytes,
                                    float* loss, float* lse, float* logits, void* stream);

// Backward, in two steps like embedding_pool's, since U sizes two outputs:
// the plan checks ids and counts and sorts the ids of pos ∪ columns (one
// sync, which returns U); the fill writes grad_query [B, D], unique_ids [U]
// (ascending) and grad_rows [U, D] of the table's dtype. The fill reads what
// the plan left in the workspace: pass it the same workspace and arguments.
// Deterministic: every sum runs in a fixed order, no float atomics.
size_t sampled_softmax_backward_workspace_cuda(const SoftmaxArgs& a);
Status sampled_softmax_backward_plan_cuda(const SoftmaxArgs& a, void* workspace,
                                          size_t workspace_bytes, int64_t* num_unique,
                                          void* stream);
Status sampled_softmax_backward_cuda(const SoftmaxArgs& a, void* workspace, size_t workspace_bytes,
                                     int64_t num_unique, const float* lse, const float* grad_loss,
                                     float* grad_query, int64_t* unique_ids, void* grad_rows,
                                     void* stream);

}  // namespace ydnn
