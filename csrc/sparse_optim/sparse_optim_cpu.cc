// sparse_optim on the CPU: id validation, duplicate combining and threading.
// The per-row loops live in sparse_optim_cpu_kernels.h, compiled per ISA.
//
// Plan: if ids are strictly increasing (the gradient of embedding_pool
// always is) each id is its own run and nothing is sorted: one O(N) check.
// Otherwise (id, position) pairs are radix-sorted by id, stably, so each run
// of equal ids is summed in position order: deterministic and independent
// of threads. A table that is both pooled and the softmax's candidates gets
// two gradients, concatenated, so every training step of the model sorts:
// hence a radix sort (common/radix_sort.h; a comparison sort costs 2% of a
// MovieLens training profile). Runs touch disjoint rows, so threads split
// the runs with no atomics.
// Bytes: N ids read (twice when sorted, plus the sort's passes over 16-byte
// (id, position) pairs), N D s of gradient read, and per run one table row
// (D s) and its float32 slot rows read and written.
#include <utility>
#include <vector>

#include "common/cpu_features.h"
#include "common/radix_sort.h"
#include "sparse_optim/sparse_optim_internal.h"

namespace ydnn {

using optim_detail::id_at;

namespace {

optim_detail::RowsFn Rows() {
  switch (cpu_isa()) {
    case CpuIsa::kAvx512:
      return optim_detail::rows_avx512();
    case CpuIsa::kAvx2:
      return optim_detail::rows_avx2();
    case CpuIsa::kScalar:
      break;
  }
  return optim_detail::rows_scalar();
}

// Buffers reused across calls on one thread (steady-state training
// allocates nothing).
struct Plan {
  std::vector<std::pair<int64_t, int64_t>> pairs, scratch;  // (id, position)
  std::vector<int64_t> order, run_starts;
};

}  // namespace

Status sparse_optim_apply_cpu(const SparseOptimArgs& a, const ParallelFor& parallel) {
  const int64_t N = a.num_ids, V = a.num_rows;
  bool increasing = true;
  int64_t prev = -1;
  for (int64_t k = 0; k < N; ++k) {
    const int64_t id = id_at(a, k);
    if (id < 0 || id >= V) return sparse_optim_bad_id(a, k, id);
    increasing = increasing && id > prev;
    prev = id;
  }
  if (N == 0 || a.dim == 0) return Status::Ok();
  const optim_detail::RowsFn rows = Rows();
  // Cost per run: a few flops per element of the row and its slots.
  const int64_t cost = 8 * a.dim * (1 + sparse_optim_num_slots(a.kind)) + 32;
  if (increasing) {
    parallel(N, cost, [&](int64_t r0, int64_t r1) { rows(a, nullptr, nullptr, r0, r1); });
    return Status::Ok();
  }
  static thread_local Plan plan;
  plan.pairs.resize(N);
  for (int64_t k = 0; k < N; ++k) plan.pairs[k] = {id_at(a, k), k};
  radix_sort(&plan.pairs, &plan.scratch, bits_for(uint64_t(V)),
             [](const std::pair<int64_t, int64_t>& p) { return uint64_t(p.first); });
  plan.order.resize(N);
  plan.run_starts.clear();
  for (int64_t k = 0; k < N; ++k) {
    plan.order[k] = plan.pairs[k].second;
    if (k == 0 || plan.pairs[k].first != plan.pairs[k - 1].first) plan.run_starts.push_back(k);
  }
  const int64_t runs = static_cast<int64_t>(plan.run_starts.size());
  plan.run_starts.push_back(N);
  const int64_t* order = plan.order.data();
  const int64_t* starts = plan.run_starts.data();
  parallel(runs, cost, [&](int64_t r0, int64_t r1) { rows(a, order, starts, r0, r1); });
  return Status::Ok();
}

}  // namespace ydnn
