// Sparse backward of embedding_pool on the GPU: workspace, plan, fill.
//
// Given g = dLoss/dout [B, D] (maths in the header):
//   dtable[v] = sum over occurrences (b, j) with i_j = v of s_b * w_j * g[b]
//   dw_j      = from g[b] . table[i_j] and g[b] . out[b] per combiner
// Outputs: unique ids [U] ascending, their rows [U, D], dw like the weights.
//
// Plan: scan per-bag counts, compact every occurrence in flat order as
// (key = id, or V if out of range; bag; s_b * w_j), stable radix sort of
// (key, index) over the bits of V, head flags + DeviceSelect -> run starts,
// one 8-byte read back for U. The sort spans num_values items: the compacted
// count is on the device and fetching it would cost a second sync; padding
// sorts last as key V. Stable sort + in-order run sums = reproducible dtable
// without atomics.
// Fill: a group per run sums coef * g[bag] in sorted (= flat) order (g read
// once per occurrence, U*D*s written); a group per bag forms dw from two
// dots (g[b] and out[b] once per bag, one table row per occurrence).
// Hot ids: a run longer than kRunChunk occurrences would make one group walk
// it as a dependent chain (a Zipf-hot id of 30k occurrences took 7 ms on an
// H200 while uniform ids took 0.36 ms), so such runs are cut into chunks of
// kRunChunk, each summed by its own group into fp32 partials [chunk, D],
// and a second pass adds each run's partials in chunk order: still
// deterministic, at most 2 n / kRunChunk partial rows.
// Bytes of the plan: ~ids + weights once, then the sort's passes over n
// (key, index) pairs of 4 bytes each when V, n and B fit 32 bits.

#include <thrust/iterator/counting_iterator.h>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <cub/device/device_select.cuh>

#include "embedding_pool/embedding_pool_cuda.cuh"

