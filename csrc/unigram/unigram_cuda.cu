// Unigram sampling on the GPU (maths, table layout and semantics in
// unigram.h). The alias table [V, 2] and P [V] are device arrays built once
// on the host (unigram_build) and copied over by the caller.
//
// Draw i is unigram_draw, the CPU's function with integer arithmetic and one
// double compare, so the ids are the CPU's bit for bit.
//   unique = false: sampled[i] = draw i, one kernel; per draw 16 random
//                   bytes read from the table (a cache miss for large V).
//   unique = true:  the chunked sort and compaction of
//                   sampler_unique_cuda.cuh (shared with log-uniform).
// Expected counts: one P read per id and, when unique with rejections, an
// expm1 and a log1p.

#include <vector>

#include "sampler/sampler_unique_cuda.cuh"
#include "unigram/unigram.h"

namespace ydnn {

using namespace sampler_cuda;

namespace {

struct UnigramDraw {
  UnigramArgs a;
  const double* table;
  __device__ int64_t operator()(uint64_t i) const { return unigram_draw(a, table, i); }
};

UniqueSpec spec(const UnigramArgs& a) { return UniqueSpec{a.num_sampled, 0, a.num_ids, "unigram"}; }

__global__ void draw_kernel(UnigramDraw draw, int64_t n, int64_t* out) {
  YDNN_CUDA_FOR_EACH(i, n) out[i] = draw(static_cast<uint64_t>(i));
}

__global__ void expected_count_kernel(UnigramArgs a, const double* prob, const int64_t* ids,
                                      int64_t n, int64_t num_tries, float* out) {
  YDNN_CUDA_FOR_EACH(i, n) {
    out[i] = expected_count(unigram_probability(prob, a.num_ids, ids[i]), a.num_sampled, num_tries);
  }
}

}  // namespace

size_t unigram_sample_workspace_cuda(const UnigramArgs& a) {
  if (!a.unique || !unigram_check(a).ok()) return 0;
  return unique_workspace_cuda(spec(a));
}

Status unigram_sample_cuda(const UnigramArgs& a, const double* table, int64_t* sampled,
                           int64_t* num_tries, void* workspace, size_t workspace_bytes,
                           void* stream) {
  YDNN_RETURN_IF_ERROR(unigram_check(a));
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const UnigramDraw draw{a, table};
  if (!a.unique) {
    draw_kernel<<<blocks_for(a.num_sampled, kBlock), kBlock, 0, s>>>(draw, a.num_sampled, sampled);
    *num_tries = a.num_sampled;
    return cuda_ok(cudaGetLastError(), "draw_kernel");
  }
  return first_occurrences_cuda(spec(a), draw, sampled, num_tries, workspace, workspace_bytes, s);
}

void unigram_expected_count_cuda(const UnigramArgs& a, const double* prob, const int64_t* ids,
                                 int64_t n, int64_t num_tries, float* out, void* stream) {
  if (n <= 0) return;
  expected_count_kernel<<<blocks_for(n, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream)>>>(
      a, prob, ids, n, num_tries, out);
}

Status unigram_validate_cuda(const double* table, const double* prob, int64_t V,
                             int64_t num_positive, int64_t* max_unique, void* stream) {
  if (V < 1) return InvalidArgument("the unigram table must have >= 1 row, got ", V);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  std::vector<double> t(2 * V), p(V);
  YDNN_CUDA(cudaMemcpyAsync(t.data(), table, 16 * V, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync");
  YDNN_RETURN_IF_ERROR(read_back(p.data(), prob, 8 * V, s));
  return unigram_validate(t.data(), p.data(), V, num_positive, max_unique);
}

}  // namespace ydnn
