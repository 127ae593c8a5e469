// Argument and table checks of the unigram sampler (unigram.h): a table the
// caller did not build is validated before any draw indexes it, and unique
// sampling is refused when the law cannot give num_sampled distinct ids.
#include <algorithm>
#include <cmath>
#include <vector>

#include "unigram/unigram.h"

namespace ydnn {

Status unigram_check(const UnigramArgs& a) {
  if (a.num_sampled < 1) return InvalidArgument("num_sampled must be >= 1, got ", a.num_sampled);
  if (a.num_ids < 1)
    return InvalidArgument("the unigram table must have >= 1 row, got ", a.num_ids);
  if (a.num_positive < 1 || a.num_positive > a.num_ids)
    return InvalidArgument("num_positive must be in [1, ", a.num_ids, "], got ", a.num_positive);
  if (a.unique && a.num_sampled > a.num_positive)
    return InvalidArgument("num_sampled = ", a.num_sampled, " exceeds the ", a.num_positive,
                           " ids with a positive count: unique sampling needs num_sampled <= "
                           "the number of ids with a positive count");
  return Status::Ok();
}

int64_t unigram_max_unique(const double* prob, int64_t V) {
  const double tail = 1.0 / static_cast<double>(kUniqueMaxDraws);
  int64_t positive = 0;
  std::vector<double> light;
  for (int64_t k = 0; k < V; ++k) {
    positive += prob[k] > 0;
    if (prob[k] > 0 && prob[k] < tail) light.push_back(prob[k]);
  }
  std::sort(light.begin(), light.end());
  double mass = 0;
  int64_t out_of_reach = 0;
  for (const double p : light) {
    mass += p;
    if (mass >= tail) break;
    ++out_of_reach;
  }
  return positive - out_of_reach;
}

Status unigram_check_reachable(int64_t num_sampled, bool unique, int64_t max_unique) {
  if (!unique || num_sampled <= max_unique) return Status::Ok();
  return InvalidArgument("num_sampled = ", num_sampled,
                         " distinct ids cannot be drawn in 2^31 "
                         "tries: the law puts almost all its mass on ",
                         max_unique,
                         " ids (the rest together have probability < 2^-31); lower "
                         "num_sampled to <= ",
                         max_unique, " or sample with unique=False");
}

Status unigram_validate(const double* table, const double* prob, int64_t V, int64_t num_positive,
                        int64_t* max_unique) {
  if (V < 1) return InvalidArgument("the unigram table must have >= 1 row, got ", V);
  std::vector<bool> drawable(V, false);
  for (int64_t b = 0; b < V; ++b) {
    const double accept = table[2 * b], alias = table[2 * b + 1];
    if (!(accept >= 0.0 && accept <= 1.0))
      return InvalidArgument("table[", b, ", 0] = ", accept,
                             " is not an accept probability in [0, 1]");
    if (!(alias >= 0.0 && alias < static_cast<double>(V)) || alias != std::floor(alias))
      return InvalidArgument("table[", b, ", 1] = ", alias, " is not an id in [0, ", V, ")");
    if (!(prob[b] >= 0.0 && prob[b] <= 1.0))
      return InvalidArgument("prob[", b, "] = ", prob[b], " is not a probability in [0, 1]");
    if (accept > 0.0) drawable[b] = true;
    if (accept < 1.0) drawable[static_cast<int64_t>(alias)] = true;
  }
  int64_t reachable = 0;
  for (int64_t b = 0; b < V; ++b) reachable += drawable[b];
  if (num_positive > reachable)
    return InvalidArgument("num_positive = ", num_positive, " exceeds the ", reachable,
                           " ids the table can draw: unique sampling could never finish");
  if (max_unique != nullptr) *max_unique = unigram_max_unique(prob, V);
  return Status::Ok();
}

}  // namespace ydnn
