// Unigram sampler on the CPU: the alias-table build (once per table) and
// the per-call draws and expected counts (maths and layout in unigram.h).
//
// Build: Vose's method (in long double; float64 results). Scaled weights q_k = P(k) V are split
// into `small` (q < 1) and `large` (q >= 1); each small bucket keeps
// accept = q_s and takes a large id l as its alias, which gives up 1 - q_s
// (q_l -= 1 - q_s; when q_l drops below 1, l turns small). Every step
// closes one bucket, so it is O(V). The sum of the remaining q equals the
// remaining buckets (up to rounding), so a zero-weight bucket (q = 0) can
// never be left without a large partner; leftovers are buckets whose q is
// 1 up to rounding, and keep themselves (accept 1). The weights are summed
// with Neumaier's compensation in long double, so P is exact to an ulp.
//
// Draws: parallel blocks of Philox bits (draw_batch_cpu), one table read
// each; unique sampling goes through the shared first-occurrence filter.
#include <algorithm>
#include <cmath>
#include <vector>

#include "unigram/unigram.h"

namespace ydnn {

Status unigram_build(const double* counts, int64_t V, double distortion, double* table,
                     double* prob, int64_t* num_positive) {
  if (V < 1) return InvalidArgument("counts must have at least one entry, got shape [0]");
  if (!std::isfinite(distortion) || distortion < 0)
    return InvalidArgument("distortion must be finite and >= 0, got ", distortion);
  // Neumaier's compensated sum in long double: the exact sum to ~2^-64,
  // and no overflow for any V of finite doubles.
  long double sum = 0, comp = 0;
  int64_t positive = 0;
  for (int64_t k = 0; k < V; ++k) {
    const double c = counts[k];
    if (std::isnan(c)) return InvalidArgument("counts[", k, "] is NaN");
    if (std::isinf(c)) return InvalidArgument("counts[", k, "] = ", c, " is not finite");
    if (c < 0) return InvalidArgument("counts[", k, "] = ", c, " is negative");
    // pow(c, 0) = 1 even for c = 0, so zero counts are excluded explicitly.
    const double w = c > 0 ? std::pow(c, distortion) : 0.0;
    if (std::isinf(w))
      return InvalidArgument("counts[", k, "] ** distortion overflows float64 (counts[", k,
                             "] = ", c, ", distortion = ", distortion, ")");
    prob[k] = w;
    positive += w > 0;
    const long double t = sum + w;
    comp += std::fabs(sum) >= w ? (sum - t) + w : (w - t) + sum;
    sum = t;
  }
  const long double total = sum + comp;
  if (positive == 0)
    return InvalidArgument("counts has no positive entry (", V, " ids, distortion = ", distortion,
                           "): there is nothing to sample");
  // The scaled weights q are worked in long double (x87: 64-bit mantissa):
  // whatever the rounding of sum(q) = V leaves over lands on the last
  // buckets (accept 1), and in double that drift, ~V ulps, reaches 1e-12 of
  // their mass for V ~ 1e4; 11 more bits keep it ~1e-15.
  std::vector<long double> q(V);
  std::vector<int64_t> small, large;
  small.reserve(V);
  large.reserve(V);
  const long double scale = static_cast<long double>(V) / total;
  for (int64_t k = 0; k < V; ++k) {
    q[k] = prob[k] * scale;
    prob[k] = static_cast<double>(prob[k] / total);
    table[2 * k + 1] = static_cast<double>(k);
    (q[k] < 1.0L ? small : large).push_back(k);
  }
  while (!small.empty() && !large.empty()) {
    const int64_t s = small.back(), l = large.back();
    small.pop_back();
    const double accept = static_cast<double>(q[s]);
    table[2 * s] = accept;
    table[2 * s + 1] = static_cast<double>(l);
    q[l] -= 1.0L - accept;  // what the sampler will give l, not what s lacked
    if (q[l] < 1.0L) {
      q[l] = q[l] < 0.0L ? 0.0L : q[l];  // rounding of a bucket that gave all it had
      large.pop_back();
      small.push_back(l);
    }
  }
  for (const auto* rest : {&small, &large})
    for (const int64_t k : *rest) table[2 * k] = 1.0, table[2 * k + 1] = static_cast<double>(k);
  *num_positive = positive;
  return Status::Ok();
}

Status unigram_sample_cpu(const UnigramArgs& a, const double* table, int64_t* sampled,
                          int64_t* num_tries, SamplerScratch* scratch,
                          const ParallelFor& parallel) {
  YDNN_RETURN_IF_ERROR(unigram_check(a));
  const uint64_t V = static_cast<uint64_t>(a.num_ids);
  auto draw = [&](uint64_t first, int64_t n, int64_t* out) {
    draw_batch_cpu(a.key, a.stream, a.counter + first, n, out, 30, parallel,
                   [&](const uint64_t* bits, int64_t m, int64_t* ids) {
                     for (int64_t t = 0; t < m; ++t) ids[t] = unigram_pick(table, V, bits[t]);
                   });
  };
  if (!a.unique) {
    draw(0, a.num_sampled, sampled);
    *num_tries = a.num_sampled;
    return Status::Ok();
  }
  return first_occurrences_cpu(a.num_sampled, 0, a.num_ids, draw, "unigram", sampled, num_tries,
                               scratch);
}

void unigram_expected_count_cpu(const UnigramArgs& a, const double* prob, const int64_t* ids,
                                int64_t n, int64_t num_tries, float* out,
                                const ParallelFor& parallel) {
  parallel(n, 60, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      out[i] =
          expected_count(unigram_probability(prob, a.num_ids, ids[i]), a.num_sampled, num_tries);
  });
}

}  // namespace ydnn
