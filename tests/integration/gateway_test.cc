// The gateway (docs/gateway.md) with real processes: `trellis gateway` in front of real
// nginx servers (http pools) and a real memcached (a tcp pool), on loopback ports the
// test holds. Routing by Host and path prefix, 404 for an unknown host, the forwarding
// fields, round-robin over a pool, a pool whose only server died answering 503 at once,
// the server taking traffic again once its checks pass, keep-alive through the gateway
// with curl, and memcached's protocol through a tcp listener.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"
#include "testing/nginx.h"
#include "testing/tcp_relay.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::HeldPort;
using testing::LoopbackClient;
using testing::Nginx;

struct Reply {
  int status = 0;
  std::string body;
};

// One request with `host` through the gateway at `port`, on a connection of its own.
Reply Get(uint16_t port, const std::string& host, const std::string& path) {
  LoopbackClient client(port);
  client.Send("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
  const std::string reply = client.ReadUntilClosed();
  Reply out;
  if (reply.starts_with("HTTP/1.1 ") && reply.size() >= 12) {
    out.status = std::stoi(reply.substr(9, 3));
  }
  const size_t body = reply.find("\r\n\r\n");
  out.body = body == std::string::npos ? "" : reply.substr(body + 4);
  return out;
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memcached_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"-l", "127.0.0.1", "-p", std::to_string(memcached_port_.port()),
                                 "-U", "0", "-m", "16", "-u", geteuid() == 0 ? "root" : ""},
        "/usr/bin/memcached", memcached_port_);
    ASSERT_TRUE(testing::WaitForPort(memcached_port_.port())) << memcached_->Log();
    const std::string config = (dir_.path() / "gateway.toml").string();
    std::ofstream(config) << R"([[listener]]
name = "web"
bind = "127.0.0.1:0"
kind = "http"
[[listener.route]]
host = "a.example"
path = "/"
pool = "a"
[[listener.route]]
host = "b.example"
path = "/"
pool = "b"
[[listener.route]]
host = "b.example"
path = "/api"
pool = "api"

[[listener]]
name = "cache"
bind = "127.0.0.1:0"
kind = "tcp"
pool = "memcached"

[[listener]]
name = "guarded"
bind = "127.0.0.1:0"
kind = "http"
limits = { first_byte_timeout = "1s", head_timeout = "1s" }
[[listener.route]]
pool = "a"

[[listener]]
name = "limited"
bind = "127.0.0.1:0"
kind = "http"
limits = { per_source_connections = 3 }
[[listener.route]]
pool = "a"

[[listener]]
name = "impatient"
bind = "127.0.0.1:0"
kind = "http"
limits = { server_timeout = "300ms" }
[[listener.route]]
pool = "silent"

[[listener]]
name = "rated"
bind = "127.0.0.1:0"
kind = "http"
limits = { per_source_rate = 1, per_source_burst = 5 }
[[listener.route]]
pool = "a"

[[listener]]
name = "retrying"
bind = "127.0.0.1:0"
kind = "http"
[[listener.route]]
pool = "flaky"

[[pool]]
name = "flaky"
servers = ["127.0.0.1:)" << dropper_.port()
                          << R"(", ")" << a1_.address() << R"("]
[[pool]]
name = "a"
servers = [")" << a1_.address()
                          << R"(", ")" << a2_.address() << R"("]
check = { kind = "http", path = "/healthz", interval = "200ms", rise = 2, fall = 2, timeout = "500ms" }
[[pool]]
name = "b"
servers = [")" << b_.address()
                          << R"("]
check = { kind = "http", path = "/healthz", interval = "200ms", rise = 2, fall = 2, timeout = "500ms" }
[[pool]]
name = "api"
servers = [")" << api_.address()
                          << R"("]
[[pool]]
name = "memcached"
servers = [")" << memcached_port_.address()
                          << R"("]
