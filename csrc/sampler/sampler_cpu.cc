// Log-uniform sampling on the CPU (maths and semantics in sampler.h).
//
// Draws are generated in parallel batches (each is a pure function of its
// index); unique sampling passes them through the shared first-occurrence
// filter (sampler_unique_cpu.cc). Philox and exp dominate the draws; both
// have AVX2 paths (sampler_philox_avx2.cc, sampler_log_uniform_avx2.cc) and
// a fused AVX-512 one (sampler_log_uniform_avx512.cc), all giving the scalar
// functions' ids bit for bit, chosen at run time.
#include <algorithm>
#include <limits>

#include "common/cpu_features.h"
#include "sampler/sampler.h"

namespace ydnn {

// sampler_log_uniform_avx2.cc: the first 4 * floor(n / 4) items, returns
// how many; only for R < 2^51 (exact int64 <-> double conversions).
int64_t log_uniform_ids_avx2(const LogUniformArgs& a, double log_range, const uint64_t* bits,
                             int64_t n, int64_t* out);
int64_t log_uniform_expected_count_avx2(const LogUniformArgs& a, double inv_log_range,
                                        const int64_t* ids, int64_t n, int64_t num_tries,
                                        float* out);
// sampler_log_uniform_avx512.cc: draws [first, first + n) whole (Philox
// included); the counts of the first 8 * floor(n / 8) ids. Same limit.
void log_uniform_draws_avx512(const LogUniformArgs& a, double log_range, uint64_t first, int64_t n,
                              int64_t* out);
int64_t log_uniform_expected_count_avx512(const LogUniformArgs& a, double inv_log_range,
                                          const int64_t* ids, int64_t n, int64_t num_tries,
                                          float* out);

namespace {

// The vector path for these arguments: the CPU's, or scalar past R = 2^51.
CpuIsa isa_for(const LogUniformArgs& a) {
  static const CpuIsa isa = cpu_isa();
  return a.range() < (int64_t(1) << 51) ? isa : CpuIsa::kScalar;
}

// Draws [first, first + n) into out, in parallel, with the host's
// log(R + 1): the ids log_uniform_draw gives (which the GPU uses). With
// `ec` (sampling with replacement: every draw is kept), also their expected
// counts P S; the AVX-512 path makes them in the draws' parallel region,
// each range's right after its ids (one region, not two).
void Draw(const LogUniformArgs& a, uint64_t first, int64_t n, int64_t* out, float* ec,
          const ParallelFor& parallel) {
  const double log_range = log_uniform_log_range(a);
  if (isa_for(a) == CpuIsa::kAvx512) {
    // ~2 ns a draw, Philox included, ~0.7 ns a count (6 and 2 cycles): the
    // pool runs up to ~30k draws inline (the ~200k-cycle threshold, see
    // draw_batch_cpu), past which two threads pay for their wake-up.
    constexpr int64_t kBlock = 512;
    parallel((n + kBlock - 1) / kBlock, kBlock * (ec ? 8 : 6), [&](int64_t b, int64_t e) {
      const int64_t t0 = b * kBlock, m = std::min(n, e * kBlock) - t0;
      log_uniform_draws_avx512(a, log_range, first + static_cast<uint64_t>(t0), m, out + t0);
      if (ec) log_uniform_expected_count_cpu(a, out + t0, m, a.num_sampled, ec + t0);
    });
    return;
  }
  const bool avx2 = isa_for(a) == CpuIsa::kAvx2;
  draw_batch_cpu(a.key, a.stream, a.counter + first, n, out, avx2 ? 4 : 40, parallel,
                 [&](const uint64_t* bits, int64_t m, int64_t* ids) {
                   int64_t t = avx2 ? log_uniform_ids_avx2(a, log_range, bits, m, ids) : 0;
                   for (; t < m; ++t) ids[t] = log_uniform_id(a, log_range, unit_double(bits[t]));
                 });
  if (ec) log_uniform_expected_count_cpu(a, out, n, a.num_sampled, ec, parallel);
}

}  // namespace

Status log_uniform_sample_cpu(const LogUniformArgs& a, int64_t* sampled, float* sampled_ec,
                              int64_t* num_tries, SamplerScratch* scratch,
                              const ParallelFor& parallel) {
  YDNN_RETURN_IF_ERROR(log_uniform_check(a));
  const int64_t S = a.num_sampled;
  if (!a.unique) {
    Draw(a, 0, S, sampled, sampled_ec, parallel);
    *num_tries = S;
    return Status::Ok();
  }
  YDNN_RETURN_IF_ERROR(first_occurrences_cpu(
      S, a.min_id, a.range(),
      [&](uint64_t first, int64_t n, int64_t* out) { Draw(a, first, n, out, nullptr, parallel); },
      "log-uniform", sampled, num_tries, scratch));
  // The counts need num_tries, known only once the filter is done.
  log_uniform_expected_count_cpu(a, sampled, S, *num_tries, sampled_ec, parallel);
  return Status::Ok();
}

void log_uniform_expected_count_cpu(const LogUniformArgs& a, const int64_t* ids, int64_t n,
                                    int64_t num_tries, float* out) {
  // No libm call inside the loop (sampler_math.h): ~10 ns per id scalar,
  // ~2 on the AVX2 path, 0.7 (with replacement) to 2.7 (without) on AVX-512.
  const double inv_log_range = 1.0 / log_uniform_log_range(a);
  int64_t i = 0;
  switch (isa_for(a)) {
    case CpuIsa::kAvx512:
      i = log_uniform_expected_count_avx512(a, inv_log_range, ids, n, num_tries, out);
      break;
    case CpuIsa::kAvx2:
      i = log_uniform_expected_count_avx2(a, inv_log_range, ids, n, num_tries, out);
      break;
    case CpuIsa::kScalar:
      break;
  }
  for (; i < n; ++i)
    out[i] = expected_count(log_uniform_probability(ids[i], a.min_id, a.max_id, inv_log_range),
                            a.num_sampled, num_tries);
}

void log_uniform_expected_count_cpu(const LogUniformArgs& a, const int64_t* ids, int64_t n,
                                    int64_t num_tries, float* out, const ParallelFor& parallel) {
  parallel(n, isa_for(a) == CpuIsa::kScalar ? 40 : 10, [&](int64_t b, int64_t e) {
    log_uniform_expected_count_cpu(a, ids + b, e - b, num_tries, out + b);
  });
}

}  // namespace ydnn
