// Pieces of the CUDA top-k (not public): the sortable (score, id) keys, the
// radix select every stage runs, the bitonic sort of the final lists, the
// score tile, and the plan that sizes chunks, lists and the workspace.
//
// Keys. A candidate (score s, id v) is one uint64: the high word is s's
// bits made order-preserving as unsigned (sign bit flipped for s >= 0, all
// bits for s < 0; -0 folded onto +0 so they tie), the low word ~v, so a
// larger key is a better candidate: higher score, then lower id. Every key
// is distinct (ids are) and nonzero (the score is above -inf), so the t-th
// largest key T splits any set exactly: t keys are >= T. 0 pads a list.
//
// Radix select: the t-th largest of n keys, most significant byte first,
// 8 passes at most; a pass counts the keys that match the digits found so
// far into 256 bins and one warp scans the bins (find_digit). It stops
// early once every key of the chosen bin is kept.
//
// Everything here is an inline function, a template or a constant in
// ydnn::topk_cuda, so the .cu instantiates only what it uses.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common/cuda_utils.cuh"
#include "topk/topk_scores_internal.h"

namespace ydnn {
namespace topk_cuda {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kSlice = 16;                   // depth (along D) of a shared-memory slice
constexpr int kBins = 256;                   // radix digits of 8 bits
constexpr int kMergeFan = 16;                // lists one merge block reduces to one
constexpr int kSortSmem = 4096;              // keys the final merge sorts in shared memory (32 KiB)
constexpr int64_t kMaxK = int64_t{1} << 26;  // 32-bit counts in the selects
constexpr int64_t kWorkspaceBudget = int64_t{256} << 20;  // bytes that bound the chunk count
constexpr int64_t kMaxMergeRows = 65535;                  // gridDim.y of a merge level
constexpr int64_t kMaxSortBlocks = 1024;                  // final blocks sorting in workspace
constexpr uint64_t kNoError = ~uint64_t{0};               // error[0] = -1 as unsigned
constexpr int kKindShift = 56;                            // error word: kind << 56 | position

// ---------------------------------------------------------------- keys ----

__device__ __forceinline__ uint64_t make_key(float s, int64_t v) {
  uint32_t u = __float_as_uint(s);
  if ((u << 1) == 0) u = 0;  // -0 ties with +0
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (uint64_t{u} << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(v));
}

__device__ __forceinline__ float key_score(uint64_t key) {
  uint32_t u = static_cast<uint32_t>(key >> 32);
  u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
  return __uint_as_float(u);
}

// The score a cut T stands for: a select that stops early leaves T's low
// bits 0, which may decode below -inf (as NaN); every kept key is >= T, so
// -inf is then a safe first test.
__device__ __forceinline__ float cut_score(uint64_t cut) {
  return static_cast<uint32_t>(cut >> 32) <= 0x007fffffu ? -INFINITY : key_score(cut);
}

__device__ __forceinline__ int64_t key_id(uint64_t key) {
  return static_cast<int64_t>(~static_cast<uint32_t>(key));
}

__device__ __forceinline__ int64_t load_id(const void* p, bool is32, int64_t i) {
  return is32 ? static_cast<int64_t>(static_cast<const int32_t*>(p)[i])
              : static_cast<const int64_t*>(p)[i];
}

// ------------------------------------------------------ radix select ----

struct Digit {
  int digit;  // the bin holding the need-th largest key (-1: fewer than need keys)
  int above;  // keys in the bins above it
  int count;  // keys in that bin
  int total;  // keys in all bins
};

// One whole warp: the bin d with above < need <= above + hist[d], counting
// from bin 255 down. Lane l owns bins 8l .. 8l + 7; a shuffle scan gives
// each lane the keys in the bins of the lanes above it.
__device__ __forceinline__ Digit find_digit(const int* hist, int need) {
  const int lane = threadIdx.x & 31;
  int c[8], own = 0;
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    c[e] = hist[lane * 8 + e];
    own += c[e];
  }
  int suffix = own;  // keys in the bins of lanes >= lane
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int up = __shfl_down_sync(kFullMask, suffix, o);
    if (lane + o < 32) suffix += up;
  }
  Digit d{-1, 0, 0, __shfl_sync(kFullMask, suffix, 0)};
  int run = suffix - own, digit = -1, above = 0, count = 0;
#pragma unroll
  for (int e = 7; e >= 0; --e) {
    if (digit < 0 && run < need && run + c[e] >= need) {
      digit = lane * 8 + e;
      above = run;
      count = c[e];
    }
    run += c[e];
  }
  const unsigned who = __ballot_sync(kFullMask, digit >= 0);
  if (who == 0) return d;
  const int src = __ffs(who) - 1;
  d.digit = __shfl_sync(kFullMask, digit, src);
  d.above = __shfl_sync(kFullMask, above, src);
  d.count = __shfl_sync(kFullMask, count, src);
  return d;
}

