#include "access/backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "testing/daemon_process.h"

namespace trellis::access {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

tcp::endpoint Loopback(uint16_t port) { return {asio::ip::make_address("127.0.0.1"), port}; }

// A cache node the test scripts: it accepts connections on 127.0.0.1 (port 0) and answers
// each request line with `answer(line)` (nothing when that is empty). Runs on the test's
// io_context.
class FakeNode {
 public:
  using Answer = std::function<std::string(std::string_view line)>;

  FakeNode(asio::io_context& io, Answer answer)
      : acceptor_(io, Loopback(0)), answer_(std::move(answer)) {
    asio::co_spawn(io, Accept(), asio::detached);
  }
  ~FakeNode() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    DropConnections();
  }

  tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }
  int connections() const { return connections_; }
  // Closes every accepted connection, as a node that restarts does.
  void DropConnections() {
    for (auto& socket : sockets_) {
      boost::system::error_code ignored;
      socket->close(ignored);
    }
    sockets_.clear();
  }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      auto [error, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (error) {
        co_return;
      }
      ++connections_;
      auto shared = std::make_shared<tcp::socket>(std::move(socket));
      sockets_.push_back(shared);
      asio::co_spawn(acceptor_.get_executor(), Serve(shared), asio::detached);
    }
  }

  asio::awaitable<void> Serve(std::shared_ptr<tcp::socket> socket) {
    std::string input;
    char data[4096];
    for (;;) {
      auto [error, read] =
          co_await socket->async_read_some(asio::buffer(data), asio::as_tuple(asio::use_awaitable));
      if (error) {
        co_return;
      }
      input.append(data, read);
      std::string reply;
      for (size_t end; (end = input.find("\r\n")) != std::string::npos;) {
        reply += answer_(std::string_view(input).substr(0, end));
        input.erase(0, end + 2);
      }
      if (!reply.empty()) {
        co_await asio::async_write(*socket, asio::buffer(reply),
                                   asio::as_tuple(asio::use_awaitable));
      }
    }
  }

  tcp::acceptor acceptor_;
  Answer answer_;
  int connections_ = 0;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
};

class BackendTest : public ::testing::Test {
 protected:
  ~BackendTest() override {
    for (auto& backend : backends_) {
      backend->Close();
    }
  }

  // Plaintext backends with these timeouts.
  static BackendOptions Timeouts(std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds retry_interval) {
    BackendOptions options;
    options.timeout = timeout;
    options.retry_interval = retry_interval;
    return options;
  }

  Backend& Connect(tcp::endpoint endpoint, BackendOptions options = {}) {
    backends_.push_back(Backend::Create(io_.get_executor(), endpoint, "g", options));
    return *backends_.back();
  }

  std::shared_ptr<ReplySlot> Send(Backend& backend, std::string_view request,
                                  bool until_noop = false, bool silent_failure = false) {
    auto slot = std::make_shared<ReplySlot>(waker_, 1);
    backend.Send(request, {slot, 0}, {until_noop, silent_failure, 0});
    return slot;
  }

  // Runs the io_context until every slot has its reply; false if `patience` passes first.
  bool WaitForReplies(const std::vector<std::shared_ptr<ReplySlot>>& slots,
                      std::chrono::milliseconds patience = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    auto all_done = [&] {
      for (const auto& slot : slots) {
        if (!slot->done()) {
          return false;
        }
      }
      return true;
    };
    while (!all_done()) {
      if (std::chrono::steady_clock::now() > deadline) {
        return false;
      }
      io_.run_one_for(20ms);
    }
    return true;
  }

  asio::io_context io_;
  std::shared_ptr<Waker> waker_ = std::make_shared<Waker>(io_.get_executor());
  std::vector<std::shared_ptr<Backend>> backends_;
};

