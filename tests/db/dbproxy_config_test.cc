// The dbproxy's file (db/dbproxy_config.h): what it reads, and the refusals that name the
// line of what is wrong.
#include "db/dbproxy_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace trellis::db {
namespace {

using ::testing::HasSubstr;

TEST(DbProxyConfigTest, ReadsTheServerTheCapAndUsersWithPasswordsOrTheirHashes) {
  const auto config = ParseDbProxyConfig(R"(
primary = "127.0.0.1:3307"
max_backend_connections = 50
[[user]]
name = "app"
password = "secret"
[[user]]
name = "report"
password = "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
)");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->primary, "127.0.0.1:3307");
  EXPECT_EQ(config->max_backend_connections, 50u);
  ASSERT_EQ(config->users.size(), 2u);
  // PASSWORD('secret') on MariaDB 10.11: both spellings are the same account.
  const std::string expected = "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7";
  EXPECT_EQ(proto::mysql::FormatStoredHash(config->FindUser("app")->stored_hash), expected);
  EXPECT_EQ(proto::mysql::FormatStoredHash(config->FindUser("report")->stored_hash), expected);
  EXPECT_EQ(config->FindUser("nobody"), nullptr);
}

TEST(DbProxyConfigTest, TheCapDefaultsTo200) {
  const auto config = ParseDbProxyConfig("primary = \"db:3306\"\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->max_backend_connections, 200u);
  EXPECT_TRUE(config->users.empty());
}

TEST(DbProxyConfigTest, MistakesAreRefusedNamingTheLine) {
  const auto expect_refusal = [](const std::string& text, const std::string& words) {
    const auto config = ParseDbProxyConfig(text);
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_THAT(config.error().message, HasSubstr(words)) << text;
  };
  expect_refusal("max_backend_connections = 5\n", "primary");
  expect_refusal("primary = \"a:1\"\nprimray = \"b:2\"\n", "line 2: unknown key \"primray\"");
  expect_refusal("primary = 5\n", "line 1: primary must be a string");
  expect_refusal("primary = \"a:1\"\nmax_backend_connections = 0\n", "line 2");
  expect_refusal("primary = \"a:1\"\n[[user]]\nname = \"x\"\n", "needs a name and a password");
  expect_refusal("primary = \"a:1\"\n[[user]]\nname = \"x\"\npassword = \"\"\n",
                 "must not be empty");
  expect_refusal("primary = \"a:1\"\n[[user]]\nname = \"x\"\npassword = \"p\"\nrole = \"r\"\n",
                 "unknown key \"role\"");
  expect_refusal(
      "primary = \"a:1\"\n[[user]]\nname = \"x\"\npassword = \"p\"\n[[user]]\nname = \"x\"\n"
      "password = \"q\"\n",
      "user \"x\" is given twice");
  expect_refusal("primary = \"a:1\"\nuser = 3\n", "[[user]]");
  expect_refusal("primary = ", "line 1");
  expect_refusal("primary = \"a:1\"\nmanager = \"http://b:2\"\n", "not both");
}

TEST(DbProxyConfigTest, TheManagerMayNameThePrimaryInstead) {
  const auto config = ParseDbProxyConfig("manager = \"http://127.0.0.1:7306\"\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->manager, "http://127.0.0.1:7306");
  EXPECT_EQ(config->primary, "");
  EXPECT_FALSE(config->replica_reads);
  EXPECT_EQ(config->max_replica_lag_seconds, 5u);
}

TEST(DbProxyConfigTest, ReplicaReadsNeedAManager) {
  const auto config = ParseDbProxyConfig(
      "manager = \"http://127.0.0.1:7306\"\nreplica_reads = true\nmax_replica_lag = 2\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_TRUE(config->replica_reads);
  EXPECT_EQ(config->max_replica_lag_seconds, 2u);
  const auto refused = ParseDbProxyConfig("primary = \"a:1\"\nreplica_reads = true\n");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("needs a manager"));
  EXPECT_FALSE(ParseDbProxyConfig("manager = \"m\"\nmax_replica_lag = -1\n").ok());
  EXPECT_FALSE(ParseDbProxyConfig("manager = \"m\"\nreplica_reads = 1\n").ok());
}

}  // namespace
}  // namespace trellis::db
