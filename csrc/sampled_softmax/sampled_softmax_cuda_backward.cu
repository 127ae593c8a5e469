// Backward of the fused sampled softmax on the GPU: plan, then fill.
//
// With upstream g_b, p = exp(z - lse_b) (maths in sampled_softmax.h):
//   dz_j = g_b p_j / T (0 where masked),   dz_pos = g_b (p_pos - 1) / T
//   dq_b = dz_pos C[pos_b] + sum_j dz_j C[col_j]
//   dC[id] = sum over columns j with id `id` of sum_b dz_bj q_b
//          + sum over rows b whose positive is `id` of dz_pos_b q_b
// Outputs: grad_query [B, D] fp32, unique ids [U] of pos ∪ columns
// ascending, grad_rows [U, D] in the table's dtype (fp32 sums, one rounding).
//
// Plan: prepare_kernel checks ids and counts and writes (key = id, value =
// entry) for the J columns then the B positives; a stable cub radix sort by
// id over the bits of V - 1; run heads + DeviceSelect give each unique id's
// first entry; one 48-byte read back (errors and the count) is the sync.
// Fill (nothing [B, J] in global memory; both products recompute the logits
// from q and C, Cut Cross-Entropy's backward without its atomics):
//   dq_kernel, grid (row tiles, D chunks, column splits): a block owns 64
//     rows x 64 output dims; per column tile it computes the logits over all
//     of D, turns them into dz in shared memory, then dq += dz . C[cols,
//     chunk]. Column splits write fp32 partials [splits, B, D]; finish_dq
//     sums them in split order and adds dz_pos C[pos].
//   dcol_kernel, grid (column tiles, D chunks, row splits): a block owns 64
//     columns x 64 dims; per row tile, dz as above, then dC += dz^T . q.
//     Per-column partials [splits, J, D]: each column belongs to one block
//     per split, so no atomics.
//   grad_rows_kernel: one thread per (unique id, d) sums its run in sorted
//     order, columns (each over the splits) then rows: fixed order, so the
//     result is bitwise reproducible.
// Under compute_dtype bfloat16 dz, dz_pos, q and C enter each product
// rounded to bfloat16 (Problem::in in the .cuh).
// Work: 8 B J D flops (the logits twice, then dq and dC; the CPU does 6 by
// keeping dz between its products), x D chunks of 64 for the recompute.
// Bytes: q and the candidate rows once per tile pass (from L2 after the
// first), partials (splits_dq B D + splits_dc J D) x 4 written and read,
// grad_query B D 4, grad rows U D s; the sort moves ~(J + B) x 12 per pass.

#include <thrust/iterator/counting_iterator.h>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>

#include "sampled_softmax/sampled_softmax_cuda.cuh"

