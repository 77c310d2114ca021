// http::Server and http::Client over real sockets on 127.0.0.1: JSON errors both ways,
// keep-alive, limits, pipelining, the connection cap, client timeouts, and a drain that
// cancels handlers still waiting at its deadline.
#include "http/server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/client.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"

namespace trellis::http {
namespace {

namespace asio = boost::asio;
using beast_http::verb;
using nlohmann::json;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using trellis::testing::Eventually;
using trellis::testing::LoopbackClient;
using trellis::testing::ParseHttpResponse;

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() {
    router_->Add(verb::get, "/v1/nodes/{address}", http::Scope::kRead,
                 [](const Request& request) -> asio::awaitable<Response> {
                   if (request.Param("address") != "known:1") {
                     co_return Response::Error(
                         base::NotFound("no node " + std::string(request.Param("address"))));
                   }
                   co_return Response::Json({{"address", "known:1"}, {"role", "main"}});
                 });
    router_->Add(verb::post, "/v1/groups", http::Scope::kOperate,
                 [](const Request& request) -> asio::awaitable<Response> {
                   base::Result<json> body = request.JsonBody();
                   if (!body) {
                     co_return Response::Error(body.error());
                   }
                   co_return Response::Json({{"name", (*body)["name"]}}, 201);
                 });
    router_->Add(verb::get, "/echo", http::Scope::kRead,
                 [](const Request& request) -> asio::awaitable<Response> {
                   co_return Response::Text(std::string(request.Query("x").value_or("")) + "\n");
                 });
    router_->Add(verb::get, "/throw", http::Scope::kRead,
                 [](const Request&) -> asio::awaitable<Response> {
                   throw std::runtime_error("a bug");
                   co_return Response();
                 });
    // A long-poll that waits a minute and ignores why its wait ended.
    router_->Add(verb::get, "/poll", http::Scope::kRead,
                 [this](const Request&) -> asio::awaitable<Response> {
                   ++polls_started_;
                   asio::steady_timer timer(co_await asio::this_coro::executor, 60s);
                   co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                   ++polls_finished_;
                   co_return Response::Text("late\n");
                 });
    // A handler that waits again and again, whatever each wait says.
    router_->Add(verb::get, "/stubborn", http::Scope::kRead,
                 [this](const Request&) -> asio::awaitable<Response> {
                   struct Ended {
                     std::atomic<bool>& flag;
                     ~Ended() { flag = true; }
                   } ended{stubborn_ended_};
                   ++polls_started_;
                   asio::steady_timer timer(co_await asio::this_coro::executor);
                   for (;;) {
                     timer.expires_after(60s);
                     co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                   }
                 });
  }

  void StartServer(ServerOptions options = {}) {
    options.name = "test";
    options.listen = {asio::ip::make_address("127.0.0.1"), 0};
    auto server = Server::Start(pool_, options, router_, metrics_);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(server).value();
    pool_.Start();
    port_ = server_->local_endpoint().port();
    url_ = "http://127.0.0.1:" + std::to_string(port_) + "/";
  }

  void TearDown() override {
    if (server_) {
      server_->Drain(0ms);
    }
    pool_.Stop();
  }

  uint64_t Accepted() {
    return metrics_.GetCounter("trellis_connections_accepted_total", "", {{"server", "test"}})
        .Value();
  }

  // Drains with `timeout` on another thread and waits for it to return. A drain that
  // never returns would hang the test binary in TearDown, so it ends the binary instead.
  void DrainMustReturn(std::chrono::milliseconds timeout) {
    auto drained = std::async(std::launch::async, [&] { server_->Drain(timeout); });
    if (!Eventually([&] { return drained.wait_for(0s) == std::future_status::ready; }, 20s)) {
      std::fprintf(stderr, "FATAL: Drain(%lld ms) has not returned after 20 s\n",
                   static_cast<long long>(timeout.count()));
      std::_Exit(1);
    }
  }