// Bits above `shift` (the digits already chosen).
__device__ __forceinline__ uint64_t high_mask(int shift) {
  return shift >= 56 ? 0 : ~uint64_t{0} << (shift + 8);
}

// One warp: the target-th largest of the n distinct nonzero keys buf[0, n),
// 1 <= target <= n. hist: this warp's 256 shared counters.
__device__ inline uint64_t warp_select(const uint64_t* buf, int n, int target, int* hist) {
  const int lane = threadIdx.x & 31;
  uint64_t prefix = 0;
  int need = target;
  for (int shift = 56; shift >= 0; shift -= 8) {
    const uint64_t hi = high_mask(shift);
    __syncwarp();
    for (int i = lane; i < kBins; i += 32) hist[i] = 0;
    __syncwarp();
    for (int i = lane; i < n; i += 32) {
      const uint64_t x = buf[i];
      if ((x & hi) == prefix) atomicAdd(&hist[(x >> shift) & 0xff], 1);
    }
    __syncwarp();
    const Digit d = find_digit(hist, need);
    prefix |= uint64_t(d.digit) << shift;
    need -= d.above;
    if (d.count == need) break;  // all of the bin is kept: T = prefix, lower bits 0
  }
  return prefix;
}

// One warp: keeps the keys >= T of buf[0, n) in place, in their order;
// returns how many. A batch of 32 is read before any lane writes, and
// writes land below the batch (out <= base).
__device__ inline int warp_compact(uint64_t* buf, int n, uint64_t T) {
  const int lane = threadIdx.x & 31;
  int out = 0;
  for (int base = 0; base < n; base += 32) {
    const int i = base + lane;
    const uint64_t x = i < n ? buf[i] : 0;
    const bool keep = i < n && x >= T;
    const unsigned mask = __ballot_sync(kFullMask, keep);
    if (keep) buf[out + __popc(mask & ((1u << lane) - 1u))] = x;
    out += __popc(mask);
    __syncwarp();
  }
  return out;
}

// Block radix select over n keys key(e), e < n, zeros skipped: the t-th
// largest nonzero key, or 1 when there are at most t (then every nonzero
// key is kept). All threads call it and get the same value.
struct SelectSmem {
  int hist[kBins];
  Digit digit;
};

template <typename KeyAt>
__device__ uint64_t block_select(const KeyAt& key_at, int64_t n, int t, SelectSmem& sm) {
  const int tid = threadIdx.x;
  uint64_t prefix = 0;
  int need = t;
  for (int shift = 56; shift >= 0; shift -= 8) {
    const uint64_t hi = high_mask(shift);
    for (int i = tid; i < kBins; i += kThreads) sm.hist[i] = 0;
    __syncthreads();
    for (int64_t e = tid; e < n; e += kThreads) {
      const uint64_t x = key_at(e);
      if (x != 0 && (x & hi) == prefix) atomicAdd(&sm.hist[(x >> shift) & 0xff], 1);
    }
    __syncthreads();
    if (tid < 32) {
      const Digit d = find_digit(sm.hist, need);
      if (tid == 0) sm.digit = d;
    }
    __syncthreads();
    const Digit d = sm.digit;  // every thread reads it before the next pass's first sync
    if (shift == 56 && d.total <= t) return 1;
    prefix |= uint64_t(d.digit) << shift;
    need -= d.above;
    if (d.count == need) break;
  }
  return prefix;
}

// Block bitonic sort of keys[0, P) descending, P a power of two; keys in
// shared or global memory (__syncthreads orders both within a block).
__device__ inline void block_sort_desc(uint64_t* keys, int64_t P) {
  for (int64_t size = 2; size <= P; size <<= 1) {
    for (int64_t stride = size >> 1; stride > 0; stride >>= 1) {
      for (int64_t i = threadIdx.x; i < P / 2; i += kThreads) {
        const int64_t lo = 2 * i - (i & (stride - 1)), hi = lo + stride;
        const bool desc = (lo & size) == 0;
        const uint64_t x = keys[lo], y = keys[hi];
        if ((x < y) == desc) {
          keys[lo] = y;
          keys[hi] = x;
        }
      }
      __syncthreads();
    }
  }
}

