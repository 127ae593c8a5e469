// Pieces shared by the CPU translation units of sampled_softmax (not public).
#pragma once

#include <cstdint>

#include "sampled_softmax/sampled_softmax.h"

namespace ydnn {
namespace softmax_detail {

// The vector loops, compiled once per ISA (sampled_softmax_cpu_{scalar,avx2,
// avx512}.cc) and chosen at run time by cpu_isa(). Each works on one tile of
// candidate columns against one block of block_rows query rows, in the
// layouts described in sampled_softmax_cpu_kernels.h (d padded to a
// multiple of d_align, columns in groups of col_group).
struct SoftmaxCpuKernels {
  int block_rows, col_group, d_align;
  // qt [d_align-padded D][block_rows] = the block's first `rows` query rows
  // (row-major, D wide) transposed, zero elsewhere.
  void (*pack_query)(const float* q, int64_t rows, int64_t D, int64_t dp, float* qt);
  // z [groups * col_group][block_rows] = (qt . tile - logq) * inv_t.
  void (*logits)(const float* qt, const float* tile, int64_t groups, int64_t dp, const float* logq,
                 float inv_t, float* z);
  // Folds the first `cols` columns of z into the rows' running (max, sum).
  void (*lse_update)(const float* z, int64_t cols, float* m, float* s);
  // The backward's dz = g * exp(z - lse) for `cols` columns (0 beyond),
  // computed with the logits; masked columns are the caller's to zero.
  void (*logits_dz)(const float* qt, const float* tile, int64_t groups, int64_t dp,
                    const float* logq, float inv_t, const float* lse, const float* g, int64_t cols,
                    float* dz);
  // dqt [dp][block_rows] += dz . tile;  dct [groups * col_group][dp] += dz^T . qr.
  void (*dq)(const float* dz, const float* tile, int64_t groups, int64_t dp, float* dqt);
  void (*dc)(const float* dz, const float* qr, int64_t groups, int64_t dp, float* dct);
};

const SoftmaxCpuKernels& softmax_kernels_scalar();
const SoftmaxCpuKernels& softmax_kernels_avx2();
const SoftmaxCpuKernels& softmax_kernels_avx512();

}  // namespace softmax_detail
}  // namespace ydnn