  std::shared_ptr<Router> router_ = std::make_shared<Router>();
  base::Registry metrics_;
  net::ShardPool pool_{2};
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::string url_;
  std::atomic<int> polls_started_{0};
  std::atomic<int> polls_finished_{0};
  std::atomic<bool> stubborn_ended_{false};
};

// Runs `call` with a client of the test server on a private io_context. (The checks stay
// outside the coroutines, on the test thread.)
template <typename T>
T WithClient(const std::string& url, std::function<asio::awaitable<T>(Client& client)> call) {
  return RunBlocking<T>([&](asio::any_io_executor executor) -> asio::awaitable<T> {
    base::Result<Client> client = Client::ForUrl(executor, url);
    co_return co_await call(*client);
  });
}

TEST_F(HttpServerTest, JsonErrorsComeBackAsErrorsWithTheirCode) {
  StartServer();
  using Reply = base::Result<json>;
  const auto [node, missing, created, no_route, not_json] =
      WithClient<std::tuple<Reply, Reply, Reply, Reply, Reply>>(
          url_,
          [](Client& client) -> asio::awaitable<std::tuple<Reply, Reply, Reply, Reply, Reply>> {
            auto node = co_await CallJson(client, verb::get, "/v1/nodes/known:1", json(), 5s);
            auto missing = co_await CallJson(client, verb::get, "/v1/nodes/other:2", json(), 5s);
            const json group = {{"name", "g1"}};
            auto created = co_await CallJson(client, verb::post, "/v1/groups", group, 5s);
            auto no_route = co_await CallJson(client, verb::get, "/nowhere", json(), 5s);
            auto not_json = co_await CallJson(client, verb::get, "/echo?x=abc", json(), 5s);
            co_return std::tuple(node, missing, created, no_route, not_json);
          });
  ASSERT_TRUE(node.ok()) << node.error().message;
  EXPECT_EQ((*node)["role"], "main");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message, "no node other:2");
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(*created, json({{"name", "g1"}}));
  ASSERT_FALSE(no_route.ok());
  EXPECT_EQ(no_route.error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(no_route.error().message, "no route for /nowhere");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.error().code, base::ErrorCode::kInternal);

  const base::Result<Response> bad = WithClient<base::Result<Response>>(
      url_, [](Client& client) -> asio::awaitable<base::Result<Response>> {
        co_return co_await client.Call(verb::post, "/v1/groups", "{not json", 5s);
      });
  ASSERT_TRUE(bad.ok()) << bad.error().message;
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->content_type, "application/json");
  EXPECT_EQ(json::parse(bad->body)["code"], "invalid_argument");
}

TEST_F(HttpServerTest, ClientReusesAKeptAliveConnection) {
  StartServer();
  const std::vector<base::Result<Response>> responses =
      WithClient<std::vector<base::Result<Response>>>(
          url_, [](Client& client) -> asio::awaitable<std::vector<base::Result<Response>>> {
            std::vector<base::Result<Response>> responses;
            for (int i = 0; i < 3; ++i) {
              responses.push_back(
                  co_await client.Call(verb::get, "/echo?x=" + std::to_string(i), "", 5s));
            }
            co_return responses;
          });
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(responses[i].ok()) << responses[i].error().message;
    EXPECT_EQ(responses[i]->body, std::to_string(i) + "\n");
  }
  EXPECT_EQ(Accepted(), 1u);
}

TEST_F(HttpServerTest, ClientReconnectsWhenTheServerClosedAnIdleConnection) {
  ServerOptions options;
  options.idle_timeout = 40ms;
  StartServer(options);
  const auto [first, closed, again] =
      WithClient<std::tuple<base::Result<Response>, bool, base::Result<Response>>>(
          "127.0.0.1:" + std::to_string(port_),
          [&](Client& client)
              -> asio::awaitable<std::tuple<base::Result<Response>, bool, base::Result<Response>>> {
            auto first = co_await client.Call(verb::get, "/echo?x=a", "", 5s);
            const bool closed = Eventually([&] { return server_->connection_count() == 0; }, 5s);
            auto again = co_await client.Call(verb::get, "/echo?x=b", "", 5s);
            co_return std::tuple(first, closed, again);
          });
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(closed);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->body, "b\n");
  EXPECT_EQ(Accepted(), 2u);
}

TEST_F(HttpServerTest, ClientTimesOutAgainstAServerThatNeverAnswers) {
  // Listening, so connections complete, but nothing ever reads or answers.
  asio::io_context silent_io;
  asio::ip::tcp::acceptor silent(silent_io, {asio::ip::make_address("127.0.0.1"), 0});
  const std::string address = "127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  const base::Result<Response> response =
      RunBlocking([&](asio::any_io_executor executor) -> asio::awaitable<base::Result<Response>> {
        auto client = Client::ForUrl(executor, address);
        co_return co_await client->Call(verb::get, "/v1/cluster", "", 100ms);
      });
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, base::ErrorCode::kUnavailable);
  EXPECT_THAT(response.error().message, HasSubstr(address));
  EXPECT_THAT(response.error().message, HasSubstr("no answer within 100 ms"));
}

TEST_F(HttpServerTest, ClientReportsARefusedConnectionAsUnavailable) {
  const trellis::testing::HeldPort held;  // Bound, never listening: connecting is refused.
  const uint16_t port = held.port();
  const base::Result<json> reply =
      RunBlocking([&](asio::any_io_executor executor) -> asio::awaitable<base::Result<json>> {
        auto client = Client::ForUrl(executor, "127.0.0.1:" + std::to_string(port));
        co_return co_await CallJson(*client, verb::get, "/", json(), 5s);
      });
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, base::ErrorCode::kUnavailable);
  EXPECT_THAT(reply.error().message, HasSubstr("127.0.0.1:" + std::to_string(port)));
}

