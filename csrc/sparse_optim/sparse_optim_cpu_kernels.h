// The per-row update loops of sparse_optim, included once per ISA by
// sparse_optim_cpu_{scalar,avx2,avx512}.cc under `#pragma GCC target`, so the
// compiler vectorises the j-loops (float32 FMA, vsqrtps; -fno-math-errno)
// for each path. The maths is in sparse_optim.h; here every row is one
// pass: sum the run's gradient rows into a float32 buffer, then read-modify-
// write the table row and its slot rows once (with stochastic rounding, the
// row's random bits are drawn into a second buffer first).
//
// Expects YDNN_ISA_NS (the namespace of this copy) to be defined.
#include <cmath>
#include <vector>

#include "common/stochastic_round.h"
#include "sparse_optim/sparse_optim_internal.h"

namespace ydnn {
namespace optim_detail {
namespace YDNN_ISA_NS {
namespace {

struct Scalars {
  float lr, wd, eps, one_minus_b1, one_minus_b2, alpha;
};

Scalars scalars_of(const OptimHyper& h) {
  Scalars s;
  s.lr = h.lr;
  s.wd = h.weight_decay;
  s.eps = h.epsilon;
  s.one_minus_b1 = 1.0f - h.beta1;
  s.one_minus_b2 = 1.0f - h.beta2;
  // Bias correction from the global step, computed once per call in double.
  const double t = static_cast<double>(h.step);
  s.alpha = static_cast<float>(h.lr * std::sqrt(1.0 - std::pow(double(h.beta2), t)) /
                               (1.0 - std::pow(double(h.beta1), t)));
  return s;
}

// The new value of one element, stored: float32 as is, 16-bit rounded to
// nearest or (SR) stochastically with the element's 16 random bits.
template <typename T, bool SR>
inline T store(float x, const uint16_t* r, int64_t j) {
  if constexpr (SR)
    return from_float_stochastic<T>(x, r[j]);
  else
    return from_float<T>(x);
}

// One row: the weight decay and the update in float32, one store per
// element (one rounding of a 16-bit table, as on the GPU).
template <typename T, OptimKind K, bool SR>
void update_row(const Scalars& s, const float* __restrict g, T* __restrict w, float* __restrict s0,
                float* __restrict s1, const uint16_t* __restrict r, int64_t D) {
  // Keras's order: w - w * wd * lr, before the optimizer's own update.
  auto decayed = [&](int64_t j) {
    const float x = to_float(w[j]);
    return s.wd != 0.0f ? x - x * s.wd * s.lr : x;
  };
  if constexpr (K == OptimKind::kSgd) {
    for (int64_t j = 0; j < D; ++j) w[j] = store<T, SR>(decayed(j) - g[j] * s.lr, r, j);
  } else if constexpr (K == OptimKind::kAdagrad) {
    for (int64_t j = 0; j < D; ++j) {
      const float acc = s0[j] + g[j] * g[j];
      s0[j] = acc;
      w[j] = store<T, SR>(decayed(j) - (s.lr * g[j]) / std::sqrt(acc + s.eps), r, j);
    }
  } else if constexpr (K == OptimKind::kRowWiseAdagrad) {
    float sq = 0.0f;
    for (int64_t j = 0; j < D; ++j) sq += g[j] * g[j];
    const float acc = *s0 + (D > 0 ? sq / static_cast<float>(D) : 0.0f);
    *s0 = acc;
    const float mult = s.lr / (std::sqrt(acc) + s.eps);
    for (int64_t j = 0; j < D; ++j) w[j] = store<T, SR>(decayed(j) - g[j] * mult, r, j);
  } else {
    for (int64_t j = 0; j < D; ++j) {
      const float m = s0[j] + (g[j] - s0[j]) * s.one_minus_b1;
      const float v = s1[j] + (g[j] * g[j] - s1[j]) * s.one_minus_b2;
      s0[j] = m;
      s1[j] = v;
      w[j] = store<T, SR>(decayed(j) - (m * s.alpha) / (std::sqrt(v) + s.eps), r, j);
    }
  }
}

// Row v's 16 random bits per element (common/stochastic_round.h), into r.
inline void fill_round_bits(const OptimHyper& h, int64_t v, int64_t D, uint16_t* r) {
  for (int64_t b = 0; b * kRoundBitsPerBlock < D; ++b) {
    const Philox4x32 p = round_bits_block(h.seed, h.step, v, D, b);
    for (int64_t i = 0; i < kRoundBitsPerBlock; ++i)
      r[b * kRoundBitsPerBlock + i] = static_cast<uint16_t>(round_bits_of(p, i));
  }
}

// Touched rows of a large table are far apart (a cache and TLB miss each,
// in the table and every slot): fetch the row kAhead runs ahead for writing,
// so those misses overlap the current row's work instead of following it.
constexpr int64_t kAhead = 8;

template <typename T, OptimKind K>
void prefetch_row(const SparseOptimArgs& a, int64_t v) {
  const int64_t D = a.dim;
  auto lines = [](const void* p, int64_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 1, 1);
  };
  lines(static_cast<const T*>(a.table) + v * D, D * static_cast<int64_t>(sizeof(T)));
  if (a.slot0 != nullptr) {
    if (K == OptimKind::kRowWiseAdagrad)
      lines(a.slot0 + v, 4);
    else
      lines(a.slot0 + v * D, D * 4);
  }
  if (a.slot1 != nullptr) lines(a.slot1 + v * D, D * 4);
}

template <typename T, OptimKind K, bool SR>
void rows_t(const SparseOptimArgs& a, const int64_t* order, const int64_t* run_starts, int64_t r0,
            int64_t r1) {
  const int64_t D = a.dim;
  const Scalars s = scalars_of(a.hyper);
  const T* grad = static_cast<const T*>(a.grad);
  T* table = static_cast<T*>(a.table);
  static thread_local std::vector<float> buf;
  static thread_local std::vector<uint16_t> bits;
  buf.resize(static_cast<size_t>(D));
  if (SR) bits.resize(static_cast<size_t>((D + kRoundBitsPerBlock - 1) / kRoundBitsPerBlock) *
                      kRoundBitsPerBlock);
  float* g = buf.data();
  for (int64_t r = r0; r < r1; ++r) {
    if (r + kAhead < r1) {
      const int64_t ba = run_starts ? run_starts[r + kAhead] : r + kAhead;
      prefetch_row<T, K>(a, id_at(a, order ? order[ba] : ba));  // ids were validated
    }
    const int64_t b = run_starts ? run_starts[r] : r;
    const int64_t e = run_starts ? run_starts[r + 1] : r + 1;
    const int64_t p0 = order ? order[b] : b;
    const T* g0 = grad + p0 * D;
    for (int64_t j = 0; j < D; ++j) g[j] = to_float(g0[j]);
    for (int64_t k = b + 1; k < e; ++k) {  // duplicates, in position order
      const T* gk = grad + order[k] * D;
      for (int64_t j = 0; j < D; ++j) g[j] += to_float(gk[j]);
    }
    const int64_t v = id_at(a, p0);
    float* s0 = a.slot0 ? a.slot0 + (K == OptimKind::kRowWiseAdagrad ? v : v * D) : nullptr;
    float* s1 = a.slot1 ? a.slot1 + v * D : nullptr;
    if (SR) fill_round_bits(a.hyper, v, D, bits.data());
    update_row<T, K, SR>(s, g, table + v * D, s0, s1, bits.data(), D);
  }
}

template <typename T, bool SR>
void rows_dtype(const SparseOptimArgs& a, const int64_t* order, const int64_t* run_starts,
                int64_t r0, int64_t r1) {
  switch (a.kind) {
    case OptimKind::kSgd:
      return rows_t<T, OptimKind::kSgd, SR>(a, order, run_starts, r0, r1);
    case OptimKind::kAdagrad:
      return rows_t<T, OptimKind::kAdagrad, SR>(a, order, run_starts, r0, r1);
    case OptimKind::kRowWiseAdagrad:
      return rows_t<T, OptimKind::kRowWiseAdagrad, SR>(a, order, run_starts, r0, r1);
    case OptimKind::kLazyAdam:
      return rows_t<T, OptimKind::kLazyAdam, SR>(a, order, run_starts, r0, r1);
  }
}

void rows(const SparseOptimArgs& a, const int64_t* order, const int64_t* run_starts, int64_t r0,
          int64_t r1) {
  switch (a.table_dtype) {
    case DType::kFloat32:
      return rows_dtype<float, false>(a, order, run_starts, r0, r1);
    case DType::kFloat16:
      if (a.hyper.stochastic_rounding) return rows_dtype<f16, true>(a, order, run_starts, r0, r1);
      return rows_dtype<f16, false>(a, order, run_starts, r0, r1);
    case DType::kBFloat16:
      if (a.hyper.stochastic_rounding) return rows_dtype<bf16, true>(a, order, run_starts, r0, r1);
      return rows_dtype<bf16, false>(a, order, run_starts, r0, r1);
  }
}

}  // namespace
}  // namespace YDNN_ISA_NS
}  // namespace optim_detail
}  // namespace ydnn
