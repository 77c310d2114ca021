#include "access/proxy_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "access/access_shard.h"
#include "access/route_table.h"
#include "net/server.h"
#include "net/shard_pool.h"
#include "proto/memcache/version.h"
#include "testing/daemon_process.h"
#include "testing/loopback_client.h"

namespace trellis::access {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::LoopbackClient;

asio::ip::tcp::endpoint Loopback(uint16_t port) {
  return {asio::ip::make_address("127.0.0.1"), port};
}

std::vector<std::string> CacheArgs() {
  return {"cache", "--listen", "127.0.0.1:0", "--threads", "1", "--memory", "16"};
}

// ServeAccess on a one-shard server of its own, in front of two real cache nodes: group
// a and group b, each half of the slots.
class ProxySessionTest : public ::testing::Test {
 protected:
  ProxySessionTest() : node_a_(CacheArgs()), node_b_(CacheArgs()), pool_(1) {
    port_a_ = node_a_.WaitForListening("cache");
    port_b_ = node_b_.WaitForListening("cache");
    // Long enough that a node the test pauses is not given up on.
    BackendOptions options;
    options.timeout = 30s;
    shard_ = std::make_unique<AccessShard>(pool_.context(0).get_executor(), options,
                                           registry_.GetCounter("retries", ""));
    shard_->SetTable(Table(true));
    options_.max_item_size = 1024;
    net::ServerOptions server_options;
    server_options.name = "access";
    server_options.listen = Loopback(0);
    auto server = net::Server::Start(
        pool_, server_options,
        [this](net::Connection& connection) { return ServeAccess(connection, *shard_, options_); },
        registry_);
    if (!server) {
      throw std::runtime_error(server.error().message);
    }
    server_ = std::move(server).value();
    pool_.Start();
  }

  ~ProxySessionTest() override {
    server_->Drain(1s);
    pool_.RunOnEveryShard([this](int) { shard_->Close(); });
    pool_.Stop();
  }

  std::shared_ptr<const RouteTable> Table(bool b_has_main) const {
    GroupRoute b{"b", std::nullopt, {}};
    if (b_has_main) {
      b.main = Loopback(port_b_);
    }
    return std::make_shared<const RouteTable>(
        RouteTable::Even({GroupRoute{"a", Loopback(port_a_), {}}, b}, 1));
  }

  // Every slot in the dual step of a move from group a to group b.
  std::shared_ptr<const RouteTable> EverySlotMovingFromAToB() const {
    return std::make_shared<const RouteTable>(RouteTable::OfMap(
        {GroupRoute{"a", Loopback(port_a_), {}}, GroupRoute{"b", Loopback(port_b_), {}}},
        std::vector<uint16_t>(RouteTable::kSlots, 1), std::vector<uint16_t>(RouteTable::kSlots, 0),
        2));
  }

  // The `n`th key (from 0) that the table sends to `group` (0: a, 1: b).
  std::string KeyOf(size_t group, int n) const {
    const std::shared_ptr<const RouteTable> table = Table(true);
    for (int i = 0;; ++i) {
      const std::string key = "key" + std::to_string(i);
      if (table->GroupIndexOf(key) == group && n-- == 0) {
        return key;
      }
    }
  }

  uint16_t proxy_port() const { return server_->local_endpoint().port(); }

