#include "gateway/route_table.h"

#include <algorithm>

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/beast/core/string.hpp>

namespace trellis::gateway {

namespace {

// The host of a Host header: without the port (and without an IPv6 literal's brackets'
// port).
std::string_view HostOnly(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  return host.substr(0, host.find(':'));
}

// The path of a request target: origin form ("/a?b") or absolute form ("http://h/a?b").
std::string_view PathOf(std::string_view target) {
  if (!target.empty() && target.front() != '/') {
    const size_t scheme = target.find("://");
    if (scheme != std::string_view::npos) {
      const size_t slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? "/" : target.substr(slash);
    }
  }
  return target.substr(0, target.find_first_of("?#"));
}

}  // namespace

RouteTable::RouteTable(const std::vector<RouteConfig>& routes) {
  for (size_t i = 0; i < routes.size(); ++i) {
    routes_.push_back({boost::algorithm::to_lower_copy(routes[i].host), routes[i].path, i});
  }
  std::stable_sort(routes_.begin(), routes_.end(), [](const Route& a, const Route& b) {
    if ((a.host == "*") != (b.host == "*")) {
      return b.host == "*";
    }
    return a.path.size() > b.path.size();
  });
}

std::optional<size_t> RouteTable::Match(std::string_view host, std::string_view target) const {
  const std::string_view wanted = HostOnly(host);
  const std::string_view path = PathOf(target);
  for (const Route& route : routes_) {
    if ((route.host == "*" || boost::beast::iequals(route.host, wanted)) &&
        path.starts_with(route.path)) {
      return route.index;
    }
  }
  return std::nullopt;
}

}  // namespace trellis::gateway
