// Argument checks and the per-call plan of sampled softmax (see the header).
//
// Accidental hits are found by sorting the J column ids once (a radix sort:
// a comparison sort of 8,192 ids was 0.3 ms of each plan) and looking up
// each row's positive (O(B log J)): never a B x J compare.
// The unique ids of pos ∪ s come from the same sorted columns merged with
// the sorted positives, which also group the gradient's terms by id.
#include <algorithm>
#include <cmath>
#include <string>

#include "common/radix_sort.h"
#include "sampled_softmax/sampled_softmax.h"

namespace ydnn {

namespace {

int64_t id_at(const void* ids, IdType t, int64_t i) {
  return t == IdType::kInt32 ? static_cast<const int32_t*>(ids)[i]
                             : static_cast<const int64_t*>(ids)[i];
}

Status read_ids(const char* name, const void* ids, IdType t, int64_t n, int64_t V,
                std::vector<int64_t>* out) {
  out->resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = id_at(ids, t, i);
    if (id < 0 || id >= V)
      return InvalidArgument(std::string(name) + "[" + std::to_string(i) +
                             "] = " + std::to_string(id) + " is outside [0, " + std::to_string(V) +
                             ") (the table has " + std::to_string(V) + " rows)");
    (*out)[i] = id;
  }
  return Status();
}

Status read_logq(const char* name, const float* ec, int64_t n, std::vector<float>* out) {
  out->resize(n);
  for (int64_t i = 0; i < n; ++i) {
    // !(x > 0) also rejects NaN; log(inf) would make every logit -inf.
    if (!(ec[i] > 0.f) || !std::isfinite(ec[i])) return bad_expected_count(name, i, ec[i]);
    (*out)[i] = std::log(ec[i]);
  }
  return Status();
}

}  // namespace

Status bad_expected_count(const char* name, int64_t i, float value) {
  if (value == 0.f) {
    return InvalidArgument(name, "[", i,
                           "] = 0: expected counts must be positive and finite; "
                           "0 is what the sampler gives an id it can never draw: is that id "
                           "outside the sampler's range (e.g. padding id 0 as a target while "
                           "negatives start at min_sampled_id = 1)?");
  }
  return InvalidArgument(name, "[", i, "] = ", value,
                         ": expected counts must be positive and finite");
}

Status sampled_softmax_shapes(const std::vector<std::vector<int64_t>>& dims, SoftmaxArgs* a) {
  const auto &q = dims[0], &t = dims[1], &pos = dims[2], &s = dims[3], &tec = dims[4],
             &sec = dims[5];
  if (q.size() != 2) return InvalidArgument("query must be [B, D], got shape ", ShapeStr(q));
  if (t.size() != 2 || t[1] != q[1])
    return InvalidArgument("table must be [V, D] with D = ", q[1], " (the query's), got shape ",
                           ShapeStr(t));
  if (pos.size() != 1 || pos[0] != q[0])
    return InvalidArgument("positive_ids must be [B] with B = ", q[0],
                           " (the query's rows), got shape ", ShapeStr(pos));
  if (s.size() != 1) return InvalidArgument("sampled_ids must be [S], got shape ", ShapeStr(s));
  if (tec.size() != 1 || tec[0] != q[0])
    return InvalidArgument("true_expected_count must be [B] with B = ", q[0], ", got shape ",
                           ShapeStr(tec));
  if (sec.size() != 1 || sec[0] != s[0])
    return InvalidArgument("sampled_expected_count must be [S] with S = ", s[0],
                           " (the sampled ids'), got shape ", ShapeStr(sec));
  a->batch = q[0];
  a->dim = q[1];
  a->num_rows = t[0];
  a->num_sampled = s[0];
  return Status();
}

Status sampled_softmax_check(const SoftmaxArgs& a) {
  if (a.batch < 0 || a.dim < 0 || a.num_sampled < 0)
    return InvalidArgument("sizes must be >= 0, got batch " + std::to_string(a.batch) + ", dim " +
                           std::to_string(a.dim) + ", num_sampled " +
                           std::to_string(a.num_sampled));
  if (a.num_rows < 1)
    return InvalidArgument("table must have at least one row, got shape [" +
                           std::to_string(a.num_rows) + ", " + std::to_string(a.dim) + "]");
  if (!(a.temperature > 0.f) || !std::isfinite(a.temperature))
    return InvalidArgument("temperature must be positive and finite, got " + StrCat(a.temperature));
  if (a.compute_dtype != DType::kFloat32 && a.compute_dtype != DType::kBFloat16)
    return InvalidArgument("compute_dtype must be float32 or bfloat16, got dtype code ",
                           static_cast<int>(a.compute_dtype));
  return Status();
}

