// Fused score-and-top-k over a whole candidate table on the GPU (maths in
// topk_scores.h): for each query row b, the k ids v in [min_id, V) outside
// the row's exclusion list with the largest s = q_b . C_v (fp32 sums),
// best first, ties by lower id; NaN and -inf never enter; -1 / -inf pad.
//
// Shapes: queries [B, D] f32; table [V, D] f32 / f16 / bf16, read in place;
// exclusions values [N] (i32 / i64) + row_splits [B+1]; scores [B, k] f32,
// ids [B, k] i64. Nothing [B, V] is formed.
//
// Passes, all on the caller's stream (no host sync but the error check's):
//   0. error given: {-1, -1} written, check_kernel flags a non-finite
//      query, a row_split out of order, an exclusion id outside [0, V).
//   1. score_kernel, grid (row tiles, chunks): a block owns BM query rows
//      and one chunk of candidates and scores it a BM x BN tile at a time
//      (score_tile in the .cuh: 16-deep slices through shared memory, f16 /
//      bf16 widened there, a TM x TN register block per thread). Each row
//      keeps a buffer of keys in the workspace and a cut: a score below the
//      cut's is dropped after one compare; one above it is checked against
//      the row's exclusion list (a linear scan) and appended. A buffer
//      about to overflow is flushed by one warp: radix select of its k-th
//      best key, which becomes the new cut, and compaction to the best k.
//      At the chunk's end each row leaves its best k keys, 0-padded.
//   2. merge_kernel levels: blocks reduce groups of 16 lists of k keys to
//      one (block radix select + compaction) until one list per row is
//      left; the last level sorts it (bitonic, shared memory up to 4096
//      keys, the workspace beyond) and writes scores and ids.
//   3. error given: the first bad element becomes {kind, position}.
//
// Tile shapes (rows x candidates, per thread): B <= 4: 4 x 256 (4 x 1),
// B <= 16: 16 x 128 (4 x 2), else 64 x 64 (4 x 4). Chunks: about 4 blocks
// per SM in all, each chunk at least max(4 k, 8 BN) candidates, within a
// 256 MiB workspace budget (B = 1, V = 10^7 on an H100: ~530 chunks).
//
// Work and bytes: 2 B (V - min_id) D flops on fp32 SIMT cores; the table,
// (V - min_id) D s bytes, read once per row tile, but the row tiles of a
// chunk are neighbouring blocks (x), so beyond the first it comes from L2:
// about once from memory; the queries once per chunk. The selection costs
// one compare per score plus,
// per row and chunk, about k (1 + ln(chunk / k)) appends on unordered data
// (every candidate when scores rise with the id: then about 16 key reads
// per candidate) and per append a scan of the row's exclusion list (short
// histories: < 100 ids). Workspace: B x chunks x (k + max(k, BN) + BN) x 8
// bytes of buffers, B x chunks / 16 x k x 8 for the merge, and the sort
// space when k > 4096.
//
// Limits: V <= 2^32 (ids live in 32 bits of a key), k <= 2^26 (32-bit
// counts); the final sort runs in one block per row, so k in the ten
// thousands works but costs O(k log^2 k) there.
//
// What is left for speed: the score loop runs on the fp32 FMA pipes with
// 64 x 64 tiles, scalar global loads and no double buffering: well below
// the fp32 matmul rate. B >= 256 wants 128 x 128 tiles on tensor cores
// (TF32 / bf16 mma, or 3xTF32 for fp32-exact sums), cp.async / TMA double
// buffering of the candidate slices and 16-byte global loads, so that the
// >= 70% of the fp32 matmul rate goal becomes reachable; B = 1 wants a
// GEMV-style path (vector loads straight to registers, no staging).
//
// Errors: kernels never read out of bounds on bad input. A bad exclusion
// id never matches a candidate; bad row_splits are clamped into [0, N].
// With an error buffer, check_kernel atomicMin-s (kind << 56 | position)
// into error[0] (unsigned, -1 the largest), so the least kind, then the
// least position wins: the CPU's check order (queries, row_splits, ids);
// finish_error_kernel splits it into {kind, position}. check_error reads
// it back with one sync, then the bad value (one more small read).
#include "topk/topk_scores_cuda.cuh"

