// pybind11 entry points of the fused sampled softmax on NumPy arrays: the
// forward (loss, lse, optional logits) and the backward (dense query
// gradient, sorted unique ids and their summed table-gradient rows).
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

const float* floats(const ArrayView& v, const char* name) {
  if (v.elem != Elem::kFloat32)
    fail(std::string(name) + " must be float32, got " + elem_name(v.elem));
  if (v.device) fail(std::string(name) + " must be a host (NumPy) array");
  return static_cast<const float*>(v.data);
}

Inputs inputs(const pyb::object& query, const pyb::object& table, const pyb::object& pos,
              const pyb::object& sampled, const pyb::object& tec, const pyb::object& sec,
              float temperature, bool remove_accidental_hits, bool in_batch) {
  Inputs in{SoftmaxArgs{}, view(query, "query"), view(table, "table"), view(pos, "positive_ids"),
            view(sampled, "sampled_ids"), view(tec, "true_expected_count"),
            view(sec, "sampled_expected_count")};
  SoftmaxArgs& a = in.a;
  check(sampled_softmax_shapes({in.query.shape, in.table.shape, in.pos.shape, in.sampled.shape,
                                in.tec.shape, in.sec.shape}, &a));
  a.query = floats(in.query, "query");
  if (in.table.device) fail("table must be a host (NumPy) array");
  a.table = in.table.data;
  a.table_dtype = table_dtype(in.table, "table");
  a.positive_ids = in.pos.data;
  a.positive_id_type = id_type(in.pos, "positive_ids");
  a.sampled_ids = in.sampled.data;
  a.sampled_id_type = id_type(in.sampled, "sampled_ids");
  a.true_expected_count = floats(in.tec, "true_expected_count");
  a.sampled_expected_count = floats(in.sec, "sampled_expected_count");
  a.temperature = temperature;
  a.remove_accidental_hits = remove_accidental_hits;
  a.in_batch = in_batch;
  return in;
}

pyb::tuple forward_cpu(const pyb::object& query, const pyb::object& table, const pyb::object& pos,
                       const pyb::object& sampled, const pyb::object& tec, const pyb::object& sec,
                       float temperature, bool remove_accidental_hits, bool in_batch,
                       bool return_logits) {
  const Inputs in = inputs(query, table, pos, sampled, tec, sec, temperature,
                           remove_accidental_hits, in_batch);
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
      s = sampled_softmax_forward_cpu(a, plan, loss.mutable_data(), lse.mutable_data(),
                                      logits_ptr, ThreadPoolParallelFor());
  }
  check(s);
  return pyb::make_tuple(loss, lse, logits);
}

pyb::tuple backward_cpu(const pyb::object& query, const pyb::object& table,
                        const pyb::object& pos, const pyb::object& sampled,
                        const pyb::object& tec, const pyb::object& sec, float temperature,
                        bool remove_accidental_hits, bool in_batch, const pyb::object& lse,
                        const pyb::object& grad_loss) {
  const Inputs in = inputs(query, table, pos, sampled, tec, sec, temperature,
                           remove_accidental_hits, in_batch);
  const SoftmaxArgs& a = in.a;
  const ArrayView lse_v = view(lse, "lse"), g_v = view(grad_loss, "grad_loss");
  for (const ArrayView* v : {&lse_v, &g_v})
    if (v->shape != std::vector<int64_t>{a.batch})
      fail(std::string(v == &lse_v ? "lse" : "grad_loss") + " must be [B] with B = " +
           std::to_string(a.batch) + ", got shape " + v->shape_str());
  const float* lse_p = floats(lse_v, "lse");
  const float* g_p = floats(g_v, "grad_loss");
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

}  // namespace

void register_sampled_softmax(pyb::module_& m) {
  m.def("sampled_softmax_forward_cpu", &forward_cpu, "Fused sampled softmax loss (host arrays).");
  m.def("sampled_softmax_backward_cpu", &backward_cpu,
        "Gradients of the fused sampled softmax loss (host arrays).");
}

}  // namespace py
}  // namespace ydnn
