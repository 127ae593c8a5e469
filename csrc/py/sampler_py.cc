// pybind11 entry points of the samplers: NumPy results on the CPU, or
// caller-allocated CUDA arrays on a given stream. The log-uniform sampler's
// are here, the unigram sampler's in unigram_py.cc (registered from here).
#include <pybind11/stl.h>

#include "py/array_view.h"
#include "sampler/sampler.h"

namespace ydnn {
namespace py {
namespace {

LogUniformArgs make_args(int64_t num_sampled, int64_t min_id, int64_t max_id, bool unique,
                         uint64_t key, uint64_t stream, uint64_t counter) {
  LogUniformArgs a;
  a.num_sampled = num_sampled;
  a.min_id = min_id;
  a.max_id = max_id;
  a.unique = unique;
  a.key = key;
  a.stream = stream;
  a.counter = counter;
  check(log_uniform_check(a));
  return a;
}

ArrayView int64_view(const pyb::object& obj, const char* name) {
  ArrayView v = view(obj, name);
  if (v.elem != Elem::kInt64) fail(std::string(name) + " must be int64, got " + elem_name(v.elem));
  return v;
}

pyb::tuple sample_cpu(int64_t num_sampled, int64_t min_id, int64_t max_id, bool unique,
                      uint64_t key, uint64_t stream, uint64_t counter) {
  const LogUniformArgs a = make_args(num_sampled, min_id, max_id, unique, key, stream, counter);
  pyb::array_t<int64_t> ids(num_sampled);
  pyb::array_t<float> counts(num_sampled);
  int64_t tries = 0;
  Status s;
  {
    pyb::gil_scoped_release release;
    static thread_local SamplerScratch scratch;
    s = log_uniform_sample_cpu(a, ids.mutable_data(), counts.mutable_data(), &tries, &scratch,
                               ThreadPoolParallelFor());
  }
  check(s);
  return pyb::make_tuple(ids, counts, tries);
}

pyb::array_t<float> expected_count_cpu(const pyb::object& ids, int64_t num_sampled, int64_t min_id,
                                       int64_t max_id, bool unique, int64_t num_tries) {
  const LogUniformArgs a = make_args(num_sampled, min_id, max_id, unique, 0, 0, 0);
  ArrayView v = int64_view(ids, "ids");
  if (v.device) fail("ids must be a host array");
  pyb::array_t<float> out(std::vector<pyb::ssize_t>(v.shape.begin(), v.shape.end()));
  {
    pyb::gil_scoped_release release;
    log_uniform_expected_count_cpu(a, static_cast<const int64_t*>(v.data), v.size(), num_tries,
                                   out.mutable_data(), ThreadPoolParallelFor());
  }
  return out;
}

#if defined(YDNN_WITH_CUDA)
int64_t workspace_cuda(int64_t num_sampled, int64_t min_id, int64_t max_id, bool unique) {
  return static_cast<int64_t>(
      log_uniform_sample_workspace_cuda(make_args(num_sampled, min_id, max_id, unique, 0, 0, 0)));
}

int64_t sample_cuda(int64_t num_sampled, int64_t min_id, int64_t max_id, bool unique, uint64_t key,
                    uint64_t stream_id, uint64_t counter, const pyb::object& out,
                    const pyb::object& workspace, uintptr_t stream) {
  const LogUniformArgs a = make_args(num_sampled, min_id, max_id, unique, key, stream_id, counter);
  ArrayView o = int64_view(out, "out"), ws = view(workspace, "workspace");
  if (!o.device || o.size() != num_sampled) fail("out must be a device int64 array [num_sampled]");
  int64_t tries = 0;
  Status s;
  {
    pyb::gil_scoped_release release;
    s = log_uniform_sample_cuda(a, static_cast<int64_t*>(o.data), &tries, ws.data,
                                static_cast<size_t>(ws.size()), reinterpret_cast<void*>(stream));
  }
  check(s);
  return tries;
}

void expected_count_cuda(const pyb::object& ids, int64_t num_sampled, int64_t min_id,
                         int64_t max_id, bool unique, int64_t num_tries, const pyb::object& out,
                         uintptr_t stream) {
  const LogUniformArgs a = make_args(num_sampled, min_id, max_id, unique, 0, 0, 0);
  ArrayView v = int64_view(ids, "ids"), o = view(out, "out");
  if (!v.device || !o.device || o.elem != Elem::kFloat32 || o.size() != v.size())
    fail("ids and out must be device arrays, out float32 of the size of ids");
  log_uniform_expected_count_cuda(a, static_cast<const int64_t*>(v.data), v.size(), num_tries,
                                  static_cast<float*>(o.data), reinterpret_cast<void*>(stream));
}
#endif

}  // namespace

void register_sampler(pyb::module_& m) {
  using namespace pybind11::literals;
  m.def("log_uniform_sample_cpu", &sample_cpu, "num_sampled"_a, "min_id"_a, "max_id"_a, "unique"_a,
        "key"_a, "stream"_a, "counter"_a,
        "(sampled ids [num_sampled] int64, their expected counts [num_sampled] float32, "
        "num_tries); see csrc/sampler/sampler.h.");
  m.def("log_uniform_expected_count_cpu", &expected_count_cpu, "ids"_a, "num_sampled"_a, "min_id"_a,
        "max_id"_a, "unique"_a, "num_tries"_a);
#if defined(YDNN_WITH_CUDA)
  m.def("log_uniform_sample_workspace_cuda", &workspace_cuda, "num_sampled"_a, "min_id"_a,
        "max_id"_a, "unique"_a);
  m.def("log_uniform_sample_cuda", &sample_cuda, "num_sampled"_a, "min_id"_a, "max_id"_a,
        "unique"_a, "key"_a, "stream_id"_a, "counter"_a, "out"_a, "workspace"_a, "stream"_a);
  m.def("log_uniform_expected_count_cuda", &expected_count_cuda, "ids"_a, "num_sampled"_a,
        "min_id"_a, "max_id"_a, "unique"_a, "num_tries"_a, "out"_a, "stream"_a);
#endif
}

}  // namespace py
}  // namespace ydnn
