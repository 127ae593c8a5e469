// Pieces shared by the CPU translation units of embedding_pool (not public).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "common/stochastic_round.h"
#include "embedding_pool/embedding_pool.h"

namespace ydnn {
namespace pool_detail {

inline int64_t bag_begin(const PoolArgs& a, int64_t b) {
  return a.ragged() ? a.row_splits[b] : b * a.max_len;
}
inline int64_t bag_end(const PoolArgs& a, int64_t b) {
  return a.ragged() ? a.row_splits[b + 1] : b * a.max_len + a.lengths[b];
}

// s_b of the header's maths; 0 when the denominator is 0 (empty bag).
inline float bag_scale(const PoolArgs& a, int64_t b) {
  if (a.combiner == Combiner::kSum) return 1.0f;
  const int64_t begin = bag_begin(a, b), end = bag_end(a, b);
  double denom = 0.0;
  if (a.weights == nullptr) {
    denom = static_cast<double>(end - begin);
    if (a.combiner == Combiner::kSqrtn) denom = std::sqrt(denom);
  } else if (a.combiner == Combiner::kMean) {
    for (int64_t p = begin; p < end; ++p) denom += a.weights[p];
  } else {
    for (int64_t p = begin; p < end; ++p) denom += double(a.weights[p]) * a.weights[p];
    denom = std::sqrt(denom);
  }
  return denom == 0.0 ? 0.0f : static_cast<float>(1.0 / denom);
}

// What the backward's fill reads of a plan. Occurrence k (ids in flat
// order, padding skipped) of bag b sits at flat position
// b * L + (k - occ_start[b]) when padded, and at k itself when ragged.
struct GradPlanView {
  const uint64_t* sorted;     // id << 32 | occurrence
  const int32_t* sorted_bag;  // bag of sorted[i]
  const int32_t* occ_bag;
  const int64_t* occ_start;
  const int64_t* run_starts;

  int64_t position(const PoolArgs& a, int64_t k) const {
    if (a.ragged()) return k;
    const int64_t b = occ_bag[k];
    return b * a.max_len + (k - occ_start[b]);
  }
};

// The vector loops, compiled once per ISA (embedding_pool_cpu_{scalar,avx2,
// avx512}.cc) and chosen at run time by cpu_isa().
struct PoolCpuKernels {
  // Pools bags [begin, end) into out. Returns the smallest flat position of
  // an id outside [0, V) in those bags (whose output is then zeros), or -1.
  int64_t (*forward)(const PoolArgs& a, void* out, int64_t begin, int64_t end);
  // grad_rows[u] = sum over the run's occurrences k of scale[bag]*w[pos]*g[bag]
  // for runs [begin, end).
  void (*grad_rows)(const PoolArgs& a, const GradPlanView& plan, const float* scales,
                    const void* grad_out, void* grad_rows, int64_t begin, int64_t end);
  // Weight gradients of bags [begin, end) (valid ids assumed).
  void (*grad_weights)(const PoolArgs& a, const float* scales, const void* grad_out,
                       const void* out, float* grad_weights, int64_t begin, int64_t end);
};

const PoolCpuKernels& pool_kernels_scalar();
const PoolCpuKernels& pool_kernels_avx2();
const PoolCpuKernels& pool_kernels_avx512();

}  // namespace pool_detail
}  // namespace ydnn
