// Host side of sampled softmax on the CPU: picks the vector path, gives the
// loops float32 row pointers, splits rows across threads and, for the
// backward, reduces the per-thread table gradients.
//
// Threads own disjoint row blocks. The table gradient of a column collects
// contributions from every row, so each thread (a "shard" of consecutive
// blocks) accumulates into its own [J, D] buffer, in column order, and a
// final pass builds each unique id's row from its columns in every shard and
// the rows whose positive it is, in a fixed order: deterministic, no
// atomics. The shard count is capped so the buffers stay within
// kShardBudget bytes.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "sampled_softmax/sampled_softmax_internal.h"

namespace ydnn {

namespace {

using softmax_detail::SoftmaxCpuKernels;
using softmax_detail::SoftmaxView;

constexpr int64_t kShardBudget = int64_t{256} << 20;

const SoftmaxCpuKernels& kernels() {
  switch (cpu_isa()) {
    case CpuIsa::kAvx512: return softmax_detail::softmax_kernels_avx512();
    case CpuIsa::kAvx2: return softmax_detail::softmax_kernels_avx2();
    default: break;
  }
  return softmax_detail::softmax_kernels_scalar();
}

template <typename T>
void widen(const T* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = to_float(src[i]);
}

// Row pointers for the view. A float32 table is read in place; rows of a
// 16-bit table are widened once into `widened` (every row block reads every
// column, so widening per block would repeat the work B / block_rows times).
class Rows {
 public:
  Rows(const SoftmaxArgs& a, const SoftmaxPlan& plan, const ParallelFor& parallel) {
    const int64_t D = a.dim, J = plan.num_columns(), B = a.batch;
    col_.resize(J);
    pos_.resize(B);
    if (a.table_dtype == DType::kFloat32) {
      const float* t = static_cast<const float*>(a.table);
      for (int64_t j = 0; j < J; ++j) col_[j] = t + plan.col_id_[j] * D;
      for (int64_t b = 0; b < B; ++b) pos_[b] = t + plan.pos_id_[b] * D;
      return;
    }
    widened_.resize((J + B) * D);
    auto id_of = [&](int64_t i) { return i < J ? plan.col_id_[i] : plan.pos_id_[i - J]; };
    parallel(J + B, 8 * D, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        float* dst = widened_.data() + i * D;
        if (a.table_dtype == DType::kFloat16)
          widen(static_cast<const f16*>(a.table) + id_of(i) * D, D, dst);
        else
          widen(static_cast<const bf16*>(a.table) + id_of(i) * D, D, dst);
      }
    });
    for (int64_t j = 0; j < J; ++j) col_[j] = widened_.data() + j * D;
    for (int64_t b = 0; b < B; ++b) pos_[b] = widened_.data() + (J + b) * D;
  }

  SoftmaxView view(const SoftmaxArgs& a, const SoftmaxPlan& plan) const {
    SoftmaxView v;
    v.batch = a.batch;
    v.dim = a.dim;
    v.num_columns = plan.num_columns();
    v.inv_temperature = 1.f / a.temperature;
    v.query = a.query;
    v.col_row = col_.data();
    v.pos_row = pos_.data();
    v.col_logq = plan.col_logq_.data();
    v.pos_logq = plan.pos_logq_.data();
    v.hit_start = plan.hit_start_.data();
    v.hit_col = plan.hit_col_.data();
    return v;
  }

 private:
  std::vector<const float*> col_, pos_;
  std::vector<float> widened_;
};

int64_t num_blocks(const SoftmaxArgs& a, const SoftmaxCpuKernels& k) {
  return (a.batch + k.block_rows - 1) / k.block_rows;
}

// Cycles per block, for the pool's grain size: ~2 flops per (row, column, d).
int64_t block_cost(const SoftmaxArgs& a, const SoftmaxPlan& plan, const SoftmaxCpuKernels& k,
                   int passes) {
  return std::max<int64_t>(1, passes * k.block_rows * (plan.num_columns() + 1) * a.dim / 8);
}