namespace ydnn {
namespace topk_cuda {
namespace {

using topk_detail::BadKind;

// ------------------------------------------------------------ errors ----

__device__ __forceinline__ void flag(uint64_t* error, BadKind kind, int64_t pos) {
  const uint64_t word = (static_cast<uint64_t>(kind) << kKindShift) | static_cast<uint64_t>(pos);
  atomicMin(reinterpret_cast<unsigned long long*>(error), static_cast<unsigned long long>(word));
}

// Over queries (B D), row_splits (B + 1) and exclusion ids (N): the
// conditions of topk_detail::check_host, element by element. Exclusions
// are keyed on row_splits: a zero-size values array (every list empty) may
// come with a null pointer from CuPy, and its splits still need checking.
__global__ void check_kernel(const float* queries, int64_t nq, const int64_t* splits, int64_t B,
                             const void* exclude, bool exclude32, int64_t N, int64_t V,
                             uint64_t* error) {
  const int64_t ns = splits ? B + 1 : 0, ne = splits && exclude ? N : 0;
  YDNN_CUDA_FOR_EACH(i, nq + ns + ne) {
    if (i < nq) {
      if (!isfinite(queries[i])) flag(error, BadKind::kQuery, i);
    } else if (i < nq + ns) {
      const int64_t b = i - nq, s = splits[b];
      const bool bad =
          b == 0 ? s != 0 || (B == 0 && s != N) : s < splits[b - 1] || s > N || (b == B && s != N);
      if (bad) flag(error, BadKind::kSplits, b);
    } else {
      const int64_t j = i - nq - ns, v = load_id(exclude, exclude32, j);
      if (v < 0 || v >= V) flag(error, BadKind::kExcludeId, j);
    }
  }
}

__global__ void finish_error_kernel(int64_t* error) {
  const uint64_t word = static_cast<uint64_t>(error[0]);
  if (word == kNoError) return;
  error[0] = static_cast<int64_t>(word >> kKindShift);
  error[1] = static_cast<int64_t>(word & ((uint64_t{1} << kKindShift) - 1));
}

// ------------------------------------------------------------ scores ----

template <typename T, typename C>
__device__ __forceinline__ uint64_t* row_buffer(const ScoreArgs<T>& p, int64_t b) {
  return p.keys + (b * p.chunks + blockIdx.y) * p.cap;
}

// One warp: the row's buffer cut to its best `target` keys, which become
// its new cut (n = the buffer's count > target).
template <typename T, typename C>
__device__ void flush_row(const ScoreArgs<T>& p, ScoreSmem<C>& sm, int m, int64_t b, int n,
                          int target) {
  uint64_t* buf = row_buffer<T, C>(p, b);
  int* hist = sm.hist[threadIdx.x / 32];
  const uint64_t cut = warp_select(buf, n, target, hist);
  warp_compact(buf, n, cut);
  if ((threadIdx.x & 31) == 0) {
    sm.cnt[m] = target;
    sm.thr_key[m] = cut;
    sm.thr_s[m] = cut_score(cut);
  }
}

// Candidate v with score s passed the cheap test of row m: full key test,
// exclusion scan, append.
template <typename T, typename C>
__device__ __noinline__ void offer(const ScoreArgs<T>& p, ScoreSmem<C>& sm, int m, int64_t b,
                                   int64_t v, float s) {
  const uint64_t key = make_key(s, v);
  if (key <= sm.thr_key[m]) return;
  for (int64_t i = sm.ex_lo[m]; i < sm.ex_hi[m]; ++i)
    if (load_id(p.exclude, p.exclude32, i) == v) return;
  const int slot = atomicAdd(&sm.cnt[m], 1);
  row_buffer<T, C>(p, b)[slot] = key;
}

template <typename T, typename C>
__global__ void __launch_bounds__(kThreads) score_kernel(ScoreArgs<T> p) {
  __shared__ ScoreSmem<C> sm;
  const int t = threadIdx.x, tx = t % C::ColThreads, ty = t / C::ColThreads, warp = t / 32;
  const int64_t c_begin = p.min_id + int64_t{blockIdx.y} * p.chunk;
  const int64_t c_end = p.V - c_begin < p.chunk ? p.V : c_begin + p.chunk;
  // A buffer has room for one more tile while it holds at most cap - BN.
  const int limit = static_cast<int>(p.cap - C::BN), k = static_cast<int>(p.k);
  for (int64_t r0 = int64_t{blockIdx.x} * C::BM; r0 < p.B; r0 += int64_t{gridDim.x} * C::BM) {
    if (t < C::BM) {
      const int64_t b = r0 + t;
      const bool live = b < p.B;
      sm.thr_key[t] = live ? 0 : ~uint64_t{0};  // rows past B take nothing
      sm.thr_s[t] = live ? -INFINITY : INFINITY;
      sm.cnt[t] = 0;
      int64_t lo = 0, hi = 0;
      if (live && p.splits) {  // clamped: bad splits read nothing out of range
        const int64_t s0 = p.splits[b], s1 = p.splits[b + 1];
        lo = s0 < 0 ? 0 : s0 > p.N ? p.N : s0;
        hi = s1 < lo ? lo : s1 > p.N ? p.N : s1;
      }
      sm.ex_lo[t] = lo;
      sm.ex_hi[t] = hi;
    }
    __syncthreads();
    for (int64_t c0 = c_begin; c0 < c_end; c0 += C::BN) {
      float acc[C::TM][C::TN];
      score_tile<T, C>(p, sm, r0, c0, c_end, acc);
#pragma unroll
      for (int i = 0; i < C::TM; ++i) {
        const int m = C::TM * ty + i;
        const float cut = sm.thr_s[m];
#pragma unroll
        for (int j = 0; j < C::TN; ++j) {
          const float s = acc[i][j];
          const int64_t v = c0 + C::TN * tx + j;
          // >= cut: equal scores may still win on the id; NaN fails here.
          if (s >= cut && s > -INFINITY && v < c_end) offer<T, C>(p, sm, m, r0 + m, v, s);
        }
      }
      __syncthreads();
      for (int m = warp; m < C::BM; m += kWarps) {
        const int n = sm.cnt[m];
        if (n > limit) flush_row<T, C>(p, sm, m, r0 + m, n, k);
      }
      __syncthreads();
    }
    // The chunk's best k of each row, 0-padded (fewer candidates than k).
    for (int m = warp; m < C::BM && r0 + m < p.B; m += kWarps) {
      const int n = sm.cnt[m];
      __syncwarp();
      if (n > k) flush_row<T, C>(p, sm, m, r0 + m, n, k);
      uint64_t* buf = row_buffer<T, C>(p, r0 + m);
      for (int i = (n < k ? n : k) + (t & 31); i < k; i += 32) buf[i] = 0;
    }
    __syncthreads();
  }
}

// ------------------------------------------------------------- merge ----

struct Lists {
  uint64_t* keys;
  int64_t row_stride, list_stride;  // a list is k keys, 0-padded
};

struct MergeArgs {
  Lists in, out;  // out: levels before the last
  int64_t lists;  // input lists per row
  int64_t B, k;
  bool last;
  float* scores;  // last level: [B, k]
  int64_t* ids;
  uint64_t* sort_ws;  // [gridDim.y, sort_p] when sort_p > kSortSmem
  int64_t sort_p;
};

struct MergeSmem {
  SelectSmem select;
  int count;
  uint64_t keys[kSortSmem];
};

// Block (g, y) reduces lists [16 g, 16 g + 16) of rows y, y + gridDim.y, ...
// to their best k: into the next level's list g, or, on the last level
// (one group), sorted into scores and ids.
__global__ void __launch_bounds__(kThreads) merge_kernel(MergeArgs p) {
  __shared__ MergeSmem sm;
  const int t = threadIdx.x;
  const int64_t first = int64_t{blockIdx.x} * kMergeFan;
  const int64_t lists = p.lists - first < kMergeFan ? p.lists - first : kMergeFan, k = p.k;
  const int64_t n = lists * k;
  uint64_t* sorted =
      p.last && p.sort_p > kSortSmem ? p.sort_ws + int64_t{blockIdx.y} * p.sort_p : sm.keys;
  for (int64_t b = blockIdx.y; b < p.B; b += gridDim.y) {
    const uint64_t* in = p.in.keys + b * p.in.row_stride + first * p.in.list_stride;
    auto key_at = [&](int64_t e) { return in[(e / k) * p.in.list_stride + e % k]; };
    const uint64_t cut = block_select(key_at, n, static_cast<int>(k), sm.select);
    uint64_t* dst =
        p.last ? sorted : p.out.keys + b * p.out.row_stride + blockIdx.x * p.out.list_stride;
    const int64_t len = p.last ? p.sort_p : k;
    if (t == 0) sm.count = 0;
    __syncthreads();
    for (int64_t e = t; e < n; e += kThreads) {
      const uint64_t x = key_at(e);
      if (x != 0 && x >= cut) dst[atomicAdd(&sm.count, 1)] = x;
    }
    __syncthreads();
    for (int64_t i = sm.count + t; i < len; i += kThreads) dst[i] = 0;
    __syncthreads();
    if (p.last) {
      block_sort_desc(dst, p.sort_p);
      for (int64_t i = t; i < k; i += kThreads) {
        const uint64_t x = dst[i];
        p.scores[b * k + i] = x ? key_score(x) : -INFINITY;
        p.ids[b * k + i] = x ? key_id(x) : -1;
      }
      __syncthreads();
    }
  }
}

// ------------------------------------------------------------- host ----

template <typename F>
Status on_table_type(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32:
      return f(Tag<float>{});
    case DType::kFloat16:
      return f(Tag<f16>{});
    case DType::kBFloat16:
      return f(Tag<bf16>{});
  }
  return InvalidArgument("unsupported table dtype ", static_cast<int>(t));
}

template <typename T, typename C>
Status launch_scores(const ScoreArgs<T>& sa, const Plan& plan, cudaStream_t s) {
  // Row tiles in x: the blocks sharing a chunk run side by side (L2 reuse).
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(plan.row_tiles, INT32_MAX)),
                  static_cast<unsigned>(plan.chunks));
  score_kernel<T, C><<<grid, kThreads, 0, s>>>(sa);
  return cuda_ok(cudaGetLastError(), "score_kernel");
}

