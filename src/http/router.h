// Router: maps a request's method and path to the coroutine that answers it, for the
// HTTP APIs that http::Server serves (the master's API, the admin endpoint). Patterns are
// literal segments and "{name}" segments, each matching one non-empty path segment:
//
//   router.Add(verb::get, "/v1/nodes/{address}", GetNode);   // request.Param("address")
//
// A path no route matches gets 404 {"error": "no route for /x"}; a path that routes
// match with other methods gets 405 with an `Allow:` header. Both close the connection
// (a client that asks for what does not exist is confused; it starts afresh).
//
// Thread safety: build it on one thread, then share it as shared_ptr<const Router>;
// Dispatch() is const and may run on any number of threads at once.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "http/message.h"

namespace trellis::http {

using Handler = std::function<boost::asio::awaitable<Response>(const Request&)>;
// Asked for a request whose path no route matches; nullopt gives the 404.
using Fallback = std::function<boost::asio::awaitable<std::optional<Response>>(const Request&)>;

class Router {
 public:
  // REQUIRES: `pattern` starts with '/'; every "{name}" segment is whole and named.
  // When two routes match a request, the one added first answers it.
  void Add(beast_http::verb method, std::string_view pattern, Handler handler);
  // For a daemon whose API is not on routes yet (the admin endpoint's `api`).
  void SetFallback(Fallback fallback) { fallback_ = std::move(fallback); }

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
    Handler handler;
  };

  std::vector<Route> routes_;
  Fallback fallback_;
};

}  // namespace trellis::http
