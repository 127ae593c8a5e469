// Fused embedding gather + pool on the GPU: the forward and its error check.
//
// out[b] = s_b * sum_j w_j * table[i_j] over B bags (maths in the header).
// table [V, D]; ids [B, L] + lengths [B] or [N] + row_splits [B+1]; weights
// like ids; out [B, D] of the table's dtype.
//
// Algorithm: a group of G = 4..32 lanes (the fewest covering a row in
// 16-byte vectors, so small D packs several bags per warp) owns a bag and
// runs pool_rows over its ids (embedding_pool_cuda.cuh): ids and
// weights are read coalesced, each row once, summed in fp32 registers and
// rounded once on the store. Rows wider than one pass (G*VEC*4 elements,
// 2 KiB with 16-byte vectors) re-walk the bag's ids, which then hit L1.
// Bytes: sum(len)*D*s gathered (Zipf-hot rows hit L2) + B*D*s written +
// ids, weights and lengths once, so it runs at gather bandwidth.
//
// Errors: kernels never fault on bad input. A bad id contributes nothing, a
// malformed bag pools as empty, and each is atomicMin-ed into error[2]
// (first bad id position, first bad bag); check_error reads that back with
// one sync and rebuilds the CPU path's message; only when there is an error
// do one or two more small reads fetch the offending values.

#include "embedding_pool/embedding_pool_cuda.cuh"

namespace ydnn {
namespace pool_cuda {
namespace {

template <typename Id>
struct IdFetch {
  const Id* ids;
  const float* w;
  int64_t start, V;
  int64_t* error;
  __device__ void operator()(int64_t t, bool first, long long& row, float& coef) const {
    const int64_t p = start + t, id = ids[p];
    coef = w ? w[p] : 1.f;
    if (id >= 0 && id < V)
      row = id;
    else if (first && error)
      atomicMin(reinterpret_cast<long long*>(error), static_cast<long long>(p));
  }
};

// B = 0 launches no bag, yet row_splits = [s] must still be checked: it is
// valid only when s == 0 == N, as the CPU's check_layout demands.
__global__ void init_error_kernel(Bags bags, int64_t* error) {
  error[0] = kNoError;
  const bool bad_empty =
      bags.splits && bags.B == 0 && (bags.splits[0] != 0 || bags.splits[0] != bags.N);
  error[1] = bad_empty ? 0 : kNoError;
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

Status forward(const PoolArgs& a, void* out, int64_t* error, cudaStream_t s) {
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
      forward_kernel<T, Id, VEC><<<blocks_for(a.num_bags * G, kBlock), kBlock, 0, s>>>(
          bags_of(a), static_cast<const T*>(a.table), static_cast<const Id*>(a.ids), a.weights,
          a.num_rows, a.dim, a.combiner, G, static_cast<T*>(out), error);
      return cuda_ok(cudaGetLastError(), "forward_kernel");
    });
  });
}

// The same precedence and messages as embedding_pool_check_layout and the
// CPU kernels: layout errors first, then the smallest bad id position.
Status check_error(const PoolArgs& a, const int64_t* error, cudaStream_t s) {
  const int64_t B = a.num_bags, L = a.max_len, V = a.num_rows;
  int64_t e[2], value = 0;  // first bad id position, first bad bag
  YDNN_RETURN_IF_ERROR(read_back(e, error, sizeof(e), s));
  if (e[1] != kNoError && !a.ragged()) {
    YDNN_RETURN_IF_ERROR(read_back(&value, a.lengths + e[1], 8, s));
    return InvalidArgument("lengths[", e[1], "] = ", value, " is outside [0, ", L,
                           "] (ids have shape [", B, ", ", L, "])");
  }
  if (e[1] != kNoError) {
    // All bags before e[1] are well formed, so its first split is fine too
    // and the CPU stops at its second one, k = e[1] + 1; except when bag 0
    // failed on row_splits[0] != 0 (k = 0), or e[1] = B flags the last
    // split alone (k = B; also B = 0 from init_error_kernel).
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
  const std::string where = a.ragged() ? StrCat(e[0]) : StrCat(e[0] / L, ", ", e[0] % L);
  return InvalidArgument("ids[", where, "] = ", value, " is out of range [0, ", V,
                         ") for a table of shape [", V, ", ", a.dim, "]");
}

}  // namespace
}  // namespace pool_cuda

Status embedding_pool_forward_cuda(const PoolArgs& a, void* out, int64_t* error, void* stream) {
  return pool_cuda::forward(a, out, error, static_cast<cudaStream_t>(stream));
}

Status embedding_pool_check_error_cuda(const PoolArgs& a, const int64_t* error, void* stream) {
  if (error == nullptr) return Status::Ok();
  return pool_cuda::check_error(a, error, static_cast<cudaStream_t>(stream));
}

}  // namespace ydnn
