// Tenants on the cache with real processes (docs/security.md): a master that keeps them,
// two groups, and an access node started with --auth that lets each client in as one
// tenant and keeps it to its own keys and rate.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "master/client/cluster_state.h"
#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::LoopbackClient;
using ::testing::Not;
using testing::TokenRequest;

// A client's whole reply to `request`: sent with a trailing mn, read up to its MN.
std::string Ask(LoopbackClient& client, const std::string& request) {
  client.Send(request + "mn\r\n");
  std::string reply = client.ReadUntil("MN\r\n");
  EXPECT_TRUE(reply.ends_with("MN\r\n")) << request << " -> " << reply;
  return reply.substr(0, reply.size() - 4);
}

class TenantTest : public ::testing::Test {
 protected:
  TenantTest() {
    master_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "master", "--listen", master_hold_.address(), "--data", (dir_.path() / "master").string(),
        "--admin-token-file", admin_file_.string()});
    master_port_ = master_->WaitForListening("master");
    for (const std::string group : {"g1", "g2"}) {
      EXPECT_EQ(Master("POST", "/v1/groups", R"({"name": ")" + group + R"("})").status, 201);
      node_holds_.emplace_back();
      nodes_.push_back(std::make_unique<DaemonProcess>(std::vector<std::string>{
          "cache", "--listen", node_holds_.back().address(), "--threads", "1", "--master",
          MasterUrl(), "--group", group, "--token-file", admin_file_.string()}));
      nodes_.back()->WaitForListening("cache");
    }
    EXPECT_TRUE(Eventually(
        [&] {
          auto map = master::ParseClusterState(
              nlohmann::json::parse(Master("GET", "/v1/cluster", "").body, nullptr, false));
          return map && map->groups.size() == 2 && map->groups[0].main && map->groups[1].main;
        },
        10s));
    alice_ = CreateTenant(R"({"name": "alice"})");
    bob_ = CreateTenant(R"({"name": "bob"})");
    carol_ = CreateTenant(R"({"name": "carol", "ops_per_second": 100})");
    access_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"access", "--listen", "127.0.0.1:0", "--threads", "2", "--auth",
                                 "--master", MasterUrl(), "--token-file", admin_file_.string()});
    access_port_ = access_->WaitForListening("access");
    access_admin_port_ = access_->WaitForListening("admin");
  }

  std::string MasterUrl() const { return "http://127.0.0.1:" + std::to_string(master_port_); }

  testing::HttpResponse Master(const std::string& method, const std::string& path,
                               const std::string& body) {
    std::ifstream in(admin_file_);
    std::string token;
    in >> token;
    return TokenRequest(master_port_, token, method, path, body);
  }

  master::IssuedTenant CreateTenant(const std::string& request) {
    const testing::HttpResponse response = Master("POST", "/v1/tenants", request);
    EXPECT_EQ(response.status, 201) << response.body;
    auto issued = master::ParseIssuedTenant(nlohmann::json::parse(response.body, nullptr, false));
    EXPECT_TRUE(issued.ok()) << response.body;
    return issued.ok() ? *issued : master::IssuedTenant{};
  }

  // A client logged in as `tenant`.
  std::unique_ptr<LoopbackClient> LogIn(const master::IssuedTenant& tenant) {
    auto client = std::make_unique<LoopbackClient>(access_port_);
    const std::string credentials = tenant.info.name + " " + tenant.password;
    EXPECT_EQ(Ask(*client, "set auth 0 0 " + std::to_string(credentials.size()) + "\r\n" +
                               credentials + "\r\n"),
              "STORED\r\n");
    return client;
  }

  testing::TempDir dir_;
  const fs::path admin_file_ = dir_.path() / "admin.token";
  testing::HeldPort master_hold_;
  std::unique_ptr<DaemonProcess> master_;
  uint16_t master_port_ = 0;
  std::vector<testing::HeldPort> node_holds_;
  std::vector<std::unique_ptr<DaemonProcess>> nodes_;
  master::IssuedTenant alice_;
  master::IssuedTenant bob_;
  master::IssuedTenant carol_;
  std::unique_ptr<DaemonProcess> access_;
  uint16_t access_port_ = 0;
  uint16_t access_admin_port_ = 0;
};

