// Which pool an http request goes to: host (any case, port ignored) then "*", longest
// path prefix first.
#include "gateway/route_table.h"

#include <gtest/gtest.h>

namespace trellis::gateway {
namespace {

// The pool of the route the table matches.
class Routes {
 public:
  explicit Routes(std::vector<RouteConfig> routes) : routes_(std::move(routes)), table_(routes_) {}
  std::string PoolFor(std::string_view host, std::string_view target) const {
    const std::optional<size_t> route = table_.Match(host, target);
    return route ? routes_.at(*route).pool : "(none)";
  }

 private:
  std::vector<RouteConfig> routes_;
  RouteTable table_;
};

std::string PoolFor(const Routes& table, std::string_view host, std::string_view target) {
  return table.PoolFor(host, target);
}

TEST(RouteTableTest, TheLongestPrefixOfTheRequestsHostWinsThenAnyHost) {
  const Routes table({{"a.example", "/", "a"},
                      {"a.example", "/api", "a-api"},
                      {"a.example", "/api/v2", "a-api2"},
                      {"*", "/", "any"},
                      {"*", "/static", "static"}});
  EXPECT_EQ(PoolFor(table, "a.example", "/"), "a");
  EXPECT_EQ(PoolFor(table, "A.EXAMPLE:8080", "/x"), "a");
  EXPECT_EQ(PoolFor(table, "a.example", "/api"), "a-api");
  EXPECT_EQ(PoolFor(table, "a.example", "/api/v2/items?x=/api"), "a-api2");
  EXPECT_EQ(PoolFor(table, "a.example", "/apix"), "a-api") << "a prefix, as path_beg";
  EXPECT_EQ(PoolFor(table, "a.example", "/static/x"), "a") << "the host's routes first";
  EXPECT_EQ(PoolFor(table, "b.example", "/static/x"), "static");
  EXPECT_EQ(PoolFor(table, "b.example", "/"), "any");
  EXPECT_EQ(PoolFor(table, "", "/"), "any") << "no Host header";
  EXPECT_EQ(PoolFor(table, "a.example", "http://a.example/api/v2"), "a-api2")
      << "an absolute URI's path";
}

TEST(RouteTableTest, NoRouteIsNone) {
  const Routes table({{"a.example", "/app", "a"}});
  EXPECT_EQ(PoolFor(table, "b.example", "/app"), "(none)");
  EXPECT_EQ(PoolFor(table, "a.example", "/"), "(none)");
  EXPECT_EQ(PoolFor(table, "[::1]:80", "/app"), "(none)");
}

}  // namespace
}  // namespace trellis::gateway