  DaemonProcess node_a_;
  DaemonProcess node_b_;
  uint16_t port_a_ = 0;
  uint16_t port_b_ = 0;
  base::Registry registry_;
  net::ShardPool pool_;
  std::unique_ptr<AccessShard> shard_;
  ProxyOptions options_;
  std::unique_ptr<net::Server> server_;
};

TEST_F(ProxySessionTest, RepliesComeInRequestOrderWhicheverGroupAnswersFirst) {
  const std::string a = KeyOf(0, 0);
  const std::string b = KeyOf(1, 0);
  LoopbackClient client(proxy_port());
  client.Send("set " + a + " 0 0 1\r\nA\r\nset " + b + " 0 0 1\r\nB\r\n");
  ASSERT_EQ(client.ReadUntil("STORED\r\nSTORED\r\n"), "STORED\r\nSTORED\r\n");

  // Group a's node is stopped: b's reply arrives first, and waits for a's.
  ASSERT_TRUE(node_a_.Pause());
  client.Send("get " + a + "\r\nget " + b + "\r\nversion\r\nmn\r\n");
  EXPECT_TRUE(testing::StatsShow(port_b_, "STAT get_hits 1", 10s));
  node_a_.Signal(SIGCONT);
  EXPECT_EQ(client.ReadUntil("MN\r\n"), "VALUE " + a + " 0 1\r\nA\r\nEND\r\nVALUE " + b +
                                            " 0 1\r\nB\r\nEND\r\n" +
                                            std::string(proto::memcache::kVersionReply) + "MN\r\n");
}

TEST_F(ProxySessionTest, SplitsAMultiGetAcrossGroupsAndKeepsTheKeysOrder) {
  const std::string a1 = KeyOf(0, 0), a2 = KeyOf(0, 1);
  const std::string b1 = KeyOf(1, 0), b2 = KeyOf(1, 1);
  LoopbackClient client(proxy_port());
  client.Send("set " + a1 + " 1 0 2\r\na1\r\nset " + a2 + " 2 0 2\r\na2\r\nset " + b1 +
              " 3 0 2\r\nb1\r\nset " + b2 + " 4 0 2\r\nb2\r\n");
  ASSERT_EQ(client.ReadUntil("STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n"),
            "STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n");

  client.Send("get " + b1 + " " + a1 + " missing " + b2 + " " + a2 + " " + a1 + "\r\n");
  EXPECT_EQ(client.ReadUntil("END\r\n"), "VALUE " + b1 + " 3 2\r\nb1\r\nVALUE " + a1 +
                                             " 1 2\r\na1\r\nVALUE " + b2 + " 4 2\r\nb2\r\nVALUE " +
                                             a2 + " 2 2\r\na2\r\nVALUE " + a1 +
                                             " 1 2\r\na1\r\nEND\r\n");
  client.Send("gets " + b1 + " " + a1 + "\r\n");
  EXPECT_THAT(client.ReadUntil("END\r\n"),
              ::testing::MatchesRegex("VALUE " + b1 + " 3 2 [0-9]+\r\nb1\r\nVALUE " + a1 +
                                      " 1 2 [0-9]+\r\na1\r\nEND\r\n"));

  // Each key went to its own group's node only.
  LoopbackClient direct_a(port_a_);
  direct_a.Send("get " + a1 + " " + b1 + "\r\n");
  EXPECT_EQ(direct_a.ReadUntil("END\r\n"), "VALUE " + a1 + " 1 2\r\na1\r\nEND\r\n");
}

TEST_F(ProxySessionTest, QuietRequestsAnswerOnlyWhatMemcachedWould) {
  const std::string a = KeyOf(0, 0), a2 = KeyOf(0, 1);
  const std::string b = KeyOf(1, 0);
  LoopbackClient client(proxy_port());
  // What memcached 1.6.18 answers to the same pipeline: noreply hides even errors, q hides
  // hits of ms and md and misses of mg, not NF.
  client.Send("set " + a + " 0 0 1 noreply\r\nx\r\nset " + b + " 0 0 1 noreply\r\ny\r\nincr " + a +
              " 1 noreply\r\nmg " + a + " v q\r\nmg missing v q\r\nmd " + b + " q\r\nmd " + b +
              " q\r\nms " + a2 + " 2 q\r\nhi\r\nma missing q\r\nget " + a2 + "\r\nmn\r\n");
  EXPECT_EQ(client.ReadUntil("MN\r\n"),
            "VA 1\r\nx\r\nNF\r\nNF\r\nVALUE " + a2 + " 0 2\r\nhi\r\nEND\r\nMN\r\n");
}

TEST_F(ProxySessionTest, AGroupWithoutAMainFailsOnlyItsOwnRequests) {
  const std::string a = KeyOf(0, 0);
  const std::string b = KeyOf(1, 0);
  pool_.RunOnEveryShard([this](int) { shard_->SetTable(Table(false)); });
  LoopbackClient client(proxy_port());
  client.Send("set " + a + " 0 0 1\r\nA\r\nget " + b + "\r\nset " + b +
              " 0 0 1 noreply\r\nB\r\nget " + a + " " + b + "\r\nmn\r\n");
  EXPECT_EQ(client.ReadUntil("MN\r\n"),
            "STORED\r\nSERVER_ERROR group b has no main\r\n"
            "SERVER_ERROR group b has no main\r\nMN\r\n");
}

// A delete of a key whose slot moves reaches the source first: while it waits there
// (a's node is stopped), the target still holds its newer copy and reads find it. The
// other way round, a read between the two deletes missed on b and found a's older copy.
TEST_F(ProxySessionTest, ADeleteWhileTheSlotMovesRemovesTheSourcesCopyFirst) {
  for (auto [port, value] : {std::pair{port_a_, "old"}, std::pair{port_b_, "new"}}) {
    LoopbackClient direct(port);
    direct.Send(std::string("set k 0 0 3\r\n") + value + "\r\n");
    ASSERT_EQ(direct.ReadUntil("\r\n"), "STORED\r\n");
  }
  pool_.RunOnEveryShard([this](int) { shard_->SetTable(EverySlotMovingFromAToB()); });
  ASSERT_TRUE(node_a_.Pause());
  LoopbackClient deleting(proxy_port());
  deleting.Send("delete k\r\n");
  LoopbackClient reading(proxy_port());
  reading.Send("get k\r\n");
  EXPECT_EQ(reading.ReadUntil("END\r\n"), "VALUE k 0 3\r\nnew\r\nEND\r\n");
  node_a_.Signal(SIGCONT);
  EXPECT_EQ(deleting.ReadUntil("\r\n"), "DELETED\r\n");
  reading.Send("get k\r\n");
  EXPECT_EQ(reading.ReadUntil("END\r\n"), "END\r\n");
}

TEST_F(ProxySessionTest, FlushAllReachesEveryGroup) {
  const std::string a = KeyOf(0, 0);
  const std::string b = KeyOf(1, 0);
  LoopbackClient client(proxy_port());
  client.Send("set " + a + " 0 0 1\r\nA\r\nset " + b + " 0 0 1\r\nB\r\nflush_all\r\nget " + a +
              " " + b + "\r\n");
  EXPECT_EQ(client.ReadUntil("END\r\n"), "STORED\r\nSTORED\r\nOK\r\nEND\r\n");
  for (uint16_t port : {port_a_, port_b_}) {
    LoopbackClient direct(port);
    direct.Send("get " + a + " " + b + "\r\n");
    EXPECT_EQ(direct.ReadUntil("END\r\n"), "END\r\n");
  }
}

TEST_F(ProxySessionTest, ARefusedSetRemovesTheOldValueAsTheNodeWould) {
  const std::string a = KeyOf(0, 0);
  LoopbackClient client(proxy_port());
  client.Send("set " + a + " 0 0 3\r\nold\r\nset " + a + " 0 0 2000\r\n" + std::string(2000, 'v') +
              "\r\nget " + a + "\r\n");
  EXPECT_EQ(client.ReadUntil("END\r\n"),
            "STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n");
}

TEST_F(ProxySessionTest, AnswersVersionAndItsOwnStats) {
  LoopbackClient client(proxy_port());
  client.Send("version\r\nstats\r\n");
  const std::string reply = client.ReadUntil("END\r\n");
  EXPECT_THAT(reply, ::testing::StartsWith(std::string(proto::memcache::kVersionReply)));
  EXPECT_THAT(reply, ::testing::HasSubstr("STAT version " +
                                          std::string(proto::memcache::kServerVersion) + "\r\n"));
  EXPECT_THAT(reply, ::testing::HasSubstr("STAT groups 2\r\n"));
}

}  // namespace
}  // namespace trellis::access