TEST_F(TenantTest, BeforeLoggingInEveryCommandGetsMemcachedsErrorAndNothingElse) {
  LoopbackClient client(access_port_);
  for (const std::string request :
       {"get a\r\n", "version\r\n", "stats\r\n", "mg a v\r\n", "flush_all\r\n", "delete a\r\n"}) {
    client.Send(request);
    EXPECT_EQ(client.ReadUntil("\r\n"), "CLIENT_ERROR unauthenticated\r\n") << request;
  }
  client.Send("set auth 0 0 5\r\nalice\r\n");
  EXPECT_EQ(client.ReadUntil("\r\n"), "CLIENT_ERROR bad authentication token format\r\n");
  client.Send("set auth 0 0 11\r\nalice wrong\r\n");
  EXPECT_EQ(client.ReadUntil("\r\n"), "CLIENT_ERROR authentication failure\r\n");
  const std::string bob_with_alices = "bob " + alice_.password;
  client.Send("set auth 0 0 " + std::to_string(bob_with_alices.size()) + "\r\n" + bob_with_alices +
              "\r\n");
  EXPECT_EQ(client.ReadUntil("\r\n"), "CLIENT_ERROR authentication failure\r\n");
  client.Send("get a\r\n");
  EXPECT_EQ(client.ReadUntil("\r\n"), "CLIENT_ERROR unauthenticated\r\n");
  const std::string metrics = testing::HttpGet(access_admin_port_, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr(R"(trellis_tenant_logins_total{result="failure"} 2)"));
  EXPECT_THAT(access_->Log(), Not(HasSubstr(alice_.password)));
}

// 10,000 failed logins from two clients of another address: after the address's first 20
// failures they are refused unchecked, every one is counted, and everyone else is served.
TEST_F(TenantTest, TenThousandFailedLoginsAreThrottledCountedAndHurtNoOne) {
  auto alice = LogIn(alice_);
  ASSERT_EQ(Ask(*alice, "set a 0 0 1\r\nx\r\n"), "STORED\r\n");
  auto wrong_attempts = [](int count) {
    std::string attempts;
    for (int i = 0; i < count; ++i) {
      const std::string wrong = "alice " + std::to_string(i);
      attempts += "set auth 0 0 " + std::to_string(wrong.size()) + "\r\n" + wrong + "\r\n";
    }
    return attempts;
  };
  // Two clients send 5,000 wrong passwords each, pipelined, then a malformed line.
  const std::string attempts = wrong_attempts(5000);
  LoopbackClient first(access_port_, "127.0.0.2");
  LoopbackClient second(access_port_, "127.0.0.2");
  first.Send(attempts + "set k 0 0 -1\r\n");
  second.Send(attempts);
  // Each attempt is answered: a failure, or (once the address has failed too often) a
  // refusal that says when to try again.
  const std::regex answer(
      "CLIENT_ERROR (authentication failure|too many failed logins from this address; try "
      "again in [0-9]+ s)\r\n");
  auto count_answers = [&](const std::string& replies) {
    return std::distance(std::sregex_iterator(replies.begin(), replies.end(), answer),
                         std::sregex_iterator());
  };
  const std::string first_replies =
      first.ReadUntil("CLIENT_ERROR bad command line format\r\n", 30s);
  EXPECT_EQ(count_answers(first_replies), 5000) << first_replies.substr(0, 300);
  EXPECT_EQ(Ask(*alice, "get a\r\n"), "VALUE a 0 1\r\nx\r\nEND\r\n");
  std::string second_replies;
  EXPECT_TRUE(Eventually(
      [&] {
        second_replies += second.ReadUntil("\r\n", 1s);
        return count_answers(second_replies) == 5000;
      },
      30s));
  const std::string metrics = testing::HttpGet(access_admin_port_, "/metrics").body;
  std::smatch failed;
  std::smatch throttled;
  ASSERT_TRUE(std::regex_search(
      metrics, failed, std::regex(R"(trellis_tenant_logins_total\{result="failure"\} ([0-9]+))")));
  ASSERT_TRUE(std::regex_search(
      metrics, throttled,
      std::regex(R"(trellis_tenant_logins_total\{result="throttled"\} ([0-9]+))")));
  EXPECT_EQ(std::stoi(failed[1]) + std::stoi(throttled[1]), 10000);
  // 20 at once, then one a second for as long as this took.
  EXPECT_GE(std::stoi(failed[1]), 20);
  EXPECT_LT(std::stoi(failed[1]), 60);
  EXPECT_THAT(metrics, HasSubstr(R"(trellis_tenant_logins_total{result="success"} 1)"));
  // Right after more wrong ones (whatever came back meanwhile), the right password from
  // that address waits too; from this one it gets in.
  LoopbackClient late(access_port_, "127.0.0.2");
  const std::string credentials = "alice " + alice_.password;
  late.Send(wrong_attempts(30) + "set auth 0 0 " + std::to_string(credentials.size()) + "\r\n" +
            credentials + "\r\n");
  std::string late_replies;
  EXPECT_TRUE(Eventually(
      [&] {
        late_replies += late.ReadUntil("\r\n", 1s);
        return count_answers(late_replies) == 31;
      },
      10s))
      << late_replies;
  EXPECT_THAT(late_replies.substr(late_replies.rfind("CLIENT_ERROR")),
              HasSubstr("too many failed logins"));
  EXPECT_NE(LogIn(alice_), nullptr);
}

