// TF's unique (first-occurrence) filter on the CPU, shared by the
// log-uniform and unigram samplers (semantics in sampler.h).
//
// Draws come in parallel batches from the sampler's DrawBatchFn (each draw is
// a pure function of its index), then one thread walks them in order to keep
// first occurrences: the walk is inherently sequential (TF's unique semantics
// depend on draw order) but costs a few ns per draw. Batches are sized from
// the draws-per-new-id rate of the previous call, then of this one so far,
// so a typical call makes one.
// The filter and the draw buffer live in the caller's SamplerScratch.
#include <algorithm>
#include <vector>

#include "sampler/sampler.h"

namespace ydnn {
namespace {

// First-occurrence filter over the ids of one call. Ranges up to 2^26 ids
// use a bitmap (<= 8 MB, kept per scratch; only the words a call set are
// cleared after it, so a call costs O(draws), never O(R)); larger ranges an
// open-addressing hash set with 4x the slots of ids kept.
class IdSet {
 public:
  static constexpr int64_t kBitmapRange = int64_t(1) << 26;

  void reset(int64_t min_id, int64_t range, int64_t num_sampled) {
    min_id_ = min_id;
    bitmap_ = range <= kBitmapRange;
    if (bitmap_) {
      if (bits_.size() < static_cast<size_t>((range + 63) / 64)) bits_.assign((range + 63) / 64, 0);
      return;
    }
    size_t cap = 64;
    while (cap < static_cast<size_t>(4 * num_sampled)) cap <<= 1;
    slots_.assign(cap, -1);
    mask_ = cap - 1;
  }

  // Hash-set mode: true if `id` was not in the set (and is now).
  bool hash_insert(int64_t id) {
    size_t h =
        static_cast<size_t>((static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ull) >> 17) & mask_;
    while (slots_[h] != -1) {
      if (slots_[h] == id) return false;
      h = (h + 1) & mask_;
    }
    slots_[h] = id;
    return true;
  }

  // Walks draws[0, n) in order, appending first occurrences to out until it
  // holds `need`; returns the draws consumed and sets *kept to the ids
  // appended. The bitmap walk is branch-free (a draw is new about half the
  // time at S = 8192 of 1e6, a coin flip for the branch predictor): each draw
  // is stored at out[kept] and kept only if its bit was clear.
  int64_t walk(const int64_t* draws, int64_t n, int64_t* out, int64_t need, int64_t* kept) {
    int64_t k = 0, t = 0;
    if (bitmap_) {
      for (; t < n && k < need; ++t) {
        const uint64_t j = static_cast<uint64_t>(draws[t] - min_id_);
        uint64_t& word = bits_[j >> 6];
        const uint64_t old = word;
        out[k] = draws[t];
        k += static_cast<int64_t>(((old >> (j & 63)) & 1) ^ 1);
        word = old | (uint64_t(1) << (j & 63));
      }
    } else {
      for (; t < n && k < need; ++t)
        if (hash_insert(draws[t])) out[k++] = draws[t];
    }
    *kept = k;
    return t;
  }

  // Leaves the bitmap all zero again, touching only the kept ids' words.
  void clear(const int64_t* kept, int64_t n) {
    if (!bitmap_) return;
    for (int64_t i = 0; i < n; ++i) bits_[static_cast<uint64_t>(kept[i] - min_id_) >> 6] = 0;
  }

 private:
  bool bitmap_ = false;
  int64_t min_id_ = 0;
  std::vector<uint64_t> bits_;
  std::vector<int64_t> slots_;
  size_t mask_ = 0;
};

// The largest draw buffer a call allocates beyond 4 num_sampled (32 MB).
constexpr int64_t kMaxBatch = int64_t(1) << 22;

}  // namespace

struct SamplerScratch::Impl {
  IdSet seen;
  std::vector<int64_t> draws;
  double tries_per_id = 0;  // the last call's num_tries / num_sampled
};
SamplerScratch::SamplerScratch() : impl_(new Impl) {}
SamplerScratch::~SamplerScratch() { delete impl_; }

Status first_occurrences_cpu(int64_t num_sampled, int64_t min_id, int64_t range,
                             const DrawBatchFn& draw, const char* what, int64_t* sampled,
                             int64_t* num_tries, SamplerScratch* scratch) {
  const int64_t S = num_sampled;
  IdSet& seen = scratch->impl()->seen;
  std::vector<int64_t>& draws = scratch->impl()->draws;
  seen.reset(min_id, range, S);
  int64_t found = 0;
  uint64_t next = 0;  // draws consumed so far
  // The first batch: 10% over the last call's draws per id (a sampler's
  // calls usually share their arguments), so a typical call draws once.
  double& last_rate = scratch->impl()->tries_per_id;
  // (Capped: a rate seen near R = S must not size one giant buffer.)
  int64_t batch = S + S / 2 + 256;
  if (last_rate > 0)
    batch = std::min<int64_t>(static_cast<int64_t>(1.1 * last_rate * S) + 64, 8 * batch);
  for (;;) {
    if (draws.size() < static_cast<size_t>(batch)) draws.resize(batch);
    draw(next, batch, draws.data());
    int64_t kept;
    const int64_t used = seen.walk(draws.data(), batch, sampled + found, S - found, &kept);
    found += kept;
    if (found == S) {
      *num_tries = static_cast<int64_t>(next) + used;
      last_rate = static_cast<double>(*num_tries) / S;
      seen.clear(sampled, S);
      return Status::Ok();
    }
    next += batch;
    // Give up at 2^31 draws (TF aborts there; reachable only with
    // num_sampled close to the number of drawable ids and tiny
    // probabilities at the tail).
    if (next >= static_cast<uint64_t>(kUniqueMaxDraws)) {
      seen.clear(sampled, found);
      return InvalidArgument(what, " sampling drew 2^31 ids and found only ", found, " of the ", S,
                             " distinct ids asked for (range of ", range,
                             " ids): the law puts almost all its mass on fewer ids than "
                             "num_sampled; lower num_sampled or sample with unique=False");
    }
    // Size the next batch by the draws-per-new-id rate seen so far, never
    // past the cap, so the cut-off is exact (and the GPU's).
    // The buffer stays within kMaxBatch draws (or 4 S): a law with nearly
    // all its mass on fewer than S ids has a huge rate, and sizing one batch
    // by it asked for gigabytes.
    const double rate = static_cast<double>(next) / std::max<int64_t>(found, 1);
    batch = static_cast<int64_t>(std::min(1.25 * rate * (S - found), 0x1p62));
    batch = std::max<int64_t>(1024, std::min(batch, std::max(kMaxBatch, 4 * S)));
    batch = std::min<int64_t>(batch, kUniqueMaxDraws - static_cast<int64_t>(next));
  }
}

}  // namespace ydnn
