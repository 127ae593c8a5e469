// Log-uniform sampling on the CPU (maths and semantics in sampler.h).
//
// Draws are generated in parallel batches (each is a pure function of its
// index); unique sampling passes them through the shared first-occurrence
// filter (sampler_unique_cpu.cc). Philox + exp dominate the draws and split
// across threads.
#include <limits>

#include "sampler/sampler.h"

namespace ydnn {
namespace {

// Draws [first, first + n) into out, in parallel; log(R + 1) is computed
// once: same doubles, same ids as log_uniform_draw (which the GPU uses draw
// by draw).
void Draw(const LogUniformArgs& a, uint64_t first, int64_t n, int64_t* out,
          const ParallelFor& parallel) {
  const double log_range = log1p(static_cast<double>(a.range()));
  draw_batch_cpu(a.key, a.stream, a.counter + first, n, out, 40, parallel,
                 [&](uint64_t bits) { return log_uniform_id(a, log_range, unit_double(bits)); });
}

}  // namespace

Status log_uniform_check(const LogUniformArgs& a) {
  if (a.num_sampled < 1) return InvalidArgument("num_sampled must be >= 1, got ", a.num_sampled);
  if (a.min_id < 0) return InvalidArgument("min_id must be >= 0, got ", a.min_id);
  if (a.max_id < a.min_id)
    return InvalidArgument("max_id must be >= min_id, got max_id = ", a.max_id,
                           " and min_id = ", a.min_id);
  if (a.max_id == std::numeric_limits<int64_t>::max())
    return InvalidArgument("max_id must be < 2^63 - 1, got ", a.max_id);
  if (a.unique && a.num_sampled > a.range())
    return InvalidArgument("num_sampled = ", a.num_sampled, " exceeds the ", a.range(),
                           " ids in [min_id, max_id] = [", a.min_id, ", ", a.max_id,
                           "]: unique sampling needs num_sampled <= max_id - min_id + 1");
  return Status::Ok();
}

Status log_uniform_sample_cpu(const LogUniformArgs& a, int64_t* sampled, int64_t* num_tries,
                              SamplerScratch* scratch, const ParallelFor& parallel) {
  YDNN_RETURN_IF_ERROR(log_uniform_check(a));
  const int64_t S = a.num_sampled;
  if (!a.unique) {
    Draw(a, 0, S, sampled, parallel);
    *num_tries = S;
    return Status::Ok();
  }
  return first_occurrences_cpu(
      S, a.min_id, a.range(),
      [&](uint64_t first, int64_t n, int64_t* out) { Draw(a, first, n, out, parallel); },
      "log-uniform", sampled, num_tries, scratch);
}

void log_uniform_expected_count_cpu(const LogUniformArgs& a, const int64_t* ids, int64_t n,
                                    int64_t num_tries, float* out) {
  // No libm call inside the loop (sampler_math.h): ~10 ns per id.
  const double inv_log_range = 1.0 / log1p(static_cast<double>(a.range()));
  for (int64_t i = 0; i < n; ++i)
    out[i] = expected_count(log_uniform_probability(ids[i], a.min_id, a.max_id, inv_log_range),
                            a.num_sampled, num_tries);
}

void log_uniform_expected_count_cpu(const LogUniformArgs& a, const int64_t* ids, int64_t n,
                                    int64_t num_tries, float* out, const ParallelFor& parallel) {
  parallel(n, 40, [&](int64_t b, int64_t e) {
    log_uniform_expected_count_cpu(a, ids + b, e - b, num_tries, out + b);
  });
}

}  // namespace ydnn