[[pool]]
name = "silent"
servers = ["127.0.0.1:)" << silent_.local_endpoint().port()
                          << R"("]
)";
    gateway_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"gateway", "--config", config, "--threads", "2"});
    web_port_ = gateway_->WaitForListening("web");
    cache_port_ = gateway_->WaitForListening("cache");
    guarded_port_ = gateway_->WaitForListening("guarded");
    limited_port_ = gateway_->WaitForListening("limited");
    rated_port_ = gateway_->WaitForListening("rated");
    impatient_port_ = gateway_->WaitForListening("impatient");
    retrying_port_ = gateway_->WaitForListening("retrying");
  }

  testing::TempDir dir_;
  Nginx a1_{"a1"};
  Nginx a2_{"a2"};
  Nginx b_{"b"};
  Nginx api_{"api"};
  HeldPort memcached_port_;
  std::unique_ptr<DaemonProcess> memcached_;
  std::unique_ptr<DaemonProcess> gateway_;
  uint16_t web_port_ = 0;
  uint16_t cache_port_ = 0;
  uint16_t guarded_port_ = 0;    // First byte and head within 1 s.
  uint16_t limited_port_ = 0;    // 3 connections per source.
  uint16_t rated_port_ = 0;      // 5 new connections per source, then 1 a second.
  uint16_t impatient_port_ = 0;  // Routes to `silent_`, waits 300 ms for an answer.
  uint16_t retrying_port_ = 0;   // Round-robin over `dropper_`, then a1.
  // A server that takes connections (the kernel's backlog) and never answers.
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor silent_{io_, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  // A server that accepts connections and resets them (it relays to a port nobody
  // listens on).
  HeldPort nobody_;
  testing::TcpRelay dropper_{nobody_.port()};
};

TEST_F(GatewayTest, HostsAndPathPrefixesRouteToTheirPools) {
  EXPECT_THAT(Get(web_port_, "b.example", "/").body, ::testing::StartsWith("b / "));
  EXPECT_THAT(Get(web_port_, "B.Example:80", "/x?y=1").body, ::testing::StartsWith("b /x?y=1 "));
  EXPECT_THAT(Get(web_port_, "b.example", "/api/v1").body, ::testing::StartsWith("api /api/v1 "));
  const Reply unknown = Get(web_port_, "c.example", "/");
  EXPECT_EQ(unknown.status, 404);
  // The server sees who asked and through what.
  const Reply forwarded = Get(web_port_, "b.example", "/");
  EXPECT_EQ(forwarded.status, 200);
  EXPECT_THAT(forwarded.body, HasSubstr("xff=127.0.0.1 via=1.1 trellis"));
}

TEST_F(GatewayTest, RoundRobinSpreadsRequestsOverThePool) {
  std::map<std::string, int> served;
  for (int i = 0; i < 8; ++i) {
    const Reply reply = Get(web_port_, "a.example", "/");
    ASSERT_EQ(reply.status, 200);
    ++served[reply.body.substr(0, reply.body.find(' '))];
  }
  EXPECT_EQ(served["a1"], 4);
  EXPECT_EQ(served["a2"], 4);
}

TEST_F(GatewayTest, APoolWithoutAServerAnswers503AndTakesTheServerBackOnceItsChecksPass) {
  ASSERT_EQ(Get(web_port_, "b.example", "/").status, 200);
  b_.Kill();
  // The first request finds it dead (and takes it out); every later one is answered at once.
  EXPECT_EQ(Get(web_port_, "b.example", "/").status, 503);
  EXPECT_EQ(Get(web_port_, "b.example", "/").status, 503);
  // The other domain is not affected.
  EXPECT_EQ(Get(web_port_, "a.example", "/").status, 200);
  b_.Start();
  EXPECT_TRUE(Eventually([&] { return Get(web_port_, "b.example", "/").status == 200; }, 10s));
}

TEST_F(GatewayTest, AServerDownIsSkippedWhileTheOtherServesThePool) {
  a1_.Kill();
  // Whatever the round-robin would have given a1 goes to a2: no request fails.
  for (int i = 0; i < 6; ++i) {
    const Reply reply = Get(web_port_, "a.example", "/");
    ASSERT_EQ(reply.status, 200);
    EXPECT_THAT(reply.body, ::testing::StartsWith("a2 "));
  }
}

