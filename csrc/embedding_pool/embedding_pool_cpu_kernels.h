// The vector loops of embedding_pool on the CPU, written once and compiled
// per ISA. Include only after every other header, inside a TU that defined
// YDNN_ISA_NS (and YDNN_ISA_AVX2 / YDNN_ISA_AVX512) and, for the vector ISAs,
// opened `#pragma GCC target(...)`: functions defined here then get that
// target, while std:: and common helpers, defined before the pragma, keep the
// baseline one, so the linker can never hand an AVX-512 copy of a shared
// inline function to a machine without it.
//
// Loops run over D in tiles of kTile floats: a tile of accumulators stays in
// registers (4 zmm / 8 ymm / 16 xmm) across all ids of a bag, so each row is read
// exactly once and the only memory traffic is the gather itself. Rows are
// random reads into a table far larger than the caches, so the next rows are
// prefetched kPrefetch ids ahead.

namespace ydnn {
namespace pool_detail {
namespace YDNN_ISA_NS {
namespace {

constexpr int kTile = 64;
constexpr int kPrefetch = 12;

// A tile of a row as float32: float rows are used in place, 16-bit rows are
// widened into buf.
inline const float* as_float(const float* src, int, float*) { return src; }

#include "common/half_rows.h"

inline const float* as_float(const bf16* src, int n, float* buf) {
  widen_row(reinterpret_cast<const uint16_t*>(src), true, n, buf);
  return buf;
}

inline const float* as_float(const f16* src, int n, float* buf) {
  widen_row(reinterpret_cast<const uint16_t*>(src), false, n, buf);
  return buf;
}

// A float32 tile stored in the table's dtype (rounded once, to nearest).
inline void store_tile(float* dst, const float* src, int n) {
  for (int d = 0; d < n; ++d) dst[d] = src[d];
}
inline void store_tile(bf16* dst, const float* src, int n) {
  narrow_row(src, true, nullptr, n, reinterpret_cast<uint16_t*>(dst));
}
inline void store_tile(f16* dst, const float* src, int n) {
  narrow_row(src, false, nullptr, n, reinterpret_cast<uint16_t*>(dst));
}

template <typename T>
inline void prefetch_tile(const T* p) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int off = 0; off < kTile * int(sizeof(T)); off += 64) __builtin_prefetch(c + off);
}

// The native float vector of this ISA, through GCC's vector extensions: the
// same source compiles to xmm, ymm or zmm code, and a small array of them
// stays in registers (zeroed with one xor, not a memset call).
#if defined(YDNN_ISA_AVX512)
constexpr int kLanes = 16;
#elif defined(YDNN_ISA_AVX2)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
constexpr int kVecs = kTile / kLanes;
typedef float vfloat __attribute__((vector_size(kLanes * sizeof(float))));

inline vfloat loadv(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// By value: taking &acc[v] instead would force the accumulators out of
// registers into a stack array (zeroed by `rep stos`, the top of a profile).
inline void storev(float* p, vfloat v) { std::memcpy(p, &v, sizeof v); }

// sum[0:n) = sum over k < count of w_k * row_k[0:n), rows fetched by
// next(k, &w_k). A full tile accumulates in registers; a tail tile (D not a
// multiple of kTile) in memory.
template <typename T, typename Next>
inline void sum_tile(int64_t count, int n, Next&& next, float* __restrict sum) {
  alignas(64) float buf[kTile];
  if (n == kTile) {
    vfloat acc[kVecs] = {};
    for (int64_t k = 0; k < count; ++k) {
      float w;
      const float* x = as_float(next(k, &w), kTile, buf);
      for (int v = 0; v < kVecs; ++v) acc[v] += w * loadv(x + v * kLanes);
    }
    for (int v = 0; v < kVecs; ++v) storev(sum + v * kLanes, acc[v]);
    return;
  }
  for (int d = 0; d < n; ++d) sum[d] = 0.f;
  for (int64_t k = 0; k < count; ++k) {
    float w;
    const float* x = as_float(next(k, &w), n, buf);
    for (int d = 0; d < n; ++d) sum[d] += w * x[d];
  }
}

template <typename T, typename Id>
int64_t forward(const PoolArgs& a, void* out_v, int64_t begin, int64_t end) {
  const T* table = static_cast<const T*>(a.table);
  const Id* ids = static_cast<const Id*>(a.ids);
  T* out = static_cast<T*>(out_v);
  const int64_t D = a.dim, V = a.num_rows;
  int64_t first_bad = -1;
  alignas(64) float sum[kTile];
  for (int64_t b = begin; b < end; ++b) {
    const int64_t p0 = bag_begin(a, b), p1 = bag_end(a, b);
    float scale = bag_scale(a, b);
    for (int64_t p = p0; p < p1; ++p) {
      if (ids[p] < 0 || int64_t(ids[p]) >= V) {
        if (first_bad < 0) first_bad = p;
        scale = 0.f;
        break;
      }
    }
    const int64_t count = scale != 0.f ? p1 - p0 : 0;
    // The next bag's ids, prefetched while this bag's last rows are summed:
    // prefetching only within a bag left the first kPrefetch rows of every
    // bag (about half of them at 26 ids a bag) to miss in series. Its ids
    // are not validated yet, so out-of-range ones are skipped.
    const int64_t q0 = b + 1 < a.num_bags ? bag_begin(a, b + 1) : 0;
    const int64_t q1 = b + 1 < a.num_bags ? bag_end(a, b + 1) : 0;
    T* o = out + b * D;  // 64-bit: B*D can exceed INT_MAX
    for (int64_t d0 = 0; d0 < D; d0 += kTile) {
      const int n = static_cast<int>(D - d0 < kTile ? D - d0 : kTile);
      const bool last_tile = d0 + kTile >= D;  // the next bag starts at tile 0
      sum_tile<T>(
          count, n,
          [&](int64_t k, float* w) {
            const int64_t p = p0 + k;
            if (p + kPrefetch < p1) {
              prefetch_tile(table + int64_t(ids[p + kPrefetch]) * D + d0);
            } else if (last_tile && q0 + (p + kPrefetch - p1) < q1) {
              const int64_t id = int64_t(ids[q0 + (p + kPrefetch - p1)]);
              if (id >= 0 && id < V) prefetch_tile(table + id * D);
            }
            *w = a.weights ? a.weights[p] : 1.0f;
            return table + int64_t(ids[p]) * D + d0;
          },
          sum);
      for (int d = 0; d < n; ++d) sum[d] *= scale;
      store_tile(o + d0, sum, n);
    }
  }
  return first_bad;
}

template <typename T>
void grad_rows(const PoolArgs& a, const GradPlanView& plan, const float* scales,
               const void* grad_out_v, void* grad_rows_v, int64_t begin, int64_t end) {
  const T* g = static_cast<const T*>(grad_out_v);
  T* rows = static_cast<T*>(grad_rows_v);
  const int64_t D = a.dim;
  alignas(64) float sum[kTile];
  for (int64_t u = begin; u < end; ++u) {
    const int64_t k0 = plan.run_starts[u], k1 = plan.run_starts[u + 1];
    for (int64_t d0 = 0; d0 < D; d0 += kTile) {
      const int n = static_cast<int>(D - d0 < kTile ? D - d0 : kTile);
      sum_tile<T>(
          k1 - k0, n,
          [&](int64_t i, float* w) {
            const int64_t bag = plan.sorted_bag[k0 + i];
            if (k0 + i + kPrefetch < k1)
              prefetch_tile(g + plan.sorted_bag[k0 + i + kPrefetch] * D + d0);
            *w = scales[bag];
            if (a.weights) {
              const int64_t k = static_cast<int64_t>(plan.sorted[k0 + i] & 0xffffffffu);
              *w *= a.weights[plan.position(a, k)];
            }
            return g + bag * D + d0;
          },
          sum);
      store_tile(rows + u * D + d0, sum, n);
    }
  }
}

inline float dot(const float* __restrict x, const float* __restrict y, int n) {
  vfloat acc = {};
  int d = 0;
  for (; d + kLanes <= n; d += kLanes) acc += loadv(x + d) * loadv(y + d);
  float s = 0.f;
  for (; d < n; ++d) s += x[d] * y[d];
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

template <typename T>
float dot_rows(const T* x, const T* y, int64_t D) {
  alignas(64) float bx[kTile], by[kTile];
  float s = 0.f;
  for (int64_t d0 = 0; d0 < D; d0 += kTile) {
    const int n = static_cast<int>(D - d0 < kTile ? D - d0 : kTile);
    s += dot(as_float(x + d0, n, bx), as_float(y + d0, n, by), n);
  }
  return s;
}

template <typename T, typename Id>
void grad_weights(const PoolArgs& a, const float* scales, const void* grad_out_v, const void* out_v,
                  float* gw, int64_t begin, int64_t end) {
  const T* table = static_cast<const T*>(a.table);
  const T* g = static_cast<const T*>(grad_out_v);
  const T* out = static_cast<const T*>(out_v);
  const Id* ids = static_cast<const Id*>(a.ids);
  const int64_t D = a.dim;
  for (int64_t b = begin; b < end; ++b) {
    const int64_t p0 = bag_begin(a, b), p1 = bag_end(a, b);
    if (p0 == p1) continue;
    const float s = scales[b];
    const T* gb = g + b * D;
    const float go = a.combiner == Combiner::kSum ? 0.f : dot_rows(gb, out + b * D, D);
    for (int64_t p = p0; p < p1; ++p) {
      const float d = dot_rows(gb, table + int64_t(ids[p]) * D, D);
      switch (a.combiner) {
        case Combiner::kSum:
          gw[p] = d;
          break;
        case Combiner::kMean:
          gw[p] = s * (d - go);
          break;
        case Combiner::kSqrtn:
          gw[p] = s * d - s * s * a.weights[p] * go;
          break;
      }
    }
  }
}

// Dispatch on (table dtype, id type) once per call, outside the loops.
template <typename Id>
int64_t forward_id(const PoolArgs& a, void* out, int64_t b0, int64_t b1) {
  switch (a.table_dtype) {
    case DType::kFloat32:
      return forward<float, Id>(a, out, b0, b1);
    case DType::kFloat16:
      return forward<f16, Id>(a, out, b0, b1);
    case DType::kBFloat16:
      return forward<bf16, Id>(a, out, b0, b1);
  }
  return -1;
}

int64_t forward_any(const PoolArgs& a, void* out, int64_t b0, int64_t b1) {
  return a.id_type == IdType::kInt32 ? forward_id<int32_t>(a, out, b0, b1)
                                     : forward_id<int64_t>(a, out, b0, b1);
}

void grad_rows_any(const PoolArgs& a, const GradPlanView& plan, const float* scales, const void* g,
                   void* rows, int64_t u0, int64_t u1) {
  switch (a.table_dtype) {
    case DType::kFloat32:
      return grad_rows<float>(a, plan, scales, g, rows, u0, u1);
    case DType::kFloat16:
      return grad_rows<f16>(a, plan, scales, g, rows, u0, u1);
    case DType::kBFloat16:
      return grad_rows<bf16>(a, plan, scales, g, rows, u0, u1);
  }
}

template <typename Id>
void grad_weights_id(const PoolArgs& a, const float* scales, const void* g, const void* out,
                     float* gw, int64_t b0, int64_t b1) {
  switch (a.table_dtype) {
    case DType::kFloat32:
      return grad_weights<float, Id>(a, scales, g, out, gw, b0, b1);
    case DType::kFloat16:
      return grad_weights<f16, Id>(a, scales, g, out, gw, b0, b1);
    case DType::kBFloat16:
      return grad_weights<bf16, Id>(a, scales, g, out, gw, b0, b1);
  }
}

void grad_weights_any(const PoolArgs& a, const float* scales, const void* g, const void* out,
                      float* gw, int64_t b0, int64_t b1) {
  if (a.id_type == IdType::kInt32)
    grad_weights_id<int32_t>(a, scales, g, out, gw, b0, b1);
  else
    grad_weights_id<int64_t>(a, scales, g, out, gw, b0, b1);
}

}  // namespace

const PoolCpuKernels& kernels() {
  static const PoolCpuKernels k = {&forward_any, &grad_rows_any, &grad_weights_any};
  return k;
}

}  // namespace YDNN_ISA_NS
}  // namespace pool_detail
}  // namespace ydnn
