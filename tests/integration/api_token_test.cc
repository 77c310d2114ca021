// Tokens on the HTTP APIs with real processes (docs/security.md): a master that requires
// them, tokens made and revoked with `trellis token`, and a gateway and a cache node whose
// own APIs ask that master.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "http/client.h"
#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"
#include "testing/nginx.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::TokenRequest;

// Sends `count` GETs of /v1/cluster, one after the other on one kept-alive connection,
// each with a token of the right form that nobody issued; returns how many got 401.
int FailedLogins(uint16_t port, int count) {
  namespace asio = boost::asio;
  return http::RunBlocking([&](asio::any_io_executor executor) -> asio::awaitable<int> {
    auto client = http::Client::ForUrl(executor, "127.0.0.1:" + std::to_string(port));
    int refused = 0;
    for (int i = 0; i < count; ++i) {
      client->set_token(fmt::format("trellis_{:016x}_{}", i, std::string(64, 'f')));
      const base::Result<http::Response> response =
          co_await client->Call(http::beast_http::verb::get, "/v1/cluster", "", 5s);
      refused += response && response->status == 401 ? 1 : 0;
    }
    co_return refused;
  });
}

class ApiTokenTest : public ::testing::Test {
 protected:
  ApiTokenTest() { StartMaster(); }

  void StartMaster() {
    master_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "master", "--listen", master_hold_.address(), "--data", (dir_.path() / "master").string(),
        "--admin-token-file", admin_file_.string()});
    master_port_ = master_->WaitForListening("master");
    master_admin_port_ = master_->WaitForListening("admin");
  }

  std::string MasterUrl() const { return "http://127.0.0.1:" + std::to_string(master_port_); }

  std::string AdminToken() const {
    std::ifstream in(admin_file_);
    std::string token;
    in >> token;
    return token;
  }

  // `trellis token ARGS... --master URL --token-file ADMIN`: its exit code and output.
  std::pair<int, std::string> TokenCommand(std::vector<std::string> args) {
    args.insert(args.begin(), "token");
    args.insert(args.end(), {"--master", MasterUrl(), "--token-file", admin_file_.string()});
    DaemonProcess command(args);
    const std::optional<int> status = command.WaitExit(30s);
    EXPECT_TRUE(status.has_value()) << command.Log();
    return {status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, command.Log()};
  }

  // A new token of `scope`, as `trellis token create` prints it.
  std::string CreateToken(const std::string& scope) {
    const auto [exit_code, output] = TokenCommand({"create", "--scope", scope, "--name", scope});
    EXPECT_EQ(exit_code, 0) << output;
    std::smatch token;
    EXPECT_TRUE(std::regex_search(output, token, std::regex("trellis_[0-9a-f]{16}_[0-9a-f]{64}")))
        << output;
    return token.str();
  }

  testing::TempDir dir_;
  const fs::path admin_file_ = dir_.path() / "admin.token";
  testing::HeldPort master_hold_;
  std::unique_ptr<DaemonProcess> master_;
  uint16_t master_port_ = 0;
  uint16_t master_admin_port_ = 0;
};