namespace ydnn {
namespace softmax_cuda {
namespace {

int end_bit_of(int64_t V) {  // keys are ids in [0, V)
  int bits = 1;
  while (bits < 64 && (static_cast<uint64_t>(V - 1) >> bits) != 0) ++bits;
  return bits;
}

// Largest cub scratch: the sort and the select run one after the other. With
// no scratch pointer cub only sizes (pointers are not read), launching nothing.
size_t cub_bytes(const Sizes& sz, const Workspace& w) {
  size_t t[2] = {0, 0};
  cub::DeviceRadixSort::SortPairs(nullptr, t[0], w.keys_in, w.keys_out, w.vals_in, w.vals_out,
                                  static_cast<int>(sz.n_sort), 0, end_bit_of(sz.V));
  cub::DeviceSelect::Flagged(nullptr, t[1], thrust::counting_iterator<int32_t>(0), w.flags,
                             w.starts, w.err + kSelected, static_cast<int>(sz.n_sort + 1));
  return std::max(t[0], t[1]);
}

Workspace backward_workspace(const Sizes& sz, char* base) {
  const size_t temp = cub_bytes(sz, Workspace(sz, true, nullptr, 0));
  return Workspace(sz, true, base, temp);
}

// Heads of the runs of sorted ids, plus a head at n: starts[U] = n ends the
// last run.
__global__ void head_flags_kernel(const uint64_t* keys, int64_t n, uint8_t* flags) {
  YDNN_CUDA_FOR_EACH(k, n + 1) flags[k] = k == 0 || k == n || keys[k] != keys[k - 1];
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    dq_kernel(Problem<T> p, const float* lse, const float* grad_loss, int64_t col_tiles,
              int64_t splits, float* part) {
  __shared__ TileSmem sm;
  const int t = threadIdx.x, tx = t % kSide, ty = t / kSide;
  const int64_t r0 = int64_t{blockIdx.x} * kTile, d0 = int64_t{blockIdx.y} * kTile;
  const int64_t split = blockIdx.z;
  const int64_t first = split * col_tiles / splits, last = (split + 1) * col_tiles / splits;
  load_rows(p, sm, r0, lse, grad_loss);
  float out[4][4] = {};
  for (int64_t tile = first; tile < last; ++tile) {
    const int64_t c0 = tile * kTile;
    load_cols(p, sm, c0);
    __syncthreads();
    float acc[4][4];
    logit_tile(p, sm, r0, c0, acc);
    epilogue<true>(p, sm, r0, c0, acc);
    __syncthreads();
    // right(k, n) = C[col k][d0 + n]; 0 past the end (dz is 0 there too, and
    // 0 * garbage could be NaN).
    dz_product<false>(sm, out, [&](int k, int n) {
      const int64_t d = d0 + n;
      return c0 + k < p.J && d < p.D ? p.in(to_float(p.table[sm.col[k] * p.D + d])) : 0.f;
    });
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t b = r0 + ty + kSide * i, d = d0 + tx + kSide * j;
      if (b < p.B && d < p.D) part[(split * p.B + b) * p.D + d] = out[i][j];
    }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    dcol_kernel(Problem<T> p, const float* lse, const float* grad_loss, int64_t row_tiles,
                int64_t splits, float* dcol) {
  __shared__ TileSmem sm;
  const int t = threadIdx.x, tx = t % kSide, ty = t / kSide;
  const int64_t c0 = int64_t{blockIdx.x} * kTile, d0 = int64_t{blockIdx.y} * kTile;
  const int64_t split = blockIdx.z;
  const int64_t first = split * row_tiles / splits, last = (split + 1) * row_tiles / splits;
  load_cols(p, sm, c0);
  float out[4][4] = {};
  for (int64_t tile = first; tile < last; ++tile) {
    const int64_t r0 = tile * kTile;
    load_rows(p, sm, r0, lse, grad_loss);
    __syncthreads();
    float acc[4][4];
    logit_tile(p, sm, r0, c0, acc);
    epilogue<true>(p, sm, r0, c0, acc);
    __syncthreads();
    // out[column][dim] += sum over rows k of dz[k][column] q[r0 + k][d0 + n]
    dz_product<true>(sm, out, [&](int k, int n) {
      const int64_t b = r0 + k, d = d0 + n;
      return b < p.B && d < p.D ? p.in(p.query[b * p.D + d]) : 0.f;
    });
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t c = c0 + ty + kSide * i, d = d0 + tx + kSide * j;
      if (c < p.J && d < p.D) dcol[(split * p.J + c) * p.D + d] = out[i][j];
    }
}

// grad_query = (the dq partials summed in split order, or dq_kernel's own
// output when it had one split) + dz_pos C[pos].
template <typename T>
__global__ void finish_dq_kernel(Problem<T> p, const float* part, int64_t splits,
                                 const float* dz_pos, float* grad_query) {
  YDNN_CUDA_FOR_EACH(i, p.B * p.D) {
    const int64_t b = i / p.D, d = i % p.D;
    float acc = 0.f;
    if (splits == 1)
      acc = grad_query[i];
    else
      for (int64_t k = 0; k < splits; ++k) acc += part[k * p.B * p.D + i];
    grad_query[i] = fmaf(dz_pos[b], p.in(to_float(p.table[p.pos_id[b] * p.D + d])), acc);
  }
}

__global__ void unique_ids_kernel(const uint64_t* keys, const int32_t* starts, int64_t U,
                                  int64_t* out) {
  YDNN_CUDA_FOR_EACH(u, U) out[u] = static_cast<int64_t>(keys[starts[u]]);
}

// One thread per (u, d): consecutive threads read consecutive d of the same
// partial row (coalesced) and the same run entries (broadcast).
template <typename T>
__global__ void grad_rows_kernel(const int32_t* starts, const int32_t* entries, int64_t U,
                                 int64_t J, int64_t D, const float* dcol, int64_t splits,
                                 const float* dz_pos, const float* query, bool round,
                                 T* grad_rows) {
  YDNN_CUDA_FOR_EACH(i, U * D) {
    const int64_t u = i / D, d = i % D;
    float acc = 0.f;
    for (int64_t e = starts[u]; e < starts[u + 1]; ++e) {
      const int64_t v = entries[e];
      if (v < J) {
        for (int64_t k = 0; k < splits; ++k) acc += dcol[(k * J + v) * D + d];
      } else {
        const float q = query[(v - J) * D + d];
        acc = fmaf(dz_pos[v - J], round ? round_bf16(q) : q, acc);
      }
    }
    grad_rows[i] = from_float<T>(acc);
  }
}

template <typename T>
Status fill(const SoftmaxArgs& a, const Sizes& sz, const Workspace& w, int64_t U, const float* lse,
            const float* grad_loss, float* grad_query, int64_t* unique_ids, T* grad_rows,
            cudaStream_t s) {
  const Problem<T> p = problem_of<T>(a, sz, w);
  YDNN_RETURN_IF_ERROR(launch_positive<true>(p, w, lse, grad_loss, s));  // dz_pos -> w.zpos
  if (sz.B > 0 && sz.D > 0) {
    float* part = sz.splits_dq > 1 ? w.dq_part : grad_query;
    if (sz.splits_dq > 0) {
      dq_kernel<T><<<dim3(static_cast<unsigned>(sz.row_tiles), static_cast<unsigned>(sz.d_chunks),
                          static_cast<unsigned>(sz.splits_dq)),
                     kThreads, 0, s>>>(p, lse, grad_loss, sz.col_tiles, sz.splits_dq, part);
      YDNN_CUDA(cudaGetLastError(), "dq_kernel");
    }
    finish_dq_kernel<T><<<blocks_for(sz.B * sz.D, kThreads), kThreads, 0, s>>>(
        p, w.dq_part, sz.splits_dq, w.zpos, grad_query);
    YDNN_CUDA(cudaGetLastError(), "finish_dq_kernel");
  }
  if (sz.splits_dc > 0) {
    dcol_kernel<T><<<dim3(static_cast<unsigned>(sz.col_tiles), static_cast<unsigned>(sz.d_chunks),
                          static_cast<unsigned>(sz.splits_dc)),
                     kThreads, 0, s>>>(p, lse, grad_loss, sz.row_tiles, sz.splits_dc, w.dcol);
    YDNN_CUDA(cudaGetLastError(), "dcol_kernel");
  }
  if (U == 0) return Status::Ok();
  unique_ids_kernel<<<blocks_for(U, kThreads), kThreads, 0, s>>>(w.keys_out, w.starts, U,
                                                                 unique_ids);
  YDNN_CUDA(cudaGetLastError(), "unique_ids_kernel");
  if (sz.D == 0) return Status::Ok();
  grad_rows_kernel<T><<<blocks_for(U * sz.D, kThreads), kThreads, 0, s>>>(
      w.starts, w.vals_out, U, sz.J, sz.D, w.dcol, sz.splits_dc, w.zpos, a.query, p.round,
      grad_rows);
  return cuda_ok(cudaGetLastError(), "grad_rows_kernel");
}

}  // namespace
}  // namespace softmax_cuda

size_t sampled_softmax_backward_workspace_cuda(const SoftmaxArgs& a) {
  using namespace softmax_cuda;
  if (!check_sizes(a).ok()) return 0;  // the plan itself reports it
  return backward_workspace(Sizes(a), nullptr).bytes;
}

Status sampled_softmax_backward_plan_cuda(const SoftmaxArgs& a, void* workspace,
                                          size_t workspace_bytes, int64_t* num_unique,
                                          void* stream) {
  using namespace softmax_cuda;
  *num_unique = 0;
  YDNN_RETURN_IF_ERROR(check_sizes(a));
  const Sizes sz(a);
  const Workspace w = backward_workspace(sz, static_cast<char*>(workspace));
  if (workspace_bytes < w.bytes)
    return InvalidArgument("sampled_softmax backward workspace has ", workspace_bytes,
                           " bytes; it needs ", w.bytes);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  YDNN_RETURN_IF_ERROR(prepare(a, sz, w, true, s));
  const int n = static_cast<int>(sz.n_sort);  // < 2^31 - 1 (check_sizes)
  size_t temp = w.temp_bytes;
  YDNN_CUDA(cub::DeviceRadixSort::SortPairs(w.temp, temp, w.keys_in, w.keys_out, w.vals_in,
                                            w.vals_out, n, 0, end_bit_of(sz.V), s),
            "cub::DeviceRadixSort::SortPairs");
  head_flags_kernel<<<blocks_for(sz.n_sort + 1, kThreads), kThreads, 0, s>>>(w.keys_out, sz.n_sort,
                                                                             w.flags);
  YDNN_CUDA(cudaGetLastError(), "head_flags_kernel");
  temp = w.temp_bytes;
  YDNN_CUDA(cub::DeviceSelect::Flagged(w.temp, temp, thrust::counting_iterator<int32_t>(0), w.flags,
                                       w.starts, w.err + kSelected, n + 1, s),
            "cub::DeviceSelect::Flagged");
  int64_t e[kSlots];
  YDNN_RETURN_IF_ERROR(read_back(e, w.err, sizeof e, s));
  YDNN_RETURN_IF_ERROR(report(a, e, s));
  *num_unique = e[kSelected] - 1;  // the last head is the sentinel at n
  return Status::Ok();
}

Status sampled_softmax_backward_cuda(const SoftmaxArgs& a, void* workspace, size_t workspace_bytes,
                                     int64_t num_unique, const float* lse, const float* grad_loss,
                                     float* grad_query, int64_t* unique_ids, void* grad_rows,
                                     void* stream) {
  using namespace softmax_cuda;
  YDNN_RETURN_IF_ERROR(check_sizes(a));
  const Sizes sz(a);
  const Workspace w = backward_workspace(sz, static_cast<char*>(workspace));
  if (workspace_bytes < w.bytes)
    return InvalidArgument("sampled_softmax backward workspace has ", workspace_bytes,
                           " bytes; it needs ", w.bytes);
  if (num_unique < 0 || num_unique > sz.n_sort)
    return InvalidArgument("num_unique = ", num_unique, " is not what the plan returned");
  return on_table_type(a.table_dtype, [&](auto tt) -> Status {
    using T = typename decltype(tt)::type;
    return fill<T>(a, sz, w, num_unique, lse, grad_loss, grad_query, unique_ids,
                   static_cast<T*>(grad_rows), static_cast<cudaStream_t>(stream));
  });
}

}  // namespace ydnn