TEST(ClientTest, ForUrlAcceptsHostPortWithOrWithoutAScheme) {
  asio::io_context io;
  for (const char* url :
       {"http://127.0.0.1:80", "127.0.0.1:80", "http://127.0.0.1:80//", "https://127.0.0.1:80"}) {
    auto client = Client::ForUrl(io.get_executor(), url);
    ASSERT_TRUE(client.ok()) << url;
    EXPECT_EQ(client->address(), "127.0.0.1:80");
  }
  for (const char* url :
       {"http://127.0.0.1:80/v1", "127.0.0.1", "http://", "https://", "ftp://h:1", "h:port"}) {
    auto client = Client::ForUrl(io.get_executor(), url);
    ASSERT_FALSE(client.ok()) << url;
    EXPECT_EQ(client.error().code, base::ErrorCode::kInvalidArgument);
  }
}

TEST_F(HttpServerTest, BadInputGetsItsStatusAndTheConnectionCloses) {
  ServerOptions options;
  options.body_limit = 16;
  options.header_limit = 1024;
  StartServer(options);
  {
    LoopbackClient client(port_);
    client.Send("POST /v1/groups HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" +
                std::string(100, 'a'));
    const auto response = ParseHttpResponse(client.ReadUntilClosed());
    EXPECT_EQ(response.status, 413);
    EXPECT_EQ(json::parse(response.body)["code"], "resource_exhausted");
  }
  {
    LoopbackClient client(port_);
    client.Send("GET /echo HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
    EXPECT_EQ(ParseHttpResponse(client.ReadUntilClosed()).status, 431);
  }
  {
    LoopbackClient client(port_);
    client.Send("NOT HTTP\r\n\r\n");
    EXPECT_EQ(ParseHttpResponse(client.ReadUntilClosed()).status, 400);
  }
  {
    LoopbackClient client(port_);
    client.Send("GET /a%zz HTTP/1.1\r\n\r\n");
    EXPECT_EQ(ParseHttpResponse(client.ReadUntilClosed()).status, 400);
  }
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  LoopbackClient client(port_);
  client.Send(
      "GET /echo?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /v1/nodes/known:1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /echo?x=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string all = client.ReadUntilClosed();
  const size_t first = all.find("\r\n\r\n1\n");
  const size_t second = all.find("\"role\":\"main\"");
  const size_t third = all.find("\r\n\r\n3\n");
  ASSERT_NE(third, std::string::npos) << all;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_TRUE(all.ends_with("Connection: close\r\n\r\n3\n")) << all;
}

TEST_F(HttpServerTest, AHandlerThatThrowsGets500) {
  StartServer();
  LoopbackClient client(port_);
  client.Send("GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto response = ParseHttpResponse(client.ReadUntilClosed());
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(json::parse(response.body)["code"], "internal");
  EXPECT_EQ(
      metrics_.GetCounter("trellis_connection_errors_total", "", {{"server", "test"}}).Value(), 1u);
}

TEST_F(HttpServerTest, OverTheConnectionCapGets503AndClose) {
  ServerOptions options;
  options.max_connections = 1;
  StartServer(options);
  LoopbackClient first(port_);
  first.Send("GET /echo?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_THAT(first.ReadUntil("\r\n\r\n1\n"), HasSubstr("200 OK"));

  LoopbackClient second(port_);
  const auto refused = ParseHttpResponse(second.ReadUntilClosed());
  EXPECT_EQ(refused.status, 503);
  EXPECT_THAT(refused.headers, HasSubstr("Connection: close"));
  EXPECT_EQ(json::parse(refused.body)["error"], "too many open connections");
  EXPECT_EQ(
      metrics_.GetCounter("trellis_connections_rejected_total", "", {{"server", "test"}}).Value(),
      1u);
}

TEST_F(HttpServerTest, DrainCancelsALongPollAtItsDeadline) {
  StartServer();
  LoopbackClient poller(port_);
  poller.Send("GET /poll HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(Eventually([&] { return polls_started_ == 1; }, 5s));

  DrainMustReturn(200ms);
  EXPECT_EQ(polls_finished_, 1) << "the handler goes on after its wait was cancelled";
  EXPECT_TRUE(poller.WaitClosed());
}

TEST_F(HttpServerTest, DrainEndsAHandlerThatIgnoresCancellation) {
  StartServer();
  LoopbackClient poller(port_);
  poller.Send("GET /stubborn HTTP/1.1\r\nHost: x\r\n\r\n");
  LoopbackClient idle(port_);  // Between requests: closed at once.
  idle.Send("GET /echo?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_THAT(idle.ReadUntil("\r\n\r\n1\n"), HasSubstr("200 OK"));
  ASSERT_TRUE(Eventually([&] { return polls_started_ == 1; }, 5s));

  DrainMustReturn(200ms);
  EXPECT_TRUE(stubborn_ended_);
  EXPECT_TRUE(poller.WaitClosed());
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_EQ(server_->connection_count(), 0u);
}

}  // namespace
}  // namespace trellis::http
