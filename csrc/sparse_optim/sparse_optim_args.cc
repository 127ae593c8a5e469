// Shape and hyper-parameter checks shared by every sparse_optim adapter
// (TF ops, pybind11), so they fail alike and name the argument, its shape
// and the bad value.
#include <cmath>
#include <string>

#include "sparse_optim/sparse_optim.h"

namespace ydnn {
namespace {

const char* kind_name(OptimKind k) {
  switch (k) {
    case OptimKind::kSgd:
      return "sgd";
    case OptimKind::kAdagrad:
      return "adagrad";
    case OptimKind::kRowWiseAdagrad:
      return "rowwise_adagrad";
    case OptimKind::kLazyAdam:
      return "lazy_adam";
  }
  return "unknown";
}

}  // namespace

int sparse_optim_num_slots(OptimKind kind) {
  switch (kind) {
    case OptimKind::kSgd:
      return 0;
    case OptimKind::kAdagrad:
      return 1;
    case OptimKind::kRowWiseAdagrad:
      return 1;
    case OptimKind::kLazyAdam:
      return 2;
  }
  return 0;
}

Status sparse_optim_check(const SparseOptimShapes& s, const OptimHyper& h, OptimKind kind,
                          SparseOptimArgs* a) {
  if (s.table.size() != 2)
    return InvalidArgument("table must be 2-D [V, D], got shape ", ShapeStr(s.table));
  const int64_t V = s.table[0], D = s.table[1];
  if (s.ids.size() != 1)
    return InvalidArgument("indices must be 1-D [N], got shape ", ShapeStr(s.ids));
  const int64_t N = s.ids[0];
  if (s.grad.size() != 2 || s.grad[0] != N || s.grad[1] != D)
    return InvalidArgument("values must have shape [", N, ", ", D,
                           "] (indices [N], table [V, D]), got shape ", ShapeStr(s.grad));
  const int want = sparse_optim_num_slots(kind);
  if (static_cast<int>(s.slots.size()) != want)
    return InvalidArgument(kind_name(kind), " takes ", want, " slot(s), got ", s.slots.size());
  static const char* kSlotNames[4][2] = {
      {"", ""}, {"accumulator", ""}, {"accumulator", ""}, {"momentum", "velocity"}};
  for (int k = 0; k < want; ++k) {
    const bool row_wise = kind == OptimKind::kRowWiseAdagrad;
    // A row-wise accumulator may be [V] or [V, 1] (a Keras variable of shape [V, 1]).
    const bool ok = row_wise ? (s.slots[k] == std::vector<int64_t>{V} ||
                                s.slots[k] == std::vector<int64_t>{V, 1})
                             : s.slots[k] == s.table;
    if (!ok)
      return InvalidArgument(kSlotNames[static_cast<int>(kind)][k], " must have shape ",
                             row_wise ? ShapeStr({V}) : ShapeStr(s.table), " to match table ",
                             ShapeStr(s.table), ", got shape ", ShapeStr(s.slots[k]));
  }
  if (!std::isfinite(h.lr)) return InvalidArgument("learning_rate must be finite, got ", h.lr);
  if (!std::isfinite(h.weight_decay) || h.weight_decay < 0)
    return InvalidArgument("weight_decay must be finite and >= 0, got ", h.weight_decay);
  if (kind != OptimKind::kSgd && !(h.epsilon >= 0 && std::isfinite(h.epsilon)))
    return InvalidArgument("epsilon must be finite and >= 0, got ", h.epsilon);
  if (kind == OptimKind::kLazyAdam) {
    if (!(h.beta1 >= 0 && h.beta1 < 1))
      return InvalidArgument("beta_1 must be in [0, 1), got ", h.beta1);
    if (!(h.beta2 >= 0 && h.beta2 < 1))
      return InvalidArgument("beta_2 must be in [0, 1), got ", h.beta2);
    if (h.step < 1) return InvalidArgument("step must be >= 1 (1-based), got ", h.step);
  }
  a->kind = kind;
  a->num_rows = V;
  a->dim = D;
  a->num_ids = N;
  a->hyper = h;
  return Status::Ok();
}

Status sparse_optim_bad_id(const SparseOptimArgs& a, int64_t position, int64_t id) {
  return InvalidArgument("indices[", position, "] = ", id, " is out of range [0, ", a.num_rows,
                         ") for a table of shape [", a.num_rows, ", ", a.dim, "]");
}

}  // namespace ydnn
