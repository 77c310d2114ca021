// Result<T>: the value of a fallible operation, or an Error saying why it failed.
//
// Every expected failure in Trellis (a bad config file, an address that will not bind,
// a peer that is unreachable) travels as a Result instead of an exception, so callers
// see in the signature that they must handle it. Exceptions are left for bugs and for
// the libraries (Asio, CLI11) that use them.
//
// An Error carries a code as well as its message, so that whoever turns it into an HTTP
// status (http/), an exit code (daemon/) or a retry decision reads it from the error
// instead of guessing at the call site.
//
// Thread safety: none; a Result is a plain value.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace trellis::base {

// What kind of failure: the small set that callers act on differently.
enum class ErrorCode {
  kInternal,           // A bug or an unexpected failure; nothing the caller can change.
  kInvalidArgument,    // The request, flag or file is wrong; asking again will not help.
  kNotFound,           // What was named does not exist.
  kConflict,           // It exists already, or the state does not allow it now.
  kUnavailable,        // A peer or resource cannot be reached now; retrying may work.
  kResourceExhausted,  // A limit was reached (connections, memory, size).
  kUnauthenticated,    // No credential, or one that is not valid (an unknown token).
  kPermissionDenied,   // A valid credential that does not allow this (a read-only token).
};

// "invalid argument", "not found", ...
std::string_view ErrorCodeName(ErrorCode code);

// Why an operation failed, in one human-readable line (no trailing newline).
struct Error {
  std::string message;
  ErrorCode code = ErrorCode::kInternal;
};

inline Error InvalidArgument(std::string message) {
  return {std::move(message), ErrorCode::kInvalidArgument};
}
inline Error NotFound(std::string message) { return {std::move(message), ErrorCode::kNotFound}; }
inline Error Conflict(std::string message) { return {std::move(message), ErrorCode::kConflict}; }
inline Error Unavailable(std::string message) {
  return {std::move(message), ErrorCode::kUnavailable};
}
inline Error ResourceExhausted(std::string message) {
  return {std::move(message), ErrorCode::kResourceExhausted};
}

inline Error Unauthenticated(std::string message) {
  return {std::move(message), ErrorCode::kUnauthenticated};
}
inline Error PermissionDenied(std::string message) {
  return {std::move(message), ErrorCode::kPermissionDenied};
}

// The same error with `context` in front of its message ("--listen: ..."), code kept.
inline Error WithContext(std::string_view context, Error error) {
  error.message = std::string(context) + ": " + error.message;
  return error;
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok().
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

  // REQUIRES: !ok().
  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  // REQUIRES: !ok().
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace trellis::base

#define TRELLIS_CONCAT_INNER(a, b) a##b
#define TRELLIS_CONCAT(a, b) TRELLIS_CONCAT_INNER(a, b)

// TRELLIS_TRY(auto x, Fallible()): declares x from the value, or returns the error from
// the enclosing function (which returns a Result or Status).
#define TRELLIS_TRY(declaration, expression)                  \
  auto TRELLIS_CONCAT(trellis_try_, __LINE__) = (expression); \
  if (!TRELLIS_CONCAT(trellis_try_, __LINE__)) {              \
    return TRELLIS_CONCAT(trellis_try_, __LINE__).error();    \
  }                                                           \
  declaration = std::move(TRELLIS_CONCAT(trellis_try_, __LINE__)).value()

// TRELLIS_TRY_STATUS(Step()): returns the error of a failed Status from the enclosing
// function.
#define TRELLIS_TRY_STATUS(expression)                                            \
  do {                                                                            \
    if (::trellis::base::Status trellis_status = (expression); !trellis_status) { \
      return trellis_status.error();                                              \
    }                                                                             \
  } while (false)

// TRELLIS_TRY inside a coroutine (co_return instead of return).
#define TRELLIS_CO_TRY(declaration, expression)               \
  auto TRELLIS_CONCAT(trellis_try_, __LINE__) = (expression); \
  if (!TRELLIS_CONCAT(trellis_try_, __LINE__)) {              \
    co_return TRELLIS_CONCAT(trellis_try_, __LINE__).error(); \
  }                                                           \
  declaration = std::move(TRELLIS_CONCAT(trellis_try_, __LINE__)).value()