// grad_rows[u] = sum over shards and u's columns of partial + sum over the
// rows b whose positive is u of dz_pos[b] * q_b.
template <typename T>
void reduce(const SoftmaxArgs& a, const SoftmaxPlan& plan, const std::vector<float*>& shards,
            const float* dz_pos, T* out, const ParallelFor& parallel) {
  const int64_t D = a.dim, U = plan.num_unique();
  const int64_t terms = static_cast<int64_t>(shards.size() * plan.cols_by_id_.size()) + a.batch;
  parallel(U, std::max<int64_t>(1, 2 * D * terms / std::max<int64_t>(1, U)),
           [&](int64_t begin, int64_t end) {
             std::vector<float> acc(D);
             for (int64_t u = begin; u < end; ++u) {
               std::fill(acc.begin(), acc.end(), 0.f);
               for (int64_t i = plan.col_start_[u]; i < plan.col_start_[u + 1]; ++i)
                 for (const float* p : shards) {
                   const float* row = p + int64_t{plan.cols_by_id_[i].second} * D;
                   for (int64_t d = 0; d < D; ++d) acc[d] += row[d];
                 }
               for (int64_t i = plan.pos_start_[u]; i < plan.pos_start_[u + 1]; ++i) {
                 const int64_t b = plan.pos_by_id_[i].second;
                 const float w = dz_pos[b];
                 for (int64_t d = 0; d < D; ++d) acc[d] += w * a.query[b * D + d];
               }
               for (int64_t d = 0; d < D; ++d) out[u * D + d] = from_float<T>(acc[d]);
             }
           });
}

}  // namespace

Status sampled_softmax_forward_cpu(const SoftmaxArgs& a, const SoftmaxPlan& plan, float* loss,
                                   float* lse, float* logits, const ParallelFor& parallel) {
  if (a.batch == 0) return Status();
  const SoftmaxCpuKernels& k = kernels();
  const Rows rows(a, plan, parallel);
  const SoftmaxView v = rows.view(a, plan);
  std::vector<int64_t> bad(num_blocks(a, k), -1);
  parallel(num_blocks(a, k), block_cost(a, plan, k, 1), [&](int64_t begin, int64_t end) {
    for (int64_t blk = begin; blk < end; ++blk)
      bad[blk] = k.forward(v, loss, lse, logits, blk, blk + 1);
  });
  for (int64_t b : bad)
    if (b >= 0)
      return InvalidArgument("the loss of row ", b, " is not finite (", loss[b],
                             "): a logit (q.c - log Q) / temperature exceeds float32, or query "
                             "or table hold inf/NaN");
  return Status();
}

Status sampled_softmax_backward_cpu(const SoftmaxArgs& a, const SoftmaxPlan& plan,
                                    const float* lse, const float* grad_loss, float* grad_query,
                                    int64_t* unique_ids, void* grad_rows,
                                    const ParallelFor& parallel) {
  const int64_t U = plan.num_unique(), D = a.dim, J = plan.num_columns();
  if (plan.col_start_.size() != static_cast<size_t>(U + 1))
    return Status(StatusCode::kInternal, "sampled_softmax: plan built without unique ids");
  std::copy(plan.unique_.begin(), plan.unique_.end(), unique_ids);
  const SoftmaxCpuKernels& k = kernels();
  const int64_t blocks = num_blocks(a, k);
  const int64_t shard_bytes = std::max<int64_t>(1, J * D * 4);
  const int64_t shards = std::max<int64_t>(
      1, std::min<int64_t>({int64_t{parallel.num_threads()}, blocks, kShardBudget / shard_bytes}));
  std::vector<std::vector<float>> buffers(shards, std::vector<float>(J * D, 0.f));
  std::vector<float*> partial;
  for (auto& buf : buffers) partial.push_back(buf.data());
  std::vector<float> dz_pos(a.batch);
  const Rows rows(a, plan, parallel);
  const SoftmaxView v = rows.view(a, plan);
  parallel(shards, block_cost(a, plan, k, 3) * ((blocks + shards - 1) / shards),
           [&](int64_t begin, int64_t end) {
             for (int64_t s = begin; s < end; ++s)
               k.backward(v, lse, grad_loss, grad_query, dz_pos.data(), partial[s],
                          s * blocks / shards, (s + 1) * blocks / shards);
           });
  switch (a.table_dtype) {
    case DType::kFloat32:
      reduce(a, plan, partial, dz_pos.data(), static_cast<float*>(grad_rows), parallel);
      break;
    case DType::kFloat16:
      reduce(a, plan, partial, dz_pos.data(), static_cast<f16*>(grad_rows), parallel);
      break;
    case DType::kBFloat16:
      reduce(a, plan, partial, dz_pos.data(), static_cast<bf16*>(grad_rows), parallel);
      break;
  }
  return Status();
}

}  // namespace ydnn
