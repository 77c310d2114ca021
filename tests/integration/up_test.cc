// `trellis up`: the whole CMEM cluster of one machine as supervised child processes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "testing/daemon_process.h"
#include "testing/loopback_client.h"
#include "testing/memccapable.h"
#include "testing/temp_dir.h"
#include "testing/tls_client.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using testing::LoopbackClient;

class UpTest : public ::testing::Test {
 protected:
  UpTest()
      : up_({"up", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--mysql", "127.0.0.1:0",
             "--nbd", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data", data_.path().string(),
             "--memory", "16"}) {
    // Every endpoint is announced once every child listens, CDB's too (its servers are
    // installed at the first start: the slow part, under a loaded test run).
    client_port_ = up_.WaitForListening("memcached", 120s);
    admin_port_ = up_.WaitForListening("admin", 120s);
  }

  nlohmann::json Status() {
    return nlohmann::json::parse(testing::HttpGet(admin_port_, "/v1/status").body);
  }
  // The port a child was given, from up's own log.
  uint16_t PortOf(const std::string& child) {
    std::smatch match;
    const std::string log = up_.Log();
    EXPECT_TRUE(
        std::regex_search(log, match, std::regex(child + " listening on [0-9.]+:([0-9]+)")));
    return static_cast<uint16_t>(std::stoi(match[1]));
  }

  // A connection to a child of the cluster with the certificate `up` issued to the
  // operator: the cache nodes take nothing else.
  std::unique_ptr<testing::TlsClient> AsOperator(uint16_t port) {
    const std::filesystem::path ca = data_.path() / "ca";
    return std::make_unique<testing::TlsClient>(
        port, ca / "ca.crt",
        testing::Certificate{"", ca / "issued" / "operator.crt", ca / "issued" / "operator.key"});
  }

  testing::TempDir data_;
  DaemonProcess up_;
  uint16_t client_port_ = 0;
  uint16_t admin_port_ = 0;
};

TEST_F(UpTest, ClientsSeeOneCacheAndBackupsFollowTheirMains) {
  // The banner follows the admin endpoint's log line, after the children are told of it.
  EXPECT_TRUE(
      Eventually([&] { return up_.Log().find("Trellis is up.") != std::string::npos; }, 10s))
      << up_.Log();
  LoopbackClient client(client_port_);
  std::string sets;
  for (int i = 0; i < 200; ++i) {
    sets += "set key" + std::to_string(i) + " 0 0 1\r\n" + std::to_string(i % 10) + "\r\n";
  }
  // Right after "Trellis is up." a group's main may still refuse writes for a moment
  // ("SERVER_ERROR read only: this node is a backup": it has not yet heard from the
  // master that it is the main; docs/daemons.md). The sets are sent again until every
  // one is stored.
  std::string stored;
  EXPECT_TRUE(Eventually(
      [&] {
        client.Send(sets + "mn\r\n");
        stored = client.ReadUntil("MN\r\n");
        return std::count(stored.begin(), stored.end(), '\n') == 201 &&
               stored.find("SERVER_ERROR") == std::string::npos;
      },
      10s))
      << stored.substr(0, 300);
  client.Send("get key1 key2 key150\r\n");
  EXPECT_EQ(client.ReadUntil("END\r\n"),
            "VALUE key1 0 1\r\n1\r\nVALUE key2 0 1\r\n2\r\nVALUE key150 0 1\r\n0\r\nEND\r\n");
  // Every key is on one group's main and, shortly after, on that group's backup: each
  // key twice over the four nodes.
  int copies = 0;
  EXPECT_TRUE(Eventually(
      [&] {
        copies = 0;
        for (const std::string node : {"g1-a", "g1-b", "g2-a", "g2-b"}) {
          std::smatch items;
          const std::string stats = AsOperator(PortOf(node))->Exchange("stats\r\n", "END\r\n");
          if (std::regex_search(stats, items, std::regex("STAT curr_items ([0-9]+)"))) {
            copies += std::stoi(items[1]);
          }
        }
        return copies == 400;
      },
      5s))
      << copies << " copies of 200 keys";
  // The operator's view, through the master `up` started.
  DaemonProcess status({"cluster", "status", "--data", data_.path().string()});
  ASSERT_TRUE(status.WaitExit(10s).has_value());
  // The groups `up` created share the slots.
  EXPECT_THAT(status.Log(), ::testing::ContainsRegex("g1 +8192 +[0-9]+ main"));
  EXPECT_THAT(status.Log(), ::testing::ContainsRegex("g2 +8192 +[0-9]+ backup"));
}

