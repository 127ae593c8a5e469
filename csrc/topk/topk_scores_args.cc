// Shape, range and value checks of topk_scores shared by every adapter and
// by the CPU and CUDA paths, so that all of them fail with the same words.
#include <cmath>

#include "topk/topk_scores_internal.h"

namespace ydnn {

Status topk_scores_shapes(const TopkShapes& s, bool has_exclude, int64_t k, int64_t min_id,
                          TopkArgs* a) {
  if (s.queries.size() != 2)
    return InvalidArgument("queries must be 2-D [B, D], got shape ", ShapeStr(s.queries));
  if (s.table.size() != 2)
    return InvalidArgument("table must be 2-D [V, D], got shape ", ShapeStr(s.table));
  if (s.queries[1] != s.table[1])
    return InvalidArgument("queries must be [B, ", s.table[1], "] to match the table of shape ",
                           ShapeStr(s.table), ", got ", ShapeStr(s.queries));
  const int64_t V = s.table[0];
  if (V < 1) return InvalidArgument("table must have >= 1 row, got shape ", ShapeStr(s.table));
  if (min_id < 0 || min_id >= V)
    return InvalidArgument("min_id must be in [0, ", V - 1, "] for a table of shape ",
                           ShapeStr(s.table), ", got ", min_id);
  if (k < 1 || k > V - min_id)
    return InvalidArgument("k must be in [1, ", V - min_id, "] (the table has ", V, " rows, ",
                           min_id, " below min_id), got ", k);
  if (has_exclude) {
    if (s.exclude.size() != 1 || s.exclude_splits.size() != 1 ||
        s.exclude_splits[0] != s.queries[0] + 1)
      return InvalidArgument("exclude must be values [N] with row_splits [", s.queries[0] + 1,
                             "] (one list per query row); got values of shape ",
                             ShapeStr(s.exclude), " and row_splits of shape ",
                             ShapeStr(s.exclude_splits));
  }
  a->num_queries = s.queries[0];
  a->dim = s.queries[1];
  a->num_rows = V;
  a->k = k;
  a->min_id = min_id;
  a->num_exclude = has_exclude ? s.exclude[0] : 0;
  return Status::Ok();
}

namespace topk_detail {

Status bad_value(const TopkArgs& a, BadKind kind, int64_t pos, double value) {
  const int64_t id = static_cast<int64_t>(value);  // splits and ids print as integers
  switch (kind) {
    case BadKind::kQuery:
      return InvalidArgument(
          "queries must be finite (a NaN or inf query scores every candidate "
          "NaN); queries of shape [",
          a.num_queries, ", ", a.dim, "] has ", value, " at [", pos / a.dim, ", ", pos % a.dim,
          "]");
    case BadKind::kSplits:
      return InvalidArgument("exclude row_splits must run non-decreasing from 0 to N = ",
                             a.num_exclude, "; row_splits[", pos, "] = ", id);
    case BadKind::kExcludeId:
      return InvalidArgument("exclude values must be ids in [0, ", a.num_rows, ") (the table's ",
                             "rows); exclude of shape [", a.num_exclude, "] has ", id, " at [", pos,
                             "]");
  }
  return Internal("unknown topk_scores error kind ", static_cast<int>(kind));
}

Status check_host(const TopkArgs& a) {
  const int64_t n = a.num_queries * a.dim;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(a.queries[i])) return bad_value(a, BadKind::kQuery, i, a.queries[i]);
  if (a.exclude == nullptr) return Status::Ok();
  const int64_t* sp = a.exclude_splits;
  if (sp[0] != 0) return bad_value(a, BadKind::kSplits, 0, static_cast<double>(sp[0]));
  for (int64_t b = 1; b <= a.num_queries; ++b)
    if (sp[b] < sp[b - 1] || sp[b] > a.num_exclude)
      return bad_value(a, BadKind::kSplits, b, static_cast<double>(sp[b]));
  if (sp[a.num_queries] != a.num_exclude)
    return bad_value(a, BadKind::kSplits, a.num_queries, static_cast<double>(sp[a.num_queries]));
  for (int64_t i = 0; i < a.num_exclude; ++i) {
    const int64_t v = exclude_id(a, i);
    if (v < 0 || v >= a.num_rows)
      return bad_value(a, BadKind::kExcludeId, i, static_cast<double>(v));
  }
  return Status::Ok();
}

}  // namespace topk_detail
}  // namespace ydnn