namespace ydnn {
namespace pool_cuda {
namespace {

constexpr int64_t kRunChunk = 512;

// Partial rows the hot-run chunks may need: a run of len > kRunChunk has
// ceil(len / kRunChunk) < 2 len / kRunChunk chunks.
inline int64_t max_run_chunks(int64_t n) {
  return n > kRunChunk ? (2 * n + kRunChunk - 1) / kRunChunk : 0;
}

// Workspace, carved from one caller buffer (base = nullptr: just sizes it).
// W is the sort's key / index type, 32-bit whenever V, n and B fit.
template <typename W>
struct Plan {
  int64_t* offs;  // [B+1] first occurrence of each bag; 64-bit whatever W is,
                  // since overlapping (malformed) row_splits may sum past n
  float* scale;   // [B] s_b
  W *keys_in, *keys_out, *vals_in, *vals_out, *occ_bag;  // [n], vals_in [n+1]
  float* occ_coef;                                       // [n] s_b * w_j
  int64_t* num_sel;
  uint8_t* flags;  // [n+1], reuses keys_in once sorted
  W* starts;       // [U+1], reuses vals_in once sorted
  W* chunk_start;  // [U+1] first chunk of each hot run (0 chunks: a short run)
  float* partial;  // [max_run_chunks(n), D] fp32 sums of the hot runs' chunks
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
    take(chunk_start, n + 1), take(partial, max_run_chunks(n) * a.dim);
    take(num_sel, 1), take(temp, 0);
    size = at;
    flags = reinterpret_cast<uint8_t*>(keys_in);  // n+1 bytes fit in n >= 1 keys
    starts = vals_in;
    while (end_bit < 64 && (uint64_t{1} << end_bit) <= static_cast<uint64_t>(a.num_rows))
      ++end_bit;  // keys go up to V itself
  }
  // Largest cub scratch; the plan runs three calls one after another, the
  // fill one more (the hot runs' chunk scan, over at most n + 1 runs).
  // With no scratch pointer cub only sizes, launching nothing on s.
  cudaError_t temp_bytes(const PoolArgs& a, size_t* bytes, cudaStream_t s) const {
    size_t t[4] = {0, 0, 0, 0};
    cudaError_t e = cub::DeviceRadixSort::SortPairs(nullptr, t[0], keys_in, keys_out, vals_in,
                                                    vals_out, a.num_values, 0, end_bit, s);
    if (e == cudaSuccess)
      e = cub::DeviceSelect::Flagged(nullptr, t[1], thrust::counting_iterator<W>(0), flags, starts,
                                     num_sel, a.num_values + 1, s);
    if (e == cudaSuccess)
      e = cub::DeviceScan::ExclusiveSum(nullptr, t[2], offs, offs, a.num_bags + 1, s);
    if (e == cudaSuccess)
      e = cub::DeviceScan::ExclusiveSum(nullptr, t[3], chunk_start, chunk_start, a.num_values + 1,
                                        s);
    *bytes = std::max({t[0], t[1], t[2], t[3]});
    return e;
  }
};

__global__ void bag_count_kernel(Bags bags, int64_t* counts) {
  YDNN_CUDA_FOR_EACH(b, bags.B + 1) {
    int64_t start = 0, len = 0;
    if (b < bags.B) bags.extent(b, start, len, nullptr);
    counts[b] = len;  // counts[B] = 0: the scan ends on the total
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
    const int64_t off = p.offs[b];
    // Bags overlapping through broken row_splits can overrun n: stay in
    // bounds. Offsets only grow, so [0, min(total, n)) is still all written.
    for (int64_t t = grp.lane; t < len && off + t < n; t += 32) {
      const int64_t id = ids[start + t];
      p.keys_in[off + t] = static_cast<W>(id >= 0 && id < V ? id : V);
      p.occ_bag[off + t] = static_cast<W>(b);
      p.occ_coef[off + t] = w ? s * w[start + t] : s;
    }
  }
}

// Sort values 0..n-1; slots past the compacted occurrences sort last as V.
template <typename W>
__global__ void tail_kernel(Plan<W> p, int64_t B, int64_t n, int64_t V) {
  const int64_t total = p.offs[B], used = total < n ? total : n;
  YDNN_CUDA_FOR_EACH(i, n) {
    p.vals_in[i] = static_cast<W>(i);
    if (i >= used) p.keys_in[i] = static_cast<W>(V);
  }
}

// Heads of the runs of sorted keys, with a virtual key V at k = n: exactly one
// head, the last selected, starts the out-of-range run, so starts[U] ends the
// last real run.
template <typename W>
__global__ void head_flags_kernel(Plan<W> p, int64_t n, int64_t V) {
  YDNN_CUDA_FOR_EACH(k, n + 1) {
    const W cur = k < n ? p.keys_out[k] : static_cast<W>(V);
    p.flags[k] = k == 0 || cur != p.keys_out[k - 1];
  }
}

template <typename Id, typename W>
__global__ void unique_ids_kernel(Plan<W> p, int64_t U, Id* out) {
  YDNN_CUDA_FOR_EACH(u, U) out[u] = static_cast<Id>(p.keys_out[p.starts[u]]);
}

template <typename W>
struct RunFetch {
  const W *order, *bag;  // order: this run's slice of sorted occurrence indices
  const float* coef;
  __device__ void operator()(int64_t t, bool, long long& row, float& c) const {
    row = static_cast<long long>(bag[order[t]]);
    c = coef[order[t]];
  }
};

// Short runs (at most kRunChunk occurrences): one group each, straight into
// grad_rows.
template <typename T, int VEC, typename W>
__global__ void __launch_bounds__(kBlock)
    grad_rows_kernel(Plan<W> p, const T* g, int64_t D, int64_t U, int G, T* grad_rows) {
  const Group grp(G);
  for (int64_t u = grp.id; u < U; u += grp.count) {
    const int64_t begin = p.starts[u], end = p.starts[u + 1];
    if (end - begin > kRunChunk) continue;  // a hot run: the chunk kernels write it
    pool_rows<T, VEC>(g, D, end - begin, grp,
                      RunFetch<W>{p.vals_out + begin, p.occ_bag, p.occ_coef}, 1.f,
                      grad_rows + u * D);
  }
}

// chunk_start[u] = the number of chunks of run u (0 for a short run), and
// chunk_start[U] = 0; the exclusive scan then makes them offsets.
template <typename W>
__global__ void chunk_count_kernel(Plan<W> p, int64_t U) {
  YDNN_CUDA_FOR_EACH(u, U + 1) {
    const int64_t len =
        u < U ? static_cast<int64_t>(p.starts[u + 1]) - static_cast<int64_t>(p.starts[u]) : 0;
    p.chunk_start[u] = static_cast<W>(len > kRunChunk ? (len + kRunChunk - 1) / kRunChunk : 0);
  }
}

// A group per chunk c < chunk_start[U]: its run is the last u with
// chunk_start[u] <= c (a short run's offset equals its successor's, so the
// last such u has chunks); it sums the run's occurrences
// [c' * kRunChunk, (c' + 1) * kRunChunk), c' = c - chunk_start[u].
template <typename T, int VEC, typename W>
__global__ void __launch_bounds__(kBlock)
    chunk_rows_kernel(Plan<W> p, const T* g, int64_t D, int64_t U, int64_t max_chunks, int G) {
  const Group grp(G);
  const int64_t total = p.chunk_start[U];
  for (int64_t c = grp.id; c < total && c < max_chunks; c += grp.count) {
    int64_t lo = 0, hi = U - 1;
    while (lo < hi) {
      const int64_t mid = (lo + hi + 1) / 2;
      if (static_cast<int64_t>(p.chunk_start[mid]) <= c)
        lo = mid;
      else
        hi = mid - 1;
    }
    const int64_t begin = static_cast<int64_t>(p.starts[lo]) +
                          (c - static_cast<int64_t>(p.chunk_start[lo])) * kRunChunk;
    const int64_t end = static_cast<int64_t>(p.starts[lo + 1]);
    const int64_t count = end - begin < kRunChunk ? end - begin : kRunChunk;
    pool_rows<T, VEC>(g, D, count, grp, RunFetch<W>{p.vals_out + begin, p.occ_bag, p.occ_coef}, 1.f,
                      p.partial + c * D);
  }
}

// A warp per hot run adds its chunks' partials in chunk order.
template <typename T, typename W>
__global__ void __launch_bounds__(kBlock)
    reduce_chunks_kernel(Plan<W> p, int64_t D, int64_t U, T* grad_rows) {
  const Group grp(32);
  for (int64_t u = grp.id; u < U; u += grp.count) {
    const int64_t first = p.chunk_start[u], last = p.chunk_start[u + 1];
    if (first == last) continue;  // a short run
    for (int64_t col = grp.lane; col < D; col += 32) {
      float acc = 0.f;
      for (int64_t c = first; c < last; ++c) acc += p.partial[c * D + col];
      grad_rows[u * D + col] = from_float<T>(acc);
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

template <typename T, typename Id, int VEC>
__global__ void __launch_bounds__(kBlock)
    grad_weights_kernel(Bags bags, const Id* ids, const float* w, const T* table, const T* g,
                        const T* out, const float* scale, int64_t V, int64_t D, Combiner comb,
                        int G, float* gw) {
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

// 32-bit sort keys and indices halve the sort's traffic whenever they fit.
template <typename F>
auto with_index(const PoolArgs& a, F&& f) {
  const int64_t lim = UINT32_MAX;
  const bool wide = a.num_rows >= lim || a.num_values >= lim || a.num_bags >= lim;
  if (wide) return f(Tag<uint64_t>{});
  return f(Tag<uint32_t>{});
}

template <typename Id, typename W>
Status plan_impl(const PoolArgs& a, char* base, size_t bytes, int64_t* num_unique, cudaStream_t s) {
  const Plan<W> p(a, base);
  size_t temp = 0, tb = 0;
  YDNN_CUDA(p.temp_bytes(a, &temp, s), "cub temp size query");
  if (bytes < p.size + temp)
    return InvalidArgument("embedding_pool backward workspace has ", bytes, " bytes; it needs ",
                           p.size + temp);
  const int64_t n = a.num_values, B = a.num_bags, V = a.num_rows;
  bag_count_kernel<<<blocks_for(B + 1, kBlock), kBlock, 0, s>>>(bags_of(a), p.offs);
  YDNN_CUDA(cudaGetLastError(), "bag_count_kernel");
  YDNN_CUDA(cub::DeviceScan::ExclusiveSum(p.temp, tb = temp, p.offs, p.offs, B + 1, s),
            "cub::DeviceScan::ExclusiveSum");
  gather_kernel<Id, W><<<blocks_for(B * 32, kBlock), kBlock, 0, s>>>(
      bags_of(a), static_cast<const Id*>(a.ids), a.weights, V, a.combiner, p, n);
  tail_kernel<W><<<blocks_for(n, kBlock), kBlock, 0, s>>>(p, B, n, V);
  YDNN_CUDA(cudaGetLastError(), "gather_kernel");
  YDNN_CUDA(cub::DeviceRadixSort::SortPairs(p.temp, tb = temp, p.keys_in, p.keys_out, p.vals_in,
                                            p.vals_out, n, 0, p.end_bit, s),
            "cub::DeviceRadixSort::SortPairs");
  head_flags_kernel<W><<<blocks_for(n + 1, kBlock), kBlock, 0, s>>>(p, n, V);
  YDNN_CUDA(cudaGetLastError(), "head_flags_kernel");
  YDNN_CUDA(cub::DeviceSelect::Flagged(p.temp, tb = temp, thrust::counting_iterator<W>(0), p.flags,
                                       p.starts, p.num_sel, n + 1, s),
            "cub::DeviceSelect::Flagged");
  int64_t heads = 0;
  YDNN_RETURN_IF_ERROR(read_back(&heads, p.num_sel, sizeof(heads), s));
  *num_unique = heads - 1;  // the last head starts the run of key V
  return Status::Ok();
}

template <typename T, typename Id, typename W>
Status fill_impl(const PoolArgs& a, const void* ws, int64_t U, const T* g, const T* out,
                 Id* unique_ids, T* grad_rows, float* gw, cudaStream_t s) {
  const Plan<W> p(a, static_cast<char*>(const_cast<void*>(ws)));
  const int64_t D = a.dim;
  if (U > 0) {
    unique_ids_kernel<Id, W><<<blocks_for(U, kBlock), kBlock, 0, s>>>(p, U, unique_ids);
    YDNN_CUDA(cudaGetLastError(), "unique_ids_kernel");
    YDNN_RETURN_IF_ERROR(with_vec<T>(D, {g, grad_rows}, [&](auto vc) -> Status {
      constexpr int VEC = decltype(vc)::value;
      const int G = group_size(D, VEC);
      const int64_t max_chunks = max_run_chunks(a.num_values);
      if (max_chunks > 0) {  // some run may be hot
        size_t have = 0, need = 0;
        YDNN_CUDA(p.temp_bytes(a, &have, s), "cub temp size query");
        YDNN_CUDA(
            cub::DeviceScan::ExclusiveSum(nullptr, need, p.chunk_start, p.chunk_start, U + 1, s),
            "cub temp size query");
        if (need > have)
          return Internal("embedding_pool backward: the chunk scan needs ", need,
                          " bytes of cub scratch, the workspace has ", have);
        chunk_count_kernel<W><<<blocks_for(U + 1, kBlock), kBlock, 0, s>>>(p, U);
        YDNN_CUDA(cudaGetLastError(), "chunk_count_kernel");
        YDNN_CUDA(
            cub::DeviceScan::ExclusiveSum(p.temp, need, p.chunk_start, p.chunk_start, U + 1, s),
            "cub::DeviceScan::ExclusiveSum");
        chunk_rows_kernel<T, VEC, W>
            <<<blocks_for(max_chunks * G, kBlock), kBlock, 0, s>>>(p, g, D, U, max_chunks, G);
        YDNN_CUDA(cudaGetLastError(), "chunk_rows_kernel");
        reduce_chunks_kernel<T, W>
            <<<blocks_for(U * 32, kBlock), kBlock, 0, s>>>(p, D, U, grad_rows);
        YDNN_CUDA(cudaGetLastError(), "reduce_chunks_kernel");
      }
      grad_rows_kernel<T, VEC, W>
          <<<blocks_for(U * G, kBlock), kBlock, 0, s>>>(p, g, D, U, G, grad_rows);
      return cuda_ok(cudaGetLastError(), "grad_rows_kernel");
    }));
  }
  if (gw == nullptr) return Status::Ok();
  return with_vec<T>(D, {g, a.table, out}, [&](auto vc) -> Status {
    constexpr int VEC = decltype(vc)::value;
    const int G = group_size(D, VEC);
    grad_weights_kernel<T, Id, VEC><<<blocks_for(a.num_bags * G, kBlock), kBlock, 0, s>>>(
        bags_of(a), static_cast<const Id*>(a.ids), a.weights, static_cast<const T*>(a.table), g,
        out, p.scale, a.num_rows, D, a.combiner, G, gw);
    return cuda_ok(cudaGetLastError(), "grad_weights_kernel");
  });
}

}  // namespace
}  // namespace pool_cuda

size_t embedding_pool_backward_workspace_cuda(const PoolArgs& a) {
  if (a.num_values == 0 || a.num_bags == 0) return 0;
  return pool_cuda::with_index(a, [&](auto wt) -> size_t {
    const pool_cuda::Plan<typename decltype(wt)::type> p(a, nullptr);
    size_t temp = 0;
    p.temp_bytes(a, &temp, nullptr);  // a failure resurfaces, as a Status, in the plan
    return p.size + temp;
  });
}

Status embedding_pool_backward_plan_cuda(const PoolArgs& a, void* workspace, size_t workspace_bytes,
                                         int64_t* num_unique, void* stream) {
  *num_unique = 0;
  if (a.num_values == 0 || a.num_bags == 0) return Status::Ok();
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  char* ws = static_cast<char*>(workspace);
  return pool_cuda::with_index(a, [&](auto wt) -> Status {
    using W = typename decltype(wt)::type;
    if (a.id_type == IdType::kInt32)
      return pool_cuda::plan_impl<int32_t, W>(a, ws, workspace_bytes, num_unique, s);
    return pool_cuda::plan_impl<int64_t, W>(a, ws, workspace_bytes, num_unique, s);
  });
}

Status embedding_pool_backward_cuda(const PoolArgs& a, const void* workspace, int64_t num_unique,
                                    const void* grad_out, const void* out, void* unique_ids,
                                    void* grad_rows, float* grad_weights, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (grad_weights && a.num_values > 0)  // padding and bad ids keep a zero gradient
    YDNN_CUDA(cudaMemsetAsync(grad_weights, 0, sizeof(float) * a.num_values, s), "cudaMemsetAsync");
  if (a.num_values == 0 || a.num_bags == 0) return Status::Ok();
  if (grad_weights && out == nullptr && a.combiner != Combiner::kSum)
    return InvalidArgument("weight gradients under mean or sqrtn need the forward output");
  return pool_cuda::dispatch(a, [&](auto tt, auto it) -> Status {
    using T = typename decltype(tt)::type;
    using Id = typename decltype(it)::type;
    return pool_cuda::with_index(a, [&](auto wt) -> Status {
      return pool_cuda::fill_impl<T, Id, typename decltype(wt)::type>(
          a, workspace, num_unique, static_cast<const T*>(grad_out), static_cast<const T*>(out),
          static_cast<Id*>(unique_ids), static_cast<T*>(grad_rows), grad_weights, s);
    });
  });
}

}  // namespace ydnn
