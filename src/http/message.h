// Request and Response: the HTTP/1.1 messages of Trellis's JSON APIs (the master's API,
// the admin endpoint), as route handlers (http/router.h) and the client (http/client.h)
// see them: the target already split into a percent-decoded path and query, and errors
// mapped both ways between base::ErrorCode and HTTP status codes, so that a handler
// returns Response::Error(base::NotFound(...)) and a client gets a kNotFound back.
//
// An error body is always {"error": "<message>", "code": "<code>"}, where code is
// "invalid_argument", "not_found", "conflict", "unavailable", "resource_exhausted",
// "unauthenticated", "permission_denied" or "internal".
//
// Thread safety: none; plain values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "base/result.h"
#include "http/auth.h"

namespace trellis::http {

namespace beast_http = boost::beast::http;

struct Request {
  // Splits `target` ("/v1/x%20y?a=1&b") into a percent-decoded path and query
  // parameters. kInvalidArgument when the target does not start with '/' or holds a
  // malformed %-escape.
  static base::Result<Request> Make(beast_http::verb method, std::string target,
                                    std::string body = {});

  beast_http::verb method = beast_http::verb::get;
  std::string target;  // As received.
  std::string path;    // Percent-decoded, without the query.
  std::string body;
  beast_http::fields headers;
  // What the request's token allows, once the Router checked it (http/auth.h); nullopt
  // on a route that is open or an API that takes no tokens.
  std::optional<Grant> grant;

  // The first query parameter called `name`, percent-decoded ('+' is a space); nullopt
  // when absent, "" for "?name" or "?name=".
  std::optional<std::string_view> Query(std::string_view name) const;
  // A path parameter of the route that matched ("/v1/nodes/{address}" -> "address"),
  // percent-decoded; "" when the route has none of that name.
  std::string_view Param(std::string_view name) const;
  // A header's value (case-insensitive name); "" when absent.
  std::string_view Header(std::string_view name) const;
  // The body as JSON, or kInvalidArgument "the body must be JSON: ...".
  base::Result<nlohmann::json> JsonBody() const;

 private:
  friend class Router;  // Reads segments_, sets params_.
  // The path's segments, each percent-decoded on its own so that an escaped '/' stays in
  // its segment: "/a/b%2Fc" -> {"a", "b/c"}; "/" -> {""}.
  std::vector<std::string> segments_;
  std::vector<std::pair<std::string, std::string>> query_;
  std::vector<std::pair<std::string, std::string>> params_;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // A server sends these besides Content-Type and Content-Length ("Allow", ...);
  // "Connection: close" makes it close the connection after this response. On a
  // response from Client::Call: every header received, Content-Type included.
  std::vector<std::pair<std::string, std::string>> headers;

  // body.dump() and a newline.
  static Response Json(const nlohmann::json& body, int status = 200);
  static Response Text(std::string body, std::string content_type = "text/plain; charset=utf-8");
  // {"error": error.message, "code": "not_found"} with StatusFor(error.code).
  static Response Error(const base::Error& error);

  // The value of header `name` (case-insensitive) in `headers`; "" when absent.
  std::string_view Header(std::string_view name) const;
};

// The status a server answers for an error: invalid argument 400, not found 404,
// conflict 409, resource exhausted 429, unauthenticated 401, permission denied 403,
// unavailable 503, internal 500.
int StatusFor(base::ErrorCode code);
// The inverse, for clients: 400 invalid argument, 401 unauthenticated, 403 permission
// denied, 404 not found, 409 conflict, 429
// resource exhausted, any other 4xx invalid argument; 502, 503 and 504 unavailable, any
// other status internal.
base::ErrorCode CodeForStatus(int status);
// The "code" of an error body: "not_found", ...
std::string CodeName(base::ErrorCode code);

}  // namespace trellis::http
