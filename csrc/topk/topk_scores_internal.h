// Pieces shared by the translation units of topk_scores (not public).
#pragma once

#include <cstdint>

#include "common/stochastic_round.h"
#include "topk/topk_scores.h"

namespace ydnn {
namespace topk_detail {

// What bad input a check found; the CUDA path records it in its error
// buffer as {kind, position} and the host turns it into the message.
enum class BadKind : int64_t { kQuery = 1, kSplits = 2, kExcludeId = 3 };

// The InvalidArgument for a bad value at `pos` (a flat index into queries,
// row_splits or the exclusion values).
Status bad_value(const TopkArgs& a, BadKind kind, int64_t pos, double value);

// Host-side validation of the queries and the exclusion lists.
Status check_host(const TopkArgs& a);

inline int64_t exclude_id(const TopkArgs& a, int64_t i) {
  return a.exclude_type == IdType::kInt32 ? static_cast<const int32_t*>(a.exclude)[i]
                                          : static_cast<const int64_t*>(a.exclude)[i];
}

// The vector loops, compiled once per ISA (topk_scores_cpu_{scalar,avx2,
// avx512}.cc) and chosen at run time by cpu_isa(). Layouts:
//   qt   [D][rows]   a block of query rows transposed (rows in lanes;
//                    rows = lanes or 2 * lanes, zero past the last row)
//   cand [n][D]      candidate rows, float32, row-major (the table itself
//                    when it is float32; a widened copy otherwise)
//   z    [n][rows]   their scores, a candidate's rows in lanes
//   thr  [rows]      each row's current k-th score (+inf on padding rows)
// scan_* score n = groups * cols candidates (cols = cols1 or cols2) and
// list the groups holding a score above its row's threshold (ascending,
// in hits) with their scores (z [listed][cols][rows]) and, per candidate,
// the bit set of rows it beats (rows_above [listed][cols]); they return how
// many are listed. Only those need the scalar pass.
// dot scores groups of `lanes` rows of the table itself (any dtype; D a
// multiple of lanes) against one query q [D], listing the same way with
// z [listed][lanes] and rows_above [listed] (bit c: candidate c).
struct TopkCpuKernels {
  int lanes;
  int cols1, cols2;  // candidates per group of the 1- and 2-vector blocks
  int64_t (*scan1)(const float* qt, const float* cand, int64_t groups, int64_t D, const float* thr,
                   int32_t* hits, float* z, uint32_t* rows_above);
  int64_t (*scan2)(const float* qt, const float* cand, int64_t groups, int64_t D, const float* thr,
                   int32_t* hits, float* z, uint32_t* rows_above);
  int64_t (*dot)(const float* q, const void* cand, DType dtype, int64_t groups, int64_t D,
                 float thr, int32_t* hits, float* z, uint32_t* rows_above);
  // dst [n] = src [n] widened from float16 / bfloat16 bits.
  void (*widen)(const uint16_t* src, bool bf16, int64_t n, float* dst);
};

const TopkCpuKernels& topk_kernels_scalar();
const TopkCpuKernels& topk_kernels_avx2();
const TopkCpuKernels& topk_kernels_avx512();

}  // namespace topk_detail
}  // namespace ydnn
