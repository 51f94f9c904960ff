// Status names, the thread-local error message and the exception -> status mapping.
#include <cstdio>
#include <new>
#include <stdexcept>

#include "capi/capi_internal.h"
#include "kernels/kernels.h"

namespace aio::capi {

namespace {
thread_local char t_error[1024] = "";

aio_status from_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::Io:
      return AIO_STATUS_IO;
    case ErrorCode::Format:
      return AIO_STATUS_FORMAT;
    case ErrorCode::InvalidArgument:
      return AIO_STATUS_INVALID_ARGUMENT;
    case ErrorCode::Unsupported:
      return AIO_STATUS_UNSUPPORTED;
    case ErrorCode::Internal:
      return AIO_STATUS_INTERNAL;
  }
  return AIO_STATUS_INTERNAL;
}

aio_status fail(const char* fn, aio_status st, const char* what) noexcept {
  set_error(fn, what);
  return st;
}
}  // namespace

void set_error(const char* fn, const char* what) noexcept {
  std::snprintf(t_error, sizeof t_error, "%s: %s", fn, what ? what : "(no message)");
}

const char* last_error() noexcept { return t_error; }

void bad_arg(const std::string& what) { throw Error(ErrorCode::InvalidArgument, what); }

aio_status status_from_current_exception(const char* fn) noexcept {
  try {
    throw;
  } catch (const Error& e) {
    return fail(fn, from_code(e.code()), e.what());
  } catch (const dvfs::Unavailable& e) {
    return fail(fn, AIO_STATUS_UNAVAILABLE, e.what());
  } catch (const std::bad_alloc&) {
    return fail(fn, AIO_STATUS_OUT_OF_MEMORY, "out of memory");
  } catch (const std::invalid_argument& e) {
    return fail(fn, AIO_STATUS_INVALID_ARGUMENT, e.what());
  } catch (const std::out_of_range& e) {
    return fail(fn, AIO_STATUS_INVALID_ARGUMENT, e.what());
  } catch (const std::length_error& e) {
    return fail(fn, AIO_STATUS_INVALID_ARGUMENT, e.what());
  } catch (const std::exception& e) {
    return fail(fn, AIO_STATUS_INTERNAL, e.what());
  } catch (...) {
    return fail(fn, AIO_STATUS_INTERNAL, "unknown exception");
  }
}

}  // namespace aio::capi

extern "C" {

const char* aio_status_name(aio_status status) {
  switch (status) {
    case AIO_STATUS_OK:
      return "AIO_STATUS_OK";
    case AIO_STATUS_IO:
      return "AIO_STATUS_IO";
    case AIO_STATUS_FORMAT:
      return "AIO_STATUS_FORMAT";
    case AIO_STATUS_INVALID_ARGUMENT:
      return "AIO_STATUS_INVALID_ARGUMENT";
    case AIO_STATUS_UNSUPPORTED:
      return "AIO_STATUS_UNSUPPORTED";
    case AIO_STATUS_INTERNAL:
      return "AIO_STATUS_INTERNAL";
    case AIO_STATUS_UNAVAILABLE:
      return "AIO_STATUS_UNAVAILABLE";
    case AIO_STATUS_OUT_OF_MEMORY:
      return "AIO_STATUS_OUT_OF_MEMORY";
    case AIO_STATUS_MAX_ENUM_:
      break;
  }
  return "AIO_STATUS_UNKNOWN";
}

const char* aio_last_error(void) { return aio::capi::last_error(); }

const char* aio_get_version(void) { return ALLINONE_VERSION; }

const char* aio_get_isa(void) {
  try {
    return aio::isa_name();
  } catch (...) {
    return "unknown";
  }
}

const char* aio_get_isa_features(void) {
  try {
    return aio::isa_features();
  } catch (...) {
    return "";
  }
}

}  // extern "C"
