// Pieces shared by the CUDA translation units of sampled_softmax (not
// public): sizes and splits, the workspace, the device-side checks of ids
// and expected counts, and the 64 x 64 logit tile that every pass computes.
//
// The logit tile (Cut Cross-Entropy's inner loop, in fp32 SIMT): a block of
// 256 threads owns rows [r0, r0 + 64) and columns [c0, c0 + 64); slices of
// 16 along D of the query rows and of the candidate rows (gathered by id,
// widened to fp32) go through shared memory, and each thread accumulates a
// 4 x 4 block of q.c in registers. Thread (ty, tx) owns rows ty + 16 i and
// columns tx + 16 j, so a warp's shared reads are broadcasts (rows) or 16
// consecutive words (columns): no bank conflicts. The epilogue applies logQ,
// the mask and 1/T (or, in the backward, turns the logits into dz) into a
// shared [64][65] tile the caller then uses. No [B, J] tensor is ever
// written to global memory except the optional logits.
//
// compute_dtype bfloat16 (sampled_softmax.h): every product's inputs are
// rounded to bfloat16 as they are loaded (Problem::in: q, C, and dz where
// the epilogue makes it), and the FMAs stay float32, which computes the
// products of bfloat16 inputs exactly; no tensor cores.
//
// Everything here is a template, an inline function or a constant, so each
// .cu instantiates only what it uses.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>

#include "common/cuda_utils.cuh"
#include "sampled_softmax/sampled_softmax.h"

namespace ydnn {
namespace softmax_cuda {

constexpr int kTile = 64;      // rows, columns (and output dims) of a block's tile
constexpr int kSlice = 16;     // depth of a shared-memory slice
constexpr int kThreads = 256;  // 16 x 16 threads, 4 x 4 outputs each
constexpr int kSide = 16;
// Splits of the long loop of each pass (columns for the forward and dq,
// rows for dC) are chosen to give about this many blocks, whatever the GPU:
// results then depend on the shapes only, never on the device.
constexpr int64_t kTargetBlocks = 256;
constexpr int64_t kSplitBudget = int64_t{256} << 20;  // bytes of fp32 partials per pass
// Error slots start as bytes 0x7f (one memset): a sentinel above any index.
constexpr int64_t kNoError = 0x7f7f7f7f7f7f7f7fLL;
enum Slot {
  kBadPositive,
  kBadSampled,
  kBadTrueCount,
  kBadSampledCount,
  kBadLoss,
  kSelected,
  kSlots
};

// --------------------------------------------------------------- sizes ----

struct Sizes {
  int64_t B, D, V, S, J, in_batch_cols, n_sort;
  int64_t row_tiles, col_tiles, d_chunks;
  // Each block of a pass takes a contiguous share of its long loop; 0 when
  // the pass has nothing to do (B, J or D is 0).
  int64_t splits_fwd, splits_dq, splits_dc;