TEST_F(TenantTest, NeitherTenantReachesTheOthersKeysWithAnyCommand) {
  auto alice = LogIn(alice_);
  auto bob = LogIn(bob_);
  // Alice's keys, spread over both groups.
  std::vector<std::string> keys;
  for (int i = 0; i < 20; ++i) {
    keys.push_back("k" + std::to_string(i));
    ASSERT_EQ(
        Ask(*alice, "set " + keys.back() + " 7 0 2\r\n" + "a" + std::to_string(i % 10) + "\r\n"),
        "STORED\r\n");
  }
  ASSERT_EQ(Ask(*alice, "set n 0 0 2\r\n10\r\n"), "STORED\r\n");
  std::string all_keys;
  for (const std::string& key : keys) {
    all_keys += " " + key;
  }
  // Bob, on the same key names, finds nothing and changes nothing of Alice's.
  const std::pair<std::string, std::string> attempts[] = {
      {"get" + all_keys + "\r\n", "END\r\n"},
      {"gets k1 k2\r\n", "END\r\n"},
      {"gat 100 k1\r\n", "END\r\n"},
      {"gats 100 k1 k2\r\n", "END\r\n"},
      {"touch k1 100\r\n", "NOT_FOUND\r\n"},
      {"delete k1\r\n", "NOT_FOUND\r\n"},
      {"incr n 5\r\n", "NOT_FOUND\r\n"},
      {"decr n 5\r\n", "NOT_FOUND\r\n"},
      {"append k1 0 0 1\r\nb\r\n", "NOT_STORED\r\n"},
      {"prepend k1 0 0 1\r\nb\r\n", "NOT_STORED\r\n"},
      {"replace k1 0 0 1\r\nb\r\n", "NOT_STORED\r\n"},
      {"cas k1 0 0 1 1\r\nb\r\n", "NOT_FOUND\r\n"},
      {"mg k1 v k\r\n", "EN kk1\r\n"},
      {"md k2\r\n", "NF\r\n"},
      {"ma n\r\n", "NF\r\n"},
      {"me k1\r\n", "EN\r\n"},
      {"ms k3 1 MR\r\nb\r\n", "NS\r\n"},
      {"ms k4 1 MA\r\nb\r\n", "NS\r\n"},
      {"flush_all\r\n", "OK\r\n"},
  };
  for (const auto& [request, expected] : attempts) {
    EXPECT_EQ(Ask(*bob, request), expected) << request;
  }
  // Bob's own keys of the same names are his alone.
  EXPECT_EQ(Ask(*bob, "add k1 0 0 3\r\nbob\r\n"), "STORED\r\n");
  EXPECT_EQ(Ask(*bob, "get k1\r\n"), "VALUE k1 0 3\r\nbob\r\nEND\r\n");
  // Alice's are as she wrote them, and replies name her keys without the prefix.
  std::string expected;
  for (size_t i = 0; i < keys.size(); ++i) {
    expected += "VALUE " + keys[i] + " 7 2\r\na" + std::to_string(i % 10) + "\r\n";
  }
  EXPECT_EQ(Ask(*alice, "get" + all_keys + "\r\n"), expected + "END\r\n");
  EXPECT_EQ(Ask(*alice, "mg k1 k v\r\n"), "VA 2 kk1\r\na1\r\n");
  EXPECT_THAT(Ask(*alice, "me k1\r\n"), ::testing::StartsWith("ME k1 "));
  EXPECT_EQ(Ask(*alice, "incr n 1\r\n"), "11\r\n");
}

