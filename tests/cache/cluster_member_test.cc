#include "cache/cluster_member.h"

#include <gtest/gtest.h>

namespace trellis::cache {
namespace {

master::TenantState Tenant(uint64_t id, uint64_t memory_bytes) {
  master::TenantState tenant;
  tenant.name = "t" + std::to_string(id);
  tenant.id = id;
  tenant.memory_bytes = memory_bytes;
  return tenant;
}

master::SlotRange Range(uint32_t first, uint32_t last, std::string group,
                        std::optional<std::string> target) {
  master::SlotRange range;
  range.first = first;
  range.last = last;
  range.group = std::move(group);
  range.target = std::move(target);
  return range;
}

TEST(TenantQuotasTest, EachGroupTakesItsShareOfTheSlots) {
  master::ClusterState map;
  map.tenants = {Tenant(1, 1 << 20), Tenant(2, 0), Tenant(3, 3'000'000'000'000)};
  // g1 serves a quarter, g2 the rest, and a sixteenth moves from g2 to g3.
  map.slot_ranges = {Range(0, 4095, "g1", std::nullopt), Range(4096, 15359, "g2", std::nullopt),
                     Range(15360, 16383, "g2", "g3")};
  EXPECT_EQ(TenantQuotasOf(map, "g1"),
            (std::vector<TenantQuota>{{1, 256 << 10}, {3, 750'000'000'000}}));
  EXPECT_EQ(TenantQuotasOf(map, "g2"),
            (std::vector<TenantQuota>{{1, 768 << 10}, {3, 2'250'000'000'000}}));
  EXPECT_EQ(TenantQuotasOf(map, "g3"),
            (std::vector<TenantQuota>{{1, 64 << 10}, {3, 187'500'000'000}}));
  EXPECT_TRUE(TenantQuotasOf(map, "g4").empty()) << "no slot, none of their keys";
}

}  // namespace
}  // namespace trellis::cache
