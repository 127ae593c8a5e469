// Candidate samplers for sampled softmax.
//
// Log-uniform (Zipf) over the ids [min_id, max_id], both ends included. With
// R = max_id - min_id + 1 and j = k - min_id:
//   P(k) = log((j + 2) / (j + 1)) / log(R + 1),   CDF(j) = log(j + 2) / log(R + 1)
// so draw i is j = floor(exp(u_i * log(R + 1))) - 1 (clamped to R - 1 against
// rounding), u_i = philox_uniform(key, stream, counter + i).
//
// unique = true follows TF's LogUniformCandidateSampler: draws are taken in
// order, the first occurrence of each id is kept, until num_sampled distinct
// ids are found; num_tries counts every draw. Expected counts then follow
// TF's ExpectedCountHelper: P * num_sampled when num_tries == num_sampled
// (always so for unique = false), else -expm1(num_tries * log1p(-P)). Ids
// outside [min_id, max_id] have P = 0 and expected count 0.
//
// Cost: O(num_tries) draws (Philox + exp, in parallel) and a sequential
// first-occurrence filter (a bitmap for ranges up to 2^26, else a hash set);
// never O(R) per call. Bytes: 8 * num_sampled out.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>

#include "common/cpu_features.h"
#include "common/parallel.h"
#include "common/philox.h"
#include "common/status.h"
#include "sampler/sampler_math.h"

namespace ydnn {

struct LogUniformArgs {
  int64_t num_sampled = 0;
  int64_t min_id = 0;
  int64_t max_id = 0;
  bool unique = true;
  uint64_t key = 0;      // Philox key (the op seed)
  uint64_t stream = 0;   // Philox counter high half (the second seed)
  uint64_t counter = 0;  // index of this call's first draw in the stream

  YDNN_HD int64_t range() const { return max_id - min_id + 1; }
};

// Checks num_sampled >= 1, 0 <= min_id <= max_id, and num_sampled <= R when
// unique; messages name the argument and value.
Status log_uniform_check(const LogUniformArgs& a);

// log(R + 1), computed once per call on the host (glibc's log1p) and handed
// to the device too, so both draw with the same double.
inline double log_uniform_log_range(const LogUniformArgs& a) {
  return log1p(static_cast<double>(a.range()));
}

// The id in [min_id, max_id] of a uniform u in [0, 1); exp_pos is the shared
// fma polynomial (sampler_math.h), so host and device floors agree exactly.
YDNN_HD int64_t log_uniform_id(const LogUniformArgs& a, double log_range, double u) {
  const int64_t R = a.range();
  int64_t j = static_cast<int64_t>(exp_pos(u * log_range)) - 1;
  j = j < 0 ? 0 : (j > R - 1 ? R - 1 : j);
  return a.min_id + j;
}

// Draw i's 64 random bits: two draws per Philox block (words 0-1 for even
// i, 2-3 for odd), the bits every sampler turns into an id.
YDNN_HD uint64_t philox_bits64(uint64_t key, uint64_t stream, uint64_t i) {
  const Philox4x32 r = philox4x32_10(i >> 1, stream, key);
  return (i & 1) ? (uint64_t{r.x[2]} << 32 | r.x[3]) : (uint64_t{r.x[0]} << 32 | r.x[1]);
}

// A double in [0, 1) from 64 random bits (the top 53).
YDNN_HD double unit_double(uint64_t bits) {
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);  // 2^-53
}

// Draw i of the stream, as an id in [min_id, max_id].
YDNN_HD int64_t log_uniform_draw(const LogUniformArgs& a, double log_range, uint64_t i) {
  return log_uniform_id(a, log_range, unit_double(philox_bits64(a.key, a.stream, a.counter + i)));
}

// inv_log_range = 1 / log1p(max_id - min_id + 1), hoisted out of loops.
YDNN_HD double log_uniform_probability(int64_t id, int64_t min_id, int64_t max_id,
                                       double inv_log_range) {
  if (id < min_id || id > max_id) return 0.0;
  return log_ratio(static_cast<double>(id - min_id)) * inv_log_range;
}

YDNN_HD double log_uniform_probability(int64_t id, int64_t min_id, int64_t max_id) {
  return log_uniform_probability(id, min_id, max_id,
                                 1.0 / log1p(static_cast<double>(max_id - min_id + 1)));
}

YDNN_HD float expected_count(double p, int64_t num_sampled, int64_t num_tries) {
  if (num_tries == num_sampled) return static_cast<float>(p * num_sampled);
  return static_cast<float>(-expm1_neg(static_cast<double>(num_tries) * log1m(p)));
}

// What the vector expected-count loops (sampler_log_uniform_avx*.cc) share.
// P of the 16 head ids (log_ratio's log1p branch), which they look up.
inline void log_uniform_head_probabilities(double inv_log_range, double head[16]) {
  for (int j = 0; j < 16; ++j) head[j] = log_ratio(j) * inv_log_range;
}
// out[l] by the scalar functions for each lane l set in `lanes`: the lanes
// the polynomials do not cover (ids out of range, P > 1/16).
inline void expected_count_lanes(const LogUniformArgs& a, double inv_log_range, const int64_t* ids,
                                 int64_t num_tries, unsigned lanes, float* out) {
  for (int l = 0; lanes; ++l, lanes >>= 1)
    if (lanes & 1)
      out[l] = expected_count(log_uniform_probability(ids[l], a.min_id, a.max_id, inv_log_range),
                              a.num_sampled, num_tries);
}

