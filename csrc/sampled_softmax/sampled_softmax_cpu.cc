// Host side of sampled softmax on the CPU: picks the vector path, packs the
// operands, splits the B x J logits across threads and merges what the
// threads computed (maths, shapes, masking and compute_dtype in
// sampled_softmax.h).
//   forward:  z [B, J] = (q C[cols]^T - logQ) / T, masked to -inf;
//             lse [B] = logsumexp over z_pos and z; loss [B] = lse - z_pos;
//             logits [B, 1 + J] only when asked.
//   backward: dz from the recomputed z; dq [B, D] = dz C[cols] + dz_pos
//             C[pos]; grad_rows [U, D] = dz^T q and dz_pos q summed per
//             unique id of the columns and positives.
// Work: 2 B J D flops forward, 6 B J D backward (z once, then dq and dC
// from the same dz). Nothing [B, J] is kept: each block's z lives in the
// item's scratch.
//
// Loop order: column tiles outside, row blocks inside. A tile of
// softmax_detail::kTileGroups column groups is gathered from the table
// once, packed (and widened from 16 bits) into a contiguous buffer that
// stays in L1/L2 while every row block of the item runs against it. So the
// J scattered candidate rows (J D s bytes) are read from memory once per
// group of row blocks; with row blocks outside they would be re-read once
// per block (at S = 8192, 64 passes over 2 MB from L3, which starves the
// microkernels).
//
// Threads: items are (chunk of tiles) x (group of row blocks). A row's
// logsumexp is split over chunks, each keeping a running (max, sum) merged
// at the end; its dq is summed over chunks and a column's dC over groups,
// each chunk or group writing its own partial buffer: no atomics, a fixed
// order, deterministic for a given thread count. The partial buffers are
// capped at kShardBudget bytes.
//
// compute_dtype bfloat16: the operands hold values rounded to bfloat16
// (sampled_softmax_cpu_operands.h), logits_dz rounds dz and the host
// rounds dz_pos, so every product's inputs are bfloat16 on every path. The
// products run on AMX tiles where the CPU lends them and the block of rows
// and the tile of columns fill them (B and J >= 16), else on vdpbf16ps
// (AVX512_BF16), else on the float32 loops, which compute the products of
// rounded inputs exactly.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "sampled_softmax/sampled_softmax_cpu_operands.h"

namespace ydnn {

namespace {

using softmax_detail::buffer;
using softmax_detail::Grid;
using softmax_detail::kDcPartial;
using softmax_detail::kDqPartial;
using softmax_detail::Operands;
using softmax_detail::SoftmaxCpuKernels;
using softmax_detail::TileView;

const SoftmaxCpuKernels& kernels(const SoftmaxArgs& a) {
  if (a.compute_dtype == DType::kBFloat16) {
    switch (cpu_bf16()) {
      case CpuBf16::kAmx:
        if (a.batch >= 16 && a.num_columns() >= 16) return softmax_detail::softmax_kernels_amx();
        [[fallthrough]];
      case CpuBf16::kAvx512Bf16:
        return softmax_detail::softmax_kernels_avx512_bf16();
      case CpuBf16::kNone:
        break;
    }
  }
  switch (cpu_isa()) {
    case CpuIsa::kAvx512:
      return softmax_detail::softmax_kernels_avx512();
    case CpuIsa::kAvx2:
      return softmax_detail::softmax_kernels_avx2();
    default:
      break;
  }
  return softmax_detail::softmax_kernels_scalar();
}

// Per-item scratch: the block's logits and, unless the tiles were packed
// once per call, one packed tile and its logQ. It also brackets the item
// with the kernels' enter and leave.
struct Scratch {
  std::vector<float> tile, logq, z;
  const SoftmaxCpuKernels& k;
  Scratch(const Operands& op, int64_t R, const SoftmaxCpuKernels& k_)
      : tile(op.packs_per_item() ? op.tile_floats() : 0),
        logq(op.packs_per_item() ? op.T : 0),
        z(op.T * R),
        k(k_) {
    if (k.enter != nullptr) k.enter();
  }
  ~Scratch() {
    if (k.leave != nullptr) k.leave();
  }
};

// Runs the items [begin, end) of op.grid: for each tile of an item's chunk
// (packed once per call, or here into `sc`), on_block(chunk, block, t0,
// cols, tile, cursors of the block's rows) runs for each block of the
// item's group, and on_tile(group, t0, cols) after the last one.
template <typename OnBlock, typename OnTile>
void run_items(const Operands& op, int64_t R, Scratch& sc, int64_t begin, int64_t end,
               OnBlock on_block, OnTile on_tile) {
  const Grid& grid = op.grid;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t chunk = item / grid.groups, group = item % grid.groups;
    const int64_t b0 = grid.block_begin(group), b1 = grid.block_begin(group + 1);
    std::vector<int64_t> cur = op.cursors(b0, b1, grid.tile_begin(chunk) * op.T);
    for (int64_t t = grid.tile_begin(chunk); t < grid.tile_begin(chunk + 1); ++t) {
      const int64_t t0 = t * op.T, cols = std::min(op.T, op.J - t0);
      const TileView tile = op.tile(t, sc.tile.data(), sc.logq.data());
      for (int64_t blk = b0; blk < b1; ++blk)
        on_block(chunk, blk, t0, cols, tile, &cur[(blk - b0) * R]);
      on_tile(group, t0, cols);
    }
  }
}

// Cycles per item for the pool: ~16 flops per cycle per core.
int64_t item_cost(const Grid& g, int64_t rows, int64_t J, int64_t dp, int passes) {
  return std::max<int64_t>(1, passes * 2 * rows * (J / g.chunks + 1) * dp / g.groups / 16);
}

// grad_rows[u] = sum over groups and u's columns of dC partials + sum over
// the rows b whose positive is u of dz_pos[b] * q_b.
template <typename T>
void reduce(const SoftmaxArgs& a, const SoftmaxPlan& plan, const float* partial, int64_t groups,
            int64_t dp, const float* dz_pos, const float* query, T* out,
            const ParallelFor& parallel) {
  const int64_t D = a.dim, U = plan.num_unique(), J = plan.num_columns();
  const int64_t terms = groups * J + a.batch;
  parallel(U, std::max<int64_t>(1, 2 * D * terms / std::max<int64_t>(1, U)),
           [&](int64_t begin, int64_t end) {
             std::vector<float> acc(D);
             for (int64_t u = begin; u < end; ++u) {
               std::fill(acc.begin(), acc.end(), 0.f);
               for (int64_t i = plan.col_start_[u]; i < plan.col_start_[u + 1]; ++i)
                 for (int64_t g = 0; g < groups; ++g) {
                   const float* row = partial + (g * J + plan.cols_by_id_[i].second) * dp;
                   for (int64_t d = 0; d < D; ++d) acc[d] += row[d];
                 }
               for (int64_t i = plan.pos_start_[u]; i < plan.pos_start_[u + 1]; ++i) {
                 const int64_t b = plan.pos_by_id_[i].second;
                 const float w = dz_pos[b];
                 for (int64_t d = 0; d < D; ++d) acc[d] += w * query[b * D + d];
               }
               for (int64_t d = 0; d < D; ++d) out[u * D + d] = from_float<T>(acc[d]);
             }
           });
}

}  // namespace

