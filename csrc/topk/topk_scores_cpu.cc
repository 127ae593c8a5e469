// Host side of topk_scores on the CPU (maths and shapes in topk_scores.h):
// picks the vector path, packs the queries, splits the work into units of
// (query rows x candidate range), keeps a running top k per row in each
// unit and merges the units' lists per row at the end.
//
// Loop order: candidate tiles outside, query blocks inside. A tile of
// kTileBytes of candidate rows (the table itself when it is float32, a
// widened copy when it is 16-bit) stays in L2 while every block of the
// unit's rows is scored against it, so the table is read from memory once
// per call whatever B is: the memory floor for one query, and for a batch
// the FMA ports' pace (see topk_scores_cpu_kernels.h).
//
// Selection: each row keeps a list of up to 2k candidates and a threshold
// (-inf until the list first fills, then the k-th best score kept). The
// vector loop compares every score with its row's threshold in registers
// and reports the groups of candidates that beat one; only those are
// walked here, in ascending id order, so an equal score never displaces a
// held one (ties go to the lower id). Candidates come in id order, so a
// row's threshold rises fast and after the first tiles almost no group is
// walked. An exclusion list is only looked up (binary search in a sorted
// copy) for a candidate that beats the threshold.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/cpu_features.h"
#include "topk/topk_scores_internal.h"

