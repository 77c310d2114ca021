// Which pool an http request goes to: host (any case, port ignored) then "*", longest
// path prefix first.
#include "gateway/route_table.h"

#include <gtest/gtest.h>

namespace trellis::gateway {
namespace {

std::string PoolFor(const RouteTable& table, std::string_view host, std::string_view target) {
  const std::string* pool = table.PoolFor(host, target);
  return pool == nullptr ? "(none)" : *pool;
}

TEST(RouteTableTest, TheLongestPrefixOfTheRequestsHostWinsThenAnyHost) {
  const RouteTable table({{"a.example", "/", "a"},
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
  const RouteTable table({{"a.example", "/app", "a"}});
  EXPECT_EQ(PoolFor(table, "b.example", "/app"), "(none)");
  EXPECT_EQ(PoolFor(table, "a.example", "/"), "(none)");
  EXPECT_EQ(PoolFor(table, "[::1]:80", "/app"), "(none)");
}

}  // namespace
}  // namespace trellis::gateway
