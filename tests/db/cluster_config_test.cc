// `trellis db`'s file (db/cluster_config.h): what it reads, and the refusals that name
// the line of what is wrong.
#include "db/cluster_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace trellis::db {
namespace {

using ::testing::HasSubstr;

TEST(DbClusterConfigTest, ReadsTheInstancesInOrderAndTheUsers) {
  const auto config = ParseDbClusterConfig(R"(
[[instance]]
name = "db1"
listen = "127.0.0.1:3307"
[[instance]]
name = "db-2_b"
listen = "127.0.0.1:3308"
[[user]]
name = "app"
password = "secret"
)");
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->instances.size(), 2u);
  EXPECT_EQ(config->instances[0].name, "db1");
  EXPECT_EQ(config->instances[1].name, "db-2_b");
  EXPECT_EQ(config->instances[1].listen, "127.0.0.1:3308");
  ASSERT_EQ(config->users.size(), 1u);
  EXPECT_EQ(proto::mysql::FormatStoredHash(config->users[0].stored_hash),
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7");
}

TEST(DbClusterConfigTest, BackupsHaveDefaultsAndTheirOwnTable) {
  constexpr std::string_view kInstance =
      "[[instance]]\nname = \"db1\"\nlisten = \"127.0.0.1:3307\"\n";
  const auto defaults = ParseDbClusterConfig(kInstance);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->backup.dir, "backups");
  EXPECT_EQ(defaults->backup.full_every, std::chrono::hours(24));
  EXPECT_EQ(defaults->backup.incremental_every, std::chrono::hours(1));
  EXPECT_EQ(defaults->backup.keep_full, 2u);
  std::string text(kInstance);
  text += "[backup]\ndir = \"/srv/backups\"\nfull_every = \"12h\"\n";
  text += "incremental_every = \"0\"\nkeep_full = 7\n";
  const auto set = ParseDbClusterConfig(text);
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->backup.dir, "/srv/backups");
  EXPECT_EQ(set->backup.full_every, std::chrono::hours(12));
  EXPECT_EQ(set->backup.incremental_every, std::chrono::milliseconds(0));
  EXPECT_EQ(set->backup.keep_full, 7u);
  for (const char* wrong : {"[backup]\nkeep_full = 0\n", "[backup]\nfull_every = \"soon\"\n",
                            "[backup]\nretention = 3\n", "backup = 1\n"}) {
    std::string with_mistake(kInstance);
    with_mistake += wrong;
    const auto refused = ParseDbClusterConfig(with_mistake);
    ASSERT_FALSE(refused.ok()) << wrong;
    EXPECT_THAT(refused.error().message, HasSubstr("line")) << wrong;
  }
}

TEST(DbClusterConfigTest, MistakesAreRefusedNamingTheLine) {
  auto expect_refusal = [](std::string_view text, std::string_view words) {
    const auto config = ParseDbClusterConfig(text);
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_THAT(config.error().message, HasSubstr(std::string(words))) << text;
  };
  expect_refusal("", "at least one");
  expect_refusal("[[instance]]\nname = \"a\"\n", "needs a name and listen");
  expect_refusal("[[instance]]\nname = \"../a\"\nlisten = \"h:1\"\n", "line 2: name must be");
  expect_refusal("[[instance]]\nname = \"a\"\nlisten = \"h:1\"\nport = 3\n",
                 "line 4: unknown key \"port\"");
  expect_refusal(
      "[[instance]]\nname = \"a\"\nlisten = \"h:1\"\n[[instance]]\nname = \"b\"\n"
      "listen = \"h:1\"\n",
      "line 4: instance \"b\" has the name or address of \"a\"");
  expect_refusal("instance = 1\n", "[[instance]]");
  expect_refusal("primary = \"h:1\"\n", "unknown key \"primary\"");
  expect_refusal("[[instance]]\nname = \"a\"\nlisten = \"h:1\"\n[[user]]\nname = \"x\"\n",
                 "needs a name and a password");
}

}  // namespace
}  // namespace trellis::db
