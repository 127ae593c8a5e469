// Pieces shared by the CPU translation units of sampled_softmax (not public).
#pragma once

#include <cstdint>

#include "sampled_softmax/sampled_softmax.h"

namespace ydnn {
namespace softmax_detail {

// What the per-ISA loops read: float32 rows by pointer (in place for a
// float32 table, widened once per call for 16-bit ones) and the plan.
struct SoftmaxView {
  int64_t batch, dim, num_columns;
  float inv_temperature;
  const float* query;             // [B, D]
  const float* const* col_row;    // [J] -> D floats
  const float* const* pos_row;    // [B] -> D floats
  const float* col_logq;          // [J]
  const float* pos_logq;          // [B]
  const int64_t* hit_start;       // [B + 1]
  const int32_t* hit_col;
};

// The vector loops, compiled once per ISA (sampled_softmax_cpu_{scalar,avx2,
// avx512}.cc) and chosen at run time by cpu_isa(). Work is split in blocks
// of block_rows rows (the rows of a block sit in vector lanes).
struct SoftmaxCpuKernels {
  int block_rows;
  // loss, lse (and logits when not null) of the rows of blocks [begin, end).
  // Returns the first row whose loss is not finite, or -1.
  int64_t (*forward)(const SoftmaxView& v, float* loss, float* lse, float* logits,
                     int64_t begin, int64_t end);
  // grad_query and dz_pos [B] of the rows of blocks [begin, end); their
  // table gradient for column j is added to partial[j * D, (j + 1) * D).
  void (*backward)(const SoftmaxView& v, const float* lse, const float* grad_loss,
                   float* grad_query, float* dz_pos, float* partial, int64_t begin,
                   int64_t end);
};

const SoftmaxCpuKernels& softmax_kernels_scalar();
const SoftmaxCpuKernels& softmax_kernels_avx2();
const SoftmaxCpuKernels& softmax_kernels_avx512();

}  // namespace softmax_detail
}  // namespace ydnn
