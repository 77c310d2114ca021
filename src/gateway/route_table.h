// RouteTable: which pool an http request goes to (docs/gateway.md, "Routes"): the routes
// of the request's host (its Host header without the port, compared without case), else
// those of host "*"; among them the longest path prefix of the request's path wins. A
// prefix matches whole path segments or more: "/api" matches "/api", "/api/x" and
// "/apix" alike, as HAProxy's path_beg and nginx's prefix locations do.
//
// Thread safety: immutable after construction.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/gateway_config.h"

namespace trellis::gateway {

class RouteTable {
 public:
  explicit RouteTable(const std::vector<RouteConfig>& routes);

  // The route for a request of `host` (a Host header value, port allowed; or a TLS
  // server name) and `target` (its request target: path and query, or an absolute
  // URI), as its index in the routes given; nullopt: no route (404).
  std::optional<size_t> Match(std::string_view host, std::string_view target) const;

 private:
  struct Route {
    std::string host;  // Lowercase; "*" for any.
    std::string path;
    size_t index;  // In the routes given.
  };
  std::vector<Route> routes_;  // Longest path first, exact hosts before "*".
};

}  // namespace trellis::gateway