// Buffers a CPU sampler reuses from call to call (the draws and the
// first-occurrence filter), owned by the caller: the TF kernels keep one per
// op instance, so steady-state sampling allocates nothing. Shared by the
// log-uniform and unigram samplers.
class SamplerScratch {
 public:
  SamplerScratch();
  ~SamplerScratch();
  struct Impl;
  Impl* impl() { return impl_; }

 private:
  Impl* impl_;
};

// Unique sampling gives up after this many draws (TF aborts there too).
constexpr int64_t kUniqueMaxDraws = int64_t(1) << 31;

// Draws [first, first + n) of a sampler's stream, as ids, into out.
using DrawBatchFn = std::function<void(uint64_t first, int64_t n, int64_t* out)>;

// TF's unique semantics for any stream of ids in [min_id, min_id + range):
// draws taken in order, first occurrences kept until num_sampled distinct
// ids; *num_tries = draws consumed. Draws are made in parallel batches by
// `draw`, the filter walks them sequentially (a bitmap for ranges up to
// 2^26, else a hash set). `what` names the sampler in the error raised
// after 2^31 fruitless draws. The caller has checked num_sampled <= the
// number of ids the stream can produce.
Status first_occurrences_cpu(int64_t num_sampled, int64_t min_id, int64_t range,
                             const DrawBatchFn& draw, const char* what, int64_t* sampled,
                             int64_t* num_tries, SamplerScratch* scratch);

// sampled: [num_sampled] host int64. sampled_ec: [num_sampled] host float,
// the sampled ids' expected counts (with replacement they are made in the
// parallel region that draws the ids, while those are in cache).
// *num_tries: draws consumed (the caller advances its counter by it). One
// call at a time per scratch.
Status log_uniform_sample_cpu(const LogUniformArgs& a, int64_t* sampled, float* sampled_ec,
                              int64_t* num_tries, SamplerScratch* scratch,
                              const ParallelFor& parallel);

// out[i] = expected_count(P(ids[i]), num_sampled, num_tries), host arrays.
void log_uniform_expected_count_cpu(const LogUniformArgs& a, const int64_t* ids, int64_t n,
                                    int64_t num_tries, float* out);
void log_uniform_expected_count_cpu(const LogUniformArgs& a, const int64_t* ids, int64_t n,
                                    int64_t num_tries, float* out, const ParallelFor& parallel);

// Host: bits[t] = philox_bits64(key, stream, first + t) for t in [0, n),
// on the widest vector path the CPU has (sampler_philox_cpu*.cc).
void philox_bits64_cpu(uint64_t key, uint64_t stream, uint64_t first, int64_t n, uint64_t* bits);

// Host: the ids of draws [first, first + n) into out, in parallel: blocks of
// random bits made by philox_bits64_cpu, turned into ids by
// ids_of(bits, m, out) (a vector loop, or a loop over one draw's function).
// `cost` is the cycles per draw of ids_of, Philox's added here (~8 on the
// AVX2 path, ~40 scalar). Honest costs matter: below ~200k cycles in all
// the pool runs the batch inline, and waking a sleeping worker costs more
// than a small batch (S = 8192 of 1e6 ids: ~17k draws, ~0.05 ms).
template <typename IdsOf>
void draw_batch_cpu(uint64_t key, uint64_t stream, uint64_t first, int64_t n, int64_t* out,
                    int64_t cost, const ParallelFor& parallel, const IdsOf& ids_of) {
  constexpr int64_t kBlock = 512;
  static const int64_t philox = cpu_isa() >= CpuIsa::kAvx2 ? 8 : 40;
  parallel((n + kBlock - 1) / kBlock, kBlock * (cost + philox), [&](int64_t b, int64_t e) {
    uint64_t bits[kBlock];
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t t0 = blk * kBlock, m = n - t0 < kBlock ? n - t0 : kBlock;
      philox_bits64_cpu(key, stream, first + static_cast<uint64_t>(t0), m, bits);
      ids_of(bits, m, out + t0);
    }
  });
}

// --------------------------------------------------------------- CUDA ----
// `sampled`, `ids`, `out` and the workspace are device arrays, `num_tries`
// host memory, `stream` a cudaStream_t. The stream of draws is the CPU's,
// bit for bit: the same ids for the same arguments (log(R + 1) from the host,
// exp by the shared fma polynomial; the unigram draws are integer and
// float-compare only). Unique sampling works in chunks of draws:
// first occurrences are marked by a stable sort of (id, position), compacted
// in draw order and appended; one host sync per chunk reads how many new ids
// it yielded.
size_t log_uniform_sample_workspace_cuda(const LogUniformArgs& a);
Status log_uniform_sample_cuda(const LogUniformArgs& a, int64_t* sampled, int64_t* num_tries,
                               void* workspace, size_t workspace_bytes, void* stream);
void log_uniform_expected_count_cuda(const LogUniformArgs& a, const int64_t* ids, int64_t n,
                                     int64_t num_tries, float* out, void* stream);

}  // namespace ydnn
