// The per-row update loops of sparse_optim, included once per ISA by
// sparse_optim_cpu_{scalar,avx2,avx512}.cc under `#pragma GCC target`, so the
// compiler vectorises the j-loops (float32 FMA, vsqrtps; -fno-math-errno)
// for each path. The maths is in sparse_optim.h; here every row is one
// pass: sum the run's gradient rows into a float32 buffer, then read-modify-
// write the table row and its slot rows once (with stochastic rounding, the
// row's random bits are drawn into a second buffer first).
//
// Expects YDNN_ISA_NS (the namespace of this copy) to be defined. Every
// header is included before the target pragma, by sparse_optim_internal.h: a
// shared inline function first compiled after it would get this ISA's
// target, and the linker could hand that copy to a machine without it.

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

// One float32 row: the weight decay and the update. A 16-bit table row is
// widened into a float32 buffer first and narrowed once after (one
// rounding per element, as on the GPU; common/half_rows.h).
template <OptimKind K>
void update_row(const Scalars& s, const float* __restrict g, float* __restrict w,
                float* __restrict s0, float* __restrict s1, int64_t D) {
  if (s.wd != 0.0f) {
    // Keras's order: w - w * wd * lr, before the optimizer's own update.
    for (int64_t j = 0; j < D; ++j) w[j] = w[j] - w[j] * s.wd * s.lr;
  }
  if constexpr (K == OptimKind::kSgd) {
    for (int64_t j = 0; j < D; ++j) w[j] = w[j] - g[j] * s.lr;
  } else if constexpr (K == OptimKind::kAdagrad) {
    for (int64_t j = 0; j < D; ++j) {
      const float acc = s0[j] + g[j] * g[j];
      s0[j] = acc;
      w[j] = w[j] - (s.lr * g[j]) / std::sqrt(acc + s.eps);
    }
  } else if constexpr (K == OptimKind::kRowWiseAdagrad) {
    float sq = 0.0f;
    for (int64_t j = 0; j < D; ++j) sq += g[j] * g[j];
    const float acc = *s0 + (D > 0 ? sq / static_cast<float>(D) : 0.0f);
    *s0 = acc;
    const float mult = s.lr / (std::sqrt(acc) + s.eps);
    for (int64_t j = 0; j < D; ++j) w[j] = w[j] - g[j] * mult;
  } else {
    for (int64_t j = 0; j < D; ++j) {
      const float m = s0[j] + (g[j] - s0[j]) * s.one_minus_b1;
      const float v = s1[j] + (g[j] * g[j] - s1[j]) * s.one_minus_b2;
      s0[j] = m;
      s1[j] = v;
      w[j] = w[j] - (m * s.alpha) / (std::sqrt(v) + s.eps);
    }
  }
}

#include "common/half_rows.h"

// A gradient row as float32: itself for float32, else widened into buf.
inline const float* as_float_row(const float* src, int64_t, float*) { return src; }
template <typename T>
inline const float* as_float_row(const T* src, int64_t D, float* buf) {
  widen_row(reinterpret_cast<const uint16_t*>(src), std::is_same_v<T, bf16>, D, buf);
  return buf;
}