TEST_F(TenantTest, ATenantsFlushAllEmptiesItsOwnKeysOnlyAndWhatFollowsSeesItDone) {
  auto alice = LogIn(alice_);
  auto bob = LogIn(bob_);
  ASSERT_EQ(Ask(*alice, "set a 0 0 5\r\nalice\r\n"), "STORED\r\n");
  ASSERT_EQ(Ask(*bob, "set a 0 0 3\r\nbob\r\nset b 0 0 3\r\nbob\r\n"), "STORED\r\nSTORED\r\n");
  // Pipelined: what follows the flush_all is handled after it, as memcached does.
  EXPECT_EQ(Ask(*bob, "flush_all\r\nget a b\r\nset a 0 0 1\r\ny\r\nget a\r\n"),
            "OK\r\nEND\r\nSTORED\r\nVALUE a 0 1\r\ny\r\nEND\r\n");
  EXPECT_EQ(Ask(*alice, "get a\r\n"), "VALUE a 0 5\r\nalice\r\nEND\r\n");
  // A new connection of Bob's, on the other shard maybe, sees the flush too.
  auto bob_again = LogIn(bob_);
  EXPECT_EQ(Ask(*bob_again, "get a b\r\n"), "VALUE a 0 1\r\ny\r\nEND\r\n");
  EXPECT_EQ(Ask(*bob, "flush_all 10\r\n"), "CLIENT_ERROR a tenant's flush_all takes no delay\r\n");
}

TEST_F(TenantTest, ATenantOverItsRateGetsCleanErrorsAndTheOtherIsServed) {
  auto alice = LogIn(alice_);
  auto carol = LogIn(carol_);
  // Carol may send 100 a second with a tenth of a second's burst: 500 at once are mostly
  // refused, each with one line naming the limit.
  std::string burst;
  for (int i = 0; i < 500; ++i) {
    burst += "get x\r\n";
  }
  const std::string replies = Ask(*carol, burst);
  size_t refused = 0;
  size_t served = 0;
  for (size_t pos = 0; pos < replies.size();) {
    const size_t end = replies.find("\r\n", pos) + 2;
    const std::string line = replies.substr(pos, end - pos);
    if (line == "END\r\n") {
      ++served;
    } else {
      EXPECT_EQ(line, "SERVER_ERROR tenant carol is over its limit of 100 requests per second\r\n");
      ++refused;
    }
    pos = end;
  }
  EXPECT_EQ(served + refused, 500u);
  EXPECT_GT(refused, 400u);
  EXPECT_GE(served, 1u);
  // Alice has no limit.
  std::string alice_burst;
  for (int i = 0; i < 500; ++i) {
    alice_burst += "get x\r\n";
  }
  std::string all_end;
  for (int i = 0; i < 500; ++i) {
    all_end += "END\r\n";
  }
  EXPECT_EQ(Ask(*alice, alice_burst), all_end);
  const std::string metrics = testing::HttpGet(access_admin_port_, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr(R"(trellis_tenant_refused_total{tenant="carol",reason="rate"} )" +
                                 std::to_string(refused)));
  EXPECT_THAT(metrics, HasSubstr(R"(trellis_tenant_requests_total{tenant="alice"} )"));
  EXPECT_THAT(metrics, HasSubstr(R"(trellis_tenant_bytes_total{tenant="alice",direction="in"} )" +
                                 std::to_string(500 * std::string("get x\r\n").size())));
  EXPECT_THAT(metrics, HasSubstr(R"(trellis_tenant_bytes_total{tenant="alice",direction="out"} )" +
                                 std::to_string(500 * std::string("END\r\n").size())));
}

// A tenant with a 1 MiB quota writes 4 MiB: its oldest items are evicted to keep it
// within the quota, and nobody else's.
TEST_F(TenantTest, ATenantOverItsMemoryQuotaEvictsOnlyItsOwnItems) {
  const master::IssuedTenant dave = CreateTenant(R"({"name": "dave", "memory_bytes": 1048576})");
  // Each node holds its group's share of it (by the slots it serves) once its map has dave.
  auto node_metrics = [&](size_t node) {
    return testing::HttpGet(nodes_[node]->WaitForListening("admin"), "/metrics").body;
  };
  auto limits = [&] {
    uint64_t sum = 0;
    for (size_t node = 0; node < nodes_.size(); ++node) {
      std::smatch limit;
      const std::string metrics = node_metrics(node);
      if (std::regex_search(
              metrics, limit,
              std::regex(R"(trellis_cache_tenant_memory_limit_bytes\{tenant="dave"\} ([0-9]+))"))) {
        sum += std::stoull(limit[1]);
      }
    }
    return sum;
  };
  EXPECT_TRUE(Eventually([&] { return limits() >= (1u << 20) - 1; }, 10s)) << limits();
  EXPECT_LE(limits(), 1u << 20);
  const std::string value(1000, 'v');
  auto write = [&](LoopbackClient& client, const std::string& name, int count) {
    for (int first = 0; first < count; first += 100) {
      std::string sets;
      for (int i = first; i < first + 100; ++i) {
        sets += "set " + name + std::to_string(i) + " 0 0 1000 noreply\r\n" + value + "\r\n";
      }
      EXPECT_EQ(Ask(client, sets), "");
    }
  };
  // How many of NAME0 .. NAME<count - 1> are there.
  auto count_present = [&](LoopbackClient& client, const std::string& name, int count) {
    int present = 0;
    for (int i = 0; i < count; ++i) {
      present += Ask(client, "mg " + name + std::to_string(i) + "\r\n") == "HD\r\n" ? 1 : 0;
    }
    return present;
  };
  const auto alice = LogIn(alice_);
  write(*alice, "keep-", 2000);  // 2 MB, no quota.
  const auto client = LogIn(dave);
  write(*client, "k", 4000);  // 4 MB into 1 MiB.
  EXPECT_EQ(count_present(*alice, "keep-", 2000), 2000);
  const int kept = count_present(*client, "k", 4000);
  // 1 MiB of items of 1 KiB and a bit: fewer than a thousand, and the newest.
  EXPECT_GT(kept, 600);
  EXPECT_LT(kept, 1000);
  EXPECT_EQ(Ask(*client, "mg k3999\r\n"), "HD\r\n");
  EXPECT_EQ(Ask(*client, "mg k0\r\n"), "EN\r\n");
  const std::regex evicted(R"(trellis_cache_tenant_evictions_total\{tenant="dave"\} [1-9])");
  EXPECT_TRUE(Eventually(
      [&] {
        return std::regex_search(node_metrics(0), evicted) ||
               std::regex_search(node_metrics(1), evicted);
      },
      10s))
      << node_metrics(0) << node_metrics(1);
}

