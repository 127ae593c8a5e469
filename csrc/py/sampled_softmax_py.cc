// pybind11 entry points of the fused sampled softmax: the forward (loss,
// lse, optional logits) and the backward (dense query gradient, sorted
// unique ids and their summed table-gradient rows). Host (NumPy) arrays run
// the CPU kernels and return new arrays; device arrays (CUDA build) run the
// CUDA kernels on the given stream into outputs and a workspace that
// ydnn_kernels/arrays.py allocates with CuPy.
#include <pybind11/stl.h>

#include "py/array_view.h"
#include "sampled_softmax/sampled_softmax.h"

namespace ydnn {
namespace py {
namespace {

struct Inputs {
  SoftmaxArgs a;
  ArrayView query, table, pos, sampled, tec, sec;
};

// A float32 array on the host (device = false) or the device.
const float* floats(const ArrayView& v, const char* name, bool device) {
  if (v.elem != Elem::kFloat32)
    fail(std::string(name) + " must be float32, got " + elem_name(v.elem));
  if (v.device != device)
    fail(std::string(name) +
         (device ? " must be a device (CuPy) array" : " must be a host (NumPy) array"));
  return static_cast<const float*>(v.data);
}

Inputs inputs(const pyb::object& query, const pyb::object& table, const pyb::object& pos,
              const pyb::object& sampled, const pyb::object& tec, const pyb::object& sec,
              float temperature, bool remove_accidental_hits, bool in_batch,
              const std::string& compute_dtype, bool device) {
  Inputs in{SoftmaxArgs{},
            view(query, "query"),
            view(table, "table"),
            view(pos, "positive_ids"),
            view(sampled, "sampled_ids"),
            view(tec, "true_expected_count"),
            view(sec, "sampled_expected_count")};
  SoftmaxArgs& a = in.a;
  check(sampled_softmax_shapes(
      {in.query.shape, in.table.shape, in.pos.shape, in.sampled.shape, in.tec.shape, in.sec.shape},
      &a));
  a.query = floats(in.query, "query", device);
  for (const ArrayView* v : {&in.table, &in.pos, &in.sampled})
    if (v->device != device)
      fail(std::string(v == &in.table ? "table"
                       : v == &in.pos ? "positive_ids"
                                      : "sampled_ids") +
           (device ? " must be a device (CuPy) array" : " must be a host (NumPy) array"));
  a.table = in.table.data;
  a.table_dtype = table_dtype(in.table, "table");
  a.positive_ids = in.pos.data;
  a.positive_id_type = id_type(in.pos, "positive_ids");
  a.sampled_ids = in.sampled.data;
  a.sampled_id_type = id_type(in.sampled, "sampled_ids");
  a.true_expected_count = floats(in.tec, "true_expected_count", device);
  a.sampled_expected_count = floats(in.sec, "sampled_expected_count", device);
  a.temperature = temperature;
  a.remove_accidental_hits = remove_accidental_hits;
  a.in_batch = in_batch;
  check(parse_compute_dtype(compute_dtype, &a.compute_dtype));
  return in;
}

// lse or grad_loss: float32 [B] where the other inputs live.
const float* batch_floats(const pyb::object& obj, const char* name, int64_t B, bool device) {
  const ArrayView v = view(obj, name);
  if (v.shape != std::vector<int64_t>{B})
    fail(std::string(name) + " must be [B] with B = " + std::to_string(B) + ", got shape " +
         v.shape_str());
  return floats(v, name, device);
}

pyb::tuple forward_cpu(const pyb::object& query, const pyb::object& table, const pyb::object& pos,
                       const pyb::object& sampled, const pyb::object& tec, const pyb::object& sec,
                       float temperature, bool remove_accidental_hits, bool in_batch,
                       const std::string& compute_dtype, bool return_logits) {
  const Inputs in = inputs(query, table, pos, sampled, tec, sec, temperature,
                           remove_accidental_hits, in_batch, compute_dtype, false);
  const SoftmaxArgs& a = in.a;
  pyb::array_t<float> loss(a.batch), lse(a.batch);
  pyb::object logits = pyb::none();
  float* logits_ptr = nullptr;
  if (return_logits) {
    pyb::array_t<float> l({a.batch, a.num_columns() + 1});
    logits_ptr = l.mutable_data();
    logits = l;
  }
  Status s;
  {
    pyb::gil_scoped_release release;
    SoftmaxPlan plan;
    s = plan.build(a, false);
    if (s.ok())
      s = sampled_softmax_forward_cpu(a, plan, loss.mutable_data(), lse.mutable_data(), logits_ptr,
                                      ThreadPoolParallelFor());
  }
  check(s);
  return pyb::make_tuple(loss, lse, logits);
}

pyb::tuple backward_cpu(const pyb::object& query, const pyb::object& table, const pyb::object& pos,
                        const pyb::object& sampled, const pyb::object& tec, const pyb::object& sec,
                        float temperature, bool remove_accidental_hits, bool in_batch,
                        const std::string& compute_dtype, const pyb::object& lse,
                        const pyb::object& grad_loss) {
  const Inputs in = inputs(query, table, pos, sampled, tec, sec, temperature,
                           remove_accidental_hits, in_batch, compute_dtype, false);
  const SoftmaxArgs& a = in.a;
  const float* lse_p = batch_floats(lse, "lse", a.batch, false);
  const float* g_p = batch_floats(grad_loss, "grad_loss", a.batch, false);
  SoftmaxPlan plan;
  {
    pyb::gil_scoped_release release;
    check(plan.build(a, true));
  }
  const int64_t U = plan.num_unique();
  pyb::array_t<float> grad_query({a.batch, a.dim});
  pyb::array_t<int64_t> unique_ids(U);
  pyb::array rows(in.table.keep_alive.attr("dtype"), std::vector<pyb::ssize_t>{U, a.dim});
  Status s;
  {
    pyb::gil_scoped_release release;
    s = sampled_softmax_backward_cpu(a, plan, lse_p, g_p, grad_query.mutable_data(),
                                     unique_ids.mutable_data(), rows.mutable_data(),
                                     ThreadPoolParallelFor());
  }
  check(s);
  return pyb::make_tuple(grad_query, unique_ids, rows);
}

#if defined(YDNN_WITH_CUDA)
void* as_stream(uintptr_t s) { return reinterpret_cast<void*>(s); }

#define YDNN_SOFTMAX_PARAMS                                                       \
  const pyb::object &query, const pyb::object &table, const pyb::object &pos,     \
      const pyb::object &sampled, const pyb::object &tec, const pyb::object &sec, \
      float temperature, bool remove_accidental_hits, bool in_batch,              \
      const std::string &compute_dtype
#define YDNN_SOFTMAX_DEVICE_INPUTS                                                            \
  inputs(query, table, pos, sampled, tec, sec, temperature, remove_accidental_hits, in_batch, \
         compute_dtype, true)

int64_t forward_workspace_cuda(YDNN_SOFTMAX_PARAMS) {
  return static_cast<int64_t>(sampled_softmax_forward_workspace_cuda(YDNN_SOFTMAX_DEVICE_INPUTS.a));
}

void forward_cuda(YDNN_SOFTMAX_PARAMS, const pyb::object& workspace, const pyb::object& loss,
                  const pyb::object& lse, const pyb::object& logits, uintptr_t stream) {
  const Inputs in = YDNN_SOFTMAX_DEVICE_INPUTS;
  const SoftmaxArgs& a = in.a;
  const ArrayView ws = view(workspace, "workspace");
  void* loss_p = device_out(loss, "loss", {a.batch}, Elem::kFloat32).data;
  void* lse_p = device_out(lse, "lse", {a.batch}, Elem::kFloat32).data;
  void* logits_p =
      logits.is_none()
          ? nullptr
          : device_out(logits, "logits", {a.batch, a.num_columns() + 1}, Elem::kFloat32).data;
  Status s;
  {
    pyb::gil_scoped_release release;
    s = sampled_softmax_forward_cuda(a, ws.data, static_cast<size_t>(ws.size()),
                                     static_cast<float*>(loss_p), static_cast<float*>(lse_p),
                                     static_cast<float*>(logits_p), as_stream(stream));
  }
  check(s);
}

int64_t backward_workspace_cuda(YDNN_SOFTMAX_PARAMS) {
  return static_cast<int64_t>(
      sampled_softmax_backward_workspace_cuda(YDNN_SOFTMAX_DEVICE_INPUTS.a));
}

int64_t backward_plan_cuda(YDNN_SOFTMAX_PARAMS, const pyb::object& workspace, uintptr_t stream) {
  const Inputs in = YDNN_SOFTMAX_DEVICE_INPUTS;
  const ArrayView ws = view(workspace, "workspace");
  int64_t u = 0;
  Status s;
  {
    pyb::gil_scoped_release release;
    s = sampled_softmax_backward_plan_cuda(in.a, ws.data, static_cast<size_t>(ws.size()), &u,
                                           as_stream(stream));
  }
  check(s);
  return u;
}

void backward_cuda(YDNN_SOFTMAX_PARAMS, const pyb::object& workspace, int64_t num_unique,
                   const pyb::object& lse, const pyb::object& grad_loss,
                   const pyb::object& grad_query, const pyb::object& unique_ids,
                   const pyb::object& grad_rows, uintptr_t stream) {
  const Inputs in = YDNN_SOFTMAX_DEVICE_INPUTS;
  const SoftmaxArgs& a = in.a;
  const ArrayView ws = view(workspace, "workspace");
  const float* lse_p = batch_floats(lse, "lse", a.batch, true);
  const float* g_p = batch_floats(grad_loss, "grad_loss", a.batch, true);
  void* gq = device_out(grad_query, "grad_query", {a.batch, a.dim}, Elem::kFloat32).data;
  void* ids = device_out(unique_ids, "unique_ids", {num_unique}, Elem::kInt64).data;
  void* rows = device_out(grad_rows, "grad_rows", {num_unique, a.dim}, in.table.elem).data;
  Status s;
  {
    pyb::gil_scoped_release release;
    s = sampled_softmax_backward_cuda(a, ws.data, static_cast<size_t>(ws.size()), num_unique, lse_p,
                                      g_p, static_cast<float*>(gq), static_cast<int64_t*>(ids),
                                      rows, as_stream(stream));
  }
  check(s);
}
#endif

}  // namespace

void register_sampled_softmax(pyb::module_& m) {
  m.def("sampled_softmax_forward_cpu", &forward_cpu, "Fused sampled softmax loss (host arrays).");
  m.def("sampled_softmax_backward_cpu", &backward_cpu,
        "Gradients of the fused sampled softmax loss (host arrays).");
#if defined(YDNN_WITH_CUDA)
  m.def("sampled_softmax_forward_workspace_cuda", &forward_workspace_cuda,
        "Bytes of device workspace sampled_softmax_forward_cuda needs.");
  m.def("sampled_softmax_forward_cuda", &forward_cuda,
        "Fused sampled softmax loss into device outputs (loss, lse, logits or None).");
  m.def("sampled_softmax_backward_workspace_cuda", &backward_workspace_cuda,
        "Bytes of device workspace the backward plan and fill need.");
  m.def("sampled_softmax_backward_plan_cuda", &backward_plan_cuda,
        "Checks ids and sorts them; returns the number of unique ids U (one sync).");
  m.def("sampled_softmax_backward_cuda", &backward_cuda,
        "Gradients into device outputs: grad_query [B, D], unique_ids [U], grad_rows [U, D].");
#endif
}

}  // namespace py
}  // namespace ydnn
