// Client: an asynchronous HTTP/1.1 client for Trellis's JSON APIs (nodes and tools
// calling the master, tests calling admin endpoints). It keeps a few kept-alive
// connections to its one address for the next calls, so a node that polls every 250 ms
// does not connect every time. CallJson() is the usual entry point: JSON in and out,
// error statuses turned back into base::Errors (http/message.h).
//
//   auto client = http::Client::ForUrl(executor, "http://127.0.0.1:7000");
//   base::Result<json> map = co_await http::CallJson(*client, verb::get, "/v1/cluster",
//                                                    json(), 2s);
//
// RunBlocking() runs such a coroutine to completion, for command-line tools and tests.
//
// Thread safety: none; a Client and its copies (which share the kept-alive connections)
// are used on the one executor they were made for, and destroyed before its io_context.
#pragma once

#include <chrono>
#include <concepts>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "base/check.h"
#include "base/result.h"
#include "http/message.h"
#include "net/tls_context.h"

namespace trellis::http {

class Client {
 public:
  // `url`: "http://HOST:PORT", "https://HOST:PORT" (TLS: set_tls) or "HOST:PORT",
  // trailing slashes allowed; kInvalidArgument for anything else (another scheme, a path).
  static base::Result<Client> ForUrl(boost::asio::any_io_executor executor, std::string_view url);

  // Sends one request and returns the response, whatever its status. `body`, when not
  // empty, goes as application/json. `timeout` covers the whole call: resolving,
  // connecting, writing and reading (only a name lookup that the system's resolver holds
  // up can overrun it). A transport failure or the timeout is a kUnavailable error naming
  // the address. A request that finds a kept-alive connection closed by the server
  // meanwhile (it fails before any answer) goes again on another connection.
  boost::asio::awaitable<base::Result<Response>> Call(beast_http::verb method, std::string target,
                                                      std::string body,
                                                      std::chrono::milliseconds timeout);

  const std::string& address() const;  // HOST:PORT
  // Every later call, this client's and its copies', carries "Authorization: Bearer
  // `token`" (http/auth.h); "" sends none.
  void set_token(std::string token);
  // What an https:// address is reached with (net/tls_context.h): the server's
  // certificate must be from its CA and for the address connected to; the client shows
  // its own if it has one. An https:// address without it fails every call.
  void set_tls(std::shared_ptr<net::TlsClientContext> tls);

 private:
  struct State;
  explicit Client(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;  // Shared with copies and with the calls in flight.
};

// A call to a JSON API. `body` null: no body. A status of 400 or more becomes an Error
// with CodeForStatus(status) and the body's "error" message; a successful answer whose
// body is not JSON is kInternal (an empty body is null). REQUIRES: `client` outlives the
// returned awaitable.
boost::asio::awaitable<base::Result<nlohmann::json>> CallJson(Client& client,
                                                              beast_http::verb method,
                                                              std::string target,
                                                              const nlohmann::json& body,
                                                              std::chrono::milliseconds timeout);

// The body of `response` as CallJson returns it; `what` names the call in errors.
base::Result<nlohmann::json> JsonOf(const Response& response, std::string_view what);

// Runs `body` on a private io_context until it finishes and returns its result (or
// rethrows its exception). For command-line tools and tests, never on an executor's thread.
template <typename T>
T RunBlocking(std::function<boost::asio::awaitable<T>(boost::asio::any_io_executor)> body) {
  boost::asio::io_context io;
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
  std::exception_ptr failure;
  // Spawned as awaitable<void>, so that T need not be default-constructible (a Result).
  auto run = [&]() -> boost::asio::awaitable<void> {
    if constexpr (std::is_void_v<T>) {
      co_await body(io.get_executor());
      result.emplace(true);
    } else {
      result.emplace(co_await body(io.get_executor()));
    }
  };
  boost::asio::co_spawn(io, run, [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) {
    std::rethrow_exception(failure);
  }
  TRELLIS_CHECK(result.has_value());  // Else `body` waits on work that no longer exists.
  if constexpr (!std::is_void_v<T>) {
    return std::move(*result);
  }
}

// The same for a lambda, its result type deduced:
//   auto reply = RunBlocking([&](auto executor) -> asio::awaitable<Result<json>> { ... });
template <typename Body>
requires std::invocable<Body, boost::asio::any_io_executor>
auto RunBlocking(Body body) {
  using Value = typename std::invoke_result_t<Body, boost::asio::any_io_executor>::value_type;
  return RunBlocking<Value>(
      std::function<boost::asio::awaitable<Value>(boost::asio::any_io_executor)>(std::move(body)));
}

}  // namespace trellis::http