// Acceptance of scale-out under `trellis up`: one command starts a group, one moves its
// share of the slots to it, and every key is still there with its value.
TEST_F(UpTest, AGroupSpawnedAndRebalancedTakesAThirdAndEveryKeyStaysReadable) {
  constexpr int kKeys = 100'000;
  constexpr int kBatch = 1000;
  LoopbackClient client(client_port_);
  auto value_of = [](int i) { return "value-" + std::to_string(i * 31); };
  for (int first = 0; first < kKeys; first += kBatch) {
    std::string sets;
    for (int i = first; i < first + kBatch; ++i) {
      const std::string value = value_of(i);
      sets += "set key" + std::to_string(i) + " 0 0 " + std::to_string(value.size()) + "\r\n" +
              value + "\r\n";
    }
    // Sent again until all are stored: a main may refuse writes a moment after "Trellis
    // is up." (see above).
    ASSERT_TRUE(Eventually(
        [&] {
          client.Send(sets + "mn\r\n");
          const std::string stored = client.ReadUntil("MN\r\n");
          return std::count(stored.begin(), stored.end(), '\n') == kBatch + 1 &&
                 stored.find("SERVER_ERROR") == std::string::npos;
        },
        10s));
  }
  const std::string data = data_.path().string();
  DaemonProcess spawn({"cluster", "--data", data, "add-group", "g3", "--spawn"});
  ASSERT_EQ(spawn.WaitExit(60s), 0) << spawn.Log();
  DaemonProcess rebalance({"cluster", "--data", data, "rebalance", "--wait"});
  ASSERT_EQ(rebalance.WaitExit(120s), 0) << rebalance.Log();
  EXPECT_THAT(rebalance.Log(), ::testing::HasSubstr("done: "));

  DaemonProcess status({"cluster", "--data", data, "status"});
  ASSERT_TRUE(status.WaitExit(10s).has_value());
  std::smatch slots;
  const std::string table = status.Log();
  ASSERT_TRUE(std::regex_search(table, slots, std::regex("g3 +([0-9]+) ")));
  EXPECT_NEAR(std::stoi(slots[1]), 16384 / 3, 16384 / 20) << table;

  int readable = 0;
  for (int first = 0; first < kKeys; first += 100) {
    std::string get = "get";
    std::string expected;
    for (int i = first; i < first + 100; ++i) {
      const std::string key = "key" + std::to_string(i);
      const std::string value = value_of(i);
      get += " " + key;
      expected += "VALUE " + key + " 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
    }
    client.Send(get + "\r\n");
    readable += client.ReadUntil("END\r\n") == expected + "END\r\n" ? 100 : 0;
  }
  EXPECT_EQ(readable, kKeys);
}

TEST_F(UpTest, TheBackupCenterArchivesEveryGroupOutOfTheBox) {
  // Point-in-time restore needs nothing more than `trellis up` (docs/backup.md).
  std::string listing;
  EXPECT_TRUE(Eventually(
      [&] {
        DaemonProcess list({"backup", "list", "--data", data_.path().string()});
        list.WaitExit(10s);
        listing = list.Log();
        return std::regex_search(listing, std::regex("g1: streaming[^\n]*\n  restorable")) &&
               std::regex_search(listing, std::regex("g2: streaming[^\n]*\n  restorable"));
      },
      15s, 200ms))
      << listing;
  DaemonProcess restore(
      {"backup", "restore", "--data", data_.path().string(), "--to", "-0s", "--dry-run"});
  const std::optional<int> status = restore.WaitExit(20s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 0) << restore.Log();
  EXPECT_THAT(restore.Log(), ::testing::HasSubstr("would restore to")) << restore.Log();
}