// Row v's 16 random bits per element (common/stochastic_round.h), into r:
// Philox's rounds written on plain arrays over the row's blocks, so the
// compiler runs the blocks in parallel lanes (32x32->64-bit multiplies).
inline void fill_round_bits(const OptimHyper& h, int64_t v, int64_t D, uint16_t* __restrict r) {
  constexpr int64_t kBatch = 16;
  const int64_t blocks = (D + kRoundBitsPerBlock - 1) / kRoundBitsPerBlock;
  const uint64_t base = static_cast<uint64_t>(v * blocks);
  const uint32_t c2 = static_cast<uint32_t>(h.step),
                 c3 = static_cast<uint32_t>(uint64_t(h.step) >> 32);
  for (int64_t b0 = 0; b0 < blocks; b0 += kBatch) {
    const int64_t nb = std::min(kBatch, blocks - b0);
    uint32_t x0[kBatch], x1[kBatch], x2[kBatch], x3[kBatch];
    for (int64_t i = 0; i < kBatch; ++i) {
      const uint64_t lo = base + uint64_t(b0 + i);
      x0[i] = static_cast<uint32_t>(lo);
      x1[i] = static_cast<uint32_t>(lo >> 32);
      x2[i] = c2;
      x3[i] = c3;
    }
    uint32_t k0 = static_cast<uint32_t>(h.seed), k1 = static_cast<uint32_t>(h.seed >> 32);
    for (int round = 0; round < 10; ++round) {
      for (int64_t i = 0; i < kBatch; ++i) {
        const uint64_t p0 = uint64_t(0xD2511F53u) * x0[i];
        const uint64_t p1 = uint64_t(0xCD9E8D57u) * x2[i];
        const uint32_t n0 = uint32_t(p1 >> 32) ^ x1[i] ^ k0;
        const uint32_t n2 = uint32_t(p0 >> 32) ^ x3[i] ^ k1;
        x1[i] = uint32_t(p1);
        x3[i] = uint32_t(p0);
        x0[i] = n0;
        x2[i] = n2;
      }
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    for (int64_t i = 0; i < nb; ++i) {
      uint16_t* o = r + (b0 + i) * kRoundBitsPerBlock;
      const uint32_t w[4] = {x0[i], x1[i], x2[i], x3[i]};
      for (int k = 0; k < 4; ++k) {
        o[2 * k] = static_cast<uint16_t>(w[k]);
        o[2 * k + 1] = static_cast<uint16_t>(w[k] >> 16);
      }
    }
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

template <typename T, OptimKind K>
void rows_t(const SparseOptimArgs& a, const int64_t* order, const int64_t* run_starts, int64_t r0,
            int64_t r1) {
  const int64_t D = a.dim;
  const Scalars s = scalars_of(a.hyper);
  const T* grad = static_cast<const T*>(a.grad);
  T* table = static_cast<T*>(a.table);
  constexpr bool kHalf = !std::is_same_v<T, float>;
  const bool stochastic = kHalf && a.hyper.stochastic_rounding;
  static thread_local std::vector<float> buf, row;
  static thread_local std::vector<uint16_t> bits;
  buf.resize(static_cast<size_t>(D));
  row.resize(static_cast<size_t>(D));
  if (stochastic)
    bits.resize(static_cast<size_t>((D + kRoundBitsPerBlock - 1) / kRoundBitsPerBlock) *
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
    const float* g0 = as_float_row(grad + p0 * D, D, g);
    if (g0 != g)
      for (int64_t j = 0; j < D; ++j) g[j] = g0[j];
    for (int64_t k = b + 1; k < e; ++k) {  // duplicates, in position order
      const float* gk = as_float_row(grad + order[k] * D, D, row.data());
      for (int64_t j = 0; j < D; ++j) g[j] += gk[j];
    }
    const int64_t v = id_at(a, p0);
    float* s0 = a.slot0 ? a.slot0 + (K == OptimKind::kRowWiseAdagrad ? v : v * D) : nullptr;
    float* s1 = a.slot1 ? a.slot1 + v * D : nullptr;
    if constexpr (kHalf) {
      uint16_t* w = reinterpret_cast<uint16_t*>(table + v * D);
      const bool is_bf16 = std::is_same_v<T, bf16>;
      widen_row(w, is_bf16, D, row.data());
      update_row<K>(s, g, row.data(), s0, s1, D);
      if (stochastic) fill_round_bits(a.hyper, v, D, bits.data());
      narrow_row(row.data(), is_bf16, stochastic ? bits.data() : nullptr, D, w);
    } else {
      update_row<K>(s, g, table + v * D, s0, s1, D);
    }
  }
}

template <typename T>
void rows_dtype(const SparseOptimArgs& a, const int64_t* order, const int64_t* run_starts,
                int64_t r0, int64_t r1) {
  switch (a.kind) {
    case OptimKind::kSgd:
      return rows_t<T, OptimKind::kSgd>(a, order, run_starts, r0, r1);
    case OptimKind::kAdagrad:
      return rows_t<T, OptimKind::kAdagrad>(a, order, run_starts, r0, r1);
    case OptimKind::kRowWiseAdagrad:
      return rows_t<T, OptimKind::kRowWiseAdagrad>(a, order, run_starts, r0, r1);
    case OptimKind::kLazyAdam:
      return rows_t<T, OptimKind::kLazyAdam>(a, order, run_starts, r0, r1);
  }
}

void rows(const SparseOptimArgs& a, const int64_t* order, const int64_t* run_starts, int64_t r0,
          int64_t r1) {
  switch (a.table_dtype) {
    case DType::kFloat32:
      return rows_dtype<float>(a, order, run_starts, r0, r1);
    case DType::kFloat16:
      return rows_dtype<f16>(a, order, run_starts, r0, r1);
    case DType::kBFloat16:
      return rows_dtype<bf16>(a, order, run_starts, r0, r1);
  }
}

}  // namespace
}  // namespace YDNN_ISA_NS
}  // namespace optim_detail
}  // namespace ydnn
