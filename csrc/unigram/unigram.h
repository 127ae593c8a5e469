// Unigram (frequency) candidate sampler: ids k in [0, V) with probability
//   P(k) = w_k / sum_j w_j,   w_k = counts[k]^distortion if counts[k] > 0, else 0
// (tf.random.fixed_unigram_candidate_sampler's law; distortion 1 is plain
// frequency, 0 uniform over the ids seen, 0.75 word2vec's choice).
//
// Alias method (Walker 1977, Vose 1991): the build (once, O(V), host, float64)
// turns the weights into a table [V, 2] of (accept_b, alias_b) such that
//   P(k) = (accept_k + sum_{b: alias_b = k, b != k} (1 - accept_b)) / V.
// Draw i then costs one Philox value and one 16-byte table read, whatever V:
//   x = 64 random bits (the i-th 64-bit draw of the stream, as the log-uniform
//       sampler's: block i / 2 of Philox4x32-10, words 0-1 or 2-3),
//   x * V = bucket * 2^64 + frac    (128-bit product: bucket = high half),
//   coin = (frac >> 11) * 2^-53     (position inside the bucket, in [0, 1)),
//   id = coin < accept_bucket ? bucket : alias_bucket.
// Integer arithmetic and one double compare: the CPU and the GPU produce
// bit-identical streams. The bucket is exact to a relative bias of V / 2^64;
// the coin resolves the accept probability to 2^-53.
//
// Unique and expected-count semantics are the log-uniform sampler's
// (sampler.h): TF's first occurrences, expected_count(P, S, num_tries); ids
// outside [0, V) have P = 0. Ids with count 0 are never drawn (accept 0, and
// never anyone's alias).
//
// Bytes: build reads V counts, writes 24 V (table + P); a call reads 16 per
// draw (random access, so ~one cache miss each once the table outgrows L2),
// 8 per id for its expected count, writes 8 S ids + 4 per expected count.
#pragma once

#include <cstdint>

#include "common/philox.h"
#include "sampler/sampler.h"

namespace ydnn {

struct UnigramArgs {
  int64_t num_sampled = 0;
  int64_t num_ids = 0;       // V, the rows of the table
  int64_t num_positive = 0;  // ids with a positive count (the build says)
  bool unique = true;
  uint64_t key = 0;      // Philox key (the op seed)
  uint64_t stream = 0;   // Philox counter high half (the second seed)
  uint64_t counter = 0;  // index of this call's first draw in the stream
};

// Builds the alias table [V, 2] (accept, alias id as a double) and the
// probabilities P [V] from counts [V] (host arrays). Errors (InvalidArgument,
// naming the argument and value): V < 1, a negative, NaN or infinite count,
// no positive count, distortion NaN, infinite or < 0, a count whose
// power overflows float64.
Status unigram_build(const double* counts, int64_t V, double distortion, double* table,
                     double* prob, int64_t* num_positive);

// num_sampled >= 1, V >= 1, 1 <= num_positive <= V, and num_sampled <=
// num_positive when unique.
Status unigram_check(const UnigramArgs& a);

// A table that did not come from unigram_build (a hand-built or changed
// one, given to the TF op or the arrays API), checked once where it enters,
// O(V) (host arrays): every accept in [0, 1], every alias an integer id in
// [0, V), every P in [0, 1], and num_positive no more than the ids the
// table can draw (buckets with accept > 0, aliases of buckets with accept
// < 1), so unique sampling can always finish. Errors name the entry.
// *max_unique (if not null): unigram_max_unique of prob.
Status unigram_validate(const double* table, const double* prob, int64_t V, int64_t num_positive,
                        int64_t* max_unique);
// The same for device arrays (copied to the host once; syncs `stream`).
Status unigram_validate_cuda(const double* table, const double* prob, int64_t V,
                             int64_t num_positive, int64_t* max_unique, void* stream);

// The largest num_sampled unique sampling can be expected to reach within
// kUniqueMaxDraws draws of the law prob [V] (host). To hold S distinct ids
// some draw must hit an id outside the S - 1 most likely ones, whose mass
// T_S is each draw's chance of doing so: about 1 / T_S draws. S is in reach
// while T_S >= 1 / kUniqueMaxDraws; only ids lighter than that can be in
// the tail beyond it, so an O(V) filter leaves few to sort. (counts
// [1e12, 1]: 1, where sampling 2 would spend 2^31 draws, ~30 s, to fail.)
int64_t unigram_max_unique(const double* prob, int64_t V);

// The error for num_sampled > max_unique under unique sampling, else Ok.
Status unigram_check_reachable(int64_t num_sampled, bool unique, int64_t max_unique);

YDNN_HD uint64_t mul_hi64(uint64_t a, uint64_t b) {
#if defined(__CUDA_ARCH__)
  return __umul64hi(a, b);
#else
  return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
#endif
}

// The id that 64 random bits pick from the alias table. Tables are checked
// where they enter (unigram_validate); an alias that is still not an id in
// [0, V) (NaN, 1e12: a table changed after its check) falls back to the
// bucket itself, so no draw can index out of range: two compares on a
// value already loaded, the same on the CPU and the GPU.
YDNN_HD int64_t unigram_pick(const double* table, uint64_t V, uint64_t bits) {
  const uint64_t bucket = mul_hi64(bits, V);
  const double coin = unit_double(bits * V);  // the low half of the product
  const double alias = table[2 * bucket + 1];
  const bool alias_ok = alias >= 0.0 && alias < static_cast<double>(V);
  return coin < table[2 * bucket] || !alias_ok ? static_cast<int64_t>(bucket)
                                               : static_cast<int64_t>(alias);
}

YDNN_HD int64_t unigram_draw(const UnigramArgs& a, const double* table, uint64_t i) {
  return unigram_pick(table, static_cast<uint64_t>(a.num_ids),
                      philox_bits64(a.key, a.stream, a.counter + i));
}

YDNN_HD double unigram_probability(const double* prob, int64_t V, int64_t id) {
  return id >= 0 && id < V ? prob[id] : 0.0;
}

// sampled: [num_sampled] host int64; *num_tries: draws consumed.
Status unigram_sample_cpu(const UnigramArgs& a, const double* table, int64_t* sampled,
                          int64_t* num_tries, SamplerScratch* scratch, const ParallelFor& parallel);
// out[i] = expected_count(P(ids[i]), num_sampled, num_tries).
void unigram_expected_count_cpu(const UnigramArgs& a, const double* prob, const int64_t* ids,
                                int64_t n, int64_t num_tries, float* out,
                                const ParallelFor& parallel);

// CUDA: table, prob, sampled, ids, out, workspace on the device; num_tries
// on the host. Same stream of ids as the CPU, bit for bit; the unique path is
// the log-uniform sampler's chunked compaction (sampler_unique_cuda.cuh).
size_t unigram_sample_workspace_cuda(const UnigramArgs& a);
Status unigram_sample_cuda(const UnigramArgs& a, const double* table, int64_t* sampled,
                           int64_t* num_tries, void* workspace, size_t workspace_bytes,
                           void* stream);
void unigram_expected_count_cuda(const UnigramArgs& a, const double* prob, const int64_t* ids,
                                 int64_t n, int64_t num_tries, float* out, void* stream);

}  // namespace ydnn
