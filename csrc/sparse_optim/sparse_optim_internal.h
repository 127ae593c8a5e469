// Private to csrc/sparse_optim: the per-ISA row loops the CPU driver picks
// at run time (see common/cpu_features.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "common/stochastic_round.h"
#include "sparse_optim/sparse_optim.h"

namespace ydnn {
namespace optim_detail {

// Updates runs [r0, r1) of a plan. Run r covers sorted positions
// [run_starts[r], run_starts[r+1]) of `order` (positions into ids/grad, all
// with one id); run_starts == nullptr means run r is position order[r], and
// order == nullptr means the identity (ids already strictly increasing).
using RowsFn = void (*)(const SparseOptimArgs& a, const int64_t* order, const int64_t* run_starts,
                        int64_t r0, int64_t r1);

RowsFn rows_scalar();
RowsFn rows_avx2();
RowsFn rows_avx512();

template <typename Id>
inline int64_t id_at(const void* ids, int64_t k) {
  return static_cast<int64_t>(static_cast<const Id*>(ids)[k]);
}

inline int64_t id_at(const SparseOptimArgs& a, int64_t k) {
  return a.id_type == IdType::kInt32 ? id_at<int32_t>(a.ids, k) : id_at<int64_t>(a.ids, k);
}

}  // namespace optim_detail
}  // namespace ydnn
