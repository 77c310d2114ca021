// Router: maps a request's method and path to the coroutine that answers it, for the
// HTTP APIs that http::Server serves (the master's API, the admin endpoint). Patterns are
// literal segments and "{name}" segments, each matching one non-empty path segment:
//
//   router.Add(verb::get, "/v1/nodes/{address}", Scope::kRead, GetNode);
//                                                  // request.Param("address")
//
// Every route says the scope a token needs to call it (http/auth.h), or kOpen. Once
// RequireTokens() gave the router an Authenticator, a request for a route that needs a
// scope gets 401 (with `WWW-Authenticate: Bearer`) without a valid token and 403 with a
// token of a lower scope, before its handler runs; the handler finds the grant in
// request.grant. Without an Authenticator every route is open (an API that takes no
// tokens). The fallback needs read for GET and HEAD, operate for any other method.
//
// A path no route matches gets 404 {"error": "no route for /x"}; a path that routes
// match with other methods gets 405 with an `Allow:` header. Both close the connection
// (a client that asks for what does not exist is confused; it starts afresh).
//
// A gate (SetGate) may answer any request itself before it is routed: a master that
// follows another redirects what only the leader may answer.
//
// Thread safety: build it on one thread, then share it as shared_ptr<const Router>;
// Dispatch() is const and may run on any number of threads at once.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "http/auth.h"
#include "http/message.h"

namespace trellis::http {

using Handler = std::function<boost::asio::awaitable<Response>(const Request&)>;
// Asked for a request whose path no route matches; nullopt gives the 404.
using Fallback = std::function<boost::asio::awaitable<std::optional<Response>>(const Request&)>;

// The handler that calls `method` of `object`: router.Add(verb, path, scope,
// MethodHandler(this, &Service::Get)). REQUIRES: `object` outlives the router.
template <typename T>
Handler MethodHandler(T* object, boost::asio::awaitable<Response> (T::*method)(const Request&)) {
  return [object, method](const Request& request) { return (object->*method)(request); };
}

// A route anyone may call, tokens or not (/healthz).
inline constexpr std::optional<Scope> kOpen = std::nullopt;

class Router {
 public:
  // REQUIRES: `pattern` starts with '/'; every "{name}" segment is whole and named.
  // When two routes match a request, the one added first answers it. `need`: the scope a
  // token needs to call it, or kOpen.
  void Add(beast_http::verb method, std::string_view pattern, std::optional<Scope> need,
           Handler handler);
  // Asked first for every request; its answer, if any, is the response.
  void SetGate(std::function<std::optional<Response>(const Request&)> gate) {
    gate_ = std::move(gate);
  }
  // For a daemon whose API is not on routes yet (the admin endpoint's `api`).
  void SetFallback(Fallback fallback) { fallback_ = std::move(fallback); }
  // Checks every request's token with `authenticator` from now on.
  void RequireTokens(std::shared_ptr<Authenticator> authenticator) {
    authenticator_ = std::move(authenticator);
  }

  // Runs the handler of the route that matches, after setting the request's path
  // parameters. REQUIRES: `request` (from Request::Make) outlives the returned awaitable.
  boost::asio::awaitable<Response> Dispatch(Request& request) const;

 private:
  struct Segment {
    std::string text;  // The literal, or the parameter's name.
    bool is_param = false;
  };
  struct Route {
    beast_http::verb method;
    std::vector<Segment> segments;
    std::optional<Scope> need;
    Handler handler;
  };

  // The error response for a request that may not call what needs `need`; nullopt when
  // it may (and then request.grant is set).
  boost::asio::awaitable<std::optional<Response>> Refusal(Request& request,
                                                          std::optional<Scope> need) const;

  std::vector<Route> routes_;
  Fallback fallback_;
  std::function<std::optional<Response>(const Request&)> gate_;
  std::shared_ptr<Authenticator> authenticator_;
};

}  // namespace trellis::http