// --------------------------------------------------------- the tile ----

// A block of kThreads threads scores BM query rows x BN candidates; thread
// (ty, tx) owns rows TM ty + i (i < TM) and candidates TN tx + j (j < TN):
// contiguous, so each reads its rows' and candidates' values of one d with
// one 16- (or 8-) byte shared load; a warp's row reads are broadcasts, its
// candidate reads consecutive. Rows of the slices are padded by 4 floats:
// still 16-byte aligned, and the staging stores (consecutive threads,
// consecutive d) conflict at most 2 ways.
template <int BM_, int BN_, int TM_, int TN_>
struct Tile {
  static constexpr int BM = BM_, BN = BN_, TM = TM_, TN = TN_;
  static constexpr int RowThreads = BM / TM, ColThreads = BN / TN;
  static_assert(RowThreads * ColThreads == kThreads, "one register block per thread");
};
using SmallTile = Tile<4, 256, 4, 1>;  // B <= 4: memory-bound, little waste
using MidTile = Tile<16, 128, 4, 2>;   // B <= 16
using LargeTile = Tile<64, 64, 4, 4>;  // the rest

template <typename T>
struct ScoreArgs {
  const float* queries;  // [B, D]
  const T* table;        // [V, D]
  int64_t B, D, V, k, min_id;
  const void* exclude;  // [N] ids, or nullptr
  bool exclude32;
  const int64_t* splits;  // [B + 1]
  int64_t N;
  int64_t chunk, chunks, cap;
  uint64_t* keys;  // [B, chunks, cap]
};

template <typename C>
struct ScoreSmem {
  alignas(16) float a[kSlice][C::BM + 4];  // query slice, d-major
  alignas(16) float b[kSlice][C::BN + 4];  // candidate slice, widened to fp32
  uint64_t thr_key[C::BM];                 // a row's current cut: keys above it enter
  float thr_s[C::BM];                      // its score, a cheap first test
  int cnt[C::BM];                          // keys in the row's buffer
  int64_t ex_lo[C::BM], ex_hi[C::BM];
  int hist[kWarps][kBins];
};

// out[0, N) = p[0, N) from shared memory in one vector load (p aligned
// to N floats: N = 1, 2 or 4).
template <int N>
__device__ __forceinline__ void load_floats(const float* p, float (&out)[N]) {
  static_assert(N == 1 || N == 2 || N == 4, "a vector load of 1, 2 or 4 floats");
  if constexpr (N == 4) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  } else if constexpr (N == 2) {
    const float2 v = *reinterpret_cast<const float2*>(p);
    out[0] = v.x, out[1] = v.y;
  } else {
    out[0] = *p;
  }
}

