// Log-uniform candidate sampling on the GPU (maths and semantics in sampler.h).
//
// Output: sampled [num_sampled] int64 ids in [min_id, max_id], and the host
// int64 *num_tries. Draw i is log_uniform_draw(a, log_range, i), the CPU's
// function with the host's log(R + 1), so the sample is the CPU's.
//   unique = false: sampled[i] = draw i, one kernel, num_tries = num_sampled.
//   unique = true:  the first occurrences of the draw stream, in draw order,
//                   until num_sampled distinct ids, by the chunked sort and
//                   compaction of sampler_unique_cuda.cuh (shared with the
//                   unigram sampler).
// Draws are compute bound: Philox (10 rounds) plus a double exp and log1p
// each. Typical N = 8192, R = 1e6 takes about 1.9 N draws: two chunks, two
// syncs, a few MB moved in all.

#include "sampler/sampler.h"
#include "sampler/sampler_unique_cuda.cuh"

namespace ydnn {

using namespace sampler_cuda;

namespace {

// Draw i of the stream, for the shared unique path.
struct LogUniformDraw {
  LogUniformArgs a;
  double log_range;
  __device__ int64_t operator()(uint64_t i) const { return log_uniform_draw(a, log_range, i); }
};

UniqueSpec spec(const LogUniformArgs& a) {
  return UniqueSpec{a.num_sampled, a.min_id, a.range(), "log-uniform"};
}

__global__ void draw_kernel(LogUniformArgs a, double log_range, int64_t n, int64_t* out) {
  YDNN_CUDA_FOR_EACH(i, n) out[i] = log_uniform_draw(a, log_range, static_cast<uint64_t>(i));
}

__global__ void expected_count_kernel(LogUniformArgs a, double inv_log_range, const int64_t* ids,
                                      int64_t n, int64_t num_tries, float* out) {
  YDNN_CUDA_FOR_EACH(i, n) {
    out[i] = expected_count(log_uniform_probability(ids[i], a.min_id, a.max_id, inv_log_range),
                            a.num_sampled, num_tries);
  }
}

}  // namespace

size_t log_uniform_sample_workspace_cuda(const LogUniformArgs& a) {
  if (!a.unique || !log_uniform_check(a).ok()) return 0;
  return unique_workspace_cuda(spec(a));
}

Status log_uniform_sample_cuda(const LogUniformArgs& a, int64_t* sampled, int64_t* num_tries,
                               void* workspace, size_t workspace_bytes, void* stream) {
  YDNN_RETURN_IF_ERROR(log_uniform_check(a));
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (!a.unique) {
    draw_kernel<<<blocks_for(a.num_sampled, kBlock), kBlock, 0, s>>>(a, log_uniform_log_range(a),
                                                                     a.num_sampled, sampled);
    *num_tries = a.num_sampled;
    return cuda_ok(cudaGetLastError(), "draw_kernel");
  }
  return first_occurrences_cuda(spec(a), LogUniformDraw{a, log_uniform_log_range(a)}, sampled,
                                num_tries, workspace, workspace_bytes, s);
}

void log_uniform_expected_count_cuda(const LogUniformArgs& a, const int64_t* ids, int64_t n,
                                     int64_t num_tries, float* out, void* stream) {
  if (n <= 0) return;
  expected_count_kernel<<<blocks_for(n, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream)>>>(
      a, 1.0 / log_uniform_log_range(a), ids, n, num_tries, out);
}

}  // namespace ydnn
