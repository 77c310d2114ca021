// The admin endpoint of a real daemon process, over real HTTP: the three endpoints, the
// Prometheus exposition format, bad input, and a clean exit on SIGTERM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "testing/daemon_process.h"
#include "testing/loopback_client.h"

namespace trellis {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::HttpGet;
using testing::LoopbackClient;
using testing::ParseHttpResponse;

// Checks `text` against the Prometheus text exposition format 0.0.4 and returns the
// problems found (empty when it conforms): every line is a HELP, a TYPE or a sample;
// names and label names are valid; label values are quoted and escaped; values are
// numbers; every sample belongs to a family whose TYPE came first.
std::vector<std::string> ExpositionProblems(const std::string& text) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
  static const std::regex type(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex sample(
      R"re(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN))re");
  std::vector<std::string> problems;
  std::map<std::string, std::string> types;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      continue;
    }
    if (std::regex_match(line, m, type)) {
      if (!types.emplace(m[1].str(), m[2].str()).second) {
        problems.push_back("second TYPE line: " + line);
      }
      continue;
    }
    if (!std::regex_match(line, m, sample)) {
      problems.push_back("malformed line: " + line);
      continue;
    }
    std::string family = m[1].str();
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string base = family.substr(0, family.size() - std::strlen(suffix));
      if (family.ends_with(suffix) && types.count(base) && types[base] == "histogram") {
        family = base;
      }
    }
    if (!types.count(family)) {
      problems.push_back("sample before its TYPE line: " + line);
    }
  }
  if (!text.empty() && text.back() != '\n') {
    problems.push_back("text does not end with a newline");
  }
  return problems;
}

class AdminTest : public ::testing::Test {
 protected:
  AdminTest()
      : daemon_({"up", "--admin", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                 "--mysql", "127.0.0.1:0", "--nbd", "127.0.0.1:0", "--data", data_.path().string(),
                 "--groups", "1", "--access-nodes", "1"}) {
    port_ = daemon_.WaitForListening("admin", 120s);
  }

  testing::TempDir data_;
  DaemonProcess daemon_;
  uint16_t port_ = 0;
};

TEST_F(AdminTest, HealthzAnswersOk) {
  const testing::HttpResponse response = HttpGet(port_, "/healthz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok\n");
}

TEST_F(AdminTest, MetricsFollowTheExpositionFormat) {
  HttpGet(port_, "/healthz");  // Makes the connection counters non-zero.
  const testing::HttpResponse response = HttpGet(port_, "/metrics");
  ASSERT_EQ(response.status, 200);
  EXPECT_THAT(response.headers, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(ExpositionProblems(response.body), ::testing::IsEmpty()) << response.body;
  EXPECT_THAT(response.body, HasSubstr("# TYPE trellis_connections_accepted_total counter\n"));
  EXPECT_THAT(response.body, ::testing::ContainsRegex(
                                 "trellis_connections_accepted_total\\{server=\"admin\"\\} [1-9]"));
}

TEST(ExpositionCheckerTest, RejectsMalformedText) {
  EXPECT_THAT(ExpositionProblems("# TYPE a counter\na 1\n"), ::testing::IsEmpty());
  EXPECT_THAT(ExpositionProblems("a 1\n"), ::testing::SizeIs(1));  // No TYPE.
  EXPECT_THAT(ExpositionProblems("# TYPE a counter\na{b=c} 1\n"), ::testing::SizeIs(1));
  EXPECT_THAT(ExpositionProblems("# TYPE a counter\na{1b=\"c\"} 1\n"), ::testing::SizeIs(1));
  EXPECT_THAT(ExpositionProblems("# TYPE a counter\na one\n"), ::testing::SizeIs(1));
  EXPECT_THAT(ExpositionProblems("# TYPE 0a counter\n"), ::testing::SizeIs(1));
}

TEST_F(AdminTest, StatusReportsKindVersionPidUptimeAndAddresses) {
  const testing::HttpResponse response = HttpGet(port_, "/v1/status");
  ASSERT_EQ(response.status, 200);
  EXPECT_THAT(response.headers, HasSubstr("Content-Type: application/json"));
  const nlohmann::json status = nlohmann::json::parse(response.body);
  EXPECT_EQ(status["kind"], "up");
  EXPECT_THAT(status["version"].get<std::string>(),
              ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+"));
  EXPECT_EQ(status["pid"], daemon_.pid());
  EXPECT_GE(status["uptime_seconds"].get<double>(), 0.0);
  EXPECT_EQ(status["listen"]["admin"], "127.0.0.1:" + std::to_string(port_));
}

TEST_F(AdminTest, BadRequestsGetHttpErrorsAndTheDaemonKeepsServing) {
  // `up` has a master that requires tokens: its own API's paths need one, then route.
  std::ifstream token_file(data_.path() / "admin.token");
  std::string token;
  token_file >> token;
  EXPECT_EQ(testing::TokenRequest(port_, "", "GET", "/nope", "").status, 401);
  EXPECT_EQ(testing::TokenRequest(port_, token, "GET", "/nope", "").status, 404);
  {
    LoopbackClient client(port_);
    client.Send("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    const auto response = ParseHttpResponse(client.ReadUntil("Method Not Allowed\n"));
    EXPECT_EQ(response.status, 405);
    EXPECT_THAT(response.headers, HasSubstr("Allow: GET"));
  }
  {
    LoopbackClient client(port_);
    client.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') +
                "\r\n\r\n");
    EXPECT_EQ(ParseHttpResponse(client.ReadUntilClosed()).status, 431);
  }
  {
    LoopbackClient client(port_);
    client.Send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 21));
    EXPECT_EQ(ParseHttpResponse(client.ReadUntilClosed()).status, 400);
  }
  {
    LoopbackClient client(port_);
    client.Send("GET /healthz HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n");
    EXPECT_EQ(ParseHttpResponse(client.ReadUntilClosed()).status, 413);
  }
  {
    LoopbackClient client(port_);  // Closes mid-request.
    client.Send("GET /heal");
  }
  {
    LoopbackClient client(port_);  // Two requests on one keep-alive connection.
    client.Send(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string both = client.ReadUntilClosed();
    EXPECT_THAT(both, HasSubstr("ok\nHTTP/1.1 200 OK"));
    EXPECT_TRUE(both.ends_with("Connection: close\r\n\r\nok\n"));
  }
  const testing::HttpResponse after = HttpGet(port_, "/healthz");
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, "ok\n");
}