Status run(const TopkArgs& a, const Plan& plan, char* ws, float* scores, int64_t* ids,
           cudaStream_t s) {
  uint64_t* keys = reinterpret_cast<uint64_t*>(ws + plan.keys_off);
  uint64_t* aux = reinterpret_cast<uint64_t*>(ws + plan.aux_off);
  uint64_t* sort_ws = reinterpret_cast<uint64_t*>(ws + plan.sort_off);
  YDNN_RETURN_IF_ERROR(on_table_type(a.table_dtype, [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    const ScoreArgs<T> sa{a.queries,
                          static_cast<const T*>(a.table),
                          a.num_queries,
                          a.dim,
                          a.num_rows,
                          a.k,
                          a.min_id,
                          a.exclude,
                          a.exclude_type == IdType::kInt32,
                          a.exclude_splits,
                          a.num_exclude,
                          plan.chunk,
                          plan.chunks,
                          plan.cap,
                          keys};
    if (plan.tile == 0) return launch_scores<T, SmallTile>(sa, plan, s);
    if (plan.tile == 1) return launch_scores<T, MidTile>(sa, plan, s);
    return launch_scores<T, LargeTile>(sa, plan, s);
  }));
  const int64_t B = plan.B, k = plan.k;
  // Ping-pong: chunk lists (stride cap) -> aux -> keys (now stride k) -> aux ...
  Lists in{keys, plan.chunks * plan.cap, plan.cap};
  const Lists outs[2] = {{aux, plan.aux_lists * k, k}, {keys, plan.chunks * plan.cap, k}};
  int64_t lists = plan.chunks;
  for (int which = 0; lists > kMergeFan; which ^= 1) {
    const int64_t groups = cdiv(lists, kMergeFan);
    MergeArgs ma{in, outs[which], lists, B, k, false, nullptr, nullptr, nullptr, plan.sort_p};
    const dim3 grid(static_cast<unsigned>(groups),
                    static_cast<unsigned>(std::min(B, kMaxMergeRows)));
    merge_kernel<<<grid, kThreads, 0, s>>>(ma);
    YDNN_CUDA(cudaGetLastError(), "merge_kernel");
    in = outs[which];
    lists = groups;
  }
  MergeArgs ma{in, in, lists, B, k, true, scores, ids, sort_ws, plan.sort_p};
  merge_kernel<<<dim3(1, static_cast<unsigned>(plan.final_blocks)), kThreads, 0, s>>>(ma);
  return cuda_ok(cudaGetLastError(), "merge_kernel (last level)");
}

}  // namespace
}  // namespace topk_cuda