TEST_F(TenantTest, TrellisTenantMakesTenantsWithAnAdminTokenOnly) {
  auto tenant = [&](std::vector<std::string> args, const std::string& token_file) {
    args.insert(args.begin(), "tenant");
    args.insert(args.end(), {"--master", MasterUrl(), "--token-file", token_file});
    DaemonProcess command(args);
    const std::optional<int> status = command.WaitExit(30s);
    EXPECT_TRUE(status && WIFEXITED(*status)) << command.Log();
    return std::pair{status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, command.Log()};
  };
  const auto [created, output] =
      tenant({"create", "dave", "--ops-per-second", "50"}, admin_file_.string());
  ASSERT_EQ(created, 0) << output;
  std::smatch password;
  ASSERT_TRUE(std::regex_search(output, password, std::regex("password +([0-9a-f]{64})")))
      << output;
  EXPECT_NE(tenant({"create", "dave"}, admin_file_.string()).first, 0);
  const auto [listed, list] = tenant({"list"}, admin_file_.string());
  EXPECT_EQ(listed, 0);
  EXPECT_THAT(list, HasSubstr("dave"));
  EXPECT_THAT(list, Not(HasSubstr(password[1].str())));
  // A read token may list, not create.
  const testing::HttpResponse read =
      Master("POST", "/v1/tokens", R"({"name": "viewer", "scope": "read"})");
  auto viewer = master::ParseIssuedToken(nlohmann::json::parse(read.body, nullptr, false));
  ASSERT_TRUE(viewer.ok()) << read.body;
  const fs::path viewer_file = dir_.path() / "viewer.token";
  std::ofstream(viewer_file) << viewer->token;
  EXPECT_EQ(tenant({"create", "eve"}, viewer_file.string()).first, 77);
  EXPECT_EQ(tenant({"list"}, viewer_file.string()).first, 0);
  // Dave can log in once the access node has the map with him.
  master::IssuedTenant dave;
  dave.info.name = "dave";
  dave.password = password[1].str();
  const std::string credentials = "dave " + dave.password;
  EXPECT_TRUE(Eventually(
      [&] {
        LoopbackClient client(access_port_);
        client.Send("set auth 0 0 " + std::to_string(credentials.size()) + "\r\n" + credentials +
                    "\r\n");
        return client.ReadUntil("\r\n") == "STORED\r\n";
      },
      5s));
}

TEST_F(TenantTest, ADeletedTenantsClientsAreLoggedOut) {
  auto alice = LogIn(alice_);
  ASSERT_EQ(Ask(*alice, "set a 0 0 1\r\nx\r\n"), "STORED\r\n");
  ASSERT_EQ(Master("DELETE", "/v1/tenants/alice", "").status, 204);
  // Replies of one line either way, until the access node has the map without Alice.
  EXPECT_TRUE(Eventually(
      [&] {
        alice->Send("mg a\r\n");
        return alice->ReadUntil("\r\n") == "CLIENT_ERROR unauthenticated\r\n";
      },
      5s));
}

}  // namespace
}  // namespace trellis
