// Fused sampled softmax forward on the GPU (maths, order and shapes in
// sampled_softmax.h): loss, lse [B] and the optional logits [B, 1 + J].
//
//   z_pos  = (q_b . C[pos_b] - log true_ec_b) / T
//   z_j    = (q_b . C[col_j] - logQ_j) / T, -inf where masked
//   lse_b  = logsumexp(z_pos, z_0 .. z_{J-1});   loss_b = lse_b - z_pos
//
// Passes, all on the caller's stream:
//   1. prepare_kernel: ids and expected counts checked (first bad index per
//      argument into an error slot), column ids and logQ laid out [J].
//   2. positive_kernel: z_pos, one warp per row.
//   3. forward_kernel, grid (row tiles, column splits): a block owns 64 rows
//      and a contiguous share of the column tiles; per tile it computes the
//      64 x 64 logits (logit_tile in the .cuh), writes them out if asked,
//      and folds them into each row's running (max, sum): the online
//      logsumexp of Cut Cross-Entropy, so nothing [B, J] is kept. Splitting
//      the columns gives small batches enough blocks (B = 1024: 16 row
//      tiles); each split leaves its (max, sum) per row.
//   4. combine_kernel: starts from (z_pos, 1) and merges the splits in split
//      order (deterministic), writes lse, loss, logits[:, 0], and flags the
//      first row whose loss is not finite.
//   5. One sync reads the error slots and returns the CPU's message.
//
// Work: 2 B J D flops (+ 2 B D for z_pos). Bytes: q once per column split
// (B D 4 x splits), the candidate rows once per row tile (J D s x row tiles,
// from L2 after the first: J D s from memory), ids and counts, 8 B x splits
// of partials, 8 B of outputs, and 4 B (1 + J) logits when asked.
#include "sampled_softmax/sampled_softmax_cuda.cuh"

namespace ydnn {
namespace softmax_cuda {
namespace {

template <typename T>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(Problem<T> p, int64_t col_tiles, int64_t splits, float* logits, float* part_m,
                   float* part_s) {
  __shared__ TileSmem sm;
  const int t = threadIdx.x;
  const int64_t r0 = int64_t{blockIdx.x} * kTile, split = blockIdx.y;
  const int64_t first = split * col_tiles / splits, last = (split + 1) * col_tiles / splits;
  load_rows(p, sm, r0, nullptr, nullptr);
  // Four consecutive lanes own a row for the running logsumexp; each reads
  // every fourth column of the tile, then a 2-step butterfly combines them,
  // so all four hold the same (m, s).
  const int row = t / 4, quarter = t % 4;
  float m = -INFINITY, s = 0.f;
  for (int64_t tile = first; tile < last; ++tile) {
    const int64_t c0 = tile * kTile;
    load_cols(p, sm, c0);
    __syncthreads();
    float acc[4][4];
    logit_tile(p, sm, r0, c0, acc);
    epilogue<false>(p, sm, r0, c0, acc);
    __syncthreads();
    if (logits != nullptr) {
      // Row-major [B, 1 + J], column 0 the positive: consecutive lanes write
      // consecutive columns.
      for (int e = t; e < kTile * kTile; e += kThreads) {
        const int i = e / kTile, n = e % kTile;
        const int64_t b = r0 + i, c = c0 + n;
        if (b < p.B && c < p.J) logits[b * (p.J + 1) + 1 + c] = sm.z[i][n];
      }
    }
    float tmax = -INFINITY;
    for (int n = quarter; n < kTile; n += 4) tmax = fmaxf(tmax, sm.z[row][n]);
    tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
    tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 2));
    tmax = fmaxf(tmax, m);
    // A row whose columns so far are all masked (or past the end) has
    // tmax = -inf and adds nothing: shift by 0 there, since exp(-inf - -inf)
    // would be NaN. The shuffles stay outside the branch: all 32 lanes.
    const bool any = tmax != -INFINITY;
    const float shift = any ? tmax : 0.f;
    float sum = 0.f;
    for (int n = quarter; n < kTile; n += 4) sum += expf(sm.z[row][n] - shift);
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    if (any) {
      s = s * expf(m - tmax) + sum;
      m = tmax;
    }
    __syncthreads();  // sm.z, sm.col are rewritten by the next tile (even when D = 0)
  }
  const int64_t b = r0 + row;
  if (quarter == 0 && b < p.B) {
    part_m[split * p.B + b] = m;
    part_s[split * p.B + b] = s;
  }
}

__global__ void combine_kernel(const float* zpos, const float* part_m, const float* part_s,
                               int64_t B, int64_t J, int64_t splits, float* loss, float* lse,
                               float* logits, int64_t* err) {
  YDNN_CUDA_FOR_EACH(b, B) {
    const float zp = zpos[b];
    float m = zp, s = 1.f;  // the positive's own term
    for (int64_t k = 0; k < splits; ++k) {
      const float mk = part_m[k * B + b], sk = part_s[k * B + b];
      if (mk == -INFINITY) continue;  // a split whose columns are all masked
      const float top = fmaxf(m, mk);
      s = s * expf(m - top) + sk * expf(mk - top);
      m = top;
    }
    const float l = m + logf(s);
    lse[b] = l;
    loss[b] = l - zp;
    if (logits != nullptr) logits[b * (J + 1)] = zp;
    if (!isfinite(l - zp))
      atomicMin(reinterpret_cast<long long*>(err + kBadLoss), static_cast<long long>(b));
  }
}

template <typename T>
Status forward(const SoftmaxArgs& a, const Sizes& sz, const Workspace& w, float* loss, float* lse,
               float* logits, cudaStream_t s) {
  const Problem<T> p = problem_of<T>(a, sz, w);
  YDNN_RETURN_IF_ERROR(launch_positive<false>(p, w, nullptr, nullptr, s));
  if (sz.splits_fwd > 0) {
    forward_kernel<T>
        <<<dim3(static_cast<unsigned>(sz.row_tiles), static_cast<unsigned>(sz.splits_fwd)),
           kThreads, 0, s>>>(p, sz.col_tiles, sz.splits_fwd, logits, w.part_m, w.part_s);
    YDNN_CUDA(cudaGetLastError(), "forward_kernel");
  }
  combine_kernel<<<blocks_for(sz.B, kThreads), kThreads, 0, s>>>(
      w.zpos, w.part_m, w.part_s, sz.B, sz.J, sz.splits_fwd, loss, lse, logits, w.err);
  return cuda_ok(cudaGetLastError(), "combine_kernel");
}

}  // namespace
}  // namespace softmax_cuda

