// aio::Error and aio::ErrorCode: the one exception type of the library.
//
// A header of its own, below every component: format/ throws it without knowing the runtime, the
// runtime and the C API catch it (the C API maps the code to a status value).
#pragma once

#include <stdexcept>
#include <string>

namespace aio {

// Every failure the runtime reports. The code lets the C API map errors to status values.
enum class ErrorCode : int { Io = 1, Format = 2, InvalidArgument = 3, Unsupported = 4, Internal = 5 };

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace aio
