// Fused embedding gather + pool on the GPU, forward and sparse backward.
//
// out[b] = s_b * sum_j w_j * table[i_j] over B bags (maths in the header).
// table [V, D]; ids [B, L] + lengths [B] or [N] + row_splits [B+1]; weights
// like ids; out and grad_out [B, D]; backward gives unique ids [U], rows [U, D].
//
// Forward: a group of G = 4..32 lanes (the fewest covering a row in 16-byte
// vectors, so small D packs several bags per warp) owns a bag. Lane k reads
// id/weight k of the next G and __shfl_sync hands it to the group: one
// coalesced id read, then every lane loads its own vectors of the row into
// fp32 registers (4 vectors a lane; wider rows re-walk the bag, ids in L1).
// Bytes: sum(len)*D*s gathered (Zipf-hot rows hit L2) + B*D*s written + ids
// and weights once, so it runs at gather bandwidth.
//
// Backward plan: scan per-bag counts, compact every occurrence in flat order
// as (key = id, or V if out of range; bag; s_b * w_j), stable radix sort of
// (key, index) over the bits of V, head flags + DeviceSelect -> run starts,
// one 8-byte read back for U. The sort spans num_values items: the compacted
// count is on the device and fetching it would cost a second sync; padding
// sorts last as key V. Stable sort + in-order run sums = reproducible dtable
// without atomics. Fill: a group per run sums coef * g[bag] (g read once per
// occurrence, U*D*s written); a group per bag forms dw from two dots.

#include <cuda_runtime.h>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <cub/device/device_select.cuh>
#include <thrust/iterator/counting_iterator.h>

#include <algorithm>
#include <initializer_list>
#include <type_traits>

#include "embedding_pool/embedding_pool.h"

namespace ydnn {
namespace {

constexpr int kBlock = 256;
constexpr int kVecsPerLane = 4;
constexpr int64_t kNoError = INT64_MAX;

Status cuda_ok(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  return Internal("CUDA error in ", what, ": ", cudaGetErrorString(err));
}
#define YDNN_CUDA(expr, what) YDNN_RETURN_IF_ERROR(cuda_ok((expr), what))
#define FOR_EACH(i, n)                                                      \
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < (n); \
       i += int64_t{gridDim.x} * blockDim.x)

// VEC elements as one machine word: 16-bit rows move 8 at a time.
template <int Bytes> struct RawOf;
template <> struct RawOf<2> { using type = unsigned short; };
template <> struct RawOf<4> { using type = unsigned int; };
template <> struct RawOf<16> { using type = uint4; };
template <typename T, int VEC> union Packet {
  typename RawOf<sizeof(T) * VEC>::type raw;
  T v[VEC];
};

template <typename T, int VEC>
__device__ __forceinline__ void load_vec(const T* p, float (&f)[VEC]) {
  Packet<T, VEC> pk;
  pk.raw = __ldg(reinterpret_cast<const decltype(pk.raw)*>(p));
#pragma unroll
  for (int k = 0; k < VEC; ++k) f[k] = to_float(pk.v[k]);
}

// G consecutive lanes. Masks name only the group, so groups sharing a warp
// may leave their grid-stride loops at different times.
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
  template <typename V> __device__ V sum(V v) const {
    for (int o = size / 2; o > 0; o >>= 1) v += __shfl_xor_sync(mask, v, o, size);
    return v;
  }
};

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

// In double, as the CPU path does, so both round s_b to the same float.
__device__ float bag_scale(const Group& grp, const float* w, int64_t start, int64_t len,
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

// dst[:D] = scale * sum_t coef_t * rows[row_t], t < count, where
// fetch(t, first_pass, row, coef) yields item t (row < 0: skip it).
template <typename T, int VEC, typename Fetch>
__device__ void pool_rows(const T* __restrict__ rows, int64_t D, int64_t count, const Group& grp,
                          const Fetch& fetch, float scale, T* __restrict__ dst) {
  const int64_t span = int64_t{grp.size} * VEC * kVecsPerLane;
  for (int64_t c0 = 0; c0 == 0 || c0 < D; c0 += span) {  // D = 0 still checks ids
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
      Packet<T, VEC> pk;
#pragma unroll
      for (int k = 0; k < VEC; ++k) pk.v[k] = from_float<T>(acc[v][k] * scale);
      *reinterpret_cast<decltype(pk.raw)*>(dst + c) = pk.raw;
    }
  }
}

