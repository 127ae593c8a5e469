// Fused score-and-top-k over a whole candidate table (exact retrieval).
//
// Maths (per query row b, candidate ids v in [min_id, V) minus the row's
// exclusion list E_b):
//   s[b, v]  = sum_d queries[b, d] * table[v, d]        (fp32 accumulation)
//   ids[b]   = the k ids v with the largest s[b, v], best first; equal
//              scores are ordered by lower id (what a stable sort of the
//              catalog by score would give, and what tf.math.top_k gives)
//   scores[b] = s[b, ids[b]]
// A row with fewer than k candidates left (exclusions) fills its last slots
// with id -1 and score -inf. A NaN score never enters a row's top k (a NaN
// row of the table is never returned), and neither does a -inf one.
//
// Shapes: queries [B, D] float32; table [V, D] float32 / float16 / bfloat16,
// read in place; exclusion lists ragged: values [N] (int32 or int64) with
// row_splits [B+1]; outputs scores [B, k] float32, ids [B, k] int64.
// Nothing [B, V] is formed: candidates are scored a tile at a time and each
// row keeps a running top k.
// Floor: the table read once per call, V D s bytes (s = 4 or 2), or the
// 2 B V D flops of the scores, whichever takes longer. One query is bound
// by memory, a batch of hundreds by the multiply-adds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/parallel.h"
#include "common/status.h"
#include "common/types.h"

namespace ydnn {

struct TopkArgs {
  const float* queries = nullptr;  // [B, D]
  int64_t num_queries = 0;         // B
  int64_t dim = 0;                 // D
  const void* table = nullptr;     // [V, D] of table_dtype
  DType table_dtype = DType::kFloat32;
  int64_t num_rows = 0;  // V
  int64_t k = 0;
  int64_t min_id = 0;                       // ids below it are never returned
  const void* exclude = nullptr;            // [N] of exclude_type, or nullptr
  IdType exclude_type = IdType::kInt64;     //
  const int64_t* exclude_splits = nullptr;  // [B+1] when exclude is given
  int64_t num_exclude = 0;                  // N
};

// Shapes of the op's inputs, as the adapters see them.
struct TopkShapes {
  std::vector<int64_t> queries;         // [B, D]
  std::vector<int64_t> table;           // [V, D]
  std::vector<int64_t> exclude;         // [N] when has_exclude
  std::vector<int64_t> exclude_splits;  // [B+1] when has_exclude
};

// Checks that the shapes fit together and that k and min_id are in range,
// and fills the size fields of `a` (pointers and dtypes stay the caller's).
// Both the TensorFlow and the Python adapters call it, so they fail alike:
// k must be in [1, V - min_id], min_id in [0, V).
Status topk_scores_shapes(const TopkShapes& s, bool has_exclude, int64_t k, int64_t min_id,
                          TopkArgs* a);

// ---------------------------------------------------------------- CPU ----
// Host memory. Validates what it reads: exclude_splits must run
// non-decreasing from 0 to N, exclusion ids must lie in [0, V), queries
// must be finite (a NaN query scores every candidate NaN); each gives
// InvalidArgument naming the argument, the position and the value.
// scores: [B, k]; ids: [B, k].
Status topk_scores_cpu(const TopkArgs& a, float* scores, int64_t* ids, const ParallelFor& parallel);

// --------------------------------------------------------------- CUDA ----
// Device memory for every pointer in TopkArgs and the outputs; `stream` is a
// cudaStream_t. Defined only in a CUDA build (YDNN_WITH_CUDA).
//
// The caller allocates `workspace` of topk_scores_workspace_cuda(a) bytes
// (per-block partial top-k lists; 0 is a valid size). Bad input (an
// exclusion id outside [0, V), exclude_splits out of order, a non-finite
// query) is recorded in `error` (device int64[2]: kind, position; set to
// -1 by the call) instead of read out of bounds; the caller then calls
// topk_scores_check_error_cuda, which synchronises the stream once and
// returns the same InvalidArgument as the CPU path. error == nullptr skips
// the check and the sync: bad exclusion ids are then ignored.
size_t topk_scores_workspace_cuda(const TopkArgs& a);
Status topk_scores_cuda(const TopkArgs& a, void* workspace, size_t workspace_bytes, float* scores,
                        int64_t* ids, int64_t* error, void* stream);
Status topk_scores_check_error_cuda(const TopkArgs& a, const int64_t* error, void* stream);

}  // namespace ydnn
