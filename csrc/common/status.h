// Status: how framework-free host functions report bad input.
//
// The kernels in csrc/ know nothing of TensorFlow or Python, so they cannot
// raise InvalidArgument or ValueError themselves. They return a Status whose
// message already names the argument, its shape and the offending value; the
// adapters (csrc/tf, csrc/py) turn it into the framework's own error type.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ydnn {

enum class StatusCode : int { kOk = 0, kInvalidArgument = 1, kInternal = 2 };

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Messages are built without iostreams: where a toolchain links libstdc++
// statically into the Python module (the GPU box's /opt/gcc g++ does),
// formatting a number through an output string stream crashed in its locale
// facets, so every bad-input error became a segfault. to_string and
// snprintf("%g") give the text an ostream's defaults would.
namespace message_internal {
inline void append(std::string& s, const std::string& v) { s += v; }
inline void append(std::string& s, const char* v) { s += v; }
inline void append(std::string& s, char v) { s += v; }  // a character, as ostream
template <typename T>
std::enable_if_t<std::is_integral_v<T>> append(std::string& s, T v) {
  s += std::to_string(v);
}
template <typename T>
std::enable_if_t<std::is_floating_point_v<T>> append(std::string& s, T v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(v));
  s += buf;
}
}  // namespace message_internal

// Concatenates strings, characters and numbers: StrCat("ids[", i, "]").
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string s;
  (message_internal::append(s, args), ...);
  return s;
}

// "[2, 3]": a shape as error messages print it.
inline std::string ShapeStr(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += StrCat(i ? ", " : "", shape[i]);
  return s + "]";
}

template <typename... Args>
Status InvalidArgument(const Args&... args) {
  return Status(StatusCode::kInvalidArgument, StrCat(args...));
}

template <typename... Args>
Status Internal(const Args&... args) {
  return Status(StatusCode::kInternal, StrCat(args...));
}

#define YDNN_RETURN_IF_ERROR(expr) \
  do {                             \
    ::ydnn::Status _st = (expr);   \
    if (!_st.ok()) return _st;     \
  } while (0)

}  // namespace ydnn
