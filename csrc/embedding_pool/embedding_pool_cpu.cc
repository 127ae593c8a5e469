// embedding_pool on the CPU: validation, threading and the sort-based
// backward. The per-element loops live in embedding_pool_cpu_kernels.h,
// compiled per ISA; this file picks one at run time.
//
// Backward plan: every valid occurrence k (ids in flat order, padding
// skipped) becomes one uint64 `id << 32 | k`, and these are LSD-radix-sorted
// on the id bits (stable, so each run of equal ids keeps position order and
// the summation order is fixed: results are deterministic and independent of
// the thread count). Only ceil(log2 V) bits are sorted, 11 per pass: two
// passes for V = 1e6, 8 bytes moved per id per pass. The cost is O(N) in the
// number of ids, never O(V). Packing limits one backward to 2^32 table rows
// and 2^32 ids, checked.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "common/cpu_features.h"
#include "common/radix_sort.h"
#include "embedding_pool/embedding_pool_internal.h"

namespace ydnn {

using pool_detail::bag_begin;
using pool_detail::bag_end;
using pool_detail::bag_scale;
using pool_detail::PoolCpuKernels;

namespace {

const PoolCpuKernels& Kernels() {
  switch (cpu_isa()) {
    case CpuIsa::kAvx512:
      return pool_detail::pool_kernels_avx512();
    case CpuIsa::kAvx2:
      return pool_detail::pool_kernels_avx2();
    case CpuIsa::kScalar:
      break;
  }
  return pool_detail::pool_kernels_scalar();
}

template <typename Id>
int64_t IdAt(const PoolArgs& a, int64_t p) {
  return static_cast<int64_t>(static_cast<const Id*>(a.ids)[p]);
}

int64_t IdAt(const PoolArgs& a, int64_t p) {
  return a.id_type == IdType::kInt32 ? IdAt<int32_t>(a, p) : IdAt<int64_t>(a, p);
}

Status BadId(const PoolArgs& a, int64_t p) {
  const std::string where = a.ragged() ? StrCat(p) : StrCat(p / a.max_len, ", ", p % a.max_len);
  return InvalidArgument("ids[", where, "] = ", IdAt(a, p), " is out of range [0, ", a.num_rows,
                         ") for a table of shape [", a.num_rows, ", ", a.dim, "]");
}

// Smallest bad position found by any thread.
void RecordBad(std::atomic<int64_t>* first, int64_t p) {
  int64_t cur = first->load();
  while ((cur < 0 || p < cur) && !first->compare_exchange_weak(cur, p)) {
  }
}

}  // namespace

Status embedding_pool_check_layout(const PoolArgs& a) {
  if (a.num_rows < 0 || a.dim < 0 || a.num_bags < 0)
    return InvalidArgument("table shape [", a.num_rows, ", ", a.dim, "] and batch size ",
                           a.num_bags, " must be non-negative");
  if (a.ragged()) {
    for (int64_t b = 0; b <= a.num_bags; ++b) {
      const int64_t s = a.row_splits[b];
      const bool bad = (b == 0 && s != 0) || (b > 0 && s < a.row_splits[b - 1]) ||
                       s > a.num_values || (b == a.num_bags && s != a.num_values);
      if (bad)
        return InvalidArgument("row_splits must be non-decreasing from 0 to ", a.num_values,
                               " (the number of ids); row_splits[", b, "] = ", s);
    }
  } else {
    if (a.num_values != a.num_bags * a.max_len)
      return Internal("padded ids hold ", a.num_values, " values, expected ", a.num_bags, " x ",
                      a.max_len);
    for (int64_t b = 0; b < a.num_bags; ++b) {
      if (a.lengths[b] < 0 || a.lengths[b] > a.max_len)
        return InvalidArgument("lengths[", b, "] = ", a.lengths[b], " is outside [0, ", a.max_len,
                               "] (ids have shape [", a.num_bags, ", ", a.max_len, "])");
    }
  }
  return Status::Ok();
}

Status embedding_pool_forward_cpu(const PoolArgs& a, void* out, const ParallelFor& parallel) {
  YDNN_RETURN_IF_ERROR(embedding_pool_check_layout(a));
  const PoolCpuKernels& k = Kernels();
  std::atomic<int64_t> first_bad{-1};
  const int64_t avg_len = a.num_bags ? a.num_values / a.num_bags + 1 : 1;
  parallel(a.num_bags, 8 * avg_len * (a.dim + 16), [&](int64_t b0, int64_t b1) {
    const int64_t bad = k.forward(a, out, b0, b1);
    if (bad >= 0) RecordBad(&first_bad, bad);
  });
  if (first_bad.load() >= 0) return BadId(a, first_bad.load());
  return Status::Ok();
}

Status embedding_pool_backward_plan_cpu(const PoolArgs& a, PoolGradPlan* plan,
                                        const ParallelFor& parallel) {
  YDNN_RETURN_IF_ERROR(embedding_pool_check_layout(a));
  constexpr int64_t kMax32 = int64_t(1) << 32;
  if (a.num_rows > kMax32 || a.num_values >= kMax32 || a.num_bags >= (kMax32 >> 1))
    return InvalidArgument("the CPU backward supports at most 2^32 table rows, 2^32 ids and ",
                           "2^31 bags per call; got a table of ", a.num_rows, " rows, ",
                           a.num_values, " ids and ", a.num_bags, " bags");
  // Occurrence offsets per bag, so threads fill disjoint slices.
  std::vector<int64_t>& occ = plan->occ_start_;
  occ.resize(a.num_bags + 1);
  occ[0] = 0;
  for (int64_t b = 0; b < a.num_bags; ++b) occ[b + 1] = occ[b] + bag_end(a, b) - bag_begin(a, b);
  const int64_t n = occ[a.num_bags];
  plan->sorted_.resize(n);
  plan->occ_bag_.resize(n);
  uint64_t* keys = plan->sorted_.data();
  int32_t* bags = plan->occ_bag_.data();
  std::atomic<int64_t> first_bad{-1};
  parallel(a.num_bags, 4 * (n / std::max<int64_t>(1, a.num_bags) + 1), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      int64_t k = occ[b];
      for (int64_t p = bag_begin(a, b); p < bag_end(a, b); ++p, ++k) {
        const int64_t id = IdAt(a, p);
        if (id < 0 || id >= a.num_rows) {
          RecordBad(&first_bad, p);
          break;
        }
        keys[k] = uint64_t(id) << 32 | uint64_t(k);
        bags[k] = static_cast<int32_t>(b);
      }
    }
  });
  if (first_bad.load() >= 0) return BadId(a, first_bad.load());
  // Keys are id << 32 | occurrence: sorting by the id half, stably, orders
  // each id's occurrences by position.
  radix_sort(&plan->sorted_, &plan->scratch_, bits_for(uint64_t(a.num_rows)),
             [](uint64_t k) { return k >> 32; });
  plan->run_starts_.clear();
  plan->sorted_bag_.resize(n);
  const uint64_t* sorted = plan->sorted_.data();
  for (int64_t i = 0; i < n; ++i) {
    // Gathered here, in one pass of independent loads, so the fill walks
    // bags sequentially instead of chasing occurrence -> bag per row.
    plan->sorted_bag_[i] = bags[sorted[i] & 0xffffffffu];
    if (i == 0 || (sorted[i] >> 32) != (sorted[i - 1] >> 32)) plan->run_starts_.push_back(i);
  }
  plan->run_starts_.push_back(n);
  return Status::Ok();
}