TEST_F(AdminTest, SigtermExitsCleanlyWithinTwoSeconds) {
  LoopbackClient idle(port_);  // An idle keep-alive client must not hold the exit up.
  HttpGet(port_, "/healthz");
  daemon_.Signal(SIGTERM);
  const std::optional<int> status = daemon_.WaitExit(2s);
  ASSERT_TRUE(status.has_value()) << "still running 2 s after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0) << daemon_.Log();
}

TEST(CacheMetricsTest, CacheDaemonExportsItsCountersAndStoreTotals) {
  DaemonProcess cache({"cache", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"});
  const uint16_t cache_port = cache.WaitForListening("cache");
  const uint16_t admin_port = cache.WaitForListening("admin");
  LoopbackClient client(cache_port);
  client.Send("set a 0 0 1\r\nx\r\nget a\r\nget b\r\n");
  ASSERT_EQ(client.ReadUntil("END\r\nEND\r\n"), "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nEND\r\n");
  const testing::HttpResponse response = HttpGet(admin_port, "/metrics");
  ASSERT_EQ(response.status, 200);
  EXPECT_THAT(ExpositionProblems(response.body), ::testing::IsEmpty()) << response.body;
  for (const char* line :
       {"trellis_cache_items 1\n", "trellis_cache_commands_total{command=\"set\"} 1\n",
        "trellis_cache_get_hits_total 1\n", "trellis_cache_get_misses_total 1\n",
        "trellis_cache_evictions_total 0\n", "trellis_cache_limit_bytes 67108864\n",
        "trellis_connections{server=\"cache\"} 1\n"}) {
    EXPECT_THAT(response.body, HasSubstr(line));
  }
  EXPECT_THAT(response.body, HasSubstr("trellis_cache_batch_seconds_count "));
  const nlohmann::json status = nlohmann::json::parse(HttpGet(admin_port, "/v1/status").body);
  EXPECT_EQ(status["kind"], "cache");
  EXPECT_EQ(status["listen"]["cache"], "127.0.0.1:" + std::to_string(cache_port));
}

TEST(CliTest, HelpListsTheCommandsAndBadConfigIsAOneLineError) {
  testing::TempDir dir;
  {
    DaemonProcess help({"--help"});
    ASSERT_TRUE(help.WaitExit(5s).has_value());
    EXPECT_THAT(help.Log(), HasSubstr("up"));
    EXPECT_THAT(help.Log(), HasSubstr("version"));
  }
  const std::string config = dir.WriteFile("bad.toml", "admin = \"127.0.0.1:0\"\nlog-level = 3x\n");
  DaemonProcess bad({"up", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data",
                     dir.path().string(), "--config", config});
  const std::optional<int> status = bad.WaitExit(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_THAT(bad.Log(), HasSubstr(config + ":2:"));
  EXPECT_THAT(bad.Log(), HasSubstr("key 'log-level'"));
}

}  // namespace
}  // namespace trellis