TEST_F(GatewayTest, CurlKeepsItsConnectionAcrossRequests) {
  const std::string url = "http://127.0.0.1:" + std::to_string(web_port_);
  DaemonProcess curl({"-sS", "-H", "Host: a.example", url + "/one", "-H", "Host: a.example",
                      url + "/two", "-w", "%{num_connects}\\n"},
                     "/usr/bin/curl");
  const std::optional<int> status = curl.WaitExit(10s);
  ASSERT_TRUE(status.has_value());
  ASSERT_EQ(WEXITSTATUS(*status), 0) << curl.Log();
  EXPECT_THAT(curl.Log(), HasSubstr(" /one "));
  EXPECT_THAT(curl.Log(), HasSubstr(" /two "));
  // The second request reused the first one's connection: curl made one connection.
  EXPECT_THAT(curl.Log(), HasSubstr("\n0\n")) << curl.Log();
}

// nginx says "Connection: keep-alive" and "Keep-Alive: timeout=75" of its connection to
// the gateway; the client hears only what the gateway does with its own connection.
TEST_F(GatewayTest, AResponseCarriesTheGatewaysConnectionFieldsNotTheServers) {
  const std::string request = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
  LoopbackClient direct(a1_.port());
  direct.Send(request);
  ASSERT_THAT(direct.ReadUntil("proto=\n"), HasSubstr("\r\nKeep-Alive: timeout=75\r\n"));

  LoopbackClient client(web_port_);
  client.Send(request);
  const std::string kept = client.ReadUntil("proto=http\n");
  EXPECT_THAT(kept, ::testing::StartsWith("HTTP/1.1 200 "));
  EXPECT_THAT(kept, ::testing::Not(HasSubstr("Keep-Alive")));
  EXPECT_THAT(kept, ::testing::Not(HasSubstr("Connection")));
  client.Send("GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n");
  const std::string closed = client.ReadUntilClosed();
  EXPECT_THAT(closed, HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_THAT(closed, ::testing::Not(HasSubstr("keep-alive")));

  // An HTTP/1.0 client keeps its connection only if the response says so.
  LoopbackClient old(web_port_);
  for (int i = 0; i < 2; ++i) {
    old.Send("GET / HTTP/1.0\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\n");
    const std::string reply = old.ReadUntil("proto=http\n");
    EXPECT_THAT(reply, HasSubstr("\r\nConnection: keep-alive\r\n")) << "request " << i;
    EXPECT_THAT(reply, ::testing::Not(HasSubstr("Keep-Alive"))) << "request " << i;
  }
}

TEST_F(GatewayTest, MemcachedTrafficPassesThroughATcpListener) {
  LoopbackClient client(cache_port_);
  ASSERT_TRUE(client.Send("set k 5 0 5\r\nhello\r\n"));
  EXPECT_EQ(client.ReadUntil("\r\n"), "STORED\r\n");
  ASSERT_TRUE(client.Send("get k\r\n"));
  EXPECT_EQ(client.ReadUntil("END\r\n"), "VALUE k 5 5\r\nhello\r\nEND\r\n");
}

// `trellis gateway status` and the metrics say what the gateway serves and saw.
TEST_F(GatewayTest, StatusAndMetricsShowListenersPoolsServersAndResponses) {
  ASSERT_EQ(Get(web_port_, "a.example", "/").status, 200);
  ASSERT_EQ(Get(web_port_, "c.example", "/").status, 404);
  b_.Kill();
  ASSERT_EQ(Get(web_port_, "b.example", "/").status, 503);
  const uint16_t admin = gateway_->WaitForListening("admin");
  DaemonProcess status({"gateway", "status", "--admin", "127.0.0.1:" + std::to_string(admin)});
  ASSERT_EQ(status.WaitExit(10s), 0) << status.Log();
  EXPECT_THAT(status.Log(),
              HasSubstr("web              http  127.0.0.1:" + std::to_string(web_port_)));
  EXPECT_THAT(status.Log(), HasSubstr("pool b (round-robin)"));
  EXPECT_THAT(status.Log(), ::testing::ContainsRegex(b_.address() + " +1 down"));
  EXPECT_THAT(status.Log(), ::testing::ContainsRegex(a1_.address() + " +1 up"));
  EXPECT_TRUE(Eventually(
      [&] {
        const std::string metrics = testing::HttpGet(admin, "/metrics").body;
        return metrics.find(R"(trellis_gateway_responses_total{listener="web",class="2xx"} 1)") !=
                   std::string::npos &&
               metrics.find(R"(trellis_gateway_responses_total{listener="web",class="4xx"} 1)") !=
                   std::string::npos &&
               metrics.find(R"(trellis_gateway_responses_total{listener="web",class="5xx"} 1)") !=
                   std::string::npos &&
               metrics.find("trellis_gateway_server_up{pool=\"b\",server=\"" + b_.address() +
                            "\"} 0") != std::string::npos;
      },
      5s))
      << testing::HttpGet(admin, "/metrics").body;
}

// The runtime API: a server added and another drained and removed while a client sends
// requests: none fails; the file keeps the change, so a restarted gateway serves the same.
TEST_F(GatewayTest, ServersAddedAndDrainedAtRunTimeFailNoRequestAndOutliveARestart) {
  Nginx a3("a3");
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::atomic<int> sent{0};
  std::thread load([&] {
    while (!stop.load()) {
      failed += Get(web_port_, "a.example", "/").status == 200 ? 0 : 1;
      ++sent;
    }
  });
  const uint16_t admin = gateway_->WaitForListening("admin");
  auto served_by = [&](const std::string& name) {
    return Get(web_port_, "a.example", "/").body.starts_with(name + " ");
  };
  auto change = [&](const std::string& method, const std::string& server, const std::string& body) {
    return testing::HttpRequest(admin, method, "/v1/pools/a/servers/" + server, body).status;
  };
  EXPECT_EQ(change("PUT", a3.address(), R"({"weight": 1})"), 200);
  EXPECT_TRUE(Eventually([&] { return served_by("a3"); }, 5s)) << "the new server takes requests";
  EXPECT_EQ(change("PUT", a1_.address(), R"({"weight": 0})"), 200);  // Drained.
  int not_a1 = 0;
  for (int i = 0; i < 20; ++i) {
    not_a1 += served_by("a1") ? 0 : 1;
  }
  EXPECT_EQ(not_a1, 20) << "a drained server gets no new connection";
  EXPECT_EQ(change("DELETE", a1_.address(), ""), 200);
  EXPECT_EQ(change("DELETE", a1_.address(), ""), 404);
  EXPECT_EQ(change("PUT", a1_.address(), R"({"weight": "x"})"), 400);
  stop = true;
  load.join();
  EXPECT_GT(sent.load(), 0);
  EXPECT_EQ(failed.load(), 0) << "of " << sent.load() << " requests";

  gateway_->Signal(SIGTERM);
  ASSERT_TRUE(gateway_->WaitExit(10s).has_value());
  gateway_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
      "gateway", "--config", (dir_.path() / "gateway.toml").string(), "--threads", "2"});
  web_port_ = gateway_->WaitForListening("web");
  std::map<std::string, int> served;
  for (int i = 0; i < 8; ++i) {
    const Reply reply = Get(web_port_, "a.example", "/");
    ++served[reply.body.substr(0, reply.body.find(' '))];
  }
  EXPECT_EQ(served["a1"], 0);
  EXPECT_EQ(served["a2"], 4);
  EXPECT_EQ(served["a3"], 4);
}