// libmemcached's memccapable, a conformance checker we did not write, through the gateway
// and the access nodes of `trellis up`: every ASCII protocol test passes.
// CDB out of the box: the real mariadb client logs in to the dbproxy as "app" with the
// password `up` made (kept for its owner only), and writes reach the replica.
TEST_F(UpTest, TheMariadbClientReachesCdbAsTheAppUser) {
  const uint16_t mysql = up_.WaitForListening("mysql");
  const std::filesystem::path password_file = data_.path() / "db" / "app.password";
  EXPECT_EQ(std::filesystem::status(password_file).permissions() & std::filesystem::perms::mask,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string password;
  std::ifstream(password_file) >> password;
  ASSERT_EQ(password.size(), 32u);
  EXPECT_THAT(up_.Log(), ::testing::HasSubstr("-u app -p" + password));
  DaemonProcess client({"--no-defaults", "-h127.0.0.1", "-P" + std::to_string(mysql), "-uapp",
                        "-p" + password, "--batch", "-e",
                        "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); "
                        "INSERT INTO shop.t VALUES (1), (2); SELECT COUNT(*) FROM shop.t"},
                       "/usr/bin/mariadb");
  ASSERT_EQ(client.WaitExit(30s), std::optional<int>(0)) << client.Log();
  EXPECT_THAT(client.Log(), ::testing::HasSubstr("COUNT(*)\n2\n"));
  // The manager has a primary and a replica following it.
  const uint16_t manager = up_.WaitForListening("db");
  EXPECT_TRUE(Eventually(
      [&] {
        const auto topology =
            nlohmann::json::parse(testing::HttpGet(manager, "/v1/db/topology").body);
        return topology["replicas"].size() == 1;
      },
      30s));
}

TEST_F(UpTest, TheBlockStoreServesANewVolumeOverNbd) {
  const uint16_t nbd = up_.WaitForListening("nbd");
  DaemonProcess create({"volume", "--data", data_.path().string(), "create", "v1", "--size", "64M",
                        "--redundancy", "replica:3"});
  ASSERT_EQ(create.WaitExit(30s), std::optional<int>(0)) << create.Log();
  DaemonProcess info({"--size", "nbd://127.0.0.1:" + std::to_string(nbd) + "/v1"},
                     "/usr/bin/nbdinfo");
  ASSERT_EQ(info.WaitExit(30s), std::optional<int>(0)) << info.Log();
  EXPECT_EQ(info.Log(), "67108864\n");
}

TEST_F(UpTest, MemccapablePassesThroughTheGateway) {
  testing::ExpectMemccapablePasses(client_port_);
}

// The gateway's http listener routes by Host: backup.localhost to the backup center's
// API; another host gets 404, the master's API among them (it takes only the cluster's
// certificates).
TEST_F(UpTest, TheHttpListenerRoutesByHostToTheBackupCenter) {
  const uint16_t http = up_.WaitForListening("http");
  // `up` wrote the admin token of its master for its owner only.
  const std::filesystem::path token_file = data_.path() / "admin.token";
  EXPECT_EQ(std::filesystem::status(token_file).permissions() & std::filesystem::perms::mask,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string token;
  std::ifstream(token_file) >> token;
  std::string authorization = "Authorization: Bearer " + token + "\r\n";
  auto get = [&](const std::string& host, const std::string& path) {
    LoopbackClient client(http);
    client.Send("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + authorization +
                "Connection: close\r\n\r\n");
    return testing::ParseHttpResponse(client.ReadUntilClosed());
  };
  // The backup center starts after the gateway: its server comes up once checked.
  EXPECT_TRUE(Eventually([&] { return get("backup.localhost", "/v1/backup").status == 200; }, 10s));
  EXPECT_EQ(get("other.localhost", "/v1/cluster").status, 404);
  EXPECT_EQ(get("master.localhost", "/v1/cluster").status, 404);
  authorization.clear();
  EXPECT_EQ(get("backup.localhost", "/v1/backup").status, 401);
}

// Every daemon of `up` has a certificate from the CA it keeps in its data directory: the
// master's API and the cache nodes' ports take nothing else (docs/security.md).
TEST_F(UpTest, TheClusterSpeaksMutualTls) {
  const std::filesystem::path ca = data_.path() / "ca";
  EXPECT_EQ(std::filesystem::status(ca / "ca.key").permissions() & std::filesystem::perms::mask,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const uint16_t node = PortOf("g1-a");
  EXPECT_THAT(AsOperator(node)->Exchange("version\r\n", "\r\n"), ::testing::StartsWith("VERSION"));
  LoopbackClient plaintext(node);
  plaintext.Send("version\r\n");
  EXPECT_EQ(plaintext.ReadUntilClosed(), "");
  // Without a certificate the handshake fails (TLS 1.3: at the first read).
  testing::TlsClient anonymous(node, ca / "ca.crt", std::nullopt);
  EXPECT_EQ(anonymous.Exchange("version\r\n", "\r\n"), "");
  std::ifstream url_file(data_.path() / "master.url");
  std::string master_url;
  url_file >> master_url;
  EXPECT_THAT(master_url, ::testing::StartsWith("https://"));
  const std::string master = master_url.substr(std::string("https://").size());
  DaemonProcess s_client(
      {"s_client", "-connect", master, "-CAfile", (ca / "ca.crt").string(), "-cert",
       (ca / "issued" / "operator.crt").string(), "-key", (ca / "issued" / "operator.key").string(),
       "-verify_return_error", "-brief"},
      "/usr/bin/openssl");
  s_client.WaitExit(10s);
  EXPECT_THAT(s_client.Log(), ::testing::HasSubstr("Verification: OK")) << s_client.Log();
  EXPECT_THAT(s_client.Log(), ::testing::HasSubstr("CN = master")) << s_client.Log();
}

// The children hold a token of scope operate, not the admin token: enough to register,
// follow the map and flush a tenant, not to make credentials.
TEST_F(UpTest, ChildrenHoldAnOperateTokenNotTheAdminOne) {
  const std::filesystem::path daemons = data_.path() / "daemons.token";
  EXPECT_EQ(std::filesystem::status(daemons).permissions() & std::filesystem::perms::mask,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  DaemonProcess list({"token", "list", "--data", data_.path().string()});
  ASSERT_EQ(list.WaitExit(10s), 0) << list.Log();
  EXPECT_THAT(list.Log(), ::testing::ContainsRegex("operate .*trellis-up-daemons"));
  DaemonProcess create({"token", "create", "--scope", "read", "--name", "x", "--data",
                        data_.path().string(), "--token-file", daemons.string()});
  const std::optional<int> refused = create.WaitExit(10s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(WEXITSTATUS(*refused), 77) << create.Log();
}

TEST_F(UpTest, AKilledChildIsStartedAgainAndCtrlCStopsThemAll) {
  nlohmann::json children = Status()["children"];
  // The master, 2 groups x 2 cache nodes, 2 access nodes, the gateway, the backup center,
  // TSSD's three storage nodes and NBD server, CDB's manager and proxy.
  ASSERT_EQ(children.size(), 15u);
  EXPECT_EQ(children[7]["name"], "gateway");
  EXPECT_EQ(children[8]["name"], "backup-center");
  EXPECT_EQ(children[9]["name"], "blockd-1");
  EXPECT_EQ(children[12]["name"], "nbd");
  EXPECT_EQ(children[13]["name"], "db");
  EXPECT_EQ(children[14]["name"], "dbproxy");
  const pid_t killed = children[1]["pid"];
  const std::string name = children[1]["name"];
  ASSERT_EQ(kill(killed, SIGKILL), 0);
  EXPECT_TRUE(Eventually(
      [&] {
        const nlohmann::json child = Status()["children"][1];
        return child["restarts"] == 1 && child["pid"] != killed && child["pid"] > 0;
      },
      5s))
      << Status().dump();
  ASSERT_TRUE(testing::WaitForPort(PortOf(name))) << name << " did not listen again";
  EXPECT_THAT(AsOperator(PortOf(name))->Exchange("version\r\n", "\r\n"),
              ::testing::StartsWith("VERSION"));

  std::vector<pid_t> pids;
  const nlohmann::json status_now = Status();
  for (const nlohmann::json& child : status_now["children"]) {
    pids.push_back(child["pid"]);
  }
  // And the MariaDB servers CDB's manager runs.
  const nlohmann::json db =
      nlohmann::json::parse(testing::HttpGet(up_.WaitForListening("db"), "/v1/status").body);
  ASSERT_EQ(db["db"]["servers"].size(), 2u);
  for (const nlohmann::json& server : db["db"]["servers"]) {
    pids.push_back(server["pid"]);
  }
  up_.Signal(SIGINT);
  const std::optional<int> status = up_.WaitExit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 0) << up_.Log();
  for (pid_t pid : pids) {
    EXPECT_NE(kill(pid, 0), 0) << "child " << pid << " outlived trellis up";
  }
}

}  // namespace
}  // namespace trellis
