// Pieces shared by the CPU translation units of sampled_softmax (not public).
#pragma once

#include <cstdint>

#include "sampled_softmax/sampled_softmax.h"

namespace ydnn {
namespace softmax_detail {

// Column groups per tile: 96 columns at the float32 loops' 6 per group, 256
// at AMX's 16.
constexpr int64_t kTileGroups = 16;

// A packed tile of candidate columns: `groups` groups of col_group columns,
// [groups][dp][col_group] float32 (under compute_dtype bfloat16 holding the
// values rounded to bfloat16), their logQ (zero for padding columns), and
// `prep`, the same columns in the layouts a bfloat16 kernel set reads
// (prep_tile; null for the float32 sets).
struct TileView {
  const float* cols;
  const void* prep;
  const float* logq;
  int64_t groups;
};

// The vector loops, compiled once per ISA (sampled_softmax_cpu_{scalar,avx2,
// avx512}.cc, chosen at run time by cpu_isa()) and, for compute_dtype
// bfloat16 on CPUs that have bfloat16 dot products, once per such
// instruction set (sampled_softmax_cpu_{avx512_bf16,amx}.cc, chosen by
// cpu_bf16()). Each works on one tile of candidate columns against one
// block of block_rows query rows, in the layouts described in
// sampled_softmax_cpu_kernels.h (d padded to a multiple of d_align, columns
// in groups of col_group).
struct SoftmaxCpuKernels {
  int block_rows, col_group, d_align;
  // The block's first `rows` query rows (q row-major, D wide) packed for
  // the logits into qt and, unless qr is null (the forward), for dc into
  // qr; zero padded. Each buffer holds dp * block_rows floats; the float32
  // sets write qt [dp][block_rows] (transposed) and qr [block_rows][dp].
  void (*pack_query)(const float* q, int64_t rows, int64_t D, int64_t dp, float* qt, float* qr);
  // tile.prep (room for T * dp floats) from tile.cols; null if unused.
  void (*prep_tile)(const float* cols, int64_t groups, int64_t dp, void* prep);
  // z [groups * col_group][block_rows] = (qt . tile - logq) * inv_t.
  void (*logits)(const float* qt, const TileView& tile, int64_t dp, float inv_t, float* z);
  // Folds the first `cols` columns of z into the rows' running (max, sum).
  void (*lse_update)(const float* z, int64_t cols, float* m, float* s);
  // The backward's dz = g * exp(z - lse) for `cols` columns (0 beyond),
  // computed with the logits, rounded to bfloat16 when round_dz; masked
  // columns are the caller's to zero.
  void (*logits_dz)(const float* qt, const TileView& tile, int64_t dp, float inv_t,
                    const float* lse, const float* g, int64_t cols, bool round_dz, float* dz);
  // dqt [dp][block_rows] += dz . tile;  dct [groups * col_group][dp] += dz^T . qr.
  void (*dq)(const float* dz, const TileView& tile, int64_t dp, float* dqt);
  void (*dc)(const float* dz, const float* qr, int64_t groups, int64_t dp, float* dct);
  // Completes the dc calls of the current tile into dct, for a set whose dc
  // defers its work (AMX); null when dc writes dct at once.
  void (*dc_flush)(int64_t dp, float* dct);
  // Run by each thread around its share of a call (AMX: load and release
  // the tile configuration, which other code on the thread may change
  // between calls); null when not needed.
  void (*enter)();
  void (*leave)();
};

const SoftmaxCpuKernels& softmax_kernels_scalar();
const SoftmaxCpuKernels& softmax_kernels_avx2();
const SoftmaxCpuKernels& softmax_kernels_avx512();
const SoftmaxCpuKernels& softmax_kernels_avx512_bf16();
const SoftmaxCpuKernels& softmax_kernels_amx();

}  // namespace softmax_detail
}  // namespace ydnn