template <typename T, int VEC>
__device__ float group_dot(const T* x, const T* y, int64_t D, const Group& grp) {
  float s = 0.f;
  for (int64_t c = int64_t{grp.lane} * VEC; c < D; c += int64_t{grp.size} * VEC) {
    float fx[VEC], fy[VEC];
    load_vec<T, VEC>(x + c, fx);
    load_vec<T, VEC>(y + c, fy);
#pragma unroll
    for (int k = 0; k < VEC; ++k) s = fmaf(fx[k], fy[k], s);
  }
  return grp.sum(s);
}

template <typename Id> struct IdFetch {
  const Id* ids;
  const float* w;
  int64_t start, V;
  int64_t* error;
  __device__ void operator()(int64_t t, bool first, long long& row, float& coef) const {
    const int64_t p = start + t, id = ids[p];
    coef = w ? w[p] : 1.f;
    if (id >= 0 && id < V) row = id;
    else if (first && error)
      atomicMin(reinterpret_cast<long long*>(error), static_cast<long long>(p));
  }
};

template <typename W> struct RunFetch {
  const W *order, *bag;  // order: this run's slice of sorted occurrence indices
  const float* coef;
  __device__ void operator()(int64_t t, bool, long long& row, float& c) const {
    row = static_cast<long long>(bag[order[t]]);
    c = coef[order[t]];
  }
};

// B = 0 launches no bag, yet row_splits = [N] must still read [0].
__global__ void init_error_kernel(Bags bags, int64_t* error) {
  error[0] = kNoError;
  error[1] = bags.splits && bags.B == 0 && bags.splits[0] != bags.N ? 0 : kNoError;
}

template <typename T, typename Id, int VEC>
__global__ void __launch_bounds__(kBlock)
forward_kernel(Bags bags, const T* table, const Id* ids, const float* w, int64_t V, int64_t D,
               Combiner comb, int G, T* out, int64_t* error) {
  const Group grp(G);
  for (int64_t b = grp.id; b < bags.B; b += grp.count) {
    int64_t start, len;
    bags.extent(b, start, len, grp.lane == 0 ? error : nullptr);
    pool_rows<T, VEC>(table, D, len, grp, IdFetch<Id>{ids, w, start, V, error},
                      bag_scale(grp, w, start, len, comb), out + b * D);
  }
}

// Workspace, carved from one caller buffer (base = nullptr: just sizes it).
template <typename W> struct Plan {
  W *offs, *keys_in, *keys_out, *vals_in, *vals_out, *occ_bag;
  float *scale, *occ_coef;
  int64_t* num_sel;
  uint8_t* flags;  // reuses keys_in once sorted
  W* starts;       // [U+1], reuses vals_in once sorted
  char* temp;
  size_t size;  // bytes before the cub scratch
  int end_bit = 1;
  Plan(const PoolArgs& a, char* base) {
    const size_t n = a.num_values, B = a.num_bags;
    size_t at = 0;
    auto take = [&](auto*& p, size_t count) {
      p = reinterpret_cast<std::remove_reference_t<decltype(p)>>(base + at);
      at += (count * sizeof(*p) + 255) / 256 * 256;
    };
    take(offs, B + 1), take(scale, B), take(keys_in, n), take(keys_out, n);
    take(vals_in, n + 1), take(vals_out, n), take(occ_bag, n), take(occ_coef, n);
    take(num_sel, 1), take(temp, 0);
    size = at;
    flags = reinterpret_cast<uint8_t*>(keys_in);
    starts = vals_in;
    while (end_bit < 64 && (uint64_t{1} << end_bit) <= static_cast<uint64_t>(a.num_rows))
      ++end_bit;  // keys go up to V itself
  }
  // Largest cub scratch; the plan runs the three calls one after another.
  cudaError_t temp_bytes(const PoolArgs& a, size_t* bytes, cudaStream_t s = 0) const {
    size_t t[3] = {0, 0, 0};
    cudaError_t e = cub::DeviceRadixSort::SortPairs(nullptr, t[0], keys_in, keys_out, vals_in,
                                                    vals_out, a.num_values, 0, end_bit, s);
    if (e == cudaSuccess)
      e = cub::DeviceSelect::Flagged(nullptr, t[1], thrust::counting_iterator<W>(0), flags, starts,
                                     num_sel, a.num_values + 1, s);
    if (e == cudaSuccess)
      e = cub::DeviceScan::ExclusiveSum(nullptr, t[2], offs, offs, a.num_bags + 1, s);
    *bytes = std::max({t[0], t[1], t[2]});
    return e;
  }
};

