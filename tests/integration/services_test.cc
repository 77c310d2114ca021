// The registry of platform services with a real `trellis master`: a service registered
// over the API is listed, shows in `trellis cluster status` (table and --json), and is
// gone once deregistered.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testing/daemon_process.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using ::testing::ContainsRegex;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::HttpGet;
using testing::HttpRequest;
using ::testing::Not;

class ServicesTest : public ::testing::Test {
 protected:
  ServicesTest()
      : master_({"master", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data",
                 data_.path().string()}) {
    master_port_ = master_.WaitForListening("master");
    master_url_ = "http://127.0.0.1:" + std::to_string(master_port_);
  }

  // `trellis cluster status` against the master, with `extra` flags: its output.
  std::string ClusterStatus(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"cluster", "status", "--master", master_url_};
    args.insert(args.end(), extra.begin(), extra.end());
    DaemonProcess status(args);
    const std::optional<int> exit = status.WaitExit(10s);
    EXPECT_TRUE(exit.has_value() && WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << status.Log();
    return status.Log();
  }

  testing::TempDir data_;
  DaemonProcess master_;
  uint16_t master_port_ = 0;
  std::string master_url_;
};

TEST_F(ServicesTest, ARegisteredServiceIsListedShownInStatusAndGoneOnceDeregistered) {
  EXPECT_THAT(ClusterStatus(), HasSubstr("no services registered"));

  const nlohmann::json registration = {{"name", "backup-center"},
                                       {"kind", "backup-center"},
                                       {"url", "http://127.0.0.1:9300"},
                                       {"metrics_url", "http://127.0.0.1:9301/metrics"},
                                       {"summary", "2/2 groups streaming, 0 gaps"}};
  const auto registered =
      HttpRequest(master_port_, "PUT", "/v1/services/backup-center", registration.dump());
  ASSERT_EQ(registered.status, 200) << registered.body;
  EXPECT_EQ(nlohmann::json::parse(registered.body)["age_seconds"], 0.0);
  EXPECT_EQ(HttpRequest(master_port_, "PUT", "/v1/services/other-name", registration.dump()).status,
            400);

  const nlohmann::json listed = nlohmann::json::parse(HttpGet(master_port_, "/v1/services").body);
  ASSERT_EQ(listed["services"].size(), 1u);
  EXPECT_EQ(listed["services"][0]["name"], "backup-center");
  EXPECT_EQ(listed["services"][0]["metrics_url"], "http://127.0.0.1:9301/metrics");
  EXPECT_EQ(listed["services"][0]["summary"], "2/2 groups streaming, 0 gaps");

  // One line per service: name, kind, url, seconds since its renewal, summary.
  EXPECT_THAT(ClusterStatus(), ContainsRegex("backup-center +backup-center +"
                                             "http://127\\.0\\.0\\.1:9300 +[0-9]+\\.[0-9] +"
                                             "2/2 groups streaming, 0 gaps"));
  const nlohmann::json status = nlohmann::json::parse(ClusterStatus({"--json"}));
  EXPECT_TRUE(status.contains("groups")) << "the map, with the services beside it";
  ASSERT_EQ(status["services"].size(), 1u);
  EXPECT_EQ(status["services"][0]["url"], "http://127.0.0.1:9300");

  EXPECT_EQ(HttpRequest(master_port_, "DELETE", "/v1/services/backup-center", "").status, 204);
  EXPECT_EQ(HttpRequest(master_port_, "DELETE", "/v1/services/backup-center", "").status, 404);
  EXPECT_TRUE(
      nlohmann::json::parse(HttpGet(master_port_, "/v1/services").body)["services"].empty());
  EXPECT_THAT(ClusterStatus(), Not(HasSubstr("http://127.0.0.1:9300")));
}

}  // namespace
}  // namespace trellis
