// Pieces shared by the CUDA translation units of embedding_pool (not public):
// vector loads, lane groups, bag extents and scales, the pooling loop that
// both the forward and the backward's row sums run, and the host-side
// dispatch (errors, read-backs and grid sizes are common/cuda_utils.cuh's).
//
// Everything here is a template, a class or an inline function in
// ydnn::pool_cuda, so each .cu instantiates only what it uses and neither
// warns about the rest; the kernels themselves stay in each .cu's anonymous
// namespace.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "common/cuda_utils.cuh"
#include "embedding_pool/embedding_pool.h"

namespace ydnn {
namespace pool_cuda {

constexpr int kBlock = 256;
constexpr int kVecsPerLane = 4;  // vectors of a row one lane keeps in registers
constexpr int64_t kNoError = INT64_MAX;

// ------------------------------------------------------ vector loads ----

// VEC elements as one machine word: 16-bit rows move 8 at a time.
template <int Bytes>
struct RawOf;
template <>
struct RawOf<2> {
  using type = unsigned short;
};
template <>
struct RawOf<4> {
  using type = unsigned int;
};
template <>
struct RawOf<16> {
  using type = uint4;
};
template <typename T, int VEC>
union Packet {
  typename RawOf<sizeof(T) * VEC>::type raw;
  T v[VEC];
};

// p must be aligned to VEC elements (with_vec checks every base pointer).
template <typename T, int VEC>
__device__ __forceinline__ void load_vec(const T* p, float (&f)[VEC]) {
  Packet<T, VEC> pk;
  pk.raw = __ldg(reinterpret_cast<const decltype(pk.raw)*>(p));
#pragma unroll
  for (int k = 0; k < VEC; ++k) f[k] = to_float(pk.v[k]);
}

// ------------------------------------------------------------ groups ----

// G consecutive lanes (G divides 32, so a group never spans warps). Masks
// name only the group, so groups sharing a warp may leave their grid-stride
// loops at different times; every loop bound a group shuffles under is the
// same for all its lanes.
struct Group {
  int size, lane;
  unsigned mask;
  int64_t id, count;
  __device__ explicit Group(int g) : size(g), lane(threadIdx.x & (g - 1)) {
    const int wl = threadIdx.x & 31;
    mask = g == 32 ? ~0u : ((1u << g) - 1u) << (wl & ~(g - 1));
    id = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / g;
    count = int64_t{gridDim.x} * blockDim.x / g;
  }
  template <typename V>
  __device__ V sum(V v) const {
    for (int o = size / 2; o > 0; o >>= 1) v += __shfl_xor_sync(mask, v, o, size);
    return v;
  }
};

// -------------------------------------------------------------- bags ----

struct Bags {
  const int64_t* lengths;
  const int64_t* splits;
  int64_t B, L, N;
  // A malformed bag pools as empty; error[1] keeps the least bad bag, with B
  // standing for "row_splits[B] != N" alone.
  __device__ bool extent(int64_t b, int64_t& start, int64_t& len, int64_t* error) const {
    int64_t bad = b;
    if (splits == nullptr) {
      start = b * L;
      len = lengths[b];
      if (len >= 0 && len <= L) return true;
    } else {
      const int64_t lo = splits[b], hi = splits[b + 1];
      start = lo;
      len = hi - lo;
      const bool ok = lo >= 0 && lo <= hi && hi <= N && (b != 0 || lo == 0);
      if (ok && (b != B - 1 || hi == N)) return true;
      if (ok) bad = B;
    }
    if (error) atomicMin(reinterpret_cast<long long*>(error + 1), static_cast<long long>(bad));
    start = len = 0;
    return false;
  }
};

inline Bags bags_of(const PoolArgs& a) {
  return Bags{a.lengths, a.row_splits, a.num_bags, a.max_len, a.num_values};
}

// s_b in double, as the CPU path computes it, so both round it to the same
// float (up to the order of a weighted sum).
__device__ inline float bag_scale(const Group& grp, const float* w, int64_t start, int64_t len,
                                  Combiner c) {
  if (c == Combiner::kSum) return 1.f;
  double d = static_cast<double>(len);
  if (w) {
    d = 0.0;
    for (int64_t t = grp.lane; t < len; t += grp.size)
      d += c == Combiner::kMean ? w[start + t] : double(w[start + t]) * w[start + t];
    d = grp.sum(d);
  }
  if (c == Combiner::kSqrtn) d = sqrt(d);
  return d == 0.0 ? 0.f : static_cast<float>(1.0 / d);
}

// ------------------------------------------------------------ pooling ----

// dst[:D] = scale * sum_t coef_t * rows[row_t], t < count, where
// fetch(t, first_pass, row, coef) yields item t (row < 0: skip it). Lane k
// fetches item base + k, then __shfl_sync hands it to the group: one
// coalesced index read, then every lane loads its own VEC-wide slices of
// the row into fp32 registers (kVecsPerLane of them; wider rows take more
// passes over the items, whose indices then come from L1). The sum runs in
// item order, so the result does not depend on the launch shape.
// Out = float writes fp32 partial sums (the backward's chunks of hot runs).
template <typename T, int VEC, typename Fetch, typename Out = T>
__device__ void pool_rows(const T* __restrict__ rows, int64_t D, int64_t count, const Group& grp,
                          const Fetch& fetch, float scale, Out* __restrict__ dst) {
  const int64_t span = int64_t{grp.size} * VEC * kVecsPerLane;
  for (int64_t c0 = 0; c0 == 0 || c0 < D; c0 += span) {  // D = 0 still fetches (checks ids)
    float acc[kVecsPerLane][VEC] = {};
    for (int64_t base = 0; base < count; base += grp.size) {
      long long my_row = -1;
      float my_coef = 0.f;
      if (base + grp.lane < count) fetch(base + grp.lane, c0 == 0, my_row, my_coef);
      const int n = count - base < grp.size ? static_cast<int>(count - base) : grp.size;
      for (int t = 0; t < n; ++t) {
        const long long row = __shfl_sync(grp.mask, my_row, t, grp.size);
        const float coef = __shfl_sync(grp.mask, my_coef, t, grp.size);
        if (row < 0) continue;
#pragma unroll
        for (int v = 0; v < kVecsPerLane; ++v) {
          const int64_t c = c0 + (int64_t{v} * grp.size + grp.lane) * VEC;
          if (c >= D) break;
          float f[VEC];
          load_vec<T, VEC>(rows + row * D + c, f);
#pragma unroll
          for (int k = 0; k < VEC; ++k) acc[v][k] = fmaf(coef, f[k], acc[v][k]);
        }
      }
    }
#pragma unroll
    for (int v = 0; v < kVecsPerLane; ++v) {
      const int64_t c = c0 + (int64_t{v} * grp.size + grp.lane) * VEC;
      if (c >= D) break;
      if constexpr (std::is_same_v<Out, T>) {
        Packet<T, VEC> pk;
#pragma unroll
        for (int k = 0; k < VEC; ++k) pk.v[k] = from_float<T>(acc[v][k] * scale);
        *reinterpret_cast<decltype(pk.raw)*>(dst + c) = pk.raw;
      } else {
#pragma unroll
        for (int k = 0; k < VEC; ++k) dst[c + k] = acc[v][k] * scale;
      }
    }
  }
}

// --------------------------------------------------- host dispatching ----

template <int N>
using Int = std::integral_constant<int, N>;

// f(Tag<table type>, Tag<id type>)
template <typename F>
Status dispatch(const PoolArgs& a, F&& f) {
  auto on_id = [&](auto tt) -> Status {
    if (a.id_type == IdType::kInt32) return f(tt, Tag<int32_t>{});
    return f(tt, Tag<int64_t>{});
  };
  switch (a.table_dtype) {
    case DType::kFloat32:
      return on_id(Tag<float>{});
    case DType::kFloat16:
      return on_id(Tag<f16>{});
    case DType::kBFloat16:
      return on_id(Tag<bf16>{});
  }
  return InvalidArgument("unsupported table dtype ", static_cast<int>(a.table_dtype));
}

// f(Int<VEC>): the widest 16-byte (or, for 16-bit types, 4-byte) vector that
// divides D and every row pointer's alignment, else scalar. Rows start at
// multiples of D, so the base pointers decide for every row.
template <typename T, typename F>
Status with_vec(int64_t D, std::initializer_list<const void*> ptrs, F&& f) {
  auto fits = [&](int64_t vec) {
    bool ok = D % vec == 0;
    for (const void* p : ptrs) ok = ok && reinterpret_cast<uintptr_t>(p) % (vec * sizeof(T)) == 0;
    return ok;
  };
  if constexpr (sizeof(T) == 4) {
    if (fits(4)) return f(Int<4>{});
  } else {
    if (fits(8)) return f(Int<8>{});
    if (fits(2)) return f(Int<2>{});
  }
  return f(Int<1>{});
}

// The fewest lanes (4..32) that cover a row in VEC-wide vectors: small D
// packs several bags (or runs) into one warp.
inline int group_size(int64_t D, int vec) {
  int g = 4;
  while (g < 32 && g * int64_t{vec} < D) g *= 2;
  return g;
}

}  // namespace pool_cuda
}  // namespace ydnn
