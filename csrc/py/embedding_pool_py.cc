// pybind11 entry points of embedding_pool.
//
// Host (NumPy) arrays run the CPU kernels on our thread pool with the GIL
// released and return new arrays. Device arrays (__cuda_array_interface__)
// run the CUDA kernels on the given stream into caller-allocated outputs:
// the module links no array library, so ydnn_kernels/arrays.py allocates
// with CuPy and calls in.
#include <pybind11/stl.h>

#include "embedding_pool/embedding_pool.h"
#include "py/array_view.h"

namespace ydnn {
namespace py {
namespace {

Combiner parse_combiner(const std::string& c) {
  if (c == "sum") return Combiner::kSum;
  if (c == "mean") return Combiner::kMean;
  if (c == "sqrtn") return Combiner::kSqrtn;
  fail("combiner must be 'sum', 'mean' or 'sqrtn', got '" + c + "'");
}

struct Inputs {
  ArrayView table, ids, row_info, weights;
  PoolArgs args;
};

// Views and checks the four inputs; all on the host or all on the device.
Inputs make_inputs(const pyb::object& table, const pyb::object& ids, const pyb::object& row_info,
                   const pyb::object& weights, const std::string& combiner, bool ragged) {
  Inputs in;
  in.table = view(table, "table");
  in.ids = view(ids, "ids");
  in.row_info = view(row_info, ragged ? "row_splits" : "lengths");
  const bool has_weights = !weights.is_none();
  if (has_weights) in.weights = view(weights, "weights");
  for (const ArrayView* v : {&in.ids, &in.row_info}) {
    if (v->device != in.table.device)
      fail("table, ids, lengths/row_splits and weights must all be host or all device arrays");
  }
  if (has_weights && in.weights.device != in.table.device)
    fail("weights must live where the table lives (host or device)");
  if (in.row_info.elem != Elem::kInt64)
    fail(std::string(ragged ? "row_splits" : "lengths") + " must be int64, got " +
         elem_name(in.row_info.elem));
  if (has_weights && in.weights.elem != Elem::kFloat32)
    fail(std::string("weights must be float32, got ") + elem_name(in.weights.elem));
  PoolArgs& a = in.args;
  check(embedding_pool_shapes({in.table.shape, in.ids.shape, in.row_info.shape,
                               has_weights ? in.weights.shape : std::vector<int64_t>{}},
                              ragged, has_weights, &a));
  a.table = in.table.data;
  a.table_dtype = table_dtype(in.table, "table");
  a.ids = in.ids.data;
  a.id_type = id_type(in.ids, "ids");
  a.lengths = ragged ? nullptr : static_cast<const int64_t*>(in.row_info.data);
  a.row_splits = ragged ? static_cast<const int64_t*>(in.row_info.data) : nullptr;
  a.weights = has_weights ? static_cast<const float*>(in.weights.data) : nullptr;
  a.combiner = parse_combiner(combiner);
  return in;
}

// A new host array shaped like `shape` with the table's dtype.
pyb::array new_like_table(const pyb::object& table, std::vector<int64_t> shape) {
  pyb::array t = pyb::reinterpret_borrow<pyb::array>(table);
  return pyb::array(t.dtype(), std::vector<pyb::ssize_t>(shape.begin(), shape.end()));
}

pyb::array forward_cpu(const pyb::object& table, const pyb::object& ids,
                       const pyb::object& row_info, const pyb::object& weights,
                       const std::string& combiner, bool ragged) {
  Inputs in = make_inputs(table, ids, row_info, weights, combiner, ragged);
  if (in.table.device) fail("forward_cpu takes host arrays; use forward_cuda for device arrays");
  pyb::array out = new_like_table(table, {in.args.num_bags, in.args.dim});
  Status s;
  {
    pyb::gil_scoped_release release;
    s = embedding_pool_forward_cpu(in.args, out.mutable_data(), ThreadPoolParallelFor());
  }
  check(s);
  return out;
}

pyb::tuple backward_cpu(const pyb::object& table, const pyb::object& ids,
                        const pyb::object& row_info, const pyb::object& weights,
                        const pyb::object& pooled, const pyb::object& grad,
                        const std::string& combiner, bool ragged) {
  Inputs in = make_inputs(table, ids, row_info, weights, combiner, ragged);
  if (in.table.device) fail("backward_cpu takes host arrays");
  const PoolArgs& a = in.args;
  ArrayView g = view(grad, "grad"), p = view(pooled, "pooled");
  const std::vector<int64_t> out_shape = {a.num_bags, a.dim};
  if (g.shape != out_shape || g.elem != in.table.elem || p.shape != out_shape ||
      p.elem != in.table.elem)
    fail("grad and pooled must be " + std::string(elem_name(in.table.elem)) + " of shape [" +
         std::to_string(a.num_bags) + ", " + std::to_string(a.dim) + "], got grad " +
         elem_name(g.elem) + g.shape_str() + " and pooled " + elem_name(p.elem) + p.shape_str());
  ThreadPoolParallelFor parallel;
  // One plan per thread: its buffers outlive the call (see PoolGradPlan).
  static thread_local PoolGradPlan plan;
  Status s;
  {
    pyb::gil_scoped_release release;
    s = embedding_pool_backward_plan_cpu(a, &plan, parallel);
  }
  check(s);
  const int64_t u = plan.num_unique();
  pyb::array unique_ids(pyb::reinterpret_borrow<pyb::array>(ids).dtype(),
                        std::vector<pyb::ssize_t>{u});
  pyb::array rows = new_like_table(table, {u, a.dim});
  pyb::object gw = pyb::none();
  float* gw_ptr = nullptr;
  if (a.weights) {
    pyb::array_t<float> w(
        std::vector<pyb::ssize_t>(in.weights.shape.begin(), in.weights.shape.end()));
    gw_ptr = w.mutable_data();
    gw = w;
  }
  {
    pyb::gil_scoped_release release;
    s = embedding_pool_backward_cpu(a, plan, g.data, p.data, unique_ids.mutable_data(),
                                    rows.mutable_data(), gw_ptr, parallel);
  }
  check(s);
  return pyb::make_tuple(unique_ids, rows, gw);
}

#if defined(YDNN_WITH_CUDA)
void* as_stream(uintptr_t s) { return reinterpret_cast<void*>(s); }

void forward_cuda(const pyb::object& table, const pyb::object& ids, const pyb::object& row_info,
                  const pyb::object& weights, const std::string& combiner, bool ragged,
                  const pyb::object& out, const pyb::object& error, uintptr_t stream) {
  Inputs in = make_inputs(table, ids, row_info, weights, combiner, ragged);
  if (!in.table.device) fail("forward_cuda takes device arrays");
  ArrayView o = device_out(out, "out", {in.args.num_bags, in.args.dim}, in.table.elem);
  int64_t* err = nullptr;
  if (!error.is_none())
    err = static_cast<int64_t*>(device_out(error, "error", {2}, Elem::kInt64).data);
  Status s;
  {
    pyb::gil_scoped_release release;
    s = embedding_pool_forward_cuda(in.args, o.data, err, as_stream(stream));
    if (s.ok() && err) s = embedding_pool_check_error_cuda(in.args, err, as_stream(stream));
  }
  check(s);
}

int64_t workspace_cuda(const pyb::object& table, const pyb::object& ids,
                       const pyb::object& row_info, const pyb::object& weights,
                       const std::string& combiner, bool ragged) {
  Inputs in = make_inputs(table, ids, row_info, weights, combiner, ragged);
  return static_cast<int64_t>(embedding_pool_backward_workspace_cuda(in.args));
}

int64_t plan_cuda(const pyb::object& table, const pyb::object& ids, const pyb::object& row_info,
                  const pyb::object& weights, const std::string& combiner, bool ragged,
                  const pyb::object& workspace, uintptr_t stream) {
  Inputs in = make_inputs(table, ids, row_info, weights, combiner, ragged);
  ArrayView ws = view(workspace, "workspace");
  int64_t u = 0;
  Status s;
  {
    pyb::gil_scoped_release release;
    s = embedding_pool_backward_plan_cuda(in.args, ws.data, static_cast<size_t>(ws.size()), &u,
                                          as_stream(stream));
  }
  check(s);
  return u;
}

void backward_cuda(const pyb::object& table, const pyb::object& ids, const pyb::object& row_info,
                   const pyb::object& weights, const std::string& combiner, bool ragged,
                   const pyb::object& workspace, int64_t num_unique, const pyb::object& pooled,
                   const pyb::object& grad, const pyb::object& unique_ids,
                   const pyb::object& grad_rows, const pyb::object& grad_weights,
                   uintptr_t stream) {
  Inputs in = make_inputs(table, ids, row_info, weights, combiner, ragged);
  const PoolArgs& a = in.args;
  const Elem te = in.table.elem;
  ArrayView p = device_out(pooled, "pooled", {a.num_bags, a.dim}, te);
  ArrayView g = device_out(grad, "grad", {a.num_bags, a.dim}, te);
  ArrayView u = device_out(unique_ids, "unique_ids", {num_unique}, in.ids.elem);
  ArrayView r = device_out(grad_rows, "grad_rows", {num_unique, a.dim}, te);
  float* gw = nullptr;
  if (a.weights)
    gw = static_cast<float*>(
        device_out(grad_weights, "grad_weights", in.weights.shape, Elem::kFloat32).data);
  ArrayView ws = view(workspace, "workspace");
  Status s;
  {
    pyb::gil_scoped_release release;
    s = embedding_pool_backward_cuda(a, ws.data, num_unique, g.data, p.data, u.data, r.data, gw,
                                     as_stream(stream));
  }
  check(s);
}
#endif

}  // namespace

void register_embedding_pool(pyb::module_& m) {
  using namespace pybind11::literals;
  m.def("embedding_pool_forward_cpu", &forward_cpu, "table"_a, "ids"_a, "row_info"_a, "weights"_a,
        "combiner"_a, "ragged"_a,
        "Pooled rows [B, D] of NumPy inputs; see ydnn_kernels.arrays.embedding_pool.");
  m.def("embedding_pool_backward_cpu", &backward_cpu, "table"_a, "ids"_a, "row_info"_a, "weights"_a,
        "pooled"_a, "grad"_a, "combiner"_a, "ragged"_a,
        "(unique_ids [U], grad_rows [U, D], grad_weights or None) of NumPy inputs.");
#if defined(YDNN_WITH_CUDA)
  m.def("embedding_pool_forward_cuda", &forward_cuda, "table"_a, "ids"_a, "row_info"_a, "weights"_a,
        "combiner"_a, "ragged"_a, "out"_a, "error"_a, "stream"_a);
  m.def("embedding_pool_backward_workspace_cuda", &workspace_cuda, "table"_a, "ids"_a, "row_info"_a,
        "weights"_a, "combiner"_a, "ragged"_a);
  m.def("embedding_pool_backward_plan_cuda", &plan_cuda, "table"_a, "ids"_a, "row_info"_a,
        "weights"_a, "combiner"_a, "ragged"_a, "workspace"_a, "stream"_a);
  m.def("embedding_pool_backward_cuda", &backward_cuda, "table"_a, "ids"_a, "row_info"_a,
        "weights"_a, "combiner"_a, "ragged"_a, "workspace"_a, "num_unique"_a, "pooled"_a, "grad"_a,
        "unique_ids"_a, "grad_rows"_a, "grad_weights"_a, "stream"_a);
#endif
}

}  // namespace py
}  // namespace ydnn