// Reload (SIGHUP, POST /v1/reload) of an edited file: a pool's change applies under load
// with no failed request; a broken file is refused with the reason and the running
// config goes on serving.
TEST_F(GatewayTest, AReloadChangesAPoolUnderLoadAndABrokenFileIsRefused) {
  const std::filesystem::path file = dir_.path() / "gateway.toml";
  std::string text;
  {
    std::ifstream in(file);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string both = "\"" + a1_.address() + "\", \"" + a2_.address() + "\"";
  ASSERT_NE(text.find(both), std::string::npos);
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::thread load([&] {
    while (!stop.load()) {
      failed += Get(web_port_, "a.example", "/").status == 200 ? 0 : 1;
    }
  });
  // Pool a without a1.
  std::string without_a1 = text;
  without_a1.replace(without_a1.find(both), both.size(), "\"" + a2_.address() + "\"");
  std::ofstream(file, std::ios::trunc) << without_a1;
  gateway_->Signal(SIGHUP);
  EXPECT_TRUE(Eventually(
      [&] {
        for (int i = 0; i < 10; ++i) {
          if (!Get(web_port_, "a.example", "/").body.starts_with("a2 ")) {
            return false;
          }
        }
        return true;
      },
      5s))
      << "a1 still gets requests after the reload";
  // A broken file: refused, and the pool stays as it was.
  std::ofstream(file, std::ios::trunc) << "[[listener]\nname = ";
  const uint16_t admin = gateway_->WaitForListening("admin");
  const testing::HttpResponse refused = testing::HttpRequest(admin, "POST", "/v1/reload", "");
  EXPECT_EQ(refused.status, 400);
  EXPECT_THAT(refused.body, HasSubstr("line"));
  stop = true;
  load.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_THAT(Get(web_port_, "a.example", "/").body, ::testing::StartsWith("a2 "));
}

// Domains and pools through the runtime API: a pool added, a route to it and a path
// under it added, each serving at once; refusals say why; a restart keeps the rest.
TEST_F(GatewayTest, RoutesAndPoolsChangedAtRunTimeServeAtOnceAndOutliveARestart) {
  Nginx c("c");
  const uint16_t admin = gateway_->WaitForListening("admin");
  auto call = [&](const std::string& method, const std::string& path, const std::string& body) {
    return testing::HttpRequest(admin, method, path, body);
  };
  EXPECT_EQ(Get(web_port_, "c.example", "/").status, 404);
  EXPECT_EQ(call("PUT", "/v1/pools/c",
                 R"({"servers": [")" + c.address() +
                     R"("], "check": {"kind": "http", "path": "/healthz", "interval": "200ms"}})")
                .status,
            200);
  EXPECT_EQ(call("PUT", "/v1/listeners/web/routes/c.example", R"({"pool": "c"})").status, 200);
  EXPECT_THAT(Get(web_port_, "c.example", "/x").body, ::testing::StartsWith("c /x "));
  EXPECT_EQ(call("PUT", "/v1/listeners/web/routes/c.example/api", R"({"pool": "api"})").status,
            200);
  EXPECT_THAT(Get(web_port_, "c.example", "/api/1").body, ::testing::StartsWith("api /api/1 "));
  EXPECT_THAT(Get(web_port_, "c.example", "/x").body, ::testing::StartsWith("c /x "));

  // Refused, with the reason: a pool still routed to, a route to no pool, a bad pool.
  const testing::HttpResponse in_use = call("DELETE", "/v1/pools/c", "");
  EXPECT_EQ(in_use.status, 400);
  EXPECT_THAT(in_use.body, HasSubstr(R"(pool \"c\" is not defined)"));
  EXPECT_EQ(call("PUT", "/v1/listeners/web/routes/d.example", R"({"pool": "nope"})").status, 400);
  const testing::HttpResponse bad = call("PUT", "/v1/pools/d", R"({"servers": "x"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr(R"(pool \"d\": servers: expected an array)"));
  EXPECT_EQ(call("DELETE", "/v1/listeners/web/routes/c.example/nope", "").status, 404);

  EXPECT_EQ(call("DELETE", "/v1/listeners/web/routes/c.example/api", "").status, 200);
  EXPECT_THAT(Get(web_port_, "c.example", "/api/1").body, ::testing::StartsWith("c /api/1 "));

  gateway_->Signal(SIGTERM);
  ASSERT_TRUE(gateway_->WaitExit(10s).has_value());
  gateway_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
      "gateway", "--config", (dir_.path() / "gateway.toml").string(), "--threads", "2"});
  web_port_ = gateway_->WaitForListening("web");
  EXPECT_THAT(Get(web_port_, "c.example", "/api/1").body, ::testing::StartsWith("c /api/1 "));
  const uint16_t restarted = gateway_->WaitForListening("admin");
  EXPECT_EQ(
      testing::HttpRequest(restarted, "DELETE", "/v1/listeners/web/routes/c.example", "").status,
      200);
  EXPECT_EQ(testing::HttpRequest(restarted, "DELETE", "/v1/pools/c", "").status, 200);
  EXPECT_EQ(Get(web_port_, "c.example", "/").status, 404);
}