  explicit Sizes(const SoftmaxArgs& a)
      : B(a.batch),
        D(a.dim),
        V(a.num_rows),
        S(a.num_sampled),
        J(a.num_columns()),
        in_batch_cols(a.in_batch ? a.batch : 0),
        n_sort(J + B),
        row_tiles(cdiv(B, kTile)),
        col_tiles(cdiv(J, kTile)),
        d_chunks(cdiv(D, kTile)) {
    // tiles: length of the split loop; others: blocks per split; bytes: of
    // one split's fp32 partial, which a split beyond the first costs.
    auto split = [](int64_t tiles, int64_t others, int64_t bytes) -> int64_t {
      if (tiles == 0 || others == 0) return 0;
      int64_t n = std::min(tiles, cdiv(kTargetBlocks, others));
      if (bytes > 0) n = std::min(n, std::max<int64_t>(1, kSplitBudget / bytes));
      return n;
    };
    splits_fwd = split(col_tiles, row_tiles, 0);
    splits_dq = split(col_tiles, row_tiles * d_chunks, B * D * 4);
    splits_dc = split(row_tiles, col_tiles * d_chunks, J * D * 4);
  }
};

// Scalar checks, then the limits of this implementation: sort values and
// tile indices are 32-bit, D chunks index grid.y.
inline Status check_sizes(const SoftmaxArgs& a) {
  YDNN_RETURN_IF_ERROR(sampled_softmax_check(a));
  if (a.num_columns() + a.batch >= INT32_MAX)
    return InvalidArgument("too many candidate columns: ", a.num_columns(), " (+ batch ", a.batch,
                           ") must stay below 2^31 - 1 on CUDA");
  if (cdiv(a.dim, kTile) > 65535)
    return InvalidArgument("dim ", a.dim, " is above the CUDA kernels' limit of ", 65535 * kTile);
  return Status::Ok();
}

// --------------------------------------------------------- workspace ----

// Carved from one caller buffer (base = nullptr: just sizes it); 256-byte
// aligned pieces. The plan of the backward writes what its fill reads.
struct Workspace {
  int64_t* err;                  // [kSlots]
  int64_t *col_id, *pos_id;      // [J], [B]: checked ids (a bad one reads as 0)
  float *col_logq, *pos_logq;    // [J], [B]
  float* zpos;                   // [B] forward: z_pos; backward: dz_pos
  float *part_m, *part_s;        // forward [splits_fwd, B]: running max, sum
  float* dq_part;                // backward [splits_dq, B, D] when splits_dq > 1
  float* dcol;                   // backward [splits_dc, J, D]: per-column dC
  uint64_t *keys_in, *keys_out;  // backward [n_sort]: ids of columns, then positives
  int32_t *vals_in, *vals_out;   // backward [n_sort]: entry e (column e, or row e - J)
  uint8_t* flags;                // backward [n_sort + 1]: run heads
  int32_t* starts;               // backward [n_sort + 1]: first entry of each unique id
  void* temp;                    // cub scratch
  size_t temp_bytes, bytes;

