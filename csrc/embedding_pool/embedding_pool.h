// Fused embedding gather + pool, with a sparse backward.
//
// Maths (per bag b with ids i_1..i_n and weights w_1..w_n, w = 1 if absent):
//   out[b] = s_b * sum_j w_j * table[i_j]
//   s_b = 1                      combiner "sum"
//       = 1 / sum_j w_j          combiner "mean"
//       = 1 / sqrt(sum_j w_j^2)  combiner "sqrtn"
//   and s_b = 0 when its denominator is 0 (an empty bag pools to zeros, never NaN).
// Backward, given g = dLoss/dout [B, D]:
//   dtable[v]  = sum over (b, j) with i_j = v of s_b * w_j * g[b]       (sparse)
//   dw_j (sum)   = g[b] . table[i_j]
//   dw_j (mean)  = s_b * (g[b] . table[i_j] - g[b] . out[b])
//   dw_j (sqrtn) = s_b * g[b] . table[i_j] - s_b^2 * w_j * (g[b] . out[b])
// dtable is returned as (unique_ids ascending [U], rows [U, D]): no dense
// [V, D] tensor and no [B*L, D] intermediate is ever formed.
//
// Shapes: table [V, D]; ids padded [B, L] or ragged values [N]; out [B, D].
// Bytes a forward must move: B*L_avg*D*s (row reads; Zipf ids hit cache)
// + B*D*s (write) + B*L*sizeof(id). The backward reads g once per id
// occurrence and writes U*D*s.
//
// Layouts. Padded (row_splits == nullptr): bag b is ids[b*L, b*L + len_b)
// with len_b = lengths[b]; positions past len_b are never read, so any
// padding value is allowed. Ragged (row_splits != nullptr): bag b is
// ids[row_splits[b], row_splits[b+1]). Weights, when given, share the ids'
// layout element for element. Offsets are int64: B*L and B*D can exceed
// INT_MAX for production batch and table sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/parallel.h"
#include "common/status.h"
#include "common/types.h"

namespace ydnn {

enum class Combiner : int { kSum = 0, kMean = 1, kSqrtn = 2 };

struct PoolArgs {
  const void* table = nullptr;  // [num_rows, dim] of table_dtype
  DType table_dtype = DType::kFloat32;
  int64_t num_rows = 0;       // V
  int64_t dim = 0;            // D
  const void* ids = nullptr;  // of id_type
  IdType id_type = IdType::kInt64;
  int64_t num_bags = 0;                 // B
  int64_t max_len = 0;                  // L (padded layout only)
  int64_t num_values = 0;               // number of elements of ids: B*L padded, N ragged
  const int64_t* lengths = nullptr;     // padded: [B], required
  const int64_t* row_splits = nullptr;  // ragged: [B+1]; selects the layout
  const float* weights = nullptr;       // optional, [num_values]
  Combiner combiner = Combiner::kMean;

  bool ragged() const { return row_splits != nullptr; }
};

// Shapes of the op's inputs, as the adapters see them.
struct PoolShapes {
  std::vector<int64_t> table;     // [V, D]
  std::vector<int64_t> ids;       // [B, L] padded or [N] ragged
  std::vector<int64_t> row_info;  // lengths [B] or row_splits [B+1]
  std::vector<int64_t> weights;   // ids' shape when has_weights
};

// Checks that the shapes fit together and fills the size fields of `a`
// (pointers, dtypes and the combiner stay the caller's to set). Both the
// TensorFlow and the Python adapters call this, so they fail alike.
Status embedding_pool_shapes(const PoolShapes& s, bool ragged, bool has_weights, PoolArgs* a);

// ---------------------------------------------------------------- CPU ----
// Pointers are host memory. Every function validates what it reads: ids
// outside [0, V), lengths outside [0, L], row_splits that are not a
// non-decreasing run from 0 to N give InvalidArgument naming the argument,
// the position and the value.

// Checks shapes and lengths / row_splits (not ids: the kernels check those as
// they read them, so valid input pays for one pass only).
Status embedding_pool_check_layout(const PoolArgs& a);

// out: [B, D] of table_dtype.
Status embedding_pool_forward_cpu(const PoolArgs& a, void* out, const ParallelFor& parallel);

// The backward needs the number of unique ids before its outputs can be
// allocated, so it runs in two steps: plan (sort ids, find runs), then fill.
// A plan's buffers are reused by the next plan on the same object: adapters
// keep one per thread, so steady-state training allocates (and page-faults)
// nothing.
class PoolGradPlan {
 public:
  int64_t num_unique() const { return static_cast<int64_t>(run_starts_.size()) - 1; }

