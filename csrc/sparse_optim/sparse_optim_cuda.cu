// sparse_optim on the GPU (maths in sparse_optim.h).
//
// Unless the caller promises unique ids, (id, position) pairs are sorted
// with cub's radix sort (stable, full key width so a negative or huge bad id
// can never interleave with a valid run), and each run of equal ids is one
// unit of work. One warp per unit: lanes stride over D, sum the run's
// gradient rows in position order (deterministic), then read-modify-write
// the table row and its slot rows once. Row-wise Adagrad first reduces
// mean(g^2) across the warp. Bytes: N*D*s of gradient read (twice for
// row-wise), |U|*D*(s + 4*slots) read and written; the sort moves
// N*(sizeof(id)+8) bytes a pass.
//
// Hot ids: a run longer than kRunChunk would make its warp walk it as one
// dependent chain (N = 16384 Zipf ids took 0.8-1.7 ms on an H200 against
// 0.05-0.07 ms for as many unique ids). A pass before the update sums each
// kRunChunk-long chunk of such runs into an fp32 partial row, a warp per
// chunk, and the run's warp then adds its partials in chunk order: still
// deterministic. Partial rows are indexed by position, 2 (p / kRunChunk) +
// (p is the run's head): a window of kRunChunk positions holds at most one
// chunk that continues a hot run and one hot run's head.
//
// Bad ids: a check kernel over the ids (N reads) atomicMin-s the smallest
// bad position into the error word before anything is written, and every
// update warp reads that word first, so a call with a bad id writes no row,
// as on the CPU; the check syncs once and reports that position. Without an
// error word (validate_indices=False) bad ids are skipped, never written.
#include <cuda_runtime.h>
#include <cub/cub.cuh>

#include <climits>
#include <cmath>

#include "common/cuda_utils.cuh"
#include "common/stochastic_round.h"
#include "sparse_optim/sparse_optim.h"

