// The TF-free Python module: the same kernels as the TensorFlow ops, on
// NumPy arrays (CPU) and, in a CUDA build, on CUDA-array-interface objects.
#include <pybind11/stl.h>

#include "common/cpu_features.h"
#include "common/parallel.h"
#include "py/array_view.h"

namespace ydnn {
namespace py {

namespace {

Elem elem_of_typestr(const std::string& t) {
  // typestr is e.g. "<f4"; byte order '<' or '|' is all we meet on x86/CUDA.
  const std::string k = t.substr(1);
  if (k == "f4") return Elem::kFloat32;
  if (k == "f2") return Elem::kFloat16;
  if (k == "i4") return Elem::kInt32;
  if (k == "i8") return Elem::kInt64;
  return Elem::kOther;
}

Elem elem_of_dtype(const pyb::dtype& d) {
  const std::string name = pyb::str(d.attr("name"));
  if (name == "float32") return Elem::kFloat32;
  if (name == "float16") return Elem::kFloat16;
  if (name == "bfloat16") return Elem::kBFloat16;  // ml_dtypes
  if (name == "int32") return Elem::kInt32;
  if (name == "int64") return Elem::kInt64;
  return Elem::kOther;
}

}  // namespace

ArrayView view(const pyb::handle& obj, const char* name) {
  ArrayView v;
  v.keep_alive = pyb::reinterpret_borrow<pyb::object>(obj);
  if (is_device(obj)) {
    pyb::dict cai = obj.attr("__cuda_array_interface__");
    v.device = true;
    v.data = reinterpret_cast<void*>(cai["data"].cast<pyb::tuple>()[0].cast<uintptr_t>());
    for (auto s : cai["shape"].cast<pyb::tuple>()) v.shape.push_back(s.cast<int64_t>());
    v.elem = elem_of_typestr(cai["typestr"].cast<std::string>());
    if (cai.contains("strides") && !cai["strides"].is_none()) {
      int64_t expect = cai["typestr"].cast<std::string>().back() - '0';
      auto strides = cai["strides"].cast<pyb::tuple>();
      for (int i = static_cast<int>(v.shape.size()) - 1; i >= 0; --i) {
        if (v.shape[i] > 1 && strides[i].cast<int64_t>() != expect)
          fail(std::string(name) + " must be C-contiguous");
        expect *= v.shape[i];
      }
    }
    return v;
  }
  if (!pyb::isinstance<pyb::array>(obj))
    fail(std::string(name) + " must be a NumPy array or a CUDA array, got " +
         std::string(pyb::str(obj.get_type())));
  pyb::array a = pyb::reinterpret_borrow<pyb::array>(obj);
  if (!(a.flags() & pyb::array::c_style)) fail(std::string(name) + " must be C-contiguous");
  // A byte-swapped array would be read as native numbers: silent garbage.
  if (std::string(pyb::str(a.dtype().attr("byteorder"))) == ">")
    fail(std::string(name) + " is big-endian (dtype " + std::string(pyb::str(a.dtype())) +
         "): convert it with x.astype(x.dtype.newbyteorder('='))");
  // Read-only arrays are fine for inputs; writers call require_writable.
  v.writable = a.writeable();
  v.data = const_cast<void*>(a.data());
  for (pyb::ssize_t i = 0; i < a.ndim(); ++i) v.shape.push_back(a.shape(i));
  v.elem = elem_of_dtype(a.dtype());
  return v;
}

}  // namespace py
}  // namespace ydnn

PYBIND11_MODULE(_ydnn_py, m) {
  m.doc() = "ydnn kernels on NumPy (CPU) and CUDA arrays, without TensorFlow.";
#if defined(YDNN_WITH_CUDA)
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
  m.def(
      "cpu_isa", [] { return std::string(ydnn::cpu_isa_name(ydnn::cpu_isa())); },
      "The CPU vector path chosen at run time: scalar, avx2 or avx512.");
  m.def(
      "cpu_bf16", [] { return std::string(ydnn::cpu_bf16_name(ydnn::cpu_bf16())); },
      "The bfloat16 dot products chosen at run time: none, avx512_bf16 or amx.");
  m.def(
      "num_threads", [] { return ydnn::ThreadPoolParallelFor().num_threads(); },
      "Threads of the pool used by the NumPy entry points (YDNN_NUM_THREADS).");
  ydnn::py::register_embedding_pool(m);
  ydnn::py::register_sampler(m);
  ydnn::py::register_unigram(m);
  ydnn::py::register_sampled_softmax(m);
  ydnn::py::register_sparse_optim(m);
  ydnn::py::register_topk_scores(m);
}