TEST_F(ApiTokenTest, TheMasterWritesItsAdminTokenForItsOwnerOnly) {
  ASSERT_TRUE(fs::exists(admin_file_));
  EXPECT_EQ(fs::status(admin_file_).permissions() & fs::perms::mask,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_THAT(AdminToken(), ::testing::MatchesRegex("trellis_[0-9a-f]{16}_[0-9a-f]{64}"));
  const std::string database = (dir_.path() / "master" / "master.db").string();
  std::ifstream in(database, std::ios::binary);
  const std::string stored((std::istreambuf_iterator<char>(in)), {});
  const std::string secret = AdminToken().substr(25);
  EXPECT_EQ(stored.find(secret), std::string::npos) << "the store keeps hashes only";
  EXPECT_EQ(master_->Log().find(secret), std::string::npos) << "no secret in the log";
}

TEST_F(ApiTokenTest, NoTokenIs401AReadTokenOnAWriteIs403AnAdminTokenSucceeds) {
  const testing::HttpResponse anonymous =
      TokenRequest(master_port_, "", "POST", "/v1/groups", R"({"name": "g1"})");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_THAT(anonymous.headers, HasSubstr("WWW-Authenticate: Bearer"));
  EXPECT_EQ(TokenRequest(master_port_, "", "GET", "/v1/cluster", "").status, 401);
  EXPECT_EQ(TokenRequest(master_port_, "trellis_0000", "GET", "/v1/cluster", "").status, 401);
  EXPECT_EQ(TokenRequest(master_port_, "Basic", "GET", "/v1/cluster", "").status, 401);

  const std::string read = CreateToken("read");
  EXPECT_EQ(TokenRequest(master_port_, read, "GET", "/v1/cluster", "").status, 200);
  const testing::HttpResponse refused =
      TokenRequest(master_port_, read, "POST", "/v1/groups", R"({"name": "g1"})");
  EXPECT_EQ(refused.status, 403);
  EXPECT_THAT(refused.body, HasSubstr("needs a token of scope operate"));
  EXPECT_EQ(TokenRequest(master_port_, read, "GET", "/v1/tokens", "").status, 403);

  const std::string operate = CreateToken("operate");
  EXPECT_EQ(TokenRequest(master_port_, operate, "POST", "/v1/groups", R"({"name": "g1"})").status,
            201);
  EXPECT_EQ(TokenRequest(master_port_, operate, "POST", "/v1/tokens",
                         R"({"name": "x", "scope": "admin"})")
                .status,
            403)
      << "an operate token mints no tokens";
  EXPECT_EQ(
      TokenRequest(master_port_, AdminToken(), "POST", "/v1/groups", R"({"name": "g2"})").status,
      201);

  // The master's admin endpoint listens on loopback: health, status and metrics are open
  // there (docs/security.md).
  EXPECT_EQ(TokenRequest(master_admin_port_, "", "GET", "/healthz", "").status, 200);
  EXPECT_EQ(TokenRequest(master_admin_port_, "", "GET", "/v1/status", "").status, 200);
  const std::string metrics = TokenRequest(master_admin_port_, "", "GET", "/metrics", "").body;
  EXPECT_THAT(metrics, HasSubstr("trellis_auth_failures_total{reason=\"missing\"} 2"));
  EXPECT_THAT(metrics, HasSubstr("trellis_auth_failures_total{reason=\"malformed\"} 2"));
}

TEST_F(ApiTokenTest, ARevokedTokenIsRefusedAndTokensOutliveARestart) {
  const std::string read = CreateToken("read");
  const std::string other = CreateToken("read");
  const std::string id = read.substr(8, 16);
  const auto [listed, listing] = TokenCommand({"list"});
  EXPECT_EQ(listed, 0);
  EXPECT_THAT(listing, HasSubstr(id));
  EXPECT_EQ(listing.find(read.substr(25)), std::string::npos) << "a list shows no secret";

  EXPECT_EQ(TokenCommand({"revoke", id}).first, 0);
  EXPECT_EQ(TokenRequest(master_port_, read, "GET", "/v1/cluster", "").status, 401);
  EXPECT_EQ(TokenCommand({"revoke", id}).first, 66) << "revoked twice: not found";

  const std::string admin = AdminToken();
  master_.reset();
  StartMaster();
  EXPECT_EQ(AdminToken(), admin) << "the file is kept, not rewritten";
  EXPECT_EQ(TokenRequest(master_port_, admin, "GET", "/v1/tokens", "").status, 200);
  EXPECT_EQ(TokenRequest(master_port_, other, "GET", "/v1/cluster", "").status, 200);
  EXPECT_EQ(TokenRequest(master_port_, read, "GET", "/v1/cluster", "").status, 401);
}

// 10,000 failed logins from two clients at once: each is refused and counted, a client
// with a good token is served all the while, the log does not grow by a line each, and
// (under ASan) nothing leaks.
TEST_F(ApiTokenTest, TenThousandFailedLoginsAreRefusedCountedAndHurtNoOne) {
  const std::string read = CreateToken("read");
  std::atomic<int> refused{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> attackers;
  for (int i = 0; i < 2; ++i) {
    attackers.emplace_back([&] { refused += FailedLogins(master_port_, 5000); });
  }
  int served = 0;
  int failed = 0;
  std::thread honest([&] {
    while (!done.load()) {
      const int status = TokenRequest(master_port_, read, "GET", "/v1/cluster", "").status;
      (status == 200 ? served : failed)++;
    }
  });
  for (std::thread& attacker : attackers) {
    attacker.join();
  }
  done = true;
  honest.join();
  EXPECT_EQ(refused.load(), 10000);
  EXPECT_GT(served, 0);
  EXPECT_EQ(failed, 0);
  const std::string metrics = TokenRequest(master_admin_port_, "", "GET", "/metrics", "").body;
  EXPECT_THAT(metrics, HasSubstr("trellis_auth_failures_total{reason=\"unknown\"} 10000"));
  const std::string log = master_->Log();
  EXPECT_LT(std::count(log.begin(), log.end(), '\n'), 200) << "refusals are logged in summary";
  EXPECT_THAT(log, HasSubstr("refused token"));
}

TEST_F(ApiTokenTest, TheGatewaysRuntimeApiTakesTheMastersTokens) {
  testing::Nginx server("a1");
  const std::string config = (dir_.path() / "gateway.toml").string();
  std::ofstream(config) << R"([[listener]]
name = "web"
bind = "127.0.0.1:0"
kind = "http"
[[listener.route]]
pool = "a"

[[pool]]
name = "a"
servers = [")" << server.address()
                        << R"("]
)";
  DaemonProcess gateway({"gateway", "--config", config, "--master", MasterUrl()});
  const uint16_t admin = gateway.WaitForListening("admin");
  const std::string read = CreateToken("read");
  const std::string operate = CreateToken("operate");
  const std::string path = "/v1/pools/a/servers/" + server.address();
  EXPECT_EQ(TokenRequest(admin, "", "PUT", path, R"({"weight": 2})").status, 401);
  EXPECT_EQ(TokenRequest(admin, read, "PUT", path, R"({"weight": 2})").status, 403);
  EXPECT_EQ(TokenRequest(admin, read, "GET", "/v1/status", "").status, 200);
  EXPECT_EQ(TokenRequest(admin, operate, "PUT", path, R"({"weight": 2})").status, 200);
  EXPECT_EQ(TokenRequest(admin, AdminToken(), "PUT", path, R"({"weight": 1})").status, 200);
  EXPECT_EQ(TokenRequest(admin, "trellis_0123456789abcdef_" + std::string(64, '0'), "PUT", path,
                         R"({"weight": 2})")
                .status,
            401);
  EXPECT_EQ(TokenRequest(admin, operate, "DELETE", "/v1/pools/nope", "").status, 404)
      << "past the token, the API answers as before";

  // Revoked at the master: refused here once the gateway's memory of it runs out (5 s).
  EXPECT_EQ(TokenCommand({"revoke", operate.substr(8, 16)}).first, 0);
  EXPECT_TRUE(Eventually(
      [&] { return TokenRequest(admin, operate, "PUT", path, R"({"weight": 2})").status == 401; },
      15s, 200ms));
}

TEST_F(ApiTokenTest, NodesJoinWithATokenFileAndAreRefusedWithout) {
  const std::string operate = CreateToken("operate");
  const std::string token_file = (dir_.path() / "node.token").string();
  std::ofstream(token_file) << operate << "\n";
  EXPECT_EQ(TokenRequest(master_port_, operate, "POST", "/v1/groups", R"({"name": "g1"})").status,
            201);
  testing::HeldPort refused_port;
  DaemonProcess refused({"cache", "--listen", refused_port.address(), "--threads", "1", "--master",
                         MasterUrl(), "--group", "g1"});
  refused.WaitForListening("cache");
  testing::HeldPort node_port;
  DaemonProcess node({"cache", "--listen", node_port.address(), "--threads", "1", "--master",
                      MasterUrl(), "--group", "g1", "--token-file", token_file});
  node.WaitForListening("cache");
  EXPECT_TRUE(Eventually(
      [&] {
        const std::string map = TokenRequest(master_port_, operate, "GET", "/v1/cluster", "").body;
        return map.find(node_port.address()) != std::string::npos;
      },
      10s));
  EXPECT_TRUE(
      Eventually([&] { return refused.Log().find("needs a token") != std::string::npos; }, 10s))
      << refused.Log();
  const std::string map = TokenRequest(master_port_, operate, "GET", "/v1/cluster", "").body;
  EXPECT_EQ(map.find(refused_port.address()), std::string::npos);
}

}  // namespace
}  // namespace trellis