  Workspace(const Sizes& s, bool backward, char* base, size_t scratch) : temp_bytes(scratch) {
    size_t at = 0;
    auto take = [&](auto*& p, int64_t count) {
      p = reinterpret_cast<std::remove_reference_t<decltype(p)>>(base + at);
      at += (static_cast<size_t>(count) * sizeof(*p) + 255) / 256 * 256;
    };
    const int64_t fb = backward ? 0 : 1, bb = backward ? 1 : 0;
    take(err, kSlots), take(col_id, s.J), take(pos_id, s.B), take(col_logq, s.J);
    take(pos_logq, s.B), take(zpos, s.B);
    take(part_m, fb * s.splits_fwd * s.B), take(part_s, fb * s.splits_fwd * s.B);
    take(dq_part, bb * (s.splits_dq > 1 ? s.splits_dq : 0) * s.B * s.D);
    take(dcol, bb * s.splits_dc * s.J * s.D);
    take(keys_in, bb * s.n_sort), take(keys_out, bb * s.n_sort);
    take(vals_in, bb * s.n_sort), take(vals_out, bb * s.n_sort);
    take(flags, bb * (s.n_sort + 1)), take(starts, bb * (s.n_sort + 1));
    temp = base + at;
    bytes = at + scratch;
  }
};

// ------------------------------------------------------------ checks ----

// One thread per positive (i < B) and per sampled id: checks id and count,
// writes the column and positive tables the passes read and, for the
// backward, the sort's (key, value) entries: columns first, then positives,
// so a stable sort leaves each id's columns (ascending) before its rows.
template <typename Pid, typename Sid>
__global__ void prepare_kernel(const Pid* pos, const Sid* sampled, const float* true_ec,
                               const float* sampled_ec, Sizes s, Workspace w, bool keys) {
  YDNN_CUDA_FOR_EACH(i, s.B + s.S) {
    const bool is_pos = i < s.B;
    const int64_t k = is_pos ? i : i - s.B;
    const int64_t id = is_pos ? static_cast<int64_t>(pos[k]) : static_cast<int64_t>(sampled[k]);
    const float ec = is_pos ? true_ec[k] : sampled_ec[k];
    const bool id_ok = id >= 0 && id < s.V;
    // !(ec > 0) also rejects NaN; log(inf) would make every logit -inf.
    const bool ec_ok = ec > 0.f && isfinite(ec);
    auto flag = [&](Slot slot) {
      atomicMin(reinterpret_cast<long long*>(w.err + slot), static_cast<long long>(k));
    };
    if (!id_ok) flag(is_pos ? kBadPositive : kBadSampled);
    if (!ec_ok) flag(is_pos ? kBadTrueCount : kBadSampledCount);
    const int64_t safe = id_ok ? id : 0;
    const float logq = logf(ec);
    // Column of this id: in-batch columns are the positives, in row order.
    const int64_t col = is_pos ? (s.in_batch_cols > 0 ? k : -1) : s.in_batch_cols + k;
    if (is_pos) {
      w.pos_id[k] = safe;
      w.pos_logq[k] = logq;
      if (keys) {
        w.keys_in[s.J + k] = static_cast<uint64_t>(safe);
        w.vals_in[s.J + k] = static_cast<int32_t>(s.J + k);
      }
    }
    if (col >= 0) {
      w.col_id[col] = safe;
      w.col_logq[col] = logq;
      if (keys) {
        w.keys_in[col] = static_cast<uint64_t>(safe);
        w.vals_in[col] = static_cast<int32_t>(col);
      }
    }
  }
}

// Resets the error slots and runs prepare_kernel over the id types.
inline Status prepare(const SoftmaxArgs& a, const Sizes& s, const Workspace& w, bool keys,
                      cudaStream_t st) {
  YDNN_CUDA(cudaMemsetAsync(w.err, 0x7f, kSlots * sizeof(int64_t), st), "cudaMemsetAsync");
  if (s.B + s.S == 0) return Status::Ok();
  auto launch = [&](auto* pos, auto* sampled) {
    prepare_kernel<<<blocks_for(s.B + s.S, kThreads), kThreads, 0, st>>>(
        pos, sampled, a.true_expected_count, a.sampled_expected_count, s, w, keys);
    return cuda_ok(cudaGetLastError(), "prepare_kernel");
  };
  auto on_sampled = [&](auto* pos) {
    if (a.sampled_id_type == IdType::kInt32)
      return launch(pos, static_cast<const int32_t*>(a.sampled_ids));
    return launch(pos, static_cast<const int64_t*>(a.sampled_ids));
  };
  if (a.positive_id_type == IdType::kInt32)
    return on_sampled(static_cast<const int32_t*>(a.positive_ids));
  return on_sampled(static_cast<const int64_t*>(a.positive_ids));
}

// The CPU's messages (SoftmaxPlan::build), in its order: positive ids,
// sampled ids, true counts, sampled counts; `e` holds the first bad index of
// each. Only on failure does it read the offending value (one more sync).
inline Status report(const SoftmaxArgs& a, const int64_t* e, cudaStream_t s) {
  const int64_t V = a.num_rows;
  for (int slot = kBadPositive; slot <= kBadSampled; ++slot) {
    if (e[slot] == kNoError) continue;
    const bool is_pos = slot == kBadPositive;
    const bool narrow = (is_pos ? a.positive_id_type : a.sampled_id_type) == IdType::kInt32;
    const char* base = static_cast<const char*>(is_pos ? a.positive_ids : a.sampled_ids);
    int64_t v64 = 0;
    int32_t v32 = 0;
    YDNN_RETURN_IF_ERROR(read_back(narrow ? static_cast<void*>(&v32) : &v64,
                                   base + e[slot] * (narrow ? 4 : 8), narrow ? 4 : 8, s));
    return InvalidArgument(is_pos ? "positive_ids" : "sampled_ids", "[", e[slot],
                           "] = ", narrow ? int64_t{v32} : v64, " is outside [0, ", V,
                           ") (the table has ", V, " rows)");
  }
  for (int slot = kBadTrueCount; slot <= kBadSampledCount; ++slot) {
    if (e[slot] == kNoError) continue;
    const bool is_true = slot == kBadTrueCount;
    float v = 0.f;
    YDNN_RETURN_IF_ERROR(read_back(
        &v, (is_true ? a.true_expected_count : a.sampled_expected_count) + e[slot], sizeof v, s));
    return bad_expected_count(is_true ? "true_expected_count" : "sampled_expected_count", e[slot],
                              v);
  }
  return Status::Ok();
}

// --------------------------------------------------------- the tile ----

template <typename T>
struct Problem {
  const float* query;  // [B, D]
  const T* table;      // [V, D]
  const int64_t *col_id, *pos_id;
  const float* col_logq;
  int64_t B, D, J, in_batch_cols;
  float inv_t;
  bool remove_hits;
  bool round;  // compute_dtype bfloat16

