// Status: how framework-free host functions report bad input.
//
// The kernels in csrc/ know nothing of TensorFlow or Python, so they cannot
// raise InvalidArgument or ValueError themselves. They return a Status whose
// message already names the argument, its shape and the offending value; the
// adapters (csrc/tf, csrc/py) turn it into the framework's own error type.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>

namespace ydnn {

enum class StatusCode : int { kOk = 0, kInvalidArgument = 1, kInternal = 2 };

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Builds a message from any streamable pieces: InvalidArgument("ids[", i, "]").
template <typename... Args>
Status InvalidArgument(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return Status(StatusCode::kInvalidArgument, os.str());
}

template <typename... Args>
Status Internal(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return Status(StatusCode::kInternal, os.str());
}

#define YDNN_RETURN_IF_ERROR(expr)      \
  do {                                  \
    ::ydnn::Status _st = (expr);        \
    if (!_st.ok()) return _st;          \
  } while (0)

}  // namespace ydnn
