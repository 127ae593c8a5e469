// TF's unique (first-occurrence) sampling on the GPU for any sampler whose
// draw i is a pure device function of i: the log-uniform (sampler_cuda.cu)
// and unigram (unigram/unigram_cuda.cu) samplers share it. Everything here is a
// template, an inline function or a constant in ydnn::sampler_cuda, so both
// .cu files include it without clashing.
//
// Output: sampled [N = num_sampled] int64, the first occurrences of the draw
// stream in draw order, and the host *num_tries = 1 + the draw index of the
// last one kept. Ids lie in [min_id, min_id + range).
//
// Unique, chunk by chunk: the ids seen before a chunk are exactly the ids
// kept so far (kept < N = num_sampled, or we would have stopped), and they
// already sit in sampled[0, kept). So each chunk of c draws sorts
// kept + c (key = id - min_id, value = position) pairs, kept ids first: the
// radix sort is stable, so each run of equal keys starts with its earliest
// position, a kept id if the id was seen before, else the chunk's first
// draw of it. Run heads that are chunk draws are the new ids; DeviceSelect
// compacts their chunk indices in draw order, a kernel appends the first
// N - kept of them to sampled, and one 16-byte read back (the only host sync,
// once per chunk) says how many there were and, once N are reached, which
// draw was the last. No chunk is ever redrawn, nothing is O(R), and the
// result does not depend on the chunk sizes.
// Chunks: 1.5 N + 1024 draws first (enough when ids are mostly new), then as
// many as the draws-per-new-id rate so far predicts for the rest, plus 25%,
// at most 4 N + 4096. The workspace holds one chunk's pairs:
//   (N + 4 N + 4096) x (2 K-byte keys + 2 4-byte values) + 5 B (flag,
//   index) per chunk draw + cub scratch, K = 4 when range <= 2^32, else 8.
// Limits: N <= 2^30 (sort sizes stay within cub's int), and, like the CPU,
// an error once 2^31 draws have not yielded N distinct ids (num_sampled
// close to the number of drawable ids, with tiny probabilities at the tail).
//
// Bytes per chunk, n = kept + c pairs: fill writes n (K + 4) and reads 8 kept;
// the onesweep sort reads and writes about n (K + 4) per 8-bit digit of
// range - 1;
// heads read n (K + 4), write c flags; the select reads c, writes 4 per new
// id; the append writes 8 per kept id.

#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include <thrust/iterator/counting_iterator.h>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>

#include "common/cuda_utils.cuh"
#include "common/status.h"

namespace ydnn {
namespace sampler_cuda {

constexpr int kBlock = 256;
constexpr int64_t kMaxSampled = int64_t{1} << 30;
constexpr int64_t kMaxItems = (int64_t{1} << 31) - 1;  // cub's int num_items
constexpr int64_t kMaxDraws = int64_t{1} << 31;        // the CPU's give-up point

// What the unique path needs to know of a sampler.
struct UniqueSpec {
  int64_t num_sampled;
  int64_t min_id;
  int64_t range;     // ids lie in [min_id, min_id + range)
  const char* what;  // the sampler's name, for errors
};

// Workspace of the unique path, carved from one caller buffer (base =
// nullptr: just sizes it). Sized for the largest chunk; every chunk reuses it.
template <typename K>
struct Plan {
  int64_t chunk_max;  // draws per chunk
  int64_t cap;        // sort pairs: kept ids (< N) + one chunk
  int end_bit = 1;    // keys are < range
  K* keys[2];         // the sort's double buffers
  uint32_t* vals[2];  // positions: kept ids, then the chunk's draws
  uint8_t* flags;     // [chunk_max] draw is a new id
  uint32_t* sel;      // [chunk_max] chunk indices of the new ids, in draw order
  int64_t* result;    // [2] new ids in the chunk; chunk index of the last one
                      // needed, or -1 if the chunk has too few
  char* temp;
  size_t size;  // bytes before the cub scratch

