// pybind11 entry points of the unigram sampler: the alias-table build and
// the sampler on NumPy arrays, or on caller-allocated CUDA arrays on a given
// stream (ydnn_kernels/arrays.py wraps them).
#include <pybind11/stl.h>

#include "py/array_view.h"
#include "unigram/unigram.h"

namespace ydnn {
namespace py {
namespace {

using HostF64 = pyb::array_t<double, pyb::array::c_style>;
using HostI64 = pyb::array_t<int64_t, pyb::array::c_style>;

UnigramArgs make_args(int64_t num_ids, int64_t num_sampled, int64_t num_positive, bool unique,
                      uint64_t key, uint64_t stream, uint64_t counter) {
  UnigramArgs a;
  a.num_ids = num_ids;
  a.num_sampled = num_sampled;
  a.num_positive = num_positive;
  a.unique = unique;
  a.key = key;
  a.stream = stream;
  a.counter = counter;
  check(unigram_check(a));
  return a;
}

// (table [V, 2], prob [V], num_positive) from float64 counts [V].
pyb::tuple build(const HostF64& counts, double distortion) {
  if (counts.ndim() != 1)
    fail("counts must be 1-D [V], got " + std::to_string(counts.ndim()) + " dimensions");
  const int64_t V = counts.shape(0);
  HostF64 table({V, int64_t{2}}), prob(V);
  int64_t positive = 0;
  Status s;
  {
    pyb::gil_scoped_release release;
    s = unigram_build(counts.data(), V, distortion, table.mutable_data(), prob.mutable_data(),
                      &positive);
  }
  check(s);
  return pyb::make_tuple(table, prob, positive);
}

int64_t table_rows(const HostF64& table) {
  if (table.ndim() != 2 || table.shape(1) != 2)
    fail("table must be [V, 2] float64, got " + std::to_string(table.ndim()) + " dimensions" +
         (table.ndim() == 2
              ? " [" + std::to_string(table.shape(0)) + ", " + std::to_string(table.shape(1)) + "]"
              : std::string()));
  return table.shape(0);
}

// Raises ValueError for a table unigram_build could not have made (see
// unigram_validate); the arrays API calls it on tables it did not build.
// Returns unigram_max_unique of prob.
int64_t validate_cpu(const HostF64& table, const HostF64& prob, int64_t num_positive) {
  const int64_t V = table_rows(table);
  if (prob.ndim() != 1 || prob.shape(0) != V)
    fail("prob must be [V] with the table's V = " + std::to_string(V) + ", got " +
         std::to_string(prob.ndim()) + " dimensions" +
         (prob.ndim() == 1 ? " of " + std::to_string(prob.shape(0)) : std::string()));
  Status s;
  int64_t max_unique = 0;
  {
    pyb::gil_scoped_release release;
    s = unigram_validate(table.data(), prob.data(), V, num_positive, &max_unique);
  }
  check(s);
  return max_unique;
}

int64_t max_unique(const HostF64& prob) {
  if (prob.ndim() != 1) fail("prob must be [V] float64");
  pyb::gil_scoped_release release;
  return unigram_max_unique(prob.data(), prob.shape(0));
}

pyb::tuple sample_cpu(const HostF64& table, int64_t num_sampled, int64_t num_positive, bool unique,
                      uint64_t key, uint64_t stream, uint64_t counter) {
  const UnigramArgs a =
      make_args(table_rows(table), num_sampled, num_positive, unique, key, stream, counter);
  HostI64 ids(num_sampled);
  int64_t tries = 0;
  Status s;
  {
    pyb::gil_scoped_release release;
    static thread_local SamplerScratch scratch;
    s = unigram_sample_cpu(a, table.data(), ids.mutable_data(), &tries, &scratch,
                           ThreadPoolParallelFor());
  }
  check(s);
  return pyb::make_tuple(ids, tries);
}

pyb::array_t<float> expected_count_cpu(const HostF64& prob, const HostI64& ids, int64_t num_sampled,
                                       int64_t num_tries) {
  if (prob.ndim() != 1) fail("prob must be [V] float64");
  UnigramArgs a;
  a.num_ids = prob.shape(0);
  a.num_sampled = num_sampled;
  pyb::array_t<float> out(std::vector<pyb::ssize_t>(ids.shape(), ids.shape() + ids.ndim()));
  {
    pyb::gil_scoped_release release;
    unigram_expected_count_cpu(a, prob.data(), ids.data(), ids.size(), num_tries,
                               out.mutable_data(), ThreadPoolParallelFor());
  }
  return out;
}

#if defined(YDNN_WITH_CUDA)
// A device float64 array (ArrayView knows no float64, so check the typestr).
ArrayView f64_device(const pyb::object& obj, const char* name) {
  ArrayView v = view(obj, name);
  const std::string t =
      pyb::dict(obj.attr("__cuda_array_interface__"))["typestr"].cast<std::string>();
  if (!v.device || t.substr(1) != "f8")
    fail(std::string(name) + " must be a float64 CUDA array, got typestr " + t);
  return v;
}

int64_t validate_cuda(const pyb::object& table, const pyb::object& prob, int64_t num_positive,
                      uintptr_t stream) {
  ArrayView t = f64_device(table, "table"), p = f64_device(prob, "prob");
  if (t.shape.size() != 2 || t.shape[1] != 2) fail("table must be [V, 2], got " + t.shape_str());
  if (p.shape.size() != 1 || p.shape[0] != t.shape[0])
    fail("prob must be [V] with the table's V = " + std::to_string(t.shape[0]) + ", got " +
         p.shape_str());
  int64_t max_unique = 0;
  check(unigram_validate_cuda(static_cast<const double*>(t.data),
                              static_cast<const double*>(p.data), t.shape[0], num_positive,
                              &max_unique, reinterpret_cast<void*>(stream)));
  return max_unique;
}

int64_t workspace_cuda(int64_t num_ids, int64_t num_sampled, int64_t num_positive, bool unique) {
  return static_cast<int64_t>(unigram_sample_workspace_cuda(
      make_args(num_ids, num_sampled, num_positive, unique, 0, 0, 0)));
}

int64_t sample_cuda(const pyb::object& table, int64_t num_sampled, int64_t num_positive,
                    bool unique, uint64_t key, uint64_t stream_id, uint64_t counter,
                    const pyb::object& out, const pyb::object& workspace, uintptr_t stream) {
  ArrayView t = f64_device(table, "table");
  if (t.shape.size() != 2 || t.shape[1] != 2) fail("table must be [V, 2], got " + t.shape_str());
  const UnigramArgs a =
      make_args(t.shape[0], num_sampled, num_positive, unique, key, stream_id, counter);
  ArrayView o = view(out, "out"), ws = view(workspace, "workspace");
  if (!o.device || o.elem != Elem::kInt64 || o.size() != num_sampled)
    fail("out must be a device int64 array [num_sampled]");
  int64_t tries = 0;
  Status s;
  {
    pyb::gil_scoped_release release;
    s = unigram_sample_cuda(a, static_cast<const double*>(t.data), static_cast<int64_t*>(o.data),
                            &tries, ws.data, static_cast<size_t>(ws.size()),
                            reinterpret_cast<void*>(stream));
  }
  check(s);
  return tries;
}

void expected_count_cuda(const pyb::object& prob, const pyb::object& ids, int64_t num_sampled,
                         int64_t num_tries, const pyb::object& out, uintptr_t stream) {
  ArrayView p = f64_device(prob, "prob"), v = view(ids, "ids"), o = view(out, "out");
  if (!v.device || v.elem != Elem::kInt64 || !o.device || o.elem != Elem::kFloat32 ||
      o.size() != v.size())
    fail("ids must be a device int64 array and out a device float32 array of its size");
  UnigramArgs a;
  a.num_ids = p.size();
  a.num_sampled = num_sampled;
  unigram_expected_count_cuda(a, static_cast<const double*>(p.data),
                              static_cast<const int64_t*>(v.data), v.size(), num_tries,
                              static_cast<float*>(o.data), reinterpret_cast<void*>(stream));
}
#endif

}  // namespace

void register_unigram(pyb::module_& m) {
  using namespace pybind11::literals;
  m.def("unigram_build", &build, "counts"_a, "distortion"_a,
        "(table [V, 2], prob [V], num_positive) from float64 counts; see "
        "csrc/unigram/unigram.h.");
  m.def("unigram_validate_cpu", &validate_cpu, "table"_a, "prob"_a, "num_positive"_a,
        "Raises ValueError unless the table could come from unigram_build (unigram.h); "
        "returns unigram_max_unique.");
  m.def("unigram_max_unique", &max_unique, "prob"_a,
        "The most distinct ids unique sampling reaches in 2^31 draws (unigram.h).");
  m.def(
      "unigram_check_reachable",
      [](int64_t num_sampled, bool unique, int64_t max_unique) {
        check(unigram_check_reachable(num_sampled, unique, max_unique));
      },
      "num_sampled"_a, "unique"_a, "max_unique"_a);
  m.def("unigram_sample_cpu", &sample_cpu, "table"_a, "num_sampled"_a, "num_positive"_a, "unique"_a,
        "key"_a, "stream"_a, "counter"_a, "(sampled ids [num_sampled], num_tries).");
  m.def("unigram_expected_count_cpu", &expected_count_cpu, "prob"_a, "ids"_a, "num_sampled"_a,
        "num_tries"_a);
#if defined(YDNN_WITH_CUDA)
  m.def("unigram_validate_cuda", &validate_cuda, "table"_a, "prob"_a, "num_positive"_a, "stream"_a);
  m.def("unigram_sample_workspace_cuda", &workspace_cuda, "num_ids"_a, "num_sampled"_a,
        "num_positive"_a, "unique"_a);
  m.def("unigram_sample_cuda", &sample_cuda, "table"_a, "num_sampled"_a, "num_positive"_a,
        "unique"_a, "key"_a, "stream_id"_a, "counter"_a, "out"_a, "workspace"_a, "stream"_a);
  m.def("unigram_expected_count_cuda", &expected_count_cuda, "prob"_a, "ids"_a, "num_sampled"_a,
        "num_tries"_a, "out"_a, "stream"_a);
#endif
}

}  // namespace py
}  // namespace ydnn