  // x as a product's input: rounded to bfloat16 under compute_dtype bfloat16.
  YDNN_HD float in(float x) const { return round ? round_bf16(x) : x; }
};

template <typename T>
Problem<T> problem_of(const SoftmaxArgs& a, const Sizes& s, const Workspace& w) {
  return Problem<T>{a.query,
                    static_cast<const T*>(a.table),
                    w.col_id,
                    w.pos_id,
                    w.col_logq,
                    s.B,
                    s.D,
                    s.J,
                    s.in_batch_cols,
                    1.f / a.temperature,
                    a.remove_accidental_hits,
                    a.compute_dtype == DType::kBFloat16};
}

struct TileSmem {
  float a[kSlice][kTile + 1];  // query slice, d-major (+1: conflict-free stores)
  float b[kSlice][kTile + 1];  // candidate slice, then the second product's operand
  float z[kTile][kTile + 1];   // logits, then dz, of the tile
  int64_t col[kTile], pos[kTile];
  float logq[kTile], lse[kTile], g[kTile];  // g = grad_loss / T
};

// Column ids and logQ of tile c0 (threads 0..63; the caller syncs).
template <typename T>
__device__ void load_cols(const Problem<T>& p, TileSmem& sm, int64_t c0) {
  const int t = threadIdx.x;
  if (t < kTile) {
    const int64_t j = c0 + t;
    sm.col[t] = j < p.J ? p.col_id[j] : -1;
    sm.logq[t] = j < p.J ? p.col_logq[j] : 0.f;
  }
}

// Positive ids of tile r0 and, for the backward, lse and grad_loss / T.
template <typename T>
__device__ void load_rows(const Problem<T>& p, TileSmem& sm, int64_t r0, const float* lse,
                          const float* grad_loss) {
  const int t = threadIdx.x;
  if (t < kTile) {
    const int64_t b = r0 + t;
    const bool ok = b < p.B;
    sm.pos[t] = ok ? p.pos_id[b] : -2;  // never equal to a (padding) column's -1
    if (lse) {
      sm.lse[t] = ok ? lse[b] : 0.f;
      sm.g[t] = ok ? grad_loss[b] * p.inv_t : 0.f;
    }
  }
}

// acc[i][j] = q[r0 + ty + 16 i] . C[col[tx + 16 j]] over all of D; zeros
// for rows or columns past the end. Ends with a sync (smem a, b reusable).
template <typename T>
__device__ void logit_tile(const Problem<T>& p, TileSmem& sm, int64_t r0, int64_t c0,
                           float (&acc)[4][4]) {
  const int t = threadIdx.x, tx = t % kSide, ty = t / kSide;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;
  for (int64_t d0 = 0; d0 < p.D; d0 += kSlice) {
    // 16 consecutive d of one row per 16 lanes: 64-byte coalesced segments.
    for (int e = t; e < kSlice * kTile; e += kThreads) {
      const int m = e / kSlice, k = e % kSlice;
      const int64_t d = d0 + k, b = r0 + m, c = c0 + m;
      sm.a[k][m] = b < p.B && d < p.D ? p.in(p.query[b * p.D + d]) : 0.f;
      sm.b[k][m] = c < p.J && d < p.D ? p.in(to_float(p.table[sm.col[m] * p.D + d])) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kSlice; ++k) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = sm.a[k][ty + kSide * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = sm.b[k][tx + kSide * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
}

// Into sm.z, the CPU's order: z = (q.c - logQ) / T (as * (1/T)), -inf where
// masked (the row's own positive: always for in-batch columns, for sampled
// ones when removing hits) or past the end. kGrad: dz = g exp(z - lse)
// instead (a product's input: p.in), exactly 0 where masked. The caller
// syncs before reading sm.z.
template <bool kGrad, typename T>
__device__ void epilogue(const Problem<T>& p, TileSmem& sm, int64_t r0, int64_t c0,
                         const float (&acc)[4][4]) {
  const int t = threadIdx.x, tx = t % kSide, ty = t / kSide;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = ty + kSide * i;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = tx + kSide * j;
      const int64_t c = c0 + n;
      const bool hit = sm.col[n] == sm.pos[m] && (c < p.in_batch_cols || p.remove_hits);
      const bool live = r0 + m < p.B && c < p.J && !hit;
      const float z = (acc[i][j] - sm.logq[n]) * p.inv_t;
      if (kGrad)
        sm.z[m][n] = live ? p.in(sm.g[m] * expf(z - sm.lse[m])) : 0.f;
      else
        sm.z[m][n] = live ? z : -INFINITY;
    }
  }
}

// acc[i][j] += sum over k < 64 of left(ty + 16 i, k) * right(k, tx + 16 j),
// left from sm.z (kTransposed: sm.z[k][m], else sm.z[m][k]), right(k, n) =
// load(k, n) through sm.b in slices of 16: a warp loads 32 consecutive n.
// Starts and ends with the smem b free (the caller has synced after sm.z).
template <bool kTransposed, typename Load>
__device__ void dz_product(TileSmem& sm, float (&acc)[4][4], const Load& load) {
  const int t = threadIdx.x, tx = t % kSide, ty = t / kSide;
  for (int k0 = 0; k0 < kTile; k0 += kSlice) {
    for (int e = t; e < kSlice * kTile; e += kThreads) {
      const int k = e / kTile, n = e % kTile;
      sm.b[k][n] = load(k0 + k, n);
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kSlice; ++k) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        av[i] = kTransposed ? sm.z[k0 + k][ty + kSide * i] : sm.z[ty + kSide * i][k0 + k];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = sm.b[k][tx + kSide * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
}

// One warp per row: z_pos = (q_b . C[pos_b] - log true_ec_b) / T, or with
// kGrad dz_pos = g_b / T (exp(z_pos - lse_b) - 1) (as a product's input,
// p.in). Lanes stride D, then a butterfly sum: every lane holds the same
// value.
template <bool kGrad, typename T>
__global__ void __launch_bounds__(kThreads)
    positive_kernel(Problem<T> p, const float* pos_logq, const float* lse, const float* grad_loss,
                    float* out) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t{gridDim.x} * blockDim.x / 32;
  for (int64_t b = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / 32; b < p.B; b += warps) {
    const float* q = p.query + b * p.D;
    const T* c = p.table + p.pos_id[b] * p.D;
    float s = 0.f;
    for (int64_t d = lane; d < p.D; d += 32) s = fmaf(p.in(q[d]), p.in(to_float(c[d])), s);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    const float z = (s - pos_logq[b]) * p.inv_t;
    if (lane == 0) out[b] = kGrad ? p.in(grad_loss[b] * p.inv_t * (expf(z - lse[b]) - 1.f)) : z;
  }
}

template <bool kGrad, typename T>
Status launch_positive(const Problem<T>& p, const Workspace& w, const float* lse,
                       const float* grad_loss, cudaStream_t s) {
  if (p.B == 0) return Status::Ok();
  positive_kernel<kGrad, T>
      <<<blocks_for(p.B * 32, kThreads), kThreads, 0, s>>>(p, w.pos_logq, lse, grad_loss, w.zpos);
  return cuda_ok(cudaGetLastError(), "positive_kernel");
}

// f(Tag<table element type>), Tag from common/cuda_utils.cuh
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

}  // namespace softmax_cuda
}  // namespace ydnn