template <typename W> __global__ void bag_count_kernel(Bags bags, W* counts) {
  FOR_EACH(b, bags.B + 1) {
    int64_t start = 0, len = 0;
    if (b < bags.B) bags.extent(b, start, len, nullptr);
    counts[b] = static_cast<W>(len);  // counts[B] = 0: the scan ends on the total
  }
}

template <typename Id, typename W>
__global__ void __launch_bounds__(kBlock)
gather_kernel(Bags bags, const Id* ids, const float* w, int64_t V, Combiner comb, Plan<W> p,
              int64_t n) {
  const Group grp(32);
  for (int64_t b = grp.id; b < bags.B; b += grp.count) {
    int64_t start, len;
    bags.extent(b, start, len, nullptr);
    const float s = bag_scale(grp, w, start, len, comb);
    if (grp.lane == 0) p.scale[b] = s;
    const int64_t off = static_cast<int64_t>(p.offs[b]);
    // Bags overlapping through broken row_splits can overrun n: stay in bounds.
    for (int64_t t = grp.lane; t < len && off + t < n; t += 32) {
      const int64_t id = ids[start + t];
      p.keys_in[off + t] = static_cast<W>(id >= 0 && id < V ? id : V);
      p.occ_bag[off + t] = static_cast<W>(b);
      p.occ_coef[off + t] = w ? s * w[start + t] : s;
    }
  }
}

template <typename W> __global__ void tail_kernel(Plan<W> p, int64_t B, int64_t n, int64_t V) {
  const int64_t total = static_cast<int64_t>(p.offs[B]), used = total < n ? total : n;
  FOR_EACH(i, n) {
    p.vals_in[i] = static_cast<W>(i);
    if (i >= used) p.keys_in[i] = static_cast<W>(V);
  }
}

// Heads of the runs of sorted keys, with a virtual key V at k = n: exactly one
// head, the last selected, starts the out-of-range run, so starts[U] ends the
// last real run.
template <typename W> __global__ void head_flags_kernel(Plan<W> p, int64_t n, int64_t V) {
  FOR_EACH(k, n + 1) {
    const W cur = k < n ? p.keys_out[k] : static_cast<W>(V);
    p.flags[k] = k == 0 || cur != p.keys_out[k - 1];
  }
}

template <typename Id, typename W>
__global__ void unique_ids_kernel(Plan<W> p, int64_t U, Id* out) {
  FOR_EACH(u, U) out[u] = static_cast<Id>(p.keys_out[p.starts[u]]);
}

template <typename T, int VEC, typename W>
__global__ void __launch_bounds__(kBlock)
grad_rows_kernel(Plan<W> p, const T* g, int64_t D, int64_t U, int G, T* grad_rows) {
  const Group grp(G);
  for (int64_t u = grp.id; u < U; u += grp.count) {
    const int64_t begin = p.starts[u], end = p.starts[u + 1];
    pool_rows<T, VEC>(g, D, end - begin, grp,
                      RunFetch<W>{p.vals_out + begin, p.occ_bag, p.occ_coef}, 1.f,
                      grad_rows + u * D);
  }
}

