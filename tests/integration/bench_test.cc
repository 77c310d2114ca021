// `trellis bench` as a real process: against a memcached started here, against a tiny
// server that answers after a known delay, and with bad arguments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;

// Runs `trellis bench ARGS` to completion and returns its exit status and output.
std::pair<int, std::string> RunBench(std::vector<std::string> args) {
  args.insert(args.begin(), "bench");
  DaemonProcess bench(args);
  const std::optional<int> status = bench.WaitExit(60s);
  EXPECT_TRUE(status.has_value()) << "bench did not finish";
  return {status.value_or(-1), bench.Log()};
}

nlohmann::json RunBenchJson(std::vector<std::string> args) {
  args.push_back("--json");
  auto [status, output] = RunBench(args);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  return nlohmann::json::parse(output);
}

TEST(BenchTest, AfterFillEveryReadHitsAndNothingFails) {
  testing::HeldPort held;
  const uint16_t port = held.port();
  DaemonProcess memcached({"-p", std::to_string(port), "-l", "127.0.0.1", "-U", "0", "-t", "1",
                           "-u", geteuid() == 0 ? "root" : ""},
                          "/usr/bin/memcached", held);
  ASSERT_TRUE(testing::WaitForPort(port));
  const std::string server = "127.0.0.1:" + std::to_string(port);
  const nlohmann::json fill = RunBenchJson({"--server", server, "--fill", "--keys", "5000",
                                            "--connections", "4", "--value-size", "10-100"});
  EXPECT_EQ(fill["sets"]["requests"], 5000);
  EXPECT_TRUE(fill["errors"].empty()) << fill.dump();
  const nlohmann::json read =
      RunBenchJson({"--server", server, "--ratio", "0:1", "--keys", "5000", "--duration", "1.5",
                    "--connections", "4", "--pipeline", "4", "--multiget", "3"});
  EXPECT_GT(read["gets"]["requests"].get<uint64_t>(), 100u);
  EXPECT_DOUBLE_EQ(read["hit_ratio"].get<double>(), 1.0) << read.dump();
  EXPECT_TRUE(read["errors"].empty()) << read.dump();
  const nlohmann::json meta = RunBenchJson({"--server", server, "--ratio", "1:1", "--keys", "5000",
                                            "--requests", "2000", "--protocol", "meta"});
  EXPECT_EQ(meta["gets"]["requests"].get<uint64_t>() + meta["sets"]["requests"].get<uint64_t>(),
            2000u);
  EXPECT_DOUBLE_EQ(meta["hit_ratio"].get<double>(), 1.0) << meta.dump();
}

// Answers every request line with an empty get reply, `delay` after it arrives.
class DelayServer {
 public:
  explicit DelayServer(std::chrono::milliseconds delay) : delay_(delay) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~DelayServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    const int client = ::accept(fd_, nullptr, nullptr);
    if (client < 0) {
      return;
    }
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(client, buf, sizeof(buf), 0);
      if (n <= 0) {
        break;
      }
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] == '\n') {
          std::this_thread::sleep_for(delay_);  // The injected delay under test, not a wait.
          ::send(client, "END\r\n", 5, MSG_NOSIGNAL);
        }
      }
    }
    ::close(client);
  }

  std::chrono::milliseconds delay_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST(BenchTest, LatencyPercentilesMatchAKnownServerDelay) {
  DelayServer server(20ms);
  const nlohmann::json report =
      RunBenchJson({"--server", "127.0.0.1:" + std::to_string(server.port()), "--ratio", "0:1",
                    "--connections", "1", "--duration", "1"});
  const double p50 = report["gets"]["latency_us"]["p50"].get<double>();
  EXPECT_NEAR(p50, 20000, 2000) << report.dump();
  EXPECT_GT(report["gets"]["requests"].get<uint64_t>(), 20u);
}

TEST(BenchTest, FixedRateCountsLatencyFromTheIntendedSendTime) {
  // 100 requests/s on one connection to a server that takes 50 ms per reply: requests
  // fall further and further behind their schedule. Counted from when each was due (as
  // --rate does), most wait far longer than the 50 ms a closed loop would report.
  DelayServer server(50ms);
  const nlohmann::json report =
      RunBenchJson({"--server", "127.0.0.1:" + std::to_string(server.port()), "--ratio", "0:1",
                    "--connections", "1", "--duration", "1.5", "--rate", "100"});
  EXPECT_GT(report["gets"]["latency_us"]["p50"].get<double>(), 200000) << report.dump();
  EXPECT_GE(report["gets"]["latency_us"]["min"].get<double>(), 45000) << report.dump();
}

TEST(BenchTest, FixedRateBelowCapacityKeepsThePace) {
  DelayServer server(5ms);
  const nlohmann::json report =
      RunBenchJson({"--server", "127.0.0.1:" + std::to_string(server.port()), "--ratio", "0:1",
                    "--connections", "1", "--duration", "1", "--rate", "50"});
  EXPECT_NEAR(report["ops_per_second"].get<double>(), 50, 10) << report.dump();
  EXPECT_NEAR(report["gets"]["latency_us"]["p50"].get<double>(), 5000, 1000) << report.dump();
}

TEST(BenchTest, BadArgumentsGetOneLineAndANonZeroExit) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--bogus"},
                                             {"--ratio", "1:"},
                                             {"--ratio", "0:0"},
                                             {"--connections", "0"},
                                             {"--value-size", "10-5"},
                                             {"--key-pattern", "zipf:2"},
                                             {"--server", "127.0.0.1:1", "--duration", "1"}}) {
    auto [status, output] = RunBench(args);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << args[0] << ": " << output;
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
  }
}

}  // namespace
}  // namespace trellis
