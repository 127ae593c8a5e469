// pybind11 entry points of topk_scores.
//
// Host (NumPy) arrays run the CPU kernel on our thread pool with the GIL
// released and return new arrays. Device arrays (__cuda_array_interface__)
// run the CUDA kernel on the given stream into caller-allocated outputs and
// workspace (ydnn_kernels/topk_scores_arrays.py allocates with CuPy).
#include <pybind11/stl.h>

#include "py/array_view.h"
#include "topk/topk_scores.h"

namespace ydnn {
namespace py {
namespace {

struct Inputs {
  ArrayView queries, table, exclude, splits;
  TopkArgs args;
};

// Views and checks the inputs; all on the host or all on the device.
// `exclude` is None or the pair (values [N], row_splits [B+1]).
Inputs make_inputs(const pyb::object& queries, const pyb::object& table, int64_t k,
                   const pyb::object& exclude, int64_t min_id) {
  Inputs in;
  in.queries = view(queries, "queries");
  in.table = view(table, "table");
  const bool has_exclude = !exclude.is_none();
  if (has_exclude) {
    pyb::tuple pair = exclude.cast<pyb::tuple>();
    if (pair.size() != 2) fail("exclude must be the pair (values [N], row_splits [B+1])");
    in.exclude = view(pair[0], "exclude values");
    in.splits = view(pair[1], "exclude row_splits");
    if (in.splits.elem != Elem::kInt64)
      fail(std::string("exclude row_splits must be int64, got ") + elem_name(in.splits.elem));
  }
  if (in.queries.elem != Elem::kFloat32)
    fail(std::string("queries must be float32, got ") + elem_name(in.queries.elem) +
         in.queries.shape_str());
  for (const ArrayView* v : {&in.table, &in.exclude, &in.splits}) {
    if ((v == &in.table || has_exclude) && v->device != in.queries.device)
      fail("queries, table and exclude must all be host or all device arrays");
  }
  TopkArgs& a = in.args;
  check(topk_scores_shapes({in.queries.shape, in.table.shape, in.exclude.shape, in.splits.shape},
                           has_exclude, k, min_id, &a));
  a.queries = static_cast<const float*>(in.queries.data);
  a.table = in.table.data;
  a.table_dtype = table_dtype(in.table, "table");
  if (has_exclude) {
    a.exclude = in.exclude.data;
    a.exclude_type = id_type(in.exclude, "exclude values");
    a.exclude_splits = static_cast<const int64_t*>(in.splits.data);
  }
  return in;
}

pyb::tuple topk_cpu(const pyb::object& queries, const pyb::object& table, int64_t k,
                    const pyb::object& exclude, int64_t min_id) {
  Inputs in = make_inputs(queries, table, k, exclude, min_id);
  if (in.table.device) fail("topk_scores_cpu takes host arrays; use topk_scores_cuda");
  const TopkArgs& a = in.args;
  pyb::array_t<float> scores(std::vector<pyb::ssize_t>{a.num_queries, a.k});
  pyb::array_t<int64_t> ids(std::vector<pyb::ssize_t>{a.num_queries, a.k});
  Status s;
  {
    pyb::gil_scoped_release release;
    s = topk_scores_cpu(a, scores.mutable_data(), ids.mutable_data(), ThreadPoolParallelFor());
  }
  check(s);
  return pyb::make_tuple(scores, ids);
}

#if defined(YDNN_WITH_CUDA)
int64_t workspace_cuda(const pyb::object& queries, const pyb::object& table, int64_t k,
                       const pyb::object& exclude, int64_t min_id) {
  Inputs in = make_inputs(queries, table, k, exclude, min_id);
  return static_cast<int64_t>(topk_scores_workspace_cuda(in.args));
}

void topk_cuda(const pyb::object& queries, const pyb::object& table, int64_t k,
               const pyb::object& exclude, int64_t min_id, const pyb::object& workspace,
               const pyb::object& scores, const pyb::object& ids, const pyb::object& error,
               uintptr_t stream) {
  Inputs in = make_inputs(queries, table, k, exclude, min_id);
  if (!in.table.device) fail("topk_scores_cuda takes device arrays");
  const TopkArgs& a = in.args;
  ArrayView s_out = device_out(scores, "scores", {a.num_queries, a.k}, Elem::kFloat32);
  ArrayView i_out = device_out(ids, "ids", {a.num_queries, a.k}, Elem::kInt64);
  ArrayView ws = view(workspace, "workspace");
  int64_t* err = nullptr;
  if (!error.is_none())
    err = static_cast<int64_t*>(device_out(error, "error", {2}, Elem::kInt64).data);
  void* st = reinterpret_cast<void*>(stream);
  Status s;
  {
    pyb::gil_scoped_release release;
    s = topk_scores_cuda(a, ws.data, static_cast<size_t>(ws.size()),
                         static_cast<float*>(s_out.data), static_cast<int64_t*>(i_out.data), err,
                         st);
    if (s.ok() && err) s = topk_scores_check_error_cuda(a, err, st);
  }
  check(s);
}
#endif

}  // namespace

void register_topk_scores(pyb::module_& m) {
  using namespace pybind11::literals;
  m.def("topk_scores_cpu", &topk_cpu, "queries"_a, "table"_a, "k"_a, "exclude"_a, "min_id"_a,
        "(scores [B, k], ids [B, k]) of NumPy inputs; see ydnn_kernels.arrays.topk_scores.");
#if defined(YDNN_WITH_CUDA)
  m.def("topk_scores_workspace_cuda", &workspace_cuda, "queries"_a, "table"_a, "k"_a, "exclude"_a,
        "min_id"_a);
  m.def("topk_scores_cuda", &topk_cuda, "queries"_a, "table"_a, "k"_a, "exclude"_a, "min_id"_a,
        "workspace"_a, "scores"_a, "ids"_a, "error"_a, "stream"_a);
#endif
}

}  // namespace py
}  // namespace ydnn