Status sampled_softmax_forward_cpu(const SoftmaxArgs& a, const SoftmaxPlan& plan, float* loss,
                                   float* lse, float* logits, const ParallelFor& parallel) {
  if (a.batch == 0) return Status();
  const SoftmaxCpuKernels& k = kernels(a);
  const int64_t R = k.block_rows;
  const Operands op(a, plan, k, /*row_major=*/false, parallel);
  const int64_t J = op.J, dp = op.dp, Bp = op.blocks * R;
  const Grid& grid = op.grid;
  // Running (max, sum) per chunk and row, starting at (z_pos, 0).
  std::vector<float> m(grid.chunks * Bp), s(grid.chunks * Bp, 0.f);
  for (int64_t c = 0; c < grid.chunks; ++c) std::copy(op.zpos.begin(), op.zpos.end(), &m[c * Bp]);
  const float inv_t = 1.f / a.temperature;
  parallel(grid.items(), item_cost(grid, Bp, J, dp, 1), [&](int64_t begin, int64_t end) {
    Scratch sc(op, R, k);
    float* const z = sc.z.data();
    const auto block = [&](int64_t chunk, int64_t blk, int64_t t0, int64_t cols,
                           const TileView& tile, int64_t* cur) {
      k.logits(&op.qt[blk * dp * R], tile, dp, inv_t, z);
      op.mask(blk, t0, cols, cur, z, -std::numeric_limits<float>::infinity());
      if (logits != nullptr)
        for (int64_t b = blk * R; b < std::min((blk + 1) * R, a.batch); ++b)
          for (int64_t c = 0; c < cols; ++c) logits[b * (J + 1) + 1 + t0 + c] = z[c * R + b % R];
      k.lse_update(z, cols, &m[chunk * Bp + blk * R], &s[chunk * Bp + blk * R]);
    };
    run_items(op, R, sc, begin, end, block, [](int64_t, int64_t, int64_t) {});
  });
  for (int64_t b = 0; b < a.batch; ++b) {
    float mx = op.zpos[b];
    for (int64_t c = 0; c < grid.chunks; ++c) mx = std::max(mx, m[c * Bp + b]);
    float sum = std::exp(op.zpos[b] - mx);
    for (int64_t c = 0; c < grid.chunks; ++c) sum += s[c * Bp + b] * std::exp(m[c * Bp + b] - mx);
    lse[b] = mx + std::log(sum);
    loss[b] = lse[b] - op.zpos[b];
    if (logits != nullptr) logits[b * (J + 1)] = op.zpos[b];
  }
  for (int64_t b = 0; b < a.batch; ++b)
    if (!std::isfinite(loss[b]))
      return InvalidArgument("the loss of row ", b, " is not finite (", loss[b],
                             "): a logit (q.c - log Q) / temperature exceeds float32, or query "
                             "or table hold inf/NaN");
  return Status();
}