Status embedding_pool_backward_cpu(const PoolArgs& a, const PoolGradPlan& plan,
                                   const void* grad_out, const void* out, void* unique_ids,
                                   void* grad_rows, float* grad_weights,
                                   const ParallelFor& parallel) {
  const PoolCpuKernels& k = Kernels();
  const int64_t num_unique = plan.num_unique();
  std::vector<float> scales(a.num_bags);
  for (int64_t b = 0; b < a.num_bags; ++b) scales[b] = bag_scale(a, b);
  for (int64_t u = 0; u < num_unique; ++u) {
    const int64_t id = static_cast<int64_t>(plan.sorted_[plan.run_starts_[u]] >> 32);
    if (a.id_type == IdType::kInt32)
      static_cast<int32_t*>(unique_ids)[u] = static_cast<int32_t>(id);
    else
      static_cast<int64_t*>(unique_ids)[u] = id;
  }
  const pool_detail::GradPlanView view{plan.sorted_.data(), plan.sorted_bag_.data(),
                                       plan.occ_bag_.data(), plan.occ_start_.data(),
                                       plan.run_starts_.data()};
  const int64_t avg_run = num_unique ? plan.sorted_.size() / num_unique + 1 : 1;
  parallel(num_unique, 4 * avg_run * (a.dim + 8), [&](int64_t u0, int64_t u1) {
    k.grad_rows(a, view, scales.data(), grad_out, grad_rows, u0, u1);
  });
  if (grad_weights != nullptr && a.weights != nullptr) {
    // Padding slots and empty bags have no weight gradient: zero first.
    std::memset(grad_weights, 0, sizeof(float) * a.num_values);
    const int64_t avg_len = a.num_bags ? a.num_values / a.num_bags + 1 : 1;
    parallel(a.num_bags, 4 * avg_len * (a.dim + 8), [&](int64_t b0, int64_t b1) {
      k.grad_weights(a, scales.data(), grad_out, out, grad_weights, b0, b1);
    });
  }
  return Status::Ok();
}

}  // namespace ydnn