namespace ydnn {

namespace {

using topk_detail::TopkCpuKernels;

const TopkCpuKernels& kernels() {
  switch (cpu_isa()) {
    case CpuIsa::kAvx512:
      return topk_detail::topk_kernels_avx512();
    case CpuIsa::kAvx2:
      return topk_detail::topk_kernels_avx2();
    default:
      break;
  }
  return topk_detail::topk_kernels_scalar();
}

constexpr int64_t kTileBytes = 64 << 10;      // candidate rows (float32) kept in L2 per tile
constexpr int64_t kMinUnitCandidates = 8192;  // below this a thread's share is not worth it
constexpr int64_t kPassRows = 4096;           // query rows per pass (bounds the lists)
constexpr int64_t kListFactor = 2;  // a row list holds kListFactor * k before it is cut to k
constexpr int64_t kDotRows = 4;     // the dot path up to this many query rows
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Entry {
  float s;
  int64_t id;
};

// a ranks below b: a lower score, or an equal one with a higher id.
inline bool worse(const Entry& a, const Entry& b) {
  return a.s < b.s || (a.s == b.s && a.id > b.id);
}

inline bool better(const Entry& a, const Entry& b) { return worse(b, a); }

// Keeps a row's best k of e[0, n) (in e[0, k), unordered) and returns the
// k-th best score: the row's new threshold.
float compact(Entry* e, int64_t& n, int64_t k) {
  std::nth_element(e, e + k - 1, e + n, better);
  n = k;
  return e[k - 1].s;
}

// The call's fixed layout: row blocks, packed queries, sorted exclusions.
struct Plan {
  const TopkArgs* a;
  const TopkCpuKernels* kern;
  int nv, cols, rows;       // vectors per block, candidates per group, rows per block
  int64_t blocks;           // ceil(B / rows)
  std::vector<float> qt;    // [blocks][D][rows]
  std::vector<int64_t> ex;  // each row's exclusion ids, sorted
  bool use_dot;             // few rows, D a multiple of lanes: the dot path
  int64_t tile;             // candidates per tile (a multiple of cols)
  int64_t chunks;           // candidate ranges, one unit each per row group
};

bool excluded(const Plan& p, int64_t row, int64_t id) {
  if (p.ex.empty()) return false;
  const int64_t* lo = p.ex.data() + p.a->exclude_splits[row];
  const int64_t* hi = p.ex.data() + p.a->exclude_splits[row + 1];
  return std::binary_search(lo, hi, id);
}

// Offers candidate `id` with score `s` to query row `row` (local index
// `local` in the unit's lists): a candidate that beat the row's threshold
// when its group was listed (the threshold may have risen since). A row's
// list holds up to 2k entries; a full one is cut back to its best k, which
// sets the threshold: O(1) per entry amortised, against a heap's log k.
inline void offer(const Plan& p, int64_t row, int64_t local, int64_t id, float s, float* thr,
                  Entry* e, int64_t* n) {
  if (!(s > *thr) || excluded(p, row, id)) return;
  const int64_t k = p.a->k, cap = kListFactor * k;
  Entry* list = e + local * cap;
  if (n[local] == cap) {
    *thr = compact(list, n[local], k);
    if (!(s > *thr)) return;
  }
  list[n[local]++] = Entry{s, id};
}

// One unit: row blocks [b0, b1) against candidates [lo, hi). Leaves each
// row's list (unsorted, a superset of its best k in the unit) in
// e[(row - b0 * rows) * 2k ...] with its size in n.
void run_unit(const Plan& p, int64_t b0, int64_t b1, int64_t lo, int64_t hi, Entry* e, int64_t* n) {
  const TopkArgs& a = *p.a;
  const int64_t D = a.dim, rows = p.rows, B = a.num_queries;
  const int64_t first_row = b0 * rows, nrows = (b1 - b0) * rows;
  const int64_t elem = a.table_dtype == DType::kFloat32 ? 4 : 2;
  std::vector<float> thr(nrows), z(p.tile * rows), buf;
  std::vector<char> tail;
  std::vector<int32_t> hits(p.tile);
  std::vector<uint32_t> above(p.tile);
  for (int64_t r = 0; r < nrows; ++r) {
    thr[r] = first_row + r < B ? -kInf : kInf;  // padding rows take nothing (and have no list)
    if (first_row + r < B) n[r] = 0;
  }
  for (int64_t t0 = lo; t0 < hi; t0 += p.tile) {
    const int64_t count = std::min(p.tile, hi - t0);
    if (p.use_dot) {
      // The table in place, each query row in turn while the tile is in L2.
      // Whole groups in place; the last few rows copied into a zero-padded
      // group, so that every candidate is scored by the same vector code
      // (equal rows must score bit for bit alike: ties go by id).
      const int64_t lanes = p.kern->lanes, groups = count / lanes, whole = groups * lanes;
      const char* cand = static_cast<const char*>(a.table) + t0 * D * elem;
      if (whole < count) {
        tail.assign(lanes * D * elem, 0);
        std::memcpy(tail.data(), cand + whole * D * elem, (count - whole) * D * elem);
      }
      for (int64_t row = first_row; row < std::min(B, first_row + nrows); ++row) {
        const float* q = a.queries + row * D;
        float* t = &thr[row - first_row];
        int64_t nh =
            p.kern->dot(q, cand, a.table_dtype, groups, D, *t, hits.data(), z.data(), above.data());
        if (whole < count && p.kern->dot(q, tail.data(), a.table_dtype, 1, D, *t, hits.data() + nh,
                                         z.data() + nh * lanes, above.data() + nh) > 0)
          hits[nh++] = static_cast<int32_t>(groups);  // the tail is the group after the last
        for (int64_t h = 0; h < nh; ++h)
          for (uint32_t bits = above[h]; bits; bits &= bits - 1) {
            const int c = __builtin_ctz(bits);
            const int64_t id = t0 + hits[h] * lanes + c;
            if (id < t0 + count) offer(p, row, row - first_row, id, z[h * lanes + c], t, e, n);
          }
      }
      continue;
    }
    const int64_t groups = (count + p.cols - 1) / p.cols, span = groups * p.cols;
    const float* cand;
    if (a.table_dtype == DType::kFloat32 && t0 + span <= a.num_rows) {
      cand = static_cast<const float*>(a.table) + t0 * D;
    } else {
      // A 16-bit tile widened, or a float32 tail padded past the table's end.
      const int64_t have = std::min(span, a.num_rows - t0);
      buf.resize(span * D);
      std::fill(buf.begin() + have * D, buf.end(), 0.f);
      if (a.table_dtype == DType::kFloat32)
        std::memcpy(buf.data(), static_cast<const float*>(a.table) + t0 * D, have * D * 4);
      else
        p.kern->widen(static_cast<const uint16_t*>(a.table) + t0 * D,
                      a.table_dtype == DType::kBFloat16, have * D, buf.data());
      cand = buf.data();
    }
    for (int64_t blk = b0; blk < b1; ++blk) {
      float* t = thr.data() + (blk - b0) * rows;
      const float* qt = p.qt.data() + blk * D * rows;
      const int64_t nh = (p.nv == 1 ? p.kern->scan1 : p.kern->scan2)(
          qt, cand, groups, D, t, hits.data(), z.data(), above.data());
      for (int64_t h = 0; h < nh; ++h)
        for (int64_t c = 0; c < p.cols; ++c) {
          const int64_t id = t0 + hits[h] * p.cols + c;
          if (id >= hi) break;
          const float* s = z.data() + (h * p.cols + c) * rows;
          for (uint32_t bits = above[h * p.cols + c]; bits; bits &= bits - 1) {
            const int r = __builtin_ctz(bits);
            offer(p, blk * rows + r, (blk - b0) * rows + r, id, s[r], t + r, e, n);
          }
        }
    }
  }
}

}  // namespace

Status topk_scores_cpu(const TopkArgs& a, float* scores, int64_t* ids,
                       const ParallelFor& parallel) {
  YDNN_RETURN_IF_ERROR(topk_detail::check_host(a));
  const int64_t B = a.num_queries, D = a.dim, k = a.k;
  if (B == 0) return Status::Ok();
  Plan p;
  p.a = &a;
  p.kern = &kernels();
  p.nv = B <= p.kern->lanes ? 1 : 2;
  p.cols = p.nv == 1 ? p.kern->cols1 : p.kern->cols2;
  p.rows = p.nv * p.kern->lanes;
  p.blocks = (B + p.rows - 1) / p.rows;
  p.use_dot = B <= kDotRows && D % p.kern->lanes == 0;
  if (!p.use_dot) p.qt.assign(p.blocks * D * p.rows, 0.f);
  for (int64_t b = 0; b < B && !p.use_dot; ++b)
    for (int64_t d = 0; d < D; ++d)
      p.qt[((b / p.rows) * D + d) * p.rows + b % p.rows] = a.queries[b * D + d];
  if (a.exclude != nullptr && a.num_exclude > 0) {
    p.ex.resize(a.num_exclude);
    for (int64_t i = 0; i < a.num_exclude; ++i) p.ex[i] = topk_detail::exclude_id(a, i);
    for (int64_t b = 0; b < B; ++b)
      std::sort(p.ex.begin() + a.exclude_splits[b], p.ex.begin() + a.exclude_splits[b + 1]);
  }
  const int64_t per_tile = std::max<int64_t>(1, kTileBytes / (4 * std::max<int64_t>(D, 1)));
  const int64_t step = p.use_dot ? p.kern->lanes : p.cols;
  p.tile = std::max<int64_t>(1, per_tile / step) * step;
  // Rows in passes of at most kPassRows, which bounds the candidate lists'
  // memory (2k entries per row and chunk) whatever B is; a pass that large
  // is compute-bound, so reading the table once per pass costs little.
  // Inside a pass, units split the candidates first (each thread then
  // reads its own part of the table), the row blocks when the catalog is
  // too small to share.
  const int64_t nc = a.num_rows - a.min_id, threads = std::max(1, parallel.num_threads());
  p.chunks = std::clamp<int64_t>(nc / kMinUnitCandidates, 1, threads);
  const int64_t pass_blocks = std::min(p.blocks, std::max<int64_t>(1, kPassRows / p.rows));
  // Lists for real rows only: a stride of min(pass rows, B) per chunk (one
  // query in a 16-lane block keeps one list, not 16).
  const int64_t pass_rows = std::min(pass_blocks * p.rows, B);
  auto cand_of = [&](int64_t c) { return a.min_id + c * nc / p.chunks; };
  std::vector<Entry> lists(p.chunks * pass_rows * kListFactor * k);
  std::vector<int64_t> sizes(p.chunks * pass_rows);
  for (int64_t pb0 = 0; pb0 < p.blocks; pb0 += pass_blocks) {
    const int64_t nb = std::min(pass_blocks, p.blocks - pb0), row0 = pb0 * p.rows;
    const int64_t row_groups = std::min(nb, (threads + p.chunks - 1) / p.chunks);
    auto block_of = [&](int64_t g) { return pb0 + g * nb / row_groups; };
    const int64_t cost = std::max<int64_t>(1, 2 * (nc / p.chunks) * D * nb * p.rows / row_groups);
    parallel(row_groups * p.chunks, cost, [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t g = u / p.chunks, c = u % p.chunks;
        const int64_t b0 = block_of(g), b1 = block_of(g + 1),
                      at = c * pass_rows + b0 * p.rows - row0;
        run_unit(p, b0, b1, cand_of(c), cand_of(c + 1), lists.data() + at * kListFactor * k,
                 sizes.data() + at);
      }
    });
    // Merge: each row's lists from every chunk, best first, ties by lower id.
    const int64_t rows_here = std::min(B - row0, nb * p.rows);
    parallel(rows_here, 8 * k * p.chunks, [&](int64_t r0, int64_t r1) {
      std::vector<Entry> all;
      for (int64_t r = r0; r < r1; ++r) {
        all.clear();
        for (int64_t c = 0; c < p.chunks; ++c) {
          const Entry* e = lists.data() + (c * pass_rows + r) * kListFactor * k;
          all.insert(all.end(), e, e + sizes[c * pass_rows + r]);
        }
        const int64_t m = std::min<int64_t>(k, all.size());
        std::partial_sort(all.begin(), all.begin() + m, all.end(), better);
        const int64_t out = (row0 + r) * k;
        for (int64_t j = 0; j < k; ++j) {
          scores[out + j] = j < m ? all[j].s : -kInf;
          ids[out + j] = j < m ? all[j].id : -1;
        }
      }
    });
  }
  return Status::Ok();
}

}  // namespace ydnn
