#include "master/volume_table.h"

#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

namespace trellis::master {
namespace {

VolumeRequest Asked(std::string name, uint64_t size, std::string_view redundancy) {
  return {std::move(name), size, ParseRedundancy(redundancy).value(), 4096};
}

TEST(VolumeTableTest, RedundancyParsesBothSchemesAndRefusesTheRest) {
  EXPECT_EQ(FormatRedundancy(ParseRedundancy("replica:3").value()), "replica:3");
  const Redundancy ec = ParseRedundancy("ec:4+2").value();
  EXPECT_EQ(ec.pieces(), 6u);
  EXPECT_EQ(ec.write_quorum(), 4u);
  EXPECT_DOUBLE_EQ(ec.usable_ratio(), 4.0 / 6.0);
  EXPECT_EQ(ParseRedundancy("replica:3")->write_quorum(), 2u);
  for (const char* bad : {"replica:0", "replica:9", "replica:", "ec:4", "ec:4+0", "ec:0+2",
                          "ec:17+1", "raid10", "replica:3x", "ec:4+2+1"}) {
    EXPECT_FALSE(ParseRedundancy(bad).ok()) << bad;
  }
}

TEST(VolumeTableTest, PiecesOfAChunkGoToDistinctNodesAndTheLoadSpreads) {
  VolumeTable table;
  const std::vector<std::string> nodes{"b1", "b2", "b3", "b4", "b5", "b6", "b7"};
  const VolumeState a = table.Create(Asked("a", 1ull << 30, "replica:3"), nodes).value();
  const VolumeState b = table.Create(Asked("b", 1ull << 30, "ec:4+2"), nodes).value();
  EXPECT_EQ(a.chunks.size(), 16u);
  EXPECT_EQ(b.chunk_size % (4096 * 4), 0u);
  std::map<std::string, int> load;
  for (const VolumeState* volume : {&a, &b}) {
    for (const ChunkPlacement& chunk : volume->chunks) {
      EXPECT_EQ(std::set<std::string>(chunk.nodes.begin(), chunk.nodes.end()).size(),
                volume->redundancy.pieces());
      for (const std::string& node : chunk.nodes) {
        ++load[node];
      }
    }
  }
  ASSERT_EQ(load.size(), nodes.size());
  int least = 1 << 30, most = 0;
  for (const auto& [node, pieces] : load) {
    least = std::min(least, pieces);
    most = std::max(most, pieces);
  }
  EXPECT_LE(most - least, 1);
  EXPECT_NE(a.id, b.id);
}

TEST(VolumeTableTest, RefusesATakenNameAndTooFewNodes) {
  VolumeTable table;
  ASSERT_TRUE(table.Create(Asked("v", 1 << 20, "replica:2"), {"b1", "b2"}).ok());
  EXPECT_EQ(table.Create(Asked("v", 1 << 20, "replica:2"), {"b1", "b2"}).error().code,
            base::ErrorCode::kConflict);
  EXPECT_EQ(table.Create(Asked("w", 1 << 20, "replica:3"), {"b1", "b2"}).error().code,
            base::ErrorCode::kUnavailable);
  EXPECT_EQ(table.Find("w"), nullptr);
}

TEST(VolumeTableTest, OpenFencesTheWriterBeforeAndOnlyTheCurrentWriterMarksStale) {
  VolumeTable table;
  ASSERT_TRUE(table.Create(Asked("v", 1 << 20, "replica:3"), {"b1", "b2", "b3"}).ok());
  const uint64_t first = table.Open("v")->generation;
  const uint64_t second = table.Open("v")->generation;
  EXPECT_GT(second, first);
  const std::string node = table.Find("v")->chunks[0].nodes[1];
  EXPECT_EQ(table.MarkStale("v", {0, node, first}).error().code, base::ErrorCode::kConflict);
  EXPECT_EQ(table.MarkStale("v", {1, node, second}).error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(table.MarkStale("v", {0, "b9", second}).error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(table.MarkStale("v", {0, node, second})->chunks[0].stale,
            std::vector<std::string>{node});
  // A second piece of three would leave one: below replica:3's quorum of two.
  const std::string other = table.Find("v")->chunks[0].nodes[2];
  EXPECT_EQ(table.MarkStale("v", {0, other, second}).error().code, base::ErrorCode::kUnavailable);
}

TEST(VolumeTableTest, TheDocumentRoundTripsAndIdsAreNeverReused) {
  VolumeTable table;
  ASSERT_TRUE(table.Create(Asked("a", 1 << 20, "replica:1"), {"b1"}).ok());
  ASSERT_TRUE(table.Create(Asked("b", 1 << 20, "replica:1"), {"b1"}).ok());
  ASSERT_TRUE(table.Delete("b").ok());
  VolumeTable loaded = VolumeTable::FromJson(table.ToJson()).value();
  EXPECT_EQ(loaded.volumes(), table.volumes());
  EXPECT_EQ(loaded.Create(Asked("c", 1 << 20, "replica:1"), {"b1"})->id, 3u);
  EXPECT_TRUE(VolumeTable::FromJson(nlohmann::json()).value().volumes().empty());
  nlohmann::json bad = table.ToJson();
  bad["volumes"][0]["chunks"][0]["nodes"] = nlohmann::json::array();
  EXPECT_FALSE(VolumeTable::FromJson(bad).ok());
}

TEST(VolumeTableTest, RequestsAreCheckedWhole) {
  EXPECT_TRUE(ParseVolumeRequest(ToJson(Asked("v1", 1 << 20, "ec:4+2"))).ok());
  nlohmann::json unaligned = ToJson(Asked("v1", 1 << 20, "replica:3"));
  unaligned["size"] = 1000;
  EXPECT_FALSE(ParseVolumeRequest(unaligned).ok());
  nlohmann::json odd_block = ToJson(Asked("v1", 1 << 20, "replica:3"));
  odd_block["block_size"] = 3000;
  EXPECT_FALSE(ParseVolumeRequest(odd_block).ok());
  EXPECT_FALSE(ParseVolumeRequest(ToJson(Asked("../x", 1 << 20, "replica:3"))).ok());
}

}  // namespace
}  // namespace trellis::master