 private:
  friend Status embedding_pool_backward_plan_cpu(const PoolArgs&, PoolGradPlan*,
                                                 const ParallelFor&);
  friend Status embedding_pool_backward_cpu(const PoolArgs&, const PoolGradPlan&, const void*,
                                            const void*, void*, void*, float*, const ParallelFor&);
  std::vector<uint64_t> sorted_;     // id << 32 | occurrence, ascending (stable)
  std::vector<uint64_t> scratch_;    // radix sort ping-pong buffer
  std::vector<int32_t> occ_bag_;     // bag of each occurrence
  std::vector<int32_t> sorted_bag_;  // bag of each sorted entry (sequential in the fill)
  std::vector<int64_t> occ_start_;   // [B+1] first occurrence of each bag
  std::vector<int64_t> run_starts_;  // [U+1] boundaries of equal-id runs
};

Status embedding_pool_backward_plan_cpu(const PoolArgs& a, PoolGradPlan* plan,
                                        const ParallelFor& parallel);

// grad_out, out: [B, D] of table_dtype (out is the forward result, read only
// for weight gradients under mean/sqrtn). unique_ids: [U] of id_type;
// grad_rows: [U, D] of table_dtype; grad_weights: [num_values] or nullptr.
Status embedding_pool_backward_cpu(const PoolArgs& a, const PoolGradPlan& plan,
                                   const void* grad_out, const void* out, void* unique_ids,
                                   void* grad_rows, float* grad_weights,
                                   const ParallelFor& parallel);

// --------------------------------------------------------------- CUDA ----
// Pointers in PoolArgs and the outputs are device memory; `stream` is a
// cudaStream_t. Defined only in a CUDA build (YDNN_WITH_CUDA).
//
// Out-of-range policy on the GPU: kernels check every id and length they
// read; a bad one contributes nothing and its position is recorded in
// `error` (device int64[2]: first bad id position, first bad bag). The
// caller then calls embedding_pool_check_error_cuda, which synchronises the
// stream once and returns the same InvalidArgument message as the CPU path.
// Passing error == nullptr skips the check and the sync: bad ids then pool
// as zero rows (stock TF's GPU behaviour), an explicit opt-in only.
Status embedding_pool_forward_cuda(const PoolArgs& a, void* out, int64_t* error, void* stream);
Status embedding_pool_check_error_cuda(const PoolArgs& a, const int64_t* error, void* stream);

// Backward: sort (id, position) pairs with cub radix sort (deterministic),
// run-length encode, then one warp per unique id sums its rows in a fixed
// order. Workspace is caller-allocated device memory.
size_t embedding_pool_backward_workspace_cuda(const PoolArgs& a);
// Sorts and counts unique ids; synchronises once to return the count.
Status embedding_pool_backward_plan_cuda(const PoolArgs& a, void* workspace, size_t workspace_bytes,
                                         int64_t* num_unique, void* stream);
Status embedding_pool_backward_cuda(const PoolArgs& a, const void* workspace, int64_t num_unique,
                                    const void* grad_out, const void* out, void* unique_ids,
                                    void* grad_rows, float* grad_weights, void* stream);

}  // namespace ydnn