TEST_F(BackendTest, MatchesPipelinedRepliesToRequestsInOrder) {
  testing::DaemonProcess node({"cache", "--listen", "127.0.0.1:0", "--threads", "1"});
  Backend& backend = Connect(Loopback(node.WaitForListening("cache")));
  const std::vector<std::shared_ptr<ReplySlot>> slots = {
      Send(backend, "set k 0 0 2\r\nab\r\n"),
      Send(backend, "get k missing\r\n"),
      Send(backend, "incr k 1\r\n"),
      // Quiet requests: everything up to the MN, which may be nothing.
      Send(backend, "mg k v q\r\nmn\r\n", /*until_noop=*/true),
      Send(backend, "mg missing v q\r\nmd missing q\r\nmn\r\n", /*until_noop=*/true),
      Send(backend, "mg missing v q\r\nmn\r\n", /*until_noop=*/true),
      Send(backend, "version\r\n"),
  };
  ASSERT_TRUE(WaitForReplies(slots));
  EXPECT_EQ(slots[0]->reply(), "STORED\r\n");
  EXPECT_EQ(slots[1]->reply(), "VALUE k 0 2\r\nab\r\nEND\r\n");
  EXPECT_EQ(slots[2]->reply(), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(slots[3]->reply(), "VA 2\r\nab\r\n");
  EXPECT_EQ(slots[4]->reply(), "NF\r\n");
  EXPECT_EQ(slots[5]->reply(), "");
  EXPECT_THAT(slots[6]->reply(), StartsWith("VERSION "));
}

TEST_F(BackendTest, FailsRequestsToADeadNodeAndThenFailsAtOnceUntilTheRetryInterval) {
  tcp::endpoint dead;
  {
    tcp::acceptor closed(io_, Loopback(0));  // A port nobody listens on once this closes.
    dead = closed.local_endpoint();
  }
  Backend& backend = Connect(dead, Timeouts(10s, 1h));
  const auto first = Send(backend, "get k\r\n");
  const auto quiet = Send(backend, "get k\r\n", false, /*silent_failure=*/true);
  ASSERT_TRUE(WaitForReplies({first, quiet}));
  EXPECT_THAT(first->reply(),
              StartsWith("SERVER_ERROR backend 127.0.0.1:" + std::to_string(dead.port()) +
                         " of group g unavailable: "));
  EXPECT_THAT(first->reply(), ::testing::EndsWith("\r\n"));
  EXPECT_EQ(quiet->reply(), "");
  // Within the retry interval: no new connection, the same error at once.
  const auto second = Send(backend, "get k\r\n");
  EXPECT_TRUE(second->done());
  EXPECT_EQ(second->reply(), first->reply());
}

TEST_F(BackendTest, TimesOutRequestsANodeDoesNotAnswer) {
  FakeNode silent(io_, [](std::string_view) { return std::string(); });
  Backend& backend = Connect(silent.endpoint(), Timeouts(200ms, 1h));
  const auto slot = Send(backend, "get k\r\n");
  const auto quiet = Send(backend, "set k 0 0 1 noreply\r\nx\r\nmn\r\n", true, true);
  ASSERT_TRUE(WaitForReplies({slot, quiet}));
  EXPECT_THAT(slot->reply(), StartsWith("SERVER_ERROR backend "));
  EXPECT_THAT(slot->reply(), HasSubstr("unavailable: timed out\r\n"));
  EXPECT_EQ(quiet->reply(), "");
}

TEST_F(BackendTest, FailsEverythingInFlightOnAMalformedReply) {
  FakeNode broken(
      io_, [](std::string_view line) { return line.starts_with("get") ? "VALUE k 0 x\r\n" : ""; });
  Backend& backend = Connect(broken.endpoint(), Timeouts(10s, 1h));
  const auto get = Send(backend, "get k\r\n");
  const auto behind = Send(backend, "touch k 1\r\n");
  ASSERT_TRUE(WaitForReplies({get, behind}));
  EXPECT_THAT(get->reply(), HasSubstr("unavailable: malformed reply\r\n"));
  EXPECT_EQ(behind->reply(), get->reply());
}

TEST_F(BackendTest, ReconnectsAfterTheNodeDroppedTheConnection) {
  FakeNode node(io_,
                [](std::string_view line) { return line.starts_with("get") ? "END\r\n" : ""; });
  Backend& backend = Connect(node.endpoint(), Timeouts(10s, 0ms));
  const auto before = Send(backend, "get k\r\n");
  ASSERT_TRUE(WaitForReplies({before}));
  EXPECT_EQ(before->reply(), "END\r\n");
  EXPECT_EQ(node.connections(), 1);

  // A request in flight when the connection goes fails; the next one reconnects.
  const auto lost = Send(backend, "touch k 1\r\n");  // Never answered by this node.
  node.DropConnections();
  ASSERT_TRUE(WaitForReplies({lost}));
  EXPECT_THAT(lost->reply(), StartsWith("SERVER_ERROR backend "));
  const auto after = Send(backend, "get k\r\n");
  ASSERT_TRUE(WaitForReplies({after}));
  EXPECT_EQ(after->reply(), "END\r\n");
  EXPECT_EQ(node.connections(), 2);
}

TEST_F(BackendTest, CloseFailsWhatIsInFlightAndEverythingAfter) {
  FakeNode silent(io_, [](std::string_view) { return std::string(); });
  Backend& backend = Connect(silent.endpoint());
  const auto in_flight = Send(backend, "get k\r\n");
  backend.Close();
  EXPECT_TRUE(in_flight->done());
  EXPECT_THAT(in_flight->reply(), HasSubstr("unavailable: shutting down\r\n"));
  const auto later = Send(backend, "get k\r\n");
  EXPECT_TRUE(later->done());
  EXPECT_THAT(later->reply(), HasSubstr("unavailable: shutting down\r\n"));
}

}  // namespace
}  // namespace trellis::access
