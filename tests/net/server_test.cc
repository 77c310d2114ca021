#include "net/server.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "testing/loopback_client.h"

namespace trellis::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::LoopbackClient;

// A line protocol: echoes each line; "slow" answers "done" after 300 ms (an in-flight
// request that a drain must let finish).
asio::awaitable<void> EchoLines(Connection& connection) {
  while (co_await connection.ReadMore()) {
    for (;;) {
      const std::string_view input = connection.input();
      const size_t newline = input.find('\n');
      if (newline == std::string_view::npos) {
        break;
      }
      const std::string line(input.substr(0, newline));
      connection.Consume(newline + 1);
      if (line == "slow") {
        asio::steady_timer timer(co_await asio::this_coro::executor, 300ms);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        co_await connection.Write("done\n");
      } else {
        co_await connection.Write(line + "\n");
      }
    }
  }
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(size_t max_connections, std::chrono::milliseconds idle_timeout) {
    ServerOptions options;
    options.name = "test";
    options.listen = {asio::ip::make_address("127.0.0.1"), 0};
    options.max_connections = max_connections;
    options.idle_timeout = idle_timeout;
    options.overload_reply = "ERROR Too many open connections\r\n";
    auto server = Server::Start(pool_, options, EchoLines, metrics_);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(server).value();
    pool_.Start();
    port_ = server_->local_endpoint().port();
  }

  void TearDown() override {
    if (server_) {
      server_->Drain(0ms);
    }
    pool_.Stop();
  }

  // Waits, with a deadline, until the server counts `n` open connections.
  bool WaitForConnections(size_t n) {
    return testing::Eventually([&] { return server_->connection_count() == n; }, 5s);
  }

  base::Registry metrics_;
  ShardPool pool_{2};
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST_F(ServerTest, EchoesOnEveryShard) {
  StartServer(100, 0ms);
  std::vector<std::unique_ptr<LoopbackClient>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<LoopbackClient>(port_));
    ASSERT_TRUE(clients.back()->Send("hello " + std::to_string(i) + "\n"));
  }
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(clients[i]->ReadUntil("\n"), "hello " + std::to_string(i) + "\n");
  }
  EXPECT_EQ(server_->connection_count(), 8u);
}

TEST_F(ServerTest, ConnectionCapRefusesTheExtraConnectionWithAReply) {
  StartServer(2, 0ms);
  LoopbackClient first(port_);
  auto second = std::make_unique<LoopbackClient>(port_);
  ASSERT_TRUE(first.Send("a\n"));
  ASSERT_TRUE(second->Send("b\n"));
  ASSERT_EQ(first.ReadUntil("\n"), "a\n");
  ASSERT_EQ(second->ReadUntil("\n"), "b\n");

  LoopbackClient third(port_);
  EXPECT_EQ(third.ReadUntilClosed(), "ERROR Too many open connections\r\n");
  EXPECT_EQ(
      metrics_.GetCounter("trellis_connections_rejected_total", "", {{"server", "test"}}).Value(),
      1u);

  second.reset();  // Closing one frees a place.
  ASSERT_TRUE(WaitForConnections(1));
  LoopbackClient fourth(port_);
  ASSERT_TRUE(fourth.Send("d\n"));
  EXPECT_EQ(fourth.ReadUntil("\n"), "d\n");
}

TEST_F(ServerTest, IdleTimeoutClosesQuietConnectionsOnly) {
  StartServer(100, 200ms);
  LoopbackClient quiet(port_);
  LoopbackClient busy(port_);
  const auto start = std::chrono::steady_clock::now();
  // The busy client talks every 50 ms for 600 ms: three idle timeouts' worth.
  while (std::chrono::steady_clock::now() - start < 600ms) {
    ASSERT_TRUE(busy.Send("ping\n"));
    ASSERT_EQ(busy.ReadUntil("\n"), "ping\n");
    std::this_thread::sleep_for(50ms);  // Paces the busy client; waits for nothing.
  }
  EXPECT_TRUE(quiet.WaitClosed(2s));
  ASSERT_TRUE(busy.Send("still here\n"));
  EXPECT_EQ(busy.ReadUntil("\n"), "still here\n");
  EXPECT_GE(metrics_.GetCounter("trellis_connections_idle_closed_total", "", {{"server", "test"}})
                .Value(),
            1u);
}

TEST_F(ServerTest, DrainClosesIdleConnectionsAndFinishesInFlightRequests) {
  StartServer(100, 0ms);
  LoopbackClient idle(port_);
  LoopbackClient working(port_);
  ASSERT_TRUE(idle.Send("x\n"));
  ASSERT_EQ(idle.ReadUntil("\n"), "x\n");
  ASSERT_TRUE(working.Send("slow\n"));
  ASSERT_TRUE(WaitForConnections(2));

  auto drained = std::async(std::launch::async, [&] { server_->Drain(5s); });
  EXPECT_TRUE(idle.WaitClosed(2s));
  EXPECT_EQ(working.ReadUntil("\n"), "done\n");
  EXPECT_TRUE(working.WaitClosed(2s));
  ASSERT_EQ(drained.wait_for(5s), std::future_status::ready);
  EXPECT_THROW(LoopbackClient late(port_), std::runtime_error);
}

TEST_F(ServerTest, DrainDeadlineClosesConnectionsStuckMidRequest) {
  StartServer(100, 0ms);
  LoopbackClient partial(port_);
  ASSERT_TRUE(partial.Send("no newline yet"));
  ASSERT_TRUE(WaitForConnections(1));
  // Without its deadline the drain would wait for the request forever.
  auto drained = std::async(std::launch::async, [&] { server_->Drain(200ms); });
  ASSERT_EQ(drained.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(partial.WaitClosed(2s));
  EXPECT_EQ(server_->connection_count(), 0u);
}

TEST_F(ServerTest, BindingAnAddressInUseFails) {
  ServerOptions options;
  options.name = "second";
  ShardPool other(1);
  // SO_REUSEPORT lets sockets of one user share a port, so take a port held without it.
  asio::io_context io;
  asio::ip::tcp::acceptor holder(io, {asio::ip::make_address("127.0.0.1"), 0});
  options.listen = holder.local_endpoint();
  auto server = Server::Start(other, options, EchoLines, metrics_);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().message.find("cannot listen on 127.0.0.1:"), std::string::npos);
}

}  // namespace
}  // namespace trellis::net