size_t sampled_softmax_forward_workspace_cuda(const SoftmaxArgs& a) {
  using namespace softmax_cuda;
  if (!check_sizes(a).ok()) return 0;  // the call itself reports it
  return Workspace(Sizes(a), false, nullptr, 0).bytes;
}

Status sampled_softmax_forward_cuda(const SoftmaxArgs& a, void* workspace, size_t workspace_bytes,
                                    float* loss, float* lse, float* logits, void* stream) {
  using namespace softmax_cuda;
  YDNN_RETURN_IF_ERROR(check_sizes(a));
  const Sizes sz(a);
  const Workspace w(sz, false, static_cast<char*>(workspace), 0);
  if (workspace_bytes < w.bytes)
    return InvalidArgument("sampled_softmax forward workspace has ", workspace_bytes,
                           " bytes; it needs ", w.bytes);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  YDNN_RETURN_IF_ERROR(prepare(a, sz, w, false, s));
  if (sz.B > 0) {
    YDNN_RETURN_IF_ERROR(on_table_type(a.table_dtype, [&](auto tt) -> Status {
      return forward<typename decltype(tt)::type>(a, sz, w, loss, lse, logits, s);
    }));
  }
  int64_t e[kSlots];
  YDNN_RETURN_IF_ERROR(read_back(e, w.err, sizeof e, s));
  YDNN_RETURN_IF_ERROR(report(a, e, s));
  if (e[kBadLoss] == kNoError) return Status::Ok();
  float value = 0.f;
  YDNN_RETURN_IF_ERROR(read_back(&value, loss + e[kBadLoss], sizeof value, s));
  return InvalidArgument("the loss of row ", e[kBadLoss], " is not finite (", value,
                         "): a logit (q.c - log Q) / temperature exceeds float32, or query "
                         "or table hold inf/NaN");
}

}  // namespace ydnn
