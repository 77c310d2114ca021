// A MariaDB server's plan and command line under `trellis db` (db/instance_setup.h,
// db/db_manager.h): what mariadbd is told.
#include "db/instance_setup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "db/db_manager.h"

namespace trellis::db {
namespace {

using ::testing::Contains;
using ::testing::StartsWith;

DbManagerOptions TwoServers(std::string data) {
  DbManagerOptions options;
  options.config.instances = {{"db1", "127.0.0.1:3307"}, {"db2", "127.0.0.1:3308"}};
  options.data = std::move(data);
  return options;
}

// mariadbd reads a relative path from its base directory (/usr), so `trellis up`'s
// default, trellis-data/db, must reach it whole.
TEST(InstanceSetupTest, ARelativeDataDirectoryReachesTheServerAbsolute) {
  const auto plans = InstancePlans(TwoServers("trellis-data/db"));
  ASSERT_TRUE(plans.ok()) << plans.error().message;
  ASSERT_EQ(plans->size(), 2u);
  EXPECT_TRUE((*plans)[1].data.is_absolute());
  const std::string datadir =
      "--datadir=" + (std::filesystem::current_path() / "trellis-data/db/db2").string();
  EXPECT_THAT(MariadbdArgs((*plans)[1]), Contains(datadir));
}

TEST(InstanceSetupTest, EveryServerStartsFencedWithItsOwnIdAndDurableGtids) {
  const auto plans = InstancePlans(TwoServers("/srv/db"));
  ASSERT_TRUE(plans.ok()) << plans.error().message;
  const std::vector<std::string> args = MariadbdArgs((*plans)[1]);
  for (const std::string expected :
       {"--server-id=2", "--port=3308", "--read-only=ON", "--skip-slave-start",
        "--gtid-strict-mode=ON", "--sync-binlog=1", "--rpl-semi-sync-slave-enabled=ON",
        "--rpl-semi-sync-master-enabled=OFF", "--rpl-semi-sync-master-wait-point=AFTER_SYNC",
        "--init-file=/srv/db/db2.init.sql"}) {
    EXPECT_THAT(args, Contains(expected));
  }
  EXPECT_THAT(args, Contains(StartsWith("--log-bin=/srv/db/db2/")));
}

TEST(InstanceSetupTest, AnAddressThatDoesNotResolveIsRefusedNamingTheServer) {
  DbManagerOptions options = TwoServers("/srv/db");
  options.config.instances[1].listen = "no such host:1";
  const auto plans = InstancePlans(options);
  ASSERT_FALSE(plans.ok());
  EXPECT_THAT(plans.error().message, ::testing::HasSubstr("instance db2"));
}

}  // namespace
}  // namespace trellis::db