Status parse_compute_dtype(const std::string& name, DType* out) {
  if (name == "float32") {
    *out = DType::kFloat32;
  } else if (name == "bfloat16") {
    *out = DType::kBFloat16;
  } else {
    return InvalidArgument("compute_dtype must be \"float32\" or \"bfloat16\", got \"", name, "\"");
  }
  return Status();
}

Status SoftmaxPlan::build(const SoftmaxArgs& a, bool with_unique) {
  YDNN_RETURN_IF_ERROR(sampled_softmax_check(a));
  const int64_t B = a.batch, S = a.num_sampled, J = a.num_columns();
  if (J > INT32_MAX) return InvalidArgument("too many candidate columns: " + std::to_string(J));
  std::vector<int64_t> sampled;
  std::vector<float> sampled_logq;
  YDNN_RETURN_IF_ERROR(
      read_ids("positive_ids", a.positive_ids, a.positive_id_type, B, a.num_rows, &pos_id_));
  YDNN_RETURN_IF_ERROR(
      read_ids("sampled_ids", a.sampled_ids, a.sampled_id_type, S, a.num_rows, &sampled));
  YDNN_RETURN_IF_ERROR(read_logq("true_expected_count", a.true_expected_count, B, &pos_logq_));
  YDNN_RETURN_IF_ERROR(
      read_logq("sampled_expected_count", a.sampled_expected_count, S, &sampled_logq));

  col_id_.clear();
  col_logq_.clear();
  if (a.in_batch) {
    col_id_ = pos_id_;
    col_logq_ = pos_logq_;
  }
  col_id_.insert(col_id_.end(), sampled.begin(), sampled.end());
  col_logq_.insert(col_logq_.end(), sampled_logq.begin(), sampled_logq.end());

  // Stable by id from column order: sorted by (id, column).
  const int id_bits = bits_for(static_cast<uint64_t>(a.num_rows));
  const auto by_id = [](const std::pair<int64_t, int32_t>& x) { return uint64_t(x.first); };
  std::vector<std::pair<int64_t, int32_t>> scratch;
  cols_by_id_.resize(J);
  for (int64_t j = 0; j < J; ++j) cols_by_id_[j] = {col_id_[j], static_cast<int32_t>(j)};
  radix_sort(&cols_by_id_, &scratch, id_bits, by_id);

  // Masked columns of row b: in-batch columns always (they hold positives,
  // and a row's own positive must not count as its negative), sampled ones
  // when removing accidental hits. Ascending, as the kernels walk them.
  hit_start_.assign(B + 1, 0);
  hit_col_.clear();
  for (int64_t b = 0; b < B; ++b) {
    auto lo = std::lower_bound(cols_by_id_.begin(), cols_by_id_.end(),
                               std::make_pair(pos_id_[b], int32_t{0}));
    for (; lo != cols_by_id_.end() && lo->first == pos_id_[b]; ++lo) {
      const bool in_batch_col = a.in_batch && lo->second < B;
      if (in_batch_col || a.remove_accidental_hits) hit_col_.push_back(lo->second);
    }
    hit_start_[b + 1] = static_cast<int64_t>(hit_col_.size());
  }

  unique_.clear();
  pos_by_id_.clear();
  col_start_.clear();
  pos_start_.clear();
  if (!with_unique) return Status();
  pos_by_id_.resize(B);
  for (int64_t b = 0; b < B; ++b) pos_by_id_[b] = {pos_id_[b], static_cast<int32_t>(b)};
  radix_sort(&pos_by_id_, &scratch, id_bits, by_id);
  // Merge the two sorted lists, recording where each unique id's entries start.
  size_t i = 0, k = 0;
  while (i < cols_by_id_.size() || k < pos_by_id_.size()) {
    const int64_t id = k == pos_by_id_.size() || (i < cols_by_id_.size() &&
                                                  cols_by_id_[i].first < pos_by_id_[k].first)
                           ? cols_by_id_[i].first
                           : pos_by_id_[k].first;
    unique_.push_back(id);
    col_start_.push_back(static_cast<int64_t>(i));
    pos_start_.push_back(static_cast<int64_t>(k));
    while (i < cols_by_id_.size() && cols_by_id_[i].first == id) ++i;
    while (k < pos_by_id_.size() && pos_by_id_[k].first == id) ++k;
  }
  col_start_.push_back(static_cast<int64_t>(i));
  pos_start_.push_back(static_cast<int64_t>(k));
  return Status();
}

}  // namespace ydnn
