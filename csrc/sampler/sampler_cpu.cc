// Log-uniform sampling on the CPU (maths and semantics in sampler.h).
//
// Draws are generated in parallel batches (each is a pure function of its
// index), then one thread walks them in order through an open-addressing
// hash set to keep first occurrences: the walk is inherently sequential (TF's
// unique semantics depend on draw order) but costs a few ns per draw, while
// Philox + exp dominate and split across threads. The filter and the draw
// buffer live in the caller's LogUniformScratch across calls.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "sampler/sampler.h"

namespace ydnn {
namespace {

// First-occurrence filter over the ids of one call. Ranges up to 2^26 ids
// use a bitmap (<= 8 MB, kept per thread; only the bits a call set are
// cleared after it, so a call costs O(draws), never O(R)); larger ranges an
// open-addressing hash set with 4x the slots of ids kept.
class IdSet {
 public:
  static constexpr int64_t kBitmapRange = int64_t(1) << 26;

  void reset(const LogUniformArgs& a) {
    min_id_ = a.min_id;
    bitmap_ = a.range() <= kBitmapRange;
    if (bitmap_) {
      if (bits_.size() < static_cast<size_t>((a.range() + 63) / 64)) bits_.assign((a.range() + 63) / 64, 0);
      return;
    }
    size_t cap = 64;
    while (cap < static_cast<size_t>(4 * a.num_sampled)) cap <<= 1;
    slots_.assign(cap, -1);
    mask_ = cap - 1;
  }

  // True if `id` was not in the set (and is now).
  bool insert(int64_t id) {
    if (bitmap_) {
      const uint64_t j = static_cast<uint64_t>(id - min_id_);
      uint64_t& word = bits_[j >> 6];
      const uint64_t bit = uint64_t(1) << (j & 63);
      if (word & bit) return false;
      word |= bit;
      return true;
    }
    size_t h = static_cast<size_t>((static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ull) >> 17) & mask_;
    while (slots_[h] != -1) {
      if (slots_[h] == id) return false;
      h = (h + 1) & mask_;
    }
    slots_[h] = id;
    return true;
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

// Draws [first, first + n) into out, in parallel: one Philox block serves
// two draws, and log(R + 1) is computed once; same doubles, same ids as
// log_uniform_draw (which the GPU uses draw by draw).
void Draw(const LogUniformArgs& a, uint64_t first, int64_t n, int64_t* out,
          const ParallelFor& parallel) {
  const int64_t R = a.range();
  const double log_range = log1p(static_cast<double>(R));
  auto id_of = [&](double u) {
    int64_t j = static_cast<int64_t>(exp(u * log_range)) - 1;
    return a.min_id + (j < 0 ? 0 : (j > R - 1 ? R - 1 : j));
  };
  parallel(n, 60, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e;) {
      const uint64_t i = a.counter + first + t;
      const Philox4x32 r = philox4x32_10(i >> 1, a.stream, a.key);
      if ((i & 1) == 0) {
        out[t++] = id_of(bits_to_unit_double(r.x[0], r.x[1]));
        if (t == e) break;
      }
      out[t++] = id_of(bits_to_unit_double(r.x[2], r.x[3]));
    }
  });
}

}  // namespace

struct LogUniformScratch::Impl {
  IdSet seen;
  std::vector<int64_t> draws;
};
LogUniformScratch::LogUniformScratch() : impl_(new Impl) {}
LogUniformScratch::~LogUniformScratch() { delete impl_; }

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
                              LogUniformScratch* scratch, const ParallelFor& parallel) {
  YDNN_RETURN_IF_ERROR(log_uniform_check(a));
  const int64_t S = a.num_sampled;
  if (!a.unique) {
    Draw(a, 0, S, sampled, parallel);
    *num_tries = S;
    return Status::Ok();
  }
  IdSet& seen = scratch->impl()->seen;
  std::vector<int64_t>& draws = scratch->impl()->draws;
  seen.reset(a);
  int64_t found = 0;
  uint64_t next = 0;  // draws consumed so far
  int64_t batch = S + S / 2 + 256;
  for (;;) {
    draws.resize(batch);
    Draw(a, next, batch, draws.data(), parallel);
    for (int64_t t = 0; t < batch; ++t) {
      if (!seen.insert(draws[t])) continue;
      sampled[found++] = draws[t];
      if (found == S) {
        *num_tries = static_cast<int64_t>(next) + t + 1;
        seen.clear(sampled, S);
        return Status::Ok();
      }
    }
    next += batch;
    // Give up at 2^31 draws (TF aborts there; reachable only with
    // num_sampled close to R for very large R).
    if (next >= (uint64_t(1) << 31)) {
      seen.clear(sampled, found);
      return Internal("log-uniform sampling drew 2^31 ids without finding ", S,
                      " distinct ones in a range of ", a.range());
    }
    // Size the next batch by the draws-per-new-id rate seen so far, never
    // past the cap, so the cut-off is exact (and the GPU's).
    const double rate = static_cast<double>(next) / std::max<int64_t>(found, 1);
    batch = std::max<int64_t>(1024, static_cast<int64_t>(1.25 * rate * (S - found)));
    batch = std::min<int64_t>(batch, static_cast<int64_t>((uint64_t(1) << 31) - next));
  }
}

void log_uniform_expected_count_cpu(const LogUniformArgs& a, const int64_t* ids, int64_t n,
                                    int64_t num_tries, float* out) {
  // Three transcendental calls per id: worth the threads past a few
  // thousand ids, so callers with a pool use the overload below.
  for (int64_t i = 0; i < n; ++i)
    out[i] = expected_count(log_uniform_probability(ids[i], a.min_id, a.max_id), a.num_sampled,
                            num_tries);
}

void log_uniform_expected_count_cpu(const LogUniformArgs& a, const int64_t* ids, int64_t n,
                                    int64_t num_tries, float* out, const ParallelFor& parallel) {
  parallel(n, 200, [&](int64_t b, int64_t e) {
    log_uniform_expected_count_cpu(a, ids + b, e - b, num_tries, out + b);
  });
}

}  // namespace ydnn
