// pybind11 entry points of sparse_optim: one optimizer step, in place, on
// NumPy arrays (CPU kernels on our thread pool, GIL released) or CUDA
// arrays (on the given stream; ydnn_kernels/arrays.py allocates the
// workspace and error word with CuPy). The table and slots are written
// where they are, so they must already be C-contiguous of the exact dtype.
#include <pybind11/stl.h>

#include "py/array_view.h"
#include "sparse_optim/sparse_optim.h"

namespace ydnn {
namespace py {
namespace {

OptimKind parse_kind(const std::string& k) {
  if (k == "sgd") return OptimKind::kSgd;
  if (k == "adagrad") return OptimKind::kAdagrad;
  if (k == "rowwise_adagrad") return OptimKind::kRowWiseAdagrad;
  if (k == "lazy_adam") return OptimKind::kLazyAdam;
  fail("kind must be 'sgd', 'adagrad', 'rowwise_adagrad' or 'lazy_adam', got '" + k + "'");
}

struct Prepared {
  ArrayView table, ids, grad;
  std::vector<ArrayView> slots;
  SparseOptimArgs args;
};

// The step's hyper-parameters, in the order every entry point takes them.
OptimHyper hyper_of(float lr, int64_t step, float weight_decay, float epsilon, float beta_1,
                    float beta_2, bool stochastic_rounding, uint64_t seed) {
  OptimHyper h;
  h.lr = lr;
  h.step = step;
  h.weight_decay = weight_decay;
  h.epsilon = epsilon;
  h.beta1 = beta_1;
  h.beta2 = beta_2;
  h.stochastic_rounding = stochastic_rounding;
  h.seed = seed;
  return h;
}

Prepared prepare(const std::string& kind, const pyb::object& table, const pyb::list& slots,
                 const pyb::object& ids, const pyb::object& grad, const OptimHyper& h,
                 bool ids_unique) {
  Prepared p;
  p.table = view(table, "table");
  require_writable(p.table, "table");
  p.ids = view(ids, "indices");
  p.grad = view(grad, "values");
  SparseOptimShapes shapes{p.table.shape, p.ids.shape, p.grad.shape, {}};
  for (size_t i = 0; i < slots.size(); ++i) {
    const std::string name = "slots[" + std::to_string(i) + "]";
    p.slots.push_back(view(slots[i], name.c_str()));
    require_writable(p.slots.back(), name.c_str());
    if (p.slots.back().elem != Elem::kFloat32)
      fail(name + " must be float32, got " + elem_name(p.slots.back().elem));
    shapes.slots.push_back(p.slots.back().shape);
  }
  for (const ArrayView* v : {&p.ids, &p.grad})
    if (v->device != p.table.device)
      fail("table, slots, indices and values must all be host or all device arrays");
  for (const ArrayView& s : p.slots)
    if (s.device != p.table.device)
      fail("table, slots, indices and values must all be host or all device arrays");
  if (p.grad.elem != p.table.elem)
    fail(std::string("values must have the table's dtype ") + elem_name(p.table.elem) + ", got " +
         elem_name(p.grad.elem));
  SparseOptimArgs& a = p.args;
  check(sparse_optim_check(shapes, h, parse_kind(kind), &a));
  a.table = p.table.data;
  a.table_dtype = table_dtype(p.table, "table");
  a.slot0 = p.slots.size() > 0 ? static_cast<float*>(p.slots[0].data) : nullptr;
  a.slot1 = p.slots.size() > 1 ? static_cast<float*>(p.slots[1].data) : nullptr;
  a.ids = p.ids.data;
  a.id_type = id_type(p.ids, "indices");
  a.grad = p.grad.data;
  a.ids_unique = ids_unique;
  return p;
}

void apply_cpu(const std::string& kind, const pyb::object& table, const pyb::list& slots,
               const pyb::object& ids, const pyb::object& grad, float lr, int64_t step,
               float weight_decay, float epsilon, float beta_1, float beta_2,
               bool stochastic_rounding, uint64_t seed) {
  Prepared p = prepare(
      kind, table, slots, ids, grad,
      hyper_of(lr, step, weight_decay, epsilon, beta_1, beta_2, stochastic_rounding, seed), false);
  if (p.table.device) fail("sparse_apply_cpu takes host arrays; use sparse_apply_cuda");
  Status s;
  {
    pyb::gil_scoped_release release;
    s = sparse_optim_apply_cpu(p.args, ThreadPoolParallelFor());
  }
  check(s);
}

#if defined(YDNN_WITH_CUDA)
int64_t workspace_cuda(int64_t num_ids, int64_t dim, const std::string& id_dtype, bool ids_unique) {
  SparseOptimArgs a;
  a.num_ids = num_ids;
  a.dim = dim;  // the hot runs' partial rows are D wide
  a.id_type = id_dtype == "int32" ? IdType::kInt32 : IdType::kInt64;
  a.ids_unique = ids_unique;
  return static_cast<int64_t>(sparse_optim_workspace_cuda(a));
}

void apply_cuda(const std::string& kind, const pyb::object& table, const pyb::list& slots,
                const pyb::object& ids, const pyb::object& grad, float lr, int64_t step,
                float weight_decay, float epsilon, float beta_1, float beta_2,
                bool stochastic_rounding, uint64_t seed, bool ids_unique,
                const pyb::object& workspace, const pyb::object& error, uintptr_t stream) {
  Prepared p =
      prepare(kind, table, slots, ids, grad,
              hyper_of(lr, step, weight_decay, epsilon, beta_1, beta_2, stochastic_rounding, seed),
              ids_unique);
  if (!p.table.device) fail("sparse_apply_cuda takes device arrays");
  ArrayView ws = view(workspace, "workspace");
  int64_t* err = nullptr;
  if (!error.is_none()) {
    ArrayView e = view(error, "error");
    if (!e.device || e.elem != Elem::kInt64 || e.size() != 1)
      fail("error must be a device int64 array of one element");
    err = static_cast<int64_t*>(e.data);
  }
  void* st = reinterpret_cast<void*>(stream);
  Status s;
  {
    pyb::gil_scoped_release release;
    s = sparse_optim_apply_cuda(p.args, ws.data, static_cast<size_t>(ws.size()), err, st);
    if (s.ok() && err) s = sparse_optim_check_error_cuda(p.args, err, st);
  }
  check(s);
}
#endif

}  // namespace

void register_sparse_optim(pyb::module_& m) {
  using namespace pybind11::literals;
  m.def("sparse_apply_cpu", &apply_cpu, "kind"_a, "table"_a, "slots"_a, "indices"_a, "values"_a,
        "lr"_a, "step"_a, "weight_decay"_a, "epsilon"_a, "beta_1"_a, "beta_2"_a,
        "stochastic_rounding"_a, "seed"_a,
        "One sparse optimizer step, in place, on NumPy arrays; see "
        "ydnn_kernels.arrays.sparse_apply.");
#if defined(YDNN_WITH_CUDA)
  m.def("sparse_apply_workspace_cuda", &workspace_cuda, "num_ids"_a, "dim"_a, "id_dtype"_a,
        "ids_unique"_a);
  m.def("sparse_apply_cuda", &apply_cuda, "kind"_a, "table"_a, "slots"_a, "indices"_a, "values"_a,
        "lr"_a, "step"_a, "weight_decay"_a, "epsilon"_a, "beta_1"_a, "beta_2"_a,
        "stochastic_rounding"_a, "seed"_a, "ids_unique"_a, "workspace"_a, "error"_a, "stream"_a);
#endif
}

}  // namespace py
}  // namespace ydnn