template <typename T, typename Id, int VEC>
__global__ void __launch_bounds__(kBlock)
grad_weights_kernel(Bags bags, const Id* ids, const float* w, const T* table, const T* g,
                    const T* out, const float* scale, int64_t V, int64_t D, Combiner comb, int G,
                    float* gw) {
  const Group grp(G);
  for (int64_t b = grp.id; b < bags.B; b += grp.count) {
    int64_t start, len;
    if (!bags.extent(b, start, len, nullptr)) continue;
    const T* gb = g + b * D;
    const float s = scale[b];
    const float go =
        comb == Combiner::kSum || len == 0 ? 0.f : group_dot<T, VEC>(gb, out + b * D, D, grp);
    for (int64_t t = 0; t < len; ++t) {
      const int64_t p = start + t, id = ids[p];
      if (id < 0 || id >= V) continue;  // keeps the memset's 0
      const float dot = group_dot<T, VEC>(gb, table + id * D, D, grp);
      if (grp.lane == 0)
        gw[p] = comb == Combiner::kSum    ? dot
                : comb == Combiner::kMean ? s * (dot - go)
                                          : s * dot - s * s * (w ? w[p] : 1.f) * go;
    }
  }
}

// --------------------------------------------------------------- host ----

template <typename T> struct Tag { using type = T; };
template <int N> using Int = std::integral_constant<int, N>;

// f(Tag<table type>, Tag<id type>)
template <typename F> Status dispatch(const PoolArgs& a, F&& f) {
  auto on_id = [&](auto tt) -> Status {
    if (a.id_type == IdType::kInt32) return f(tt, Tag<int32_t>{});
    return f(tt, Tag<int64_t>{});
  };
  switch (a.table_dtype) {
    case DType::kFloat32: return on_id(Tag<float>{});
    case DType::kFloat16: return on_id(Tag<f16>{});
    case DType::kBFloat16: return on_id(Tag<bf16>{});
  }
  return InvalidArgument("unsupported table dtype ", static_cast<int>(a.table_dtype));
}

// 32-bit sort keys and indices halve the sort's traffic whenever they fit.
template <typename F> auto with_index(const PoolArgs& a, F&& f) {
  const int64_t lim = UINT32_MAX;
  const bool wide = a.num_rows >= lim || a.num_values >= lim || a.num_bags >= lim;
  if (wide) return f(Tag<uint64_t>{});
  return f(Tag<uint32_t>{});
}

// f(Int<VEC>): the widest 16-byte (or for 16-bit, 4-byte) vector that divides
// D and every row pointer's alignment, else scalar.
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

int group_size(int64_t D, int vec) {
  int g = 4;
  while (g < 32 && g * int64_t{vec} < D) g *= 2;
  return g;
}

int blocks(int64_t items, int threads_per_item) {
  const int64_t per_block = kBlock / threads_per_item;
  return static_cast<int>(std::clamp<int64_t>((items + per_block - 1) / per_block, 1, 1 << 16));
}

Bags bags_of(const PoolArgs& a) {
  return Bags{a.lengths, a.row_splits, a.num_bags, a.max_len, a.num_values};
}