size_t topk_scores_workspace_cuda(const TopkArgs& a) {
  topk_cuda::Plan plan;
  return topk_cuda::make_plan(a, &plan).ok() ? plan.bytes : 0;
}

Status topk_scores_cuda(const TopkArgs& a, void* workspace, size_t workspace_bytes, float* scores,
                        int64_t* ids, int64_t* error, void* stream) {
  using namespace topk_cuda;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  Plan plan;
  YDNN_RETURN_IF_ERROR(make_plan(a, &plan));
  if (workspace_bytes < plan.bytes)
    return InvalidArgument("topk_scores: workspace of ", workspace_bytes, " bytes, needs ",
                           plan.bytes, " (topk_scores_workspace_cuda)");
  if (error) {
    YDNN_CUDA(cudaMemsetAsync(error, 0xff, 2 * sizeof(int64_t), s), "cudaMemsetAsync");
    const int64_t nq = a.num_queries * a.dim;
    const int64_t total =
        nq + (a.exclude_splits ? a.num_queries + 1 + (a.exclude ? a.num_exclude : 0) : 0);
    if (total > 0) {
      check_kernel<<<blocks_for(total, kThreads), kThreads, 0, s>>>(
          a.queries, nq, a.exclude_splits, a.num_queries, a.exclude,
          a.exclude_type == IdType::kInt32, a.num_exclude, a.num_rows,
          reinterpret_cast<uint64_t*>(error));
      YDNN_CUDA(cudaGetLastError(), "check_kernel");
    }
  }
  if (a.num_queries > 0)
    YDNN_RETURN_IF_ERROR(run(a, plan, static_cast<char*>(workspace), scores, ids, s));
  if (error) {
    finish_error_kernel<<<1, 1, 0, s>>>(error);
    YDNN_CUDA(cudaGetLastError(), "finish_error_kernel");
  }
  return Status::Ok();
}