Status sampled_softmax_backward_cpu(const SoftmaxArgs& a, const SoftmaxPlan& plan, const float* lse,
                                    const float* grad_loss, float* grad_query, int64_t* unique_ids,
                                    void* grad_rows, const ParallelFor& parallel) {
  const int64_t U = plan.num_unique(), D = a.dim, B = a.batch;
  if (plan.col_start_.size() != static_cast<size_t>(U + 1))
    return Status(StatusCode::kInternal, "sampled_softmax: plan built without unique ids");
  std::copy(plan.unique_.begin(), plan.unique_.end(), unique_ids);
  const SoftmaxCpuKernels& k = kernels(a);
  const int64_t R = k.block_rows;
  const Operands op(a, plan, k, /*row_major=*/true, parallel);
  const bool round_bf16_inputs = a.compute_dtype == DType::kBFloat16;
  const int64_t J = op.J, dp = op.dp, Bp = op.blocks * R;
  const Grid& grid = op.grid;
  // Per row, padded to whole blocks: lse and g / T. Padding rows get lse
  // +inf and g 0, so their dz is exactly 0 (their logits -log Q / T can be
  // large, and 0 * exp(large) would be NaN).
  const float inv_t = 1.f / a.temperature;
  std::vector<float> lse_p(Bp, std::numeric_limits<float>::infinity()), g_p(Bp, 0.f);
  for (int64_t b = 0; b < B; ++b) {
    lse_p[b] = lse[b];
    g_p[b] = grad_loss[b] * inv_t;
  }
  // dq partials per chunk, [blocks][dp][R], accumulated; dC partials per
  // group, [J][dp], each tile's columns copied in once.
  float* const dqt = buffer(kDqPartial, grid.chunks * Bp * dp, /*zero=*/true);
  float* const dcp = buffer(kDcPartial, grid.groups * J * dp, /*zero=*/false);
  parallel(grid.items(), item_cost(grid, Bp, J, dp, 3), [&](int64_t begin, int64_t end) {
    Scratch sc(op, R, k);
    float* const dz = sc.z.data();
    std::vector<float> dct(op.T * dp, 0.f);  // the tile's dC over the group's blocks
    const auto block = [&](int64_t chunk, int64_t blk, int64_t t0, int64_t cols,
                           const TileView& tile, int64_t* cur) {
      k.logits_dz(&op.qt[blk * dp * R], tile, dp, inv_t, &lse_p[blk * R], &g_p[blk * R], cols,
                  round_bf16_inputs, dz);
      op.mask(blk, t0, cols, cur, dz, 0.f);
      k.dq(dz, tile, dp, &dqt[(chunk * op.blocks + blk) * dp * R]);
      k.dc(dz, &op.qr[blk * R * dp], tile.groups, dp, dct.data());
    };
    const auto tile_done = [&](int64_t group, int64_t t0, int64_t cols) {
      if (k.dc_flush != nullptr) k.dc_flush(dp, dct.data());
      std::copy_n(dct.data(), cols * dp, &dcp[(group * J + t0) * dp]);
      std::fill(dct.begin(), dct.end(), 0.f);
    };
    run_items(op, R, sc, begin, end, block, tile_done);
  });
  // The positive column: dz_pos = g (p_pos - 1) / T; dq_b = its share of the
  // chunks' dq + dz_pos C[pos_b].
  std::vector<float> dz_pos(B);
  parallel(op.blocks, 2 * R * D * (grid.chunks + 1), [&](int64_t begin, int64_t end) {
    std::vector<float> acc(dp * R);
    for (int64_t blk = begin; blk < end; ++blk) {
      std::copy_n(&dqt[blk * dp * R], dp * R, acc.data());
      for (int64_t c = 1; c < grid.chunks; ++c) {
        const float* part = &dqt[(c * op.blocks + blk) * dp * R];
        for (int64_t i = 0; i < dp * R; ++i) acc[i] += part[i];
      }
      for (int64_t b = blk * R; b < std::min(B, (blk + 1) * R); ++b) {
        const float w0 = g_p[b] * (std::exp(op.zpos[b] - lse[b]) - 1.f);
        const float w = round_bf16_inputs ? round_bf16(w0) : w0;
        dz_pos[b] = w;
        for (int64_t d = 0; d < D; ++d)
          grad_query[b * D + d] = acc[d * R + b % R] + w * op.pos_row[b][d];
      }
    }
  });
  switch (a.table_dtype) {
    case DType::kFloat32:
      reduce(a, plan, dcp, grid.groups, dp, dz_pos.data(), op.query, static_cast<float*>(grad_rows),
             parallel);
      break;
    case DType::kFloat16:
      reduce(a, plan, dcp, grid.groups, dp, dz_pos.data(), op.query, static_cast<f16*>(grad_rows),
             parallel);
      break;
    case DType::kBFloat16:
      reduce(a, plan, dcp, grid.groups, dp, dz_pos.data(), op.query, static_cast<bf16*>(grad_rows),
             parallel);
      break;
  }
  return Status();
}

}  // namespace ydnn
