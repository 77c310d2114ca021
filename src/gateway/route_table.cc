#include "gateway/route_table.h"

#include <algorithm>
#include <cctype>

namespace trellis::gateway {

namespace {

std::string Lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

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
  for (const RouteConfig& route : routes) {
    routes_.push_back({Lowercase(route.host), route.path, route.pool});
  }
  std::stable_sort(routes_.begin(), routes_.end(), [](const Route& a, const Route& b) {
    if ((a.host == "*") != (b.host == "*")) {
      return b.host == "*";
    }
    return a.path.size() > b.path.size();
  });
}

const std::string* RouteTable::PoolFor(std::string_view host, std::string_view target) const {
  const std::string wanted = Lowercase(HostOnly(host));
  const std::string_view path = PathOf(target);
  for (const Route& route : routes_) {
    if ((route.host == "*" || route.host == wanted) && path.starts_with(route.path)) {
      return &route.pool;
    }
  }
  return nullptr;
}

}  // namespace trellis::gateway
