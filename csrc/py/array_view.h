// A pointer, shape and element type taken from a NumPy array (host) or from
// any object with __cuda_array_interface__ (CuPy, PyTorch, Numba: device).
// The pybind11 entry points accept only C-contiguous arrays of the exact
// dtype; ydnn_kernels/arrays.py converts user input before calling in.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/types.h"

namespace ydnn {
namespace py {

namespace pyb = pybind11;

enum class Elem { kFloat32, kFloat16, kBFloat16, kInt32, kInt64, kOther };

struct ArrayView {
  void* data = nullptr;
  std::vector<int64_t> shape;
  Elem elem = Elem::kOther;
  bool device = false;
  bool writable = true;    // false for read-only NumPy arrays (np.load mmap_mode="r", ...)
  pyb::object keep_alive;  // the array whose memory `data` points into

  int64_t size() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  std::string shape_str() const { return ShapeStr(shape); }
};

inline const char* elem_name(Elem e) {
  switch (e) {
    case Elem::kFloat32:
      return "float32";
    case Elem::kFloat16:
      return "float16";
    case Elem::kBFloat16:
      return "bfloat16";
    case Elem::kInt32:
      return "int32";
    case Elem::kInt64:
      return "int64";
    case Elem::kOther:
      break;
  }
  return "unsupported";
}

ArrayView view(const pyb::handle& obj, const char* name);

inline bool is_device(const pyb::handle& obj) {
  return pyb::hasattr(obj, "__cuda_array_interface__");
}

// Raises ValueError (pybind11 maps std::invalid_argument to it).
[[noreturn]] inline void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// For the arrays a kernel writes in place: a read-only one is refused
// rather than written through its const view.
inline void require_writable(const ArrayView& v, const char* name) {
  if (!v.writable)
    fail(std::string(name) +
         " is read-only, and this op updates it in place: pass a "
         "writeable array (e.g. np.array(x), or np.load without mmap_mode='r')");
}

inline void check(const Status& s) {
  if (s.ok()) return;
  if (s.code() == StatusCode::kInvalidArgument) fail(s.message());
  throw std::runtime_error(s.message());
}

inline DType table_dtype(const ArrayView& v, const char* name) {
  switch (v.elem) {
    case Elem::kFloat32:
      return DType::kFloat32;
    case Elem::kFloat16:
      return DType::kFloat16;
    case Elem::kBFloat16:
      return DType::kBFloat16;
    default:
      fail(std::string(name) + " must be float32, float16 or bfloat16, got " + elem_name(v.elem));
  }
}

inline IdType id_type(const ArrayView& v, const char* name) {
  if (v.elem == Elem::kInt32) return IdType::kInt32;
  if (v.elem == Elem::kInt64) return IdType::kInt64;
  fail(std::string(name) + " must be int32 or int64, got " + elem_name(v.elem));
}

// A device output the caller allocated: ValueError unless it is a device
// array of `elem` and exactly `shape`.
inline ArrayView device_out(const pyb::object& obj, const char* name, std::vector<int64_t> shape,
                            Elem elem) {
  ArrayView v = view(obj, name);
  if (!v.device || v.shape != shape || v.elem != elem) {
    ArrayView want;
    want.shape = shape;
    fail(std::string(name) + " must be a device " + elem_name(elem) + " array of shape " +
         want.shape_str() + ", got " + elem_name(v.elem) + v.shape_str());
  }
  return v;
}

// Each family's bindings, defined in py/<family>_py.cc and called by
// module.cc: a new family adds its line here and there.
void register_embedding_pool(pyb::module_& m);
void register_sampler(pyb::module_& m);
void register_unigram(pyb::module_& m);
void register_sampled_softmax(pyb::module_& m);
void register_sparse_optim(pyb::module_& m);
void register_topk_scores(pyb::module_& m);

}  // namespace py
}  // namespace ydnn