  Plan(const UniqueSpec& u, char* base) {
    const int64_t N = u.num_sampled;
    chunk_max = std::min(4 * N + 4096, kMaxItems - N);
    cap = N + chunk_max;
    size_t at = 0;
    auto take = [&](auto*& p, int64_t count) {
      p = reinterpret_cast<std::remove_reference_t<decltype(p)>>(base + at);
      at += (static_cast<size_t>(count) * sizeof(*p) + 255) / 256 * 256;
    };
    take(keys[0], cap), take(keys[1], cap), take(vals[0], cap), take(vals[1], cap);
    take(flags, chunk_max), take(sel, chunk_max), take(result, 2), take(temp, 0);
    size = at;
    while (end_bit < 64 && (static_cast<uint64_t>(u.range - 1) >> end_bit) != 0) ++end_bit;
  }

  // Largest cub scratch of a chunk: the sort and the select run one after the
  // other, and need no more for fewer items. Sizing launches nothing.
  cudaError_t temp_bytes(size_t* bytes) const {
    cub::DoubleBuffer<K> k(keys[0], keys[1]);
    cub::DoubleBuffer<uint32_t> v(vals[0], vals[1]);
    size_t t[2] = {0, 0};
    cudaError_t e =
        cub::DeviceRadixSort::SortPairs(nullptr, t[0], k, v, static_cast<int>(cap), 0, end_bit);
    if (e == cudaSuccess)
      e = cub::DeviceSelect::Flagged(nullptr, t[1], thrust::counting_iterator<uint32_t>(0), flags,
                                     sel, result, static_cast<int>(chunk_max));
    *bytes = std::max(t[0], t[1]);
    return e;
  }
};

// Pairs [0, kept) are the ids kept so far, [kept, n) the chunk's draws
// first, first + 1, ...; the value is the position, so a stable sort leaves
// each run of one id in position order.
template <typename K, typename Draw>
__global__ void fill_kernel(Draw draw, int64_t min_id, const int64_t* sampled, int64_t kept,
                            uint64_t first, int64_t n, K* keys, uint32_t* vals) {
  YDNN_CUDA_FOR_EACH(i, n) {
    const int64_t id = i < kept ? sampled[i] : draw(first + (i - kept));
    keys[i] = static_cast<K>(id - min_id);
    vals[i] = static_cast<uint32_t>(i);
  }
}

// Every chunk draw sits at exactly one sorted position, so each flag is
// written once (no memset); a run's head is its earliest position, and a
// chunk draw there is an id not seen before. The head's key goes to
// first_key, indexed by chunk draw, for the append.
template <typename K>
__global__ void head_kernel(const K* keys, const uint32_t* vals, int64_t n, int64_t kept,
                            uint8_t* flags, K* first_key) {
  YDNN_CUDA_FOR_EACH(p, n) {
    const int64_t v = vals[p];
    if (v < kept) continue;
    const bool head = p == 0 || keys[p] != keys[p - 1];
    flags[v - kept] = head;
    if (head) first_key[v - kept] = keys[p];
  }
}

// Appends the first min(new ids, need) new ids of the chunk to out, and
// records which chunk draw completes the sample, if this chunk does.
template <typename K>
__global__ void append_kernel(const K* first_key, const uint32_t* sel, int64_t* result,
                              int64_t need, int64_t min_id, int64_t* out) {
  const int64_t found = result[0];
  const int64_t take = found < need ? found : need;
  YDNN_CUDA_FOR_EACH(r, take) out[r] = min_id + static_cast<int64_t>(first_key[sel[r]]);
  if (blockIdx.x == 0 && threadIdx.x == 0)
    result[1] = found >= need ? static_cast<int64_t>(sel[need - 1]) : int64_t{-1};
}

template <typename K, typename Draw>
Status sample_unique(const UniqueSpec& u, const Draw& draw, int64_t* sampled, int64_t* num_tries,
                     char* ws, size_t ws_bytes, cudaStream_t s) {
  const Plan<K> p(u, ws);
  size_t temp = 0, tb = 0;
  YDNN_CUDA(p.temp_bytes(&temp), "cub temp size query");
  if (ws_bytes < p.size + temp)
    return InvalidArgument(u.what, " sample workspace has ", ws_bytes, " bytes; it needs ",
                           p.size + temp);
  const int64_t N = u.num_sampled;
  int64_t kept = 0, first = 0;  // ids in sampled; draws consumed
  int64_t chunk = std::min(N + N / 2 + 1024, p.chunk_max);
  for (;;) {
    chunk = std::min(chunk, kMaxDraws - first);
    const int64_t n = kept + chunk, need = N - kept;
    fill_kernel<K><<<blocks_for(n, kBlock), kBlock, 0, s>>>(
        draw, u.min_id, sampled, kept, static_cast<uint64_t>(first), n, p.keys[0], p.vals[0]);
    YDNN_CUDA(cudaGetLastError(), "fill_kernel");
    cub::DoubleBuffer<K> keys(p.keys[0], p.keys[1]);
    cub::DoubleBuffer<uint32_t> vals(p.vals[0], p.vals[1]);
    YDNN_CUDA(cub::DeviceRadixSort::SortPairs(p.temp, tb = temp, keys, vals, static_cast<int>(n), 0,
                                              p.end_bit, s),
              "cub::DeviceRadixSort::SortPairs");
    // The sort's other key buffer is free again: it takes the new ids' keys.
    K* first_key = keys.Alternate();
    head_kernel<K><<<blocks_for(n, kBlock), kBlock, 0, s>>>(keys.Current(), vals.Current(), n, kept,
                                                            p.flags, first_key);
    YDNN_CUDA(cudaGetLastError(), "head_kernel");
    YDNN_CUDA(cub::DeviceSelect::Flagged(p.temp, tb = temp, thrust::counting_iterator<uint32_t>(0),
                                         p.flags, p.sel, p.result, static_cast<int>(chunk), s),
              "cub::DeviceSelect::Flagged");
    append_kernel<K><<<blocks_for(need, kBlock), kBlock, 0, s>>>(first_key, p.sel, p.result, need,
                                                                 u.min_id, sampled + kept);
    YDNN_CUDA(cudaGetLastError(), "append_kernel");
    int64_t r[2];
    YDNN_RETURN_IF_ERROR(read_back(r, p.result, sizeof(r), s));
    if (r[1] >= 0) {
      *num_tries = first + r[1] + 1;
      return Status::Ok();
    }
    kept += r[0];
    first += chunk;
    if (first >= kMaxDraws)
      return InvalidArgument(u.what, " sampling drew 2^31 ids and found only ", kept, " of the ", N,
                             " distinct ids asked for (range of ", u.range,
                             " ids): the law puts almost all its mass on fewer ids than "
                             "num_sampled; lower num_sampled or sample with unique=False");
    const double per_new = static_cast<double>(first) / std::max<int64_t>(kept, 1);
    chunk = std::max<int64_t>(
        4096, static_cast<int64_t>(std::min(1.25 * per_new * static_cast<double>(N - kept),
                                            static_cast<double>(p.chunk_max))));
  }
}

// f(Tag<key type>): 32-bit sort keys whenever the range fits, halving the
// sort's traffic.
template <typename F>
auto with_key(int64_t range, F&& f) {
  if (range <= (int64_t{1} << 32)) return f(Tag<uint32_t>{});
  return f(Tag<uint64_t>{});
}

// Bytes of workspace first_occurrences_cuda needs (0 when N > 2^30, which
// it refuses).
inline size_t unique_workspace_cuda(const UniqueSpec& u) {
  if (u.num_sampled > kMaxSampled) return 0;
  return with_key(u.range, [&](auto kt) -> size_t {
    const Plan<typename decltype(kt)::type> p(u, nullptr);
    size_t temp = 0;
    p.temp_bytes(&temp);  // a failure resurfaces, as a Status, in the sample call
    return p.size + temp;
  });
}

// The unique sample of the stream draw(0), draw(1), ... (device functor).
template <typename Draw>
Status first_occurrences_cuda(const UniqueSpec& u, const Draw& draw, int64_t* sampled,
                              int64_t* num_tries, void* workspace, size_t workspace_bytes,
                              cudaStream_t s) {
  if (u.num_sampled > kMaxSampled)
    return Internal("unique ", u.what, " sampling on the GPU supports num_sampled <= 2^30, got ",
                    u.num_sampled);
  return with_key(u.range, [&](auto kt) -> Status {
    return sample_unique<typename decltype(kt)::type>(
        u, draw, sampled, num_tries, static_cast<char*>(workspace), workspace_bytes, s);
  });
}

}  // namespace sampler_cuda
}  // namespace ydnn