// acc[i][j] = q[r0 + row i] . C[c0 + col j] over all of D, fp32 fma in d
// order; zero for rows at or past B and candidates at or past c_end. Ends
// with a sync when D > 0 (the slices are free again).
template <typename T, typename C>
__device__ __forceinline__ void score_tile(const ScoreArgs<T>& p, ScoreSmem<C>& sm, int64_t r0,
                                           int64_t c0, int64_t c_end, float (&acc)[C::TM][C::TN]) {
  const int t = threadIdx.x, tx = t % C::ColThreads, ty = t / C::ColThreads;
#pragma unroll
  for (int i = 0; i < C::TM; ++i)
#pragma unroll
    for (int j = 0; j < C::TN; ++j) acc[i][j] = 0.f;
  for (int64_t d0 = 0; d0 < p.D; d0 += kSlice) {
    // kSlice consecutive d of one row per kSlice lanes: coalesced segments.
    for (int e = t; e < kSlice * C::BM; e += kThreads) {
      const int m = e / kSlice, kk = e % kSlice;
      const int64_t d = d0 + kk, b = r0 + m;
      sm.a[kk][m] = b < p.B && d < p.D ? p.queries[b * p.D + d] : 0.f;
    }
    for (int e = t; e < kSlice * C::BN; e += kThreads) {
      const int n = e / kSlice, kk = e % kSlice;
      const int64_t d = d0 + kk, v = c0 + n;
      sm.b[kk][n] = v < c_end && d < p.D ? to_float(p.table[v * p.D + d]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kSlice; ++kk) {
      float av[C::TM], bv[C::TN];
      load_floats<C::TM>(&sm.a[kk][C::TM * ty], av);
      load_floats<C::TN>(&sm.b[kk][C::TN * tx], bv);
#pragma unroll
      for (int i = 0; i < C::TM; ++i)
#pragma unroll
        for (int j = 0; j < C::TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
}

// ---------------------------------------------------------- the plan ----

// Sizes of one call, from the shapes and the GPU's SM count only. Results
// do not depend on it: every score is the same fp32 sum whatever the
// chunking, and the keys order candidates totally.
struct Plan {
  int tile = 0;  // 0 small, 1 mid, 2 large
  int64_t B = 0, k = 0, bm = 0, bn = 0, row_tiles = 0;
  int64_t chunk = 0, chunks = 0;  // candidates per chunk (a multiple of bn), chunk count
  int64_t cap = 0;                // keys per (row, chunk) buffer
  int64_t aux_lists = 0;          // lists per row after the first merge level
  int64_t sort_p = 1;             // k rounded up to a power of two
  int64_t final_blocks = 0;       // blocks of the last merge level
  size_t keys_off = 0, aux_off = 0, sort_off = 0, bytes = 0;
};

inline int64_t sm_count() {
  int dev = 0, n = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) {
    (void)cudaGetLastError();
    return 132;  // an H100's
  }
  return n;
}

inline Status make_plan(const TopkArgs& a, Plan* plan) {
  const int64_t B = a.num_queries, V = a.num_rows, k = a.k;
  if (a.dim < 0 || B < 0 || V < 1 || a.min_id < 0 || a.min_id >= V || k < 1 || k > V - a.min_id)
    return InvalidArgument("topk_scores: inconsistent sizes (B ", B, ", D ", a.dim, ", V ", V,
                           ", k ", k, ", min_id ", a.min_id, "); call topk_scores_shapes first");
  if (V > (int64_t{1} << 32))
    return InvalidArgument("topk_scores on CUDA takes tables of at most 2^32 rows, got ", V);
  if (k > kMaxK) return InvalidArgument("topk_scores on CUDA takes k up to ", kMaxK, ", got ", k);
  Plan p;
  p.B = B;
  p.k = k;
  p.tile = B <= SmallTile::BM ? 0 : B <= MidTile::BM ? 1 : 2;
  p.bm = p.tile == 0 ? SmallTile::BM : p.tile == 1 ? MidTile::BM : LargeTile::BM;
  p.bn = p.tile == 0 ? SmallTile::BN : p.tile == 1 ? MidTile::BN : LargeTile::BN;
  if (B == 0) {
    *plan = p;
    return Status::Ok();
  }
  p.row_tiles = cdiv(B, p.bm);
  // A buffer holds the row's best k so far plus room for max(k, BN)
  // arrivals and one more tile, so a flush (select the best k, drop the
  // rest) happens at most once per max(k, BN) arrivals.
  p.cap = k + std::max(k, p.bn) + p.bn;
  // About 4 blocks per SM, each chunk at least 4 k and 8 tiles long (so the
  // merge reads at most a quarter of what was scored), within the budget.
  const int64_t n = V - a.min_id;
  const int64_t want = std::max<int64_t>(1, cdiv(4 * sm_count(), p.row_tiles));
  const int64_t by_size = std::max<int64_t>(1, n / std::max(4 * k, 8 * p.bn));
  const int64_t by_budget = std::max<int64_t>(1, kWorkspaceBudget / (B * p.cap * 8));
  const int64_t chunks = std::min({want, by_size, by_budget, int64_t{65535}});  // gridDim.y
  p.chunk = cdiv(cdiv(n, chunks), p.bn) * p.bn;
  p.chunks = cdiv(n, p.chunk);
  p.aux_lists = p.chunks > kMergeFan ? cdiv(p.chunks, kMergeFan) : 0;
  while (p.sort_p < k) p.sort_p *= 2;
  p.final_blocks = std::min(B, p.sort_p > kSortSmem ? kMaxSortBlocks : kMaxMergeRows);
  auto take = [&](size_t& off, int64_t keys) {
    off = p.bytes;
    p.bytes += (static_cast<size_t>(keys) * 8 + 255) / 256 * 256;
  };
  take(p.keys_off, B * p.chunks * p.cap);
  take(p.aux_off, B * p.aux_lists * k);
  take(p.sort_off, p.sort_p > kSortSmem ? p.final_blocks * p.sort_p : 0);
  *plan = p;
  return Status::Ok();
}

}  // namespace topk_cuda
}  // namespace ydnn