namespace ydnn {
namespace {

constexpr int kBlock = 256;
constexpr int64_t kMaxBlocks = 8192;  // the kernels stride past this many blocks
constexpr int64_t kNoError = INT64_MAX;
constexpr int64_t kRunChunk = 256;

// Partial rows the hot runs' chunks may need (see chunk_slot).
int64_t partial_rows(int64_t n) { return n > kRunChunk ? 2 * (n / kRunChunk + 1) : 0; }

struct Scalars {
  float lr, wd, eps, one_minus_b1, one_minus_b2, alpha;
  bool stochastic;  // 16-bit tables: round each element with its own bits
  uint64_t seed;
  int64_t step;
};

Scalars scalars_of(const OptimHyper& h) {
  const double t = static_cast<double>(h.step);
  return {h.lr,
          h.weight_decay,
          h.epsilon,
          1.0f - h.beta1,
          1.0f - h.beta2,
          static_cast<float>(h.lr * std::sqrt(1.0 - std::pow(double(h.beta2), t)) /
                             (1.0 - std::pow(double(h.beta1), t))),
          h.stochastic_rounding,
          h.seed,
          h.step};
}

size_t align_up(size_t n) { return (n + 255) & ~size_t(255); }

// Workspace: sorted keys [N], positions in [N], positions out [N], the hot
// runs' partial rows [partial_rows(N), D], cub temp.
template <typename Id>
struct Sorted {
  Id* keys;
  int64_t *pos_in, *pos_out;
  float* partial;
  void* temp;
  size_t temp_bytes, total;
  Sorted(int64_t n, int64_t D, char* base, size_t temp_size) {
    keys = reinterpret_cast<Id*>(base);
    size_t off = align_up(sizeof(Id) * n);
    pos_in = reinterpret_cast<int64_t*>(base + off);
    off += align_up(sizeof(int64_t) * n);
    pos_out = reinterpret_cast<int64_t*>(base + off);
    off += align_up(sizeof(int64_t) * n);
    partial = reinterpret_cast<float*>(base + off);
    off += align_up(sizeof(float) * partial_rows(n) * D);
    temp = base + off;
    temp_bytes = temp_size;
    total = off + temp_size;
  }
};

template <typename Id>
size_t sort_temp_bytes(int64_t n) {
  size_t bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const Id*>(nullptr),
                                  static_cast<Id*>(nullptr), static_cast<const int64_t*>(nullptr),
                                  static_cast<int64_t*>(nullptr), static_cast<int>(n));
  return bytes;
}

__global__ void iota_kernel(int64_t* p, int64_t n) { YDNN_CUDA_FOR_EACH(i, n) p[i] = i; }

__global__ void init_error_kernel(int64_t* error) { *error = kNoError; }

// The run of id around position p of the sorted keys: its first position
// (search [0, hi)) and one past its last (search [lo, n)).
template <typename Id>
__device__ int64_t run_first(const Id* keys, int64_t hi, int64_t id) {
  int64_t lo = 0;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (static_cast<int64_t>(keys[mid]) < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}
template <typename Id>
__device__ int64_t run_last(const Id* keys, int64_t lo, int64_t n, int64_t id) {
  int64_t hi = n;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (static_cast<int64_t>(keys[mid]) <= id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

__device__ int64_t chunk_slot(int64_t p, int64_t head) {
  return 2 * (p / kRunChunk) + (p == head ? 1 : 0);
}

// A warp per sorted position: if it starts a chunk of a hot run (longer
// than kRunChunk), the chunk's gradient rows summed in position order.
template <typename T, typename Id>
__global__ void chunk_sum_kernel(const Id* __restrict__ keys, const int64_t* __restrict__ pos,
                                 const T* __restrict__ grad, int64_t n, int64_t V, int64_t D,
                                 float* __restrict__ partial) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / 32;
  for (int64_t p = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; p < n; p += warps) {
    const int64_t id = static_cast<int64_t>(keys[p]);
    if (id < 0 || id >= V) continue;  // the update reports it
    // A hot run's chunk starts at its head (then the run reaches p + K) or K
    // after another chunk start: two loads rule out most positions before
    // the searches.
    const bool maybe = (p >= kRunChunk && static_cast<int64_t>(keys[p - kRunChunk]) == id) ||
                       (p + kRunChunk < n && static_cast<int64_t>(keys[p + kRunChunk]) == id);
    if (!maybe) continue;
    const int64_t head = run_first(keys, p + 1, id);
    if ((p - head) % kRunChunk != 0) continue;
    const int64_t end = run_last(keys, p + 1, n, id);
    if (end - head <= kRunChunk) continue;  // a short run: its warp sums it
    const int64_t stop = p + kRunChunk < end ? p + kRunChunk : end;
    float* out = partial + chunk_slot(p, head) * D;
    for (int64_t j = lane; j < D; j += 32) {
      float g = 0.0f;
      for (int64_t r = p; r < stop; ++r) g += to_float(grad[pos[r] * D + j]);
      out[j] = g;
    }
  }
}

template <typename T, typename Id, OptimKind K>
__global__ void update_kernel(T* __restrict__ table, float* __restrict__ s0, float* __restrict__ s1,
                              const Id* __restrict__ keys, const int64_t* __restrict__ pos,
                              const T* __restrict__ grad, const float* __restrict__ partial,
                              int64_t n, int64_t V, int64_t D, Scalars s, int64_t* error) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / 32;
  if (error != nullptr && *error != kNoError) return;  // a bad id: write nothing
  for (int64_t k = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; k < n; k += warps) {
    const int64_t id = static_cast<int64_t>(keys[k]);
    if (pos != nullptr && k > 0 && static_cast<int64_t>(keys[k - 1]) == id) continue;  // not a head
    const int64_t end = pos != nullptr ? run_last(keys, k + 1, n, id) : k + 1;
    const bool hot = end - k > kRunChunk;  // sorted ids only: unique runs are 1 long
    if (id < 0 || id >= V) continue;       // recorded by check_ids_kernel
    auto grad_at = [&](int64_t j) {
      float g = 0.0f;
      if (hot) {
        for (int64_t c = k; c < end; c += kRunChunk) g += partial[chunk_slot(c, k) * D + j];
      } else {
        for (int64_t r = k; r < end; ++r) g += to_float(grad[(pos ? pos[r] : r) * D + j]);
      }
      return g;
    };
    T* w = table + id * D;
    float row_mult = 0.0f;
    if constexpr (K == OptimKind::kRowWiseAdagrad) {
      float sq = 0.0f;
      for (int64_t j = lane; j < D; j += 32) {
        const float g = grad_at(j);
        sq += g * g;
      }
      for (int off = 16; off > 0; off >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, off);
      const float acc = s0[id] + (D > 0 ? sq / static_cast<float>(D) : 0.0f);
      __syncwarp();
      if (lane == 0) s0[id] = acc;
      row_mult = s.lr / (sqrtf(acc) + s.eps);
    }
    for (int64_t j = lane; j < D; j += 32) {
      const float g = grad_at(j);
      float x = to_float(w[j]);
      if (s.wd != 0.0f) x = x - x * s.wd * s.lr;
      if constexpr (K == OptimKind::kSgd) {
        x = x - g * s.lr;
      } else if constexpr (K == OptimKind::kAdagrad) {
        const float acc = s0[id * D + j] + g * g;
        s0[id * D + j] = acc;
        x = x - (s.lr * g) / sqrtf(acc + s.eps);
      } else if constexpr (K == OptimKind::kRowWiseAdagrad) {
        x = x - g * row_mult;
      } else {
        const float m = s0[id * D + j] + (g - s0[id * D + j]) * s.one_minus_b1;
        const float v = s1[id * D + j] + (g * g - s1[id * D + j]) * s.one_minus_b2;
        s0[id * D + j] = m;
        s1[id * D + j] = v;
        x = x - (m * s.alpha) / (sqrtf(v) + s.eps);
      }
      // Each lane draws its element's block: the CPU's bits exactly, at
      // 8x the Philox work, which is cheap next to the row's memory traffic.
      w[j] = s.stochastic
                 ? from_float_stochastic<T>(
                       x, round_bits_of(
                              round_bits_block(s.seed, s.step, id, D, j / kRoundBitsPerBlock), j))
                 : from_float<T>(x);
    }
  }
}

template <typename Id>
__global__ void check_ids_kernel(const Id* __restrict__ ids, int64_t n, int64_t V, int64_t* error) {
  YDNN_CUDA_FOR_EACH(p, n) {
    const int64_t id = static_cast<int64_t>(ids[p]);
    if (id < 0 || id >= V)
      atomicMin(reinterpret_cast<unsigned long long*>(error), static_cast<unsigned long long>(p));
  }
}

// partial: the hot runs' partial rows (sorted ids, N > kRunChunk), else null.
template <typename T, typename Id, OptimKind K>
Status launch(const SparseOptimArgs& a, const Id* keys, const int64_t* pos, float* partial,
              int64_t* error, cudaStream_t st) {
  if (partial != nullptr) {
    chunk_sum_kernel<T, Id><<<blocks_for(a.num_ids * 32, kBlock, kMaxBlocks), kBlock, 0, st>>>(
        keys, pos, static_cast<const T*>(a.grad), a.num_ids, a.num_rows, a.dim, partial);
    YDNN_CUDA(cudaGetLastError(), "sparse_optim chunk_sum_kernel");
  }
  update_kernel<T, Id, K><<<blocks_for(a.num_ids * 32, kBlock, kMaxBlocks), kBlock, 0, st>>>(
      static_cast<T*>(a.table), a.slot0, a.slot1, keys, pos, static_cast<const T*>(a.grad), partial,
      a.num_ids, a.num_rows, a.dim, scalars_of(a.hyper), error);
  return cuda_ok(cudaGetLastError(), "sparse_optim update_kernel");
}

template <typename T, typename Id>
Status launch_kind(const SparseOptimArgs& a, const Id* keys, const int64_t* pos, float* partial,
                   int64_t* error, cudaStream_t st) {
  switch (a.kind) {
    case OptimKind::kSgd:
      return launch<T, Id, OptimKind::kSgd>(a, keys, pos, partial, error, st);
    case OptimKind::kAdagrad:
      return launch<T, Id, OptimKind::kAdagrad>(a, keys, pos, partial, error, st);
    case OptimKind::kRowWiseAdagrad:
      return launch<T, Id, OptimKind::kRowWiseAdagrad>(a, keys, pos, partial, error, st);
    case OptimKind::kLazyAdam:
      return launch<T, Id, OptimKind::kLazyAdam>(a, keys, pos, partial, error, st);
  }
  return Internal("unknown optimizer kind");
}

template <typename Id>
Status apply_ids(const SparseOptimArgs& a, void* workspace, size_t bytes, int64_t* error,
                 cudaStream_t st) {
  const Id* keys = static_cast<const Id*>(a.ids);
  const int64_t* pos = nullptr;
  float* partial = nullptr;
  if (error != nullptr) {
    check_ids_kernel<Id><<<blocks_for(a.num_ids, kBlock, kMaxBlocks), kBlock, 0, st>>>(
        keys, a.num_ids, a.num_rows, error);
    YDNN_CUDA(cudaGetLastError(), "check_ids_kernel");
  }
  if (!a.ids_unique) {
    const Sorted<Id> w(a.num_ids, a.dim, static_cast<char*>(workspace),
                       sort_temp_bytes<Id>(a.num_ids));
    if (bytes < w.total)
      return InvalidArgument("sparse_optim workspace has ", bytes, " bytes; it needs ", w.total);
    iota_kernel<<<blocks_for(a.num_ids, kBlock, kMaxBlocks), kBlock, 0, st>>>(w.pos_in, a.num_ids);
    YDNN_CUDA(cudaGetLastError(), "iota_kernel");
    size_t tb = w.temp_bytes;
    YDNN_CUDA(
        cub::DeviceRadixSort::SortPairs(w.temp, tb, keys, w.keys, w.pos_in, w.pos_out,
                                        static_cast<int>(a.num_ids), 0, int(sizeof(Id) * 8), st),
        "cub::DeviceRadixSort::SortPairs");
    keys = w.keys;
    pos = w.pos_out;
    if (partial_rows(a.num_ids) > 0) partial = w.partial;
  }
  switch (a.table_dtype) {
    case DType::kFloat32:
      return launch_kind<float, Id>(a, keys, pos, partial, error, st);
    case DType::kFloat16:
      return launch_kind<f16, Id>(a, keys, pos, partial, error, st);
    case DType::kBFloat16:
      return launch_kind<bf16, Id>(a, keys, pos, partial, error, st);
  }
  return Internal("unknown table dtype");
}

}  // namespace

size_t sparse_optim_workspace_cuda(const SparseOptimArgs& a) {
  if (a.ids_unique || a.num_ids == 0) return 0;
  const int64_t n = a.num_ids;
  const size_t temp =
      a.id_type == IdType::kInt32 ? sort_temp_bytes<int32_t>(n) : sort_temp_bytes<int64_t>(n);
  return align_up((a.id_type == IdType::kInt32 ? 4 : 8) * n) + 2 * align_up(8 * n) +
         align_up(sizeof(float) * partial_rows(n) * a.dim) + temp;
}

Status sparse_optim_apply_cuda(const SparseOptimArgs& a, void* workspace, size_t workspace_bytes,
                               int64_t* error, void* stream) {
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  if (error != nullptr) {
    init_error_kernel<<<1, 1, 0, st>>>(error);
    YDNN_CUDA(cudaGetLastError(), "init_error_kernel");
  }
  if (a.num_ids == 0 || a.dim == 0) return Status::Ok();
  if (a.num_ids > INT_MAX)
    return InvalidArgument("the CUDA path sorts at most 2^31 - 1 ids per call, got ", a.num_ids);
  if (a.id_type == IdType::kInt32)
    return apply_ids<int32_t>(a, workspace, workspace_bytes, error, st);
  return apply_ids<int64_t>(a, workspace, workspace_bytes, error, st);
}

Status sparse_optim_check_error_cuda(const SparseOptimArgs& a, const int64_t* error, void* stream) {
  if (error == nullptr) return Status::Ok();
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  int64_t pos = kNoError;
  YDNN_RETURN_IF_ERROR(read_back(&pos, error, sizeof(pos), st));
  if (pos == kNoError) return Status::Ok();
  int64_t id = 0;
  const size_t isz = a.id_type == IdType::kInt32 ? 4 : 8;
  int32_t id32 = 0;
  void* dst = a.id_type == IdType::kInt32 ? static_cast<void*>(&id32) : static_cast<void*>(&id);
  YDNN_RETURN_IF_ERROR(read_back(dst, static_cast<const char*>(a.ids) + pos * isz, isz, st));
  if (a.id_type == IdType::kInt32) id = id32;
  return sparse_optim_bad_id(a, pos, id);
}

Status sparse_optim_copy_cuda(void* dst, const void* src, size_t bytes, void* stream) {
  if (bytes == 0) return Status::Ok();
  return cuda_ok(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)),
      "cudaMemcpyAsync");
}

}  // namespace ydnn
