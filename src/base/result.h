// Result<T>: the value of a fallible operation, or an Error saying why it failed.
//
// Every expected failure in Trellis (a bad config file, an address that will not bind,
// a peer that is unreachable) travels as a Result instead of an exception, so callers
// see in the signature that they must handle it. Exceptions are left for bugs and for
// the libraries (Asio, CLI11) that use them.
//
// Thread safety: none; a Result is a plain value.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace trellis::base {

// Why an operation failed, in one human-readable line (no trailing newline).
struct Error {
  std::string message;
};

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
  T& operator*() { return value(); }

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