template <typename Id, typename W>
Status plan_impl(const PoolArgs& a, char* base, size_t bytes, int64_t* num_unique,
                 cudaStream_t s) {
  const Plan<W> p(a, base);
  size_t temp = 0, tb = 0;
  YDNN_CUDA(p.temp_bytes(a, &temp), "cub temp size query");
  if (bytes < p.size + temp)
    return InvalidArgument("embedding_pool backward workspace has ", bytes, " bytes; it needs ",
                           p.size + temp);
  const int64_t n = a.num_values, B = a.num_bags, V = a.num_rows;
  bag_count_kernel<W><<<blocks(B + 1, 1), kBlock, 0, s>>>(bags_of(a), p.offs);
  YDNN_CUDA(cudaGetLastError(), "bag_count_kernel");
  YDNN_CUDA(cub::DeviceScan::ExclusiveSum(p.temp, tb = temp, p.offs, p.offs, B + 1, s),
            "cub::DeviceScan::ExclusiveSum");
  gather_kernel<Id, W><<<blocks(B, 32), kBlock, 0, s>>>(
      bags_of(a), static_cast<const Id*>(a.ids), a.weights, V, a.combiner, p, n);
  tail_kernel<W><<<blocks(n, 1), kBlock, 0, s>>>(p, B, n, V);
  YDNN_CUDA(cudaGetLastError(), "gather_kernel");
  YDNN_CUDA(cub::DeviceRadixSort::SortPairs(p.temp, tb = temp, p.keys_in, p.keys_out, p.vals_in,
                                            p.vals_out, n, 0, p.end_bit, s),
            "cub::DeviceRadixSort::SortPairs");
  head_flags_kernel<W><<<blocks(n + 1, 1), kBlock, 0, s>>>(p, n, V);
  YDNN_CUDA(cudaGetLastError(), "head_flags_kernel");
  YDNN_CUDA(cub::DeviceSelect::Flagged(p.temp, tb = temp, thrust::counting_iterator<W>(0),
                                       p.flags, p.starts, p.num_sel, n + 1, s),
            "cub::DeviceSelect::Flagged");
  int64_t heads = 0;
  YDNN_CUDA(cudaMemcpyAsync(&heads, p.num_sel, sizeof(heads), cudaMemcpyDeviceToHost, s),
            "cudaMemcpyAsync");
  YDNN_CUDA(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  *num_unique = heads - 1;  // the last head starts the run of key V
  return Status::Ok();
}

template <typename T, typename Id, typename W>
Status fill_impl(const PoolArgs& a, const void* ws, int64_t U, const T* g, const T* out,
                 Id* unique_ids, T* grad_rows, float* gw, cudaStream_t s) {
  const Plan<W> p(a, static_cast<char*>(const_cast<void*>(ws)));
  const int64_t D = a.dim;
  if (U > 0) {
    unique_ids_kernel<Id, W><<<blocks(U, 1), kBlock, 0, s>>>(p, U, unique_ids);
    YDNN_RETURN_IF_ERROR(with_vec<T>(D, {g, grad_rows}, [&](auto vc) -> Status {
      constexpr int VEC = decltype(vc)::value;
      const int G = group_size(D, VEC);
      grad_rows_kernel<T, VEC, W><<<blocks(U, G), kBlock, 0, s>>>(p, g, D, U, G, grad_rows);
      return cuda_ok(cudaGetLastError(), "grad_rows_kernel");
    }));
  }
  if (gw == nullptr) return Status::Ok();
  return with_vec<T>(D, {g, a.table, out}, [&](auto vc) -> Status {
    constexpr int VEC = decltype(vc)::value;
    const int G = group_size(D, VEC);
    grad_weights_kernel<T, Id, VEC><<<blocks(a.num_bags, G), kBlock, 0, s>>>(
        bags_of(a), static_cast<const Id*>(a.ids), a.weights, static_cast<const T*>(a.table), g,
        out, p.scale, a.num_rows, D, a.combiner, G, gw);
    return cuda_ok(cudaGetLastError(), "grad_weights_kernel");
  });
}

Status read_back(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  YDNN_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync");
  return cuda_ok(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

}  // namespace

Status embedding_pool_forward_cuda(const PoolArgs& a, void* out, int64_t* error, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (error) {  // even for B = 0, so that check_error reads a defined state
    init_error_kernel<<<1, 1, 0, s>>>(bags_of(a), error);
    YDNN_CUDA(cudaGetLastError(), "init_error_kernel");
  }
  if (a.num_bags == 0) return Status::Ok();
  return dispatch(a, [&](auto tt, auto it) -> Status {
    using T = typename decltype(tt)::type;
    using Id = typename decltype(it)::type;
    return with_vec<T>(a.dim, {a.table, out}, [&](auto vc) -> Status {
      constexpr int VEC = decltype(vc)::value;
      const int G = group_size(a.dim, VEC);
      forward_kernel<T, Id, VEC><<<blocks(a.num_bags, G), kBlock, 0, s>>>(
          bags_of(a), static_cast<const T*>(a.table), static_cast<const Id*>(a.ids), a.weights,
          a.num_rows, a.dim, a.combiner, G, static_cast<T*>(out), error);
      return cuda_ok(cudaGetLastError(), "forward_kernel");
    });
  });
}

Status embedding_pool_check_error_cuda(const PoolArgs& a, const int64_t* error, void* stream) {
  if (error == nullptr) return Status::Ok();
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t B = a.num_bags, L = a.max_len, V = a.num_rows;
  int64_t e[2], value = 0;  // first bad id position, first bad bag
  YDNN_RETURN_IF_ERROR(read_back(e, error, sizeof(e), s));
  if (e[1] != kNoError && !a.ragged()) {
    YDNN_RETURN_IF_ERROR(read_back(&value, a.lengths + e[1], 8, s));
    return InvalidArgument("lengths[", e[1], "] = ", value, " is outside [0, ", L,
                           "] (ids have shape [", B, ", ", L, "])");
  }
  if (e[1] != kNoError) {
    // Bag b flags the pair (b, b+1), whose second split is the first bad one,
    // unless bag 0 failed on row_splits[0] != 0; B flags the last split.
    int64_t k = e[1] >= B ? B : e[1] + 1;
    if (e[1] == 0) {
      YDNN_RETURN_IF_ERROR(read_back(&value, a.row_splits, 8, s));
      if (value != 0) k = 0;
    }
    YDNN_RETURN_IF_ERROR(read_back(&value, a.row_splits + k, 8, s));
    return InvalidArgument("row_splits must be non-decreasing from 0 to ", a.num_values,
                           " (the number of ids); row_splits[", k, "] = ", value);
  }
  if (e[0] == kNoError) return Status::Ok();
  const bool narrow = a.id_type == IdType::kInt32;
  int32_t v32 = 0;
  YDNN_RETURN_IF_ERROR(read_back(narrow ? static_cast<void*>(&v32) : &value,
                                 static_cast<const char*>(a.ids) + e[0] * (narrow ? 4 : 8),
                                 narrow ? 4 : 8, s));
  if (narrow) value = v32;
  std::ostringstream where;
  if (a.ragged()) where << e[0];
  else where << e[0] / L << ", " << e[0] % L;
  return InvalidArgument("ids[", where.str(), "] = ", value, " is out of range [0, ", V,
                         ") for a table of shape [", V, ", ", a.dim, "]");
}

size_t embedding_pool_backward_workspace_cuda(const PoolArgs& a) {
  if (a.num_values == 0 || a.num_bags == 0) return 0;
  return with_index(a, [&](auto wt) -> size_t {
    const Plan<typename decltype(wt)::type> p(a, nullptr);
    size_t temp = 0;
    p.temp_bytes(a, &temp);  // a failure resurfaces, as a Status, in the plan
    return p.size + temp;
  });
}

Status embedding_pool_backward_plan_cuda(const PoolArgs& a, void* workspace,
                                         size_t workspace_bytes, int64_t* num_unique,
                                         void* stream) {
  *num_unique = 0;
  if (a.num_values == 0 || a.num_bags == 0) return Status::Ok();
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  char* ws = static_cast<char*>(workspace);
  return with_index(a, [&](auto wt) -> Status {
    using W = typename decltype(wt)::type;
    if (a.id_type == IdType::kInt32)
      return plan_impl<int32_t, W>(a, ws, workspace_bytes, num_unique, s);
    return plan_impl<int64_t, W>(a, ws, workspace_bytes, num_unique, s);
  });
}

Status embedding_pool_backward_cuda(const PoolArgs& a, const void* workspace,
                                    int64_t num_unique, const void* grad_out, const void* out,
                                    void* unique_ids, void* grad_rows, float* grad_weights,
                                    void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (grad_weights && a.num_values > 0)  // padding and bad ids keep a zero gradient
    YDNN_CUDA(cudaMemsetAsync(grad_weights, 0, sizeof(float) * a.num_values, s),
              "cudaMemsetAsync");
  if (a.num_values == 0 || a.num_bags == 0) return Status::Ok();
  if (grad_weights && out == nullptr && a.combiner != Combiner::kSum)
    return InvalidArgument("weight gradients under mean or sqrtn need the forward output");
  return dispatch(a, [&](auto tt, auto it) -> Status {
    using T = typename decltype(tt)::type;
    using Id = typename decltype(it)::type;
    return with_index(a, [&](auto wt) -> Status {
      return fill_impl<T, Id, typename decltype(wt)::type>(
          a, workspace, num_unique, static_cast<const T*>(grad_out), static_cast<const T*>(out),
          static_cast<Id*>(unique_ids), static_cast<T*>(grad_rows), grad_weights, s);
    });
  });
}

}  // namespace ydnn