// A reload that adds a listener, removes one and reroutes a domain: a connection kept
// alive across it is not dropped, and its next request follows the new route.
TEST_F(GatewayTest, AReloadAddsAndRemovesListenersWithoutDroppingConnections) {
  const std::filesystem::path file = dir_.path() / "gateway.toml";
  std::string text;
  {
    std::ifstream in(file);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  LoopbackClient kept(web_port_);
  ASSERT_TRUE(kept.Send("GET / HTTP/1.1\r\nHost: b.example\r\n\r\n"));
  ASSERT_THAT(kept.ReadUntil("proto=http\n"), ::testing::StartsWith("HTTP/1.1 200"));

  // b.example's "/" now goes to pool api; listener "rated" goes; "extra" comes.
  const std::string b_route = "host = \"b.example\"\npath = \"/\"\npool = \"b\"";
  ASSERT_NE(text.find(b_route), std::string::npos);
  text.replace(text.find(b_route), b_route.size(),
               "host = \"b.example\"\npath = \"/\"\npool = \"api\"");
  const std::string rated = text.substr(text.find("[[listener]]\nname = \"rated\""));
  text.erase(text.find(rated), rated.find("[[pool]]"));
  text =
      "[[listener]]\nname = \"extra\"\nbind = \"127.0.0.1:0\"\nkind = \"http\"\n"
      "[[listener.route]]\npool = \"b\"\n\n" +
      text;
  std::ofstream(file, std::ios::trunc) << text;
  const uint16_t admin = gateway_->WaitForListening("admin");
  const testing::HttpResponse reloaded = testing::HttpRequest(admin, "POST", "/v1/reload", "");
  ASSERT_EQ(reloaded.status, 200) << reloaded.body;

  ASSERT_TRUE(kept.Send("GET /again HTTP/1.1\r\nHost: b.example\r\n\r\n"));
  const std::string again = kept.ReadUntil("proto=http\n");
  EXPECT_THAT(again, ::testing::StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(again, HasSubstr("api /again "));
  const uint16_t extra = gateway_->WaitForListening("extra");
  EXPECT_THAT(Get(extra, "any.example", "/").body, ::testing::StartsWith("b / "));
  EXPECT_THROW(Get(rated_port_, "a.example", "/"), std::exception) << "rated still accepts";
  EXPECT_THAT(reloaded.body, ::testing::Not(HasSubstr("\"rated\"")));
}

// A server SIGKILLed under wrk's load: the requests in flight on it at that moment may
// fail (wrk's 8 connections bound them), and a run started one check interval later
// has no error at all.
TEST_F(GatewayTest, AServerKilledUnderWrkLoadCostsOnlyTheRequestsInFlightOnIt) {
  const std::string url = "http://127.0.0.1:" + std::to_string(web_port_) + "/";
  auto wrk = [&](const std::string& seconds) {
    return std::make_unique<DaemonProcess>(
        std::vector<std::string>{"-t1", "-c8", "-d" + seconds, "-H", "Host: a.example", url},
        "/usr/bin/wrk");
  };
  auto errors = [](const std::string& log) {
    int failed = 0;
    for (const std::string key : {"Non-2xx or 3xx responses: ", "Socket errors: connect "}) {
      const size_t at = log.find(key);
      if (at != std::string::npos) {
        failed += std::stoi(log.substr(at + key.size()));
      }
    }
    const size_t socket = log.find("Socket errors: ");
    if (socket != std::string::npos) {
      // "connect C, read R, write W, timeout T": read, write and timeout count too.
      for (const std::string key : {"read ", "write ", "timeout "}) {
        const size_t at = log.find(key, socket);
        failed += at == std::string::npos ? 0 : std::stoi(log.substr(at + key.size()));
      }
    }
    return failed;
  };
  auto requests = [](const std::string& log) {
    const size_t at = log.find(" requests in ");
    return at == std::string::npos ? 0L : std::stol(log.substr(log.rfind('\n', at) + 1));
  };
  const uint16_t admin = gateway_->WaitForListening("admin");
  auto answered = [&] {
    const std::string metrics = testing::HttpGet(admin, "/metrics").body;
    const std::string key = R"(trellis_gateway_responses_total{listener="web",class="2xx"} )";
    const size_t at = metrics.find(key);
    return at == std::string::npos ? 0L : std::stol(metrics.substr(at + key.size()));
  };
  auto during = wrk("4s");
  ASSERT_TRUE(Eventually([&] { return answered() > 500; }, 5s)) << "wrk is not running";
  a1_.Kill();
  ASSERT_EQ(during->WaitExit(20s), 0) << during->Log();
  ASSERT_FALSE(gateway_->WaitExit(0s).has_value()) << gateway_->Log();
  EXPECT_GT(requests(during->Log()), 1000) << during->Log();
  EXPECT_LE(errors(during->Log()), 8) << during->Log();
  // The check interval is 200 ms, fall 2: a1 is down well within a second.
  ASSERT_TRUE(Eventually(
      [&] {
        const std::string metrics = testing::HttpGet(admin, "/metrics").body;
        return metrics.find("trellis_gateway_server_up{pool=\"a\",server=\"" + a1_.address() +
                            "\"} 0") != std::string::npos;
      },
      5s));
  auto after = wrk("2s");
  ASSERT_EQ(after->WaitExit(20s), 0) << after->Log();
  EXPECT_GT(requests(after->Log()), 1000) << after->Log();
  EXPECT_EQ(errors(after->Log()), 0) << after->Log();
}

// An idempotent request that a server drops before answering goes to another server of
// the pool: the client never sees the failure (without the retry, the first gets 502).
TEST_F(GatewayTest, AnIdempotentRequestAServerDropsGoesToAnotherServer) {
  for (int i = 0; i < 4; ++i) {
    const Reply reply = Get(retrying_port_, "a.example", "/");
    EXPECT_EQ(reply.status, 200) << "request " << i;
    EXPECT_THAT(reply.body, ::testing::StartsWith("a1 "));
  }
}

TEST_F(GatewayTest, AServerThatDoesNotAnswerGets504) {
  EXPECT_EQ(Get(impatient_port_, "a.example", "/").status, 504);
}

// A flood of connections that never send a byte: each is closed at the first-byte
// deadline, and a client that sends requests meanwhile gets every answer.
TEST_F(GatewayTest, ConnectionsThatSendNothingAreClosedAtTheDeadlineWhileOthersAreServed) {
  rlimit files{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  files.rlim_cur = std::max<rlim_t>(files.rlim_cur, std::min<rlim_t>(files.rlim_max, 4096));
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
  std::vector<std::unique_ptr<LoopbackClient>> silent;
  for (int i = 0; i < 1000; ++i) {
    silent.push_back(std::make_unique<LoopbackClient>(guarded_port_));
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(Get(guarded_port_, "a.example", "/").status, 200) << "request " << i;
  }
  int closed = 0;
  for (auto& client : silent) {
    closed += client->WaitClosed(10s) ? 1 : 0;
  }
  EXPECT_EQ(closed, 1000);
}

// A slowloris client (a header line now and then, never the end of the head) is cut off
// at the head deadline.
TEST_F(GatewayTest, ASlowHeadIsCutOffAtItsDeadline) {
  LoopbackClient slow(guarded_port_);
  ASSERT_TRUE(slow.Send("GET / HTTP/1.1\r\nHost: a.example\r\n"));
  bool cut = false;
  for (int line = 0; line < 50 && !cut; ++line) {
    slow.Send("X-Slow-" + std::to_string(line) + ": y\r\n");
    cut = slow.WaitClosed(200ms);  // One line every 200 ms, for up to 10 s.
  }
  EXPECT_TRUE(cut) << "the head never completed and the connection stayed open";
}

TEST_F(GatewayTest, PerSourceLimitsRefuseTheExcessAndAdmitTheRest) {
  // Three open connections from this address: a fourth is refused, until one closes.
  std::vector<std::unique_ptr<LoopbackClient>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<LoopbackClient>(limited_port_));
    open.back()->Send("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n");
    ASSERT_THAT(open.back()->ReadUntil("\n"), ::testing::StartsWith("HTTP/1.1 200"));
  }
  EXPECT_EQ(Get(limited_port_, "a.example", "/").status, 429);
  open.pop_back();
  EXPECT_TRUE(Eventually([&] { return Get(limited_port_, "a.example", "/").status == 200; }, 5s));

  // New connections: a burst of 5, then 1 a second.
  int admitted = 0;
  int refused = 0;
  for (int i = 0; i < 10; ++i) {
    const int status = Get(rated_port_, "a.example", "/").status;
    admitted += status == 200 ? 1 : 0;
    refused += status == 429 ? 1 : 0;
  }
  EXPECT_GE(admitted, 5);
  EXPECT_LE(admitted, 6) << "at most one token refilled while the test ran";
  EXPECT_EQ(admitted + refused, 10);
}

}  // namespace
}  // namespace trellis