Status topk_scores_check_error_cuda(const TopkArgs& a, const int64_t* error, void* stream) {
  if (error == nullptr) return Status::Ok();
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  int64_t e[2];
  YDNN_RETURN_IF_ERROR(read_back(e, error, sizeof(e), s));
  if (e[0] == -1) return Status::Ok();
  const auto kind = static_cast<topk_detail::BadKind>(e[0]);
  const int64_t pos = e[1];
  double value = 0;
  switch (kind) {
    case topk_detail::BadKind::kQuery: {
      float q = 0.f;
      YDNN_RETURN_IF_ERROR(read_back(&q, a.queries + pos, sizeof q, s));
      value = q;
      break;
    }
    case topk_detail::BadKind::kSplits: {
      int64_t v = 0;
      YDNN_RETURN_IF_ERROR(read_back(&v, a.exclude_splits + pos, sizeof v, s));
      value = static_cast<double>(v);
      break;
    }
    case topk_detail::BadKind::kExcludeId: {
      const bool narrow = a.exclude_type == IdType::kInt32;
      int32_t v32 = 0;
      int64_t v64 = 0;
      YDNN_RETURN_IF_ERROR(read_back(narrow ? static_cast<void*>(&v32) : &v64,
                                     static_cast<const char*>(a.exclude) + pos * (narrow ? 4 : 8),
                                     narrow ? 4 : 8, s));
      value = static_cast<double>(narrow ? v32 : v64);
      break;
    }
  }
  return topk_detail::bad_value(a, kind, pos, value);
}

}  // namespace ydnn
