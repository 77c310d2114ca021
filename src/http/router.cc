#include "http/router.h"

#include <fmt/format.h>

#include <algorithm>

#include <boost/algorithm/string/join.hpp>

#include "base/check.h"

namespace trellis::http {

namespace asio = boost::asio;

namespace {

// "/a/b" -> {"a", "b"}; "/" -> {""}.
std::vector<std::string_view> Segments(std::string_view pattern) {
  std::vector<std::string_view> segments;
  pattern.remove_prefix(1);
  for (;;) {
    const size_t slash = pattern.find('/');
    segments.push_back(pattern.substr(0, slash));
    if (slash == std::string_view::npos) {
      return segments;
    }
    pattern.remove_prefix(slash + 1);
  }
}

}  // namespace

void Router::Add(beast_http::verb method, std::string_view pattern, std::optional<Scope> need,
                 Handler handler) {
  TRELLIS_CHECK(pattern.starts_with('/'));
  Route route{method, {}, need, std::move(handler)};
  for (std::string_view segment : Segments(pattern)) {
    const bool is_param = segment.starts_with('{');
    if (is_param) {
      TRELLIS_CHECK(segment.size() > 2 && segment.ends_with('}'));
      segment = segment.substr(1, segment.size() - 2);
    }
    route.segments.push_back({std::string(segment), is_param});
  }
  routes_.push_back(std::move(route));
}

asio::awaitable<Response> Router::Dispatch(Request& request) const {
  if (gate_) {
    if (std::optional<Response> answer = gate_(request)) {
      co_return std::move(*answer);
    }
  }
  const std::vector<std::string>& segments = request.segments_;
  std::vector<std::string> allowed;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) {
      continue;
    }
    std::vector<std::pair<std::string, std::string>> params;
    bool matches = true;
    for (size_t i = 0; i < segments.size() && matches; ++i) {
      const Segment& segment = route.segments[i];
      if (segment.is_param) {
        matches = !segments[i].empty();
        params.emplace_back(segment.text, segments[i]);
      } else {
        matches = segment.text == segments[i];
      }
    }
    if (!matches) {
      continue;
    }
    if (route.method == request.method) {
      if (std::optional<Response> refusal = co_await Refusal(request, route.need)) {
        co_return std::move(*refusal);
      }
      request.params_ = std::move(params);
      co_return co_await route.handler(request);
    }
    const std::string method(beast_http::to_string(route.method));
    if (std::find(allowed.begin(), allowed.end(), method) == allowed.end()) {
      allowed.push_back(method);
    }
  }
  if (!allowed.empty()) {
    const std::string allow = boost::algorithm::join(allowed, ", ");
    Response response = Response::Error(base::InvalidArgument(
        fmt::format("{} is not allowed on {} (only {})", beast_http::to_string(request.method),
                    request.path, allow)));
    response.status = 405;
    response.headers = {{"Allow", allow}, {"Connection", "close"}};
    co_return response;
  }
  if (fallback_) {
    const bool reads =
        request.method == beast_http::verb::get || request.method == beast_http::verb::head;
    const Scope need = reads ? Scope::kRead : Scope::kOperate;
    if (std::optional<Response> refusal = co_await Refusal(request, need)) {
      co_return std::move(*refusal);
    }
    if (std::optional<Response> response = co_await fallback_(request)) {
      co_return std::move(*response);
    }
  }
  Response response = Response::Error(base::NotFound("no route for " + request.path));
  response.headers = {{"Connection", "close"}};
  co_return response;
}

asio::awaitable<std::optional<Response>> Router::Refusal(Request& request,
                                                         std::optional<Scope> need) const {
  if (!authenticator_ || !need) {
    co_return std::nullopt;
  }
  base::Result<Grant> grant =
      co_await authenticator_->Authenticate(request.Header("Authorization"));
  if (!grant) {
    Response response = Response::Error(grant.error());
    if (grant.error().code == base::ErrorCode::kUnauthenticated) {
      response.headers = {{"WWW-Authenticate", "Bearer realm=\"trellis\""}};
    }
    co_return response;
  }
  if (!Allows(grant->scope, *need)) {
    co_return Response::Error(base::PermissionDenied(
        fmt::format("{} {} needs a token of scope {}; this one ({}) has {}",
                    beast_http::to_string(request.method), request.path, ScopeName(*need),
                    grant->token_id, ScopeName(grant->scope))));
  }
  request.grant = std::move(grant).value();
  co_return std::nullopt;
}

}  // namespace trellis::http
