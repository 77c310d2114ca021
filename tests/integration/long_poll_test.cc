// The master holds 5,000 concurrent long-polls (every cache and access node of a large
// cluster keeps one open) and answers every one when the map changes. Prints the
// master's resident memory per waiting poll.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "http/client.h"
#include "testing/daemon_process.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::beast::http::verb;
using testing::DaemonProcess;
using testing::HttpGet;
using testing::HttpRequest;

constexpr int kPolls = 5000;

// Resident set size of `pid` in KiB, from /proc.
int64_t RssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoll(line.substr(6));
    }
  }
  return -1;
}

// The value of an unlabelled metric in a /metrics page, or -1.
int64_t Metric(const std::string& page, const std::string& name) {
  const size_t at = page.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stoll(page.substr(at + name.size() + 2));
}

TEST(LongPollTest, MasterAnswersFiveThousandWaitingPollsWhenTheMapChanges) {
  // Each poll is a descriptor here and one in the master.
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  ASSERT_GE(limit.rlim_max, rlim_t{kPolls + 1000}) << "the hard open-file limit is too low";
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);

  testing::TempDir data;
  DaemonProcess master({"master", "--listen", "127.0.0.1:0", "--data", data.path().string()});
  const uint16_t port = master.WaitForListening("master");
  const uint16_t admin = master.WaitForListening("admin");
  const uint64_t version = nlohmann::json::parse(HttpGet(port, "/v1/cluster").body)["version"];
  const int64_t rss_before = RssKib(master.pid());

  asio::io_context io;
  std::vector<http::Client> clients;
  for (int i = 0; i < kPolls; ++i) {
    clients.push_back(
        *http::Client::ForUrl(io.get_executor(), "127.0.0.1:" + std::to_string(port)));
  }
  int answered = 0;
  int newer = 0;
  std::vector<std::string> failures;
  for (http::Client& client : clients) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto reply = co_await http::CallJson(
              client, verb::get, "/v1/cluster?after=" + std::to_string(version) + "&wait=60",
              nlohmann::json(), 90s);
          ++answered;
          if (!reply) {
            failures.push_back(reply.error().message);
          } else if ((*reply)["version"].get<uint64_t>() > version) {
            ++newer;
          }
        },
        asio::detached);
  }
  std::thread polls([&io] { io.run(); });
  // Every poll waits in the master before the map changes.
  int64_t waiting = 0;
  const bool all_waiting = testing::Eventually(
      [&] {
        waiting = Metric(HttpGet(admin, "/metrics").body, "trellis_master_watches");
        return waiting == kPolls;
      },
      60s);
  const int64_t rss_waiting = RssKib(master.pid());
  EXPECT_TRUE(all_waiting) << waiting << " of " << kPolls << " polls waiting";
  EXPECT_EQ(HttpRequest(port, "POST", "/v1/groups", R"({"name": "g1"})").status, 201);
  polls.join();
  EXPECT_EQ(answered, kPolls);
  EXPECT_EQ(newer, kPolls) << (failures.empty() ? "" : failures.front());
  std::cout << kPolls << " long-polls: master RSS " << rss_before << " KiB idle, " << rss_waiting
            << " KiB with all waiting: " << (rss_waiting - rss_before) * 1024 / kPolls
            << " bytes per poll\n";
}

}  // namespace
}  // namespace trellis
