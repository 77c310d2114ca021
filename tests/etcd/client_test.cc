// etcd::Client against real etcd 3.4 members (testing/etcd_cluster.h): reads and writes,
// transactions guarded by a key's revisions, leases and the keys that go with them,
// watches from a revision (and from one compacted away), a client whose first member is
// dead or cut off, a three-member cluster that loses a member, and mutual TLS.
//
// The bodies are coroutines on an io_context of their own: they check with EXPECT
// (ASSERT returns, which a coroutine cannot) and co_return when going on makes no sense.
#include "etcd/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/client.h"
#include "testing/etcd_cluster.h"
#include "testing/held_port.h"

namespace trellis::etcd {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using ::testing::AllOf;
using ::testing::ElementsAre;
using testing::EtcdCluster;
using ::testing::Field;

constexpr std::chrono::milliseconds kTimeout = 5s;

// Runs `body` with a client of `urls` on an io_context of its own, to its end.
void WithClient(const std::vector<std::string>& urls,
                const std::function<asio::awaitable<void>(Client&)>& body,
                std::shared_ptr<net::TlsClientContext> tls = nullptr) {
  http::RunBlocking<void>([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    base::Result<Client> client = Client::ForUrls(executor, urls, tls);
    if (!client) {
      throw std::runtime_error(client.error().message);
    }
    co_await body(*client);
  });
}

// Whether `result` holds a value; a failure of the test if not.
template <typename T>
bool Ok(const base::Result<T>& result) {
  EXPECT_TRUE(result.ok()) << result.error().message;
  return result.ok();
}

// Puts `value` at `key`; a failure of the test if etcd does not take it.
asio::awaitable<void> MustPut(Client& etcd, std::string key, std::string value) {
  const base::Result<int64_t> put = co_await etcd.Put(std::move(key), std::move(value), kTimeout);
  Ok(put);
}

// Waits until `done` holds, or `patience` passed (false).
asio::awaitable<bool> Until(std::function<bool()> done, std::chrono::milliseconds patience) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return false;
    }
    timer.expires_after(5ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return true;
}

// Compacts the history of the cluster at `url` up to `revision` (not a call of the client).
asio::awaitable<base::Status> Compact(const std::string& url, int64_t revision) {
  auto member = http::Client::ForUrl(co_await asio::this_coro::executor, url);
  if (!member) {
    co_return member.error();
  }
  const nlohmann::json request = {{"revision", std::to_string(revision)}};
  std::string target = "/v3/kv/compaction";
  base::Result<nlohmann::json> reply = co_await http::CallJson(
      *member, http::beast_http::verb::post, std::move(target), request, kTimeout);
  if (!reply) {
    co_return reply.error();
  }
  co_return base::Status();
}

// What a watch saw.
struct Watched {
  std::vector<WatchBatch> batches;
  std::vector<WatchEvent> events() const {
    std::vector<WatchEvent> all;
    for (const WatchBatch& batch : batches) {
      all.insert(all.end(), batch.events.begin(), batch.events.end());
    }
    return all;
  }
};

// Watches `prefix` from `from` while `act` runs: the watch's end if it ended first, else
// nullopt (the watch was canceled when `act` returned).
asio::awaitable<std::optional<base::Status>> WatchWhile(Client& etcd, std::string prefix,
                                                        int64_t from, Watched& watched,
                                                        asio::awaitable<void> act) {
  std::function<void(const WatchBatch&)> on_batch = [&watched](const WatchBatch& batch) {
    watched.batches.push_back(batch);
  };
  std::variant<base::Status, std::monostate> first = co_await (
      etcd.Watch(std::move(prefix), from, std::move(on_batch), kTimeout) || std::move(act));
  if (first.index() == 0) {
    co_return std::get<0>(std::move(first));
  }
  co_return std::nullopt;
}

auto IsPut(const std::string& key, const std::string& value) {
  return AllOf(Field(&WatchEvent::kind, WatchEvent::Kind::kPut),
               Field(&WatchEvent::kv, Field(&KeyValue::key, key)),
               Field(&WatchEvent::kv, Field(&KeyValue::value, value)));
}

auto IsDelete(const std::string& key) {
  return AllOf(Field(&WatchEvent::kind, WatchEvent::Kind::kDelete),
               Field(&WatchEvent::kv, Field(&KeyValue::key, key)));
}

auto HasKey(const std::string& key) { return Field(&KeyValue::key, key); }

class EtcdClientTest : public ::testing::Test {
 protected:
  void Run(const std::function<asio::awaitable<void>(Client&)>& body) {
    WithClient(etcd_.client_urls(), body);
  }

  EtcdCluster etcd_{1};
};

TEST_F(EtcdClientTest, ReadsBackWhatItPutOneKeyOrAPrefix) {
  Run([](Client& etcd) -> asio::awaitable<void> {
    const base::Result<int64_t> first = co_await etcd.Put("/t/a", "1", kTimeout);
    const base::Result<int64_t> second = co_await etcd.Put("/t/b", "", kTimeout);
    const base::Result<int64_t> outside = co_await etcd.Put("/tz", "3", kTimeout);
    if (!Ok(first) || !Ok(second) || !Ok(outside)) {
      co_return;
    }
    EXPECT_LT(*first, *second);
    EXPECT_LT(*second, *outside);

    const base::Result<RangeReply> one = co_await etcd.Get("/t/a", kTimeout);
    if (Ok(one)) {
      EXPECT_EQ(one->revision, *outside);
      EXPECT_THAT(one->kvs,
                  ElementsAre(AllOf(HasKey("/t/a"), Field(&KeyValue::value, "1"),
                                    Field(&KeyValue::create_revision, *first),
                                    Field(&KeyValue::mod_revision, *first),
                                    Field(&KeyValue::version, 1), Field(&KeyValue::lease, 0))));
    }
    const base::Result<RangeReply> prefix = co_await etcd.GetPrefix("/t/", kTimeout);
    if (Ok(prefix)) {
      EXPECT_THAT(prefix->kvs,
                  ElementsAre(HasKey("/t/a"), AllOf(HasKey("/t/b"), Field(&KeyValue::value, ""))));
    }
    const base::Result<RangeReply> every_key = co_await etcd.GetPrefix("", kTimeout);
    if (Ok(every_key)) {
      EXPECT_THAT(every_key->kvs, ElementsAre(HasKey("/t/a"), HasKey("/t/b"), HasKey("/tz")));
    }
    const base::Result<RangeReply> missing = co_await etcd.Get("/t/none", kTimeout);
    if (Ok(missing)) {
      EXPECT_TRUE(missing->kvs.empty());
      EXPECT_EQ(missing->revision, *outside);
    }
  });
}

TEST_F(EtcdClientTest, ATransactionGuardedByCreateRevisionZeroCreatesOnlyOnce) {
  Run([](Client& etcd) -> asio::awaitable<void> {
    const auto campaign = [](std::string who) {
      Txn txn;
      txn.compare.push_back(Compare::CreateRevision("/leader", 0));
      txn.success.push_back(Operation::Put("/leader", std::move(who)));
      txn.failure.push_back(Operation::Get("/leader"));
      return txn;
    };
    Txn first_txn = campaign("a");
    const base::Result<TxnReply> first = co_await etcd.Commit(first_txn, kTimeout);
    if (!Ok(first)) {
      co_return;
    }
    EXPECT_TRUE(first->succeeded);
    EXPECT_THAT(first->ranges, ElementsAre(::testing::IsEmpty()));  // The put's.

    Txn second_txn = campaign("b");
    const base::Result<TxnReply> second = co_await etcd.Commit(second_txn, kTimeout);
    if (!Ok(second)) {
      co_return;
    }
    EXPECT_FALSE(second->succeeded);
    EXPECT_EQ(second->revision, first->revision);  // Nothing written.
    EXPECT_THAT(
        second->ranges,
        ElementsAre(ElementsAre(AllOf(HasKey("/leader"), Field(&KeyValue::value, "a"),
                                      Field(&KeyValue::create_revision, first->revision)))));
  });
}

TEST_F(EtcdClientTest, ATransactionGuardedByModRevisionRefusesAStaleWrite) {
  Run([](Client& etcd) -> asio::awaitable<void> {
    const base::Result<int64_t> written = co_await etcd.Put("/map", "v1", kTimeout);
    if (!Ok(written)) {
      co_return;
    }
    const auto write = [](int64_t seen, std::string value) {
      Txn txn;
      txn.compare.push_back(Compare::ModRevision("/map", seen));
      txn.success.push_back(Operation::Put("/map", std::move(value)));
      return txn;
    };
    Txn fresh_txn = write(*written, "v2");
    const base::Result<TxnReply> fresh = co_await etcd.Commit(fresh_txn, kTimeout);
    Txn stale_txn = write(*written, "v3");  // Read before v2 was written.
    const base::Result<TxnReply> stale = co_await etcd.Commit(stale_txn, kTimeout);
    const base::Result<RangeReply> now = co_await etcd.Get("/map", kTimeout);
    if (!Ok(fresh) || !Ok(stale) || !Ok(now)) {
      co_return;
    }
    EXPECT_TRUE(fresh->succeeded);
    EXPECT_GT(fresh->revision, *written);
    EXPECT_FALSE(stale->succeeded);
    EXPECT_TRUE(stale->ranges.empty());  // No failure branch.
    EXPECT_THAT(now->kvs, ElementsAre(AllOf(Field(&KeyValue::value, "v2"),
                                            Field(&KeyValue::mod_revision, fresh->revision),
                                            Field(&KeyValue::version, 2))));
  });
}

TEST_F(EtcdClientTest, ARequestEtcdRefusesIsInvalidArgumentWithItsMessage) {
  Run([](Client& etcd) -> asio::awaitable<void> {
    Txn txn;  // etcd takes no transaction that writes a key twice.
    txn.success.push_back(Operation::Put("/twice", "1"));
    txn.success.push_back(Operation::Put("/twice", "2"));
    const base::Result<TxnReply> reply = co_await etcd.Commit(txn, kTimeout);
    EXPECT_FALSE(reply.ok());
    if (!reply.ok()) {
      EXPECT_EQ(reply.error().code, base::ErrorCode::kInvalidArgument);
      EXPECT_THAT(reply.error().message, ::testing::HasSubstr("duplicate key"));
    }
  });
}

TEST_F(EtcdClientTest, AKeyOnALeaseGoesWhenTheLeaseIsRevoked) {
  Run([](Client& etcd) -> asio::awaitable<void> {
    const base::Result<Lease> lease = co_await etcd.GrantLease(30s, kTimeout);
    if (!Ok(lease)) {
      co_return;
    }
    EXPECT_NE(lease->id, 0);
    EXPECT_EQ(lease->ttl, 30s);
    Txn put;
    put.success.push_back(Operation::Put("/leased", "x", lease->id));
    const base::Result<TxnReply> written = co_await etcd.Commit(put, kTimeout);
    const base::Result<RangeReply> before = co_await etcd.Get("/leased", kTimeout);
    const base::Result<std::chrono::seconds> renewed = co_await etcd.KeepAlive(lease->id, kTimeout);
    if (!Ok(written) || !Ok(before) || !Ok(renewed)) {
      co_return;
    }
    EXPECT_THAT(before->kvs, ElementsAre(Field(&KeyValue::lease, lease->id)));
    EXPECT_GT(*renewed, 0s);
    EXPECT_LE(*renewed, 30s);

    const base::Status revoked = co_await etcd.RevokeLease(lease->id, kTimeout);
    EXPECT_TRUE(revoked.ok()) << revoked.error().message;
    const base::Result<RangeReply> after = co_await etcd.Get("/leased", kTimeout);
    if (Ok(after)) {
      EXPECT_TRUE(after->kvs.empty());
    }
    const base::Result<std::chrono::seconds> gone = co_await etcd.KeepAlive(lease->id, kTimeout);
    EXPECT_FALSE(gone.ok());
    if (!gone.ok()) {
      EXPECT_EQ(gone.error().code, base::ErrorCode::kNotFound) << gone.error().message;
    }
    const base::Status again = co_await etcd.RevokeLease(lease->id, kTimeout);
    EXPECT_TRUE(again.ok()) << again.error().message;  // Gone already: not an error.
  });
}

TEST_F(EtcdClientTest, ALeaseShorterThanEtcdsMinimumIsRaisedAndSaysSo) {
  Run([](Client& etcd) -> asio::awaitable<void> {
    const base::Result<Lease> lease = co_await etcd.GrantLease(1s, kTimeout);
    if (Ok(lease)) {
      EXPECT_GE(lease->ttl, 1s);  // etcd 3.4 with its default timing grants 2 s.
    }
  });
}

TEST_F(EtcdClientTest, AWatchSeesPutsAndDeletesInOrderFromItsStartRevision) {
  Run([](Client& etcd) -> asio::awaitable<void> {
    const base::Result<int64_t> start = co_await etcd.Put("/w/a", "1", kTimeout);
    const base::Result<int64_t> unwatched = co_await etcd.Put("/x", "0", kTimeout);
    if (!Ok(start) || !Ok(unwatched)) {
      co_return;
    }
    Watched watched;
    const auto act = [&]() -> asio::awaitable<void> {
      // Some of the history before the watch starts, the rest while it runs.
      co_await MustPut(etcd, "/w/b", "2");
      const bool started = co_await Until([&] { return !watched.batches.empty(); }, kTimeout);
      EXPECT_TRUE(started);
      Txn remove;
      remove.success.push_back(Operation::Delete("/w/a"));
      remove.success.push_back(Operation::Put("/x", "1"));
      const base::Result<TxnReply> removed = co_await etcd.Commit(remove, kTimeout);
      Ok(removed);
      co_await MustPut(etcd, "/w/b", "3");
      const bool seen = co_await Until([&] { return watched.events().size() >= 4; }, kTimeout);
      EXPECT_TRUE(seen);
    };
    const std::optional<base::Status> ended =
        co_await WatchWhile(etcd, "/w/", *start, watched, act());
    EXPECT_FALSE(ended.has_value()) << ended->error().message;
    EXPECT_THAT(watched.events(), ElementsAre(IsPut("/w/a", "1"), IsPut("/w/b", "2"),
                                              IsDelete("/w/a"), IsPut("/w/b", "3")));
    // Each batch brings the watcher to its last event, whose revisions only grow.
    int64_t last = *start - 1;
    for (const WatchBatch& batch : watched.batches) {
      for (const WatchEvent& event : batch.events) {
        EXPECT_GT(event.kv.mod_revision, last);
        last = event.kv.mod_revision;
      }
      EXPECT_EQ(batch.revision, last);
    }
  });
}

TEST_F(EtcdClientTest, AWatchReplayingALongHistoryIsBroughtToTheRevisionOfEachBatch) {
  // etcd replays at most 1000 revisions a message, each with the header of the newest: a
  // watcher that resumed after the first from its header's revision would skip the rest.
  constexpr int kWriters = 8;
  constexpr int kPutsEach = 140;
  Run([](Client& etcd) -> asio::awaitable<void> {
    const base::Result<int64_t> start = co_await etcd.Put("/h/start", "", kTimeout);
    if (!Ok(start)) {
      co_return;
    }
    int finished = 0;
    const auto writer = [&](int w) -> asio::awaitable<void> {
      for (int i = 0; i < kPutsEach; ++i) {
        co_await MustPut(etcd, "/h/" + std::to_string(w), std::to_string(i));
      }
      ++finished;
    };
    const auto executor = co_await asio::this_coro::executor;
    for (int w = 0; w < kWriters; ++w) {
      asio::co_spawn(executor, writer(w), asio::detached);
    }
    const bool written = co_await Until([&] { return finished == kWriters; }, 60s);
    EXPECT_TRUE(written);

    Watched watched;
    const auto until_all = [&]() -> asio::awaitable<void> {
      co_await Until([&] { return watched.events().size() > kWriters * kPutsEach; }, kTimeout);
    };
    const std::optional<base::Status> ended =
        co_await WatchWhile(etcd, "/h/", *start, watched, until_all());
    EXPECT_FALSE(ended.has_value()) << ended->error().message;
    EXPECT_EQ(watched.events().size(), kWriters * kPutsEach + 1u);
    EXPECT_GE(watched.batches.size(), 2u);
    for (const WatchBatch& batch : watched.batches) {
      EXPECT_EQ(batch.revision, batch.events.back().kv.mod_revision);
    }
  });
}

TEST_F(EtcdClientTest, AWatchFromNowSeesOnlyLaterChanges) {
  Run([](Client& etcd) -> asio::awaitable<void> {
    co_await MustPut(etcd, "/n/old", "0");
    Watched watched;
    const auto act = [&]() -> asio::awaitable<void> {
      // The watch may start after a first put: put until one is seen.
      for (int i = 0; i < 100 && watched.batches.empty(); ++i) {
        co_await MustPut(etcd, "/n/new", std::to_string(i));
        co_await Until([&] { return !watched.batches.empty(); }, 50ms);
      }
    };
    const std::optional<base::Status> ended = co_await WatchWhile(etcd, "/n/", 0, watched, act());
    EXPECT_FALSE(ended.has_value()) << ended->error().message;
    EXPECT_THAT(watched.events(), ::testing::Each(Field(&WatchEvent::kv, HasKey("/n/new"))));
    EXPECT_FALSE(watched.batches.empty());
  });
}

TEST_F(EtcdClientTest, AWatchFromACompactedRevisionIsAConflict) {
  const std::string url = etcd_.client_url(0);
  Run([&url](Client& etcd) -> asio::awaitable<void> {
    const base::Result<int64_t> first = co_await etcd.Put("/c/k", "1", kTimeout);
    co_await MustPut(etcd, "/c/k", "2");
    const base::Result<int64_t> last = co_await etcd.Put("/c/k", "3", kTimeout);
    if (!Ok(first) || !Ok(last)) {
      co_return;
    }
    const base::Status compacted = co_await Compact(url, *last);
    EXPECT_TRUE(compacted.ok()) << compacted.error().message;

    Watched watched;
    const auto never = [&]() -> asio::awaitable<void> {
      co_await Until([] { return false; }, kTimeout);
    };
    const std::optional<base::Status> ended =
        co_await WatchWhile(etcd, "/c/", *first, watched, never());
    EXPECT_TRUE(ended.has_value());
    if (ended.has_value()) {
      EXPECT_FALSE(ended->ok());
      EXPECT_EQ(ended->error().code, base::ErrorCode::kConflict) << ended->error().message;
    }
    EXPECT_TRUE(watched.batches.empty());

    // From the compaction's revision on, the history is there.
    Watched rest;
    const auto until_seen = [&]() -> asio::awaitable<void> {
      co_await Until([&] { return !rest.batches.empty(); }, kTimeout);
    };
    const std::optional<base::Status> watching =
        co_await WatchWhile(etcd, "/c/", *last, rest, until_seen());
    EXPECT_FALSE(watching.has_value());
    EXPECT_THAT(rest.events(), ElementsAre(IsPut("/c/k", "3")));
  });
}

TEST_F(EtcdClientTest, AWatchEndsUnavailableWhenItsMemberGoes) {
  Run([this](Client& etcd) -> asio::awaitable<void> {
    Watched watched;
    const auto kill = [&]() -> asio::awaitable<void> {
      co_await MustPut(etcd, "/k/a", "1");
      co_await Until([&] { return !watched.batches.empty(); }, kTimeout);
      etcd_.Kill(0);
      co_await Until([] { return false; }, kTimeout);
    };
    const std::optional<base::Status> ended = co_await WatchWhile(etcd, "/k/", 1, watched, kill());
    EXPECT_TRUE(ended.has_value());
    if (ended.has_value()) {
      EXPECT_FALSE(ended->ok());
      EXPECT_EQ(ended->error().code, base::ErrorCode::kUnavailable) << ended->error().message;
    }
  });
}

TEST_F(EtcdClientTest, AClientWhoseFirstMemberIsDeadUsesTheNext) {
  testing::HeldPort dead;  // Refuses connections.
  const std::vector<std::string> urls = {"http://" + dead.address(), etcd_.client_url(0)};
  WithClient(urls, [&](Client& etcd) -> asio::awaitable<void> {
    EXPECT_EQ(etcd.current_url(), urls[0]);
    co_await MustPut(etcd, "/d/a", "1");
    EXPECT_EQ(etcd.current_url(), urls[1]);
    const base::Result<RangeReply> read = co_await etcd.Get("/d/a", kTimeout);
    if (Ok(read)) {
      EXPECT_THAT(read->kvs, ElementsAre(Field(&KeyValue::value, "1")));
    }
  });
  // A watch too, with a client of its own.
  WithClient(urls, [&](Client& etcd) -> asio::awaitable<void> {
    Watched watched;
    const auto until_seen = [&]() -> asio::awaitable<void> {
      co_await Until([&] { return !watched.batches.empty(); }, kTimeout);
    };
    const std::optional<base::Status> ended =
        co_await WatchWhile(etcd, "/d/", 1, watched, until_seen());
    EXPECT_FALSE(ended.has_value()) << ended->error().message;
    EXPECT_THAT(watched.events(), ElementsAre(IsPut("/d/a", "1")));
    EXPECT_EQ(etcd.current_url(), urls[1]);
  });
}

TEST(EtcdClientWithoutEtcdTest, NoMemberAnsweringIsUnavailable) {
  testing::HeldPort dead;
  WithClient({"http://" + dead.address()}, [](Client& etcd) -> asio::awaitable<void> {
    const base::Result<RangeReply> read = co_await etcd.Get("/a", 1s);
    EXPECT_FALSE(read.ok());
    if (!read.ok()) {
      EXPECT_EQ(read.error().code, base::ErrorCode::kUnavailable);
    }
    std::function<void(const WatchBatch&)> ignore = [](const WatchBatch&) {};
    const base::Status watch = co_await etcd.Watch("/", 0, ignore, 1s);
    EXPECT_FALSE(watch.ok());
    if (!watch.ok()) {
      EXPECT_EQ(watch.error().code, base::ErrorCode::kUnavailable);
    }
  });
}

TEST(EtcdClientWithoutEtcdTest, RefusesWhatIsNotAListOfMembers) {
  asio::io_context io;
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"ftp://127.0.0.1:2379"},
      {"http://127.0.0.1:2379/v3"},
      {"http://127.0.0.1:2379", "x"},
      {"https://127.0.0.1:2379"}};  // https without the CA.
  for (const std::vector<std::string>& urls : bad) {
    base::Result<Client> client = Client::ForUrls(io.get_executor(), urls, nullptr);
    EXPECT_FALSE(client.ok()) << (urls.empty() ? "" : urls.back());
    if (!client.ok()) {
      EXPECT_EQ(client.error().code, base::ErrorCode::kInvalidArgument);
    }
  }
  EXPECT_TRUE(
      Client::ForUrls(io.get_executor(), {"127.0.0.1:2379", "http://127.0.0.1:2380/"}, nullptr)
          .ok());
}

// Three members: any one may go and the others answer.
class EtcdClusterClientTest : public ::testing::Test {
 protected:
  EtcdCluster etcd_{3};
};

TEST_F(EtcdClusterClientTest, KeepsAnsweringWithOneMemberKilled) {
  const std::vector<std::string> urls = etcd_.client_urls();
  WithClient(urls, [&](Client& etcd) -> asio::awaitable<void> {
    co_await MustPut(etcd, "/k/before", "1");
    etcd_.Kill(0);  // The member the client was using.
    // Whatever reaches the others while they elect a leader (if it was theirs) waits for
    // one or fails: "etcdserver: leader changed". They answer once they have one.
    etcd_.WaitHealthy();
    co_await MustPut(etcd, "/k/after", "2");
    EXPECT_NE(etcd.current_url(), urls[0]);
    const base::Result<RangeReply> read = co_await etcd.GetPrefix("/k/", kTimeout);
    if (Ok(read)) {
      EXPECT_THAT(read->kvs, ElementsAre(HasKey("/k/after"), HasKey("/k/before")));
    }
    const base::Result<Lease> lease = co_await etcd.GrantLease(10s, kTimeout);
    if (Ok(lease)) {
      const base::Result<std::chrono::seconds> renewed =
          co_await etcd.KeepAlive(lease->id, kTimeout);
      Ok(renewed);
    }
  });
  // Back, it has caught up; and with another member gone, the cluster still answers.
  etcd_.Restart(0);
  etcd_.Kill(1);
  etcd_.WaitHealthy();
  WithClient({urls[0]}, [&](Client& etcd) -> asio::awaitable<void> {
    const base::Result<RangeReply> read = co_await etcd.GetPrefix("/k/", kTimeout);
    if (Ok(read)) {
      EXPECT_THAT(read->kvs, ElementsAre(HasKey("/k/after"), HasKey("/k/before")));
    }
    co_await MustPut(etcd, "/k/third", "3");
  });
}

TEST_F(EtcdClusterClientTest, AWatchWhoseMemberDiesResumesAtTheNextWithoutALoss) {
  const std::vector<std::string> urls = etcd_.client_urls();
  WithClient(urls, [&](Client& etcd) -> asio::awaitable<void> {
    const base::Result<int64_t> start = co_await etcd.Put("/r/a", "1", kTimeout);
    if (!Ok(start)) {
      co_return;
    }
    Watched watched;
    const auto kill = [&]() -> asio::awaitable<void> {
      co_await Until([&] { return !watched.batches.empty(); }, kTimeout);
      etcd_.Kill(0);
      co_await Until([] { return false; }, kTimeout);
    };
    const std::optional<base::Status> ended =
        co_await WatchWhile(etcd, "/r/", *start, watched, kill());
    EXPECT_TRUE(ended.has_value() && !ended->ok());
    if (ended.has_value() && !ended->ok()) {
      EXPECT_EQ(ended->error().code, base::ErrorCode::kUnavailable) << ended->error().message;
    }
    etcd_.WaitHealthy();
    co_await MustPut(etcd, "/r/b", "2");  // While no watch runs.
    if (watched.batches.empty()) {
      co_return;
    }
    const int64_t from = watched.batches.back().revision + 1;
    const auto until_seen = [&]() -> asio::awaitable<void> {
      co_await Until([&] { return watched.events().size() >= 2; }, kTimeout);
    };
    const std::optional<base::Status> resumed =
        co_await WatchWhile(etcd, "/r/", from, watched, until_seen());
    EXPECT_FALSE(resumed.has_value()) << resumed->error().message;
    EXPECT_THAT(watched.events(), ElementsAre(IsPut("/r/a", "1"), IsPut("/r/b", "2")));
    EXPECT_NE(etcd.current_url(), urls[0]);
  });
}

TEST_F(EtcdClusterClientTest, AMemberCutOffCostsOneCallThenTheNextAnswer) {
  const std::vector<std::string> urls = etcd_.client_urls();
  ASSERT_TRUE(etcd_.Pause(0));  // Accepts connections, answers nothing.
  etcd_.WaitHealthy();          // The others have a leader, should it have been theirs.
  WithClient(urls, [&](Client& etcd) -> asio::awaitable<void> {
    // The first call waits its time out on the member cut off; the next go to the next.
    const base::Result<int64_t> lost = co_await etcd.Put("/p/a", "1", 500ms);
    EXPECT_FALSE(lost.ok());
    if (!lost.ok()) {
      EXPECT_EQ(lost.error().code, base::ErrorCode::kUnavailable);
    }
    co_await MustPut(etcd, "/p/b", "2");
    EXPECT_NE(etcd.current_url(), urls[0]);
  });
  WithClient(urls, [&](Client& etcd) -> asio::awaitable<void> {
    // A watch likewise: no answer by its connect timeout, then the next member.
    std::function<void(const WatchBatch&)> ignore = [](const WatchBatch&) {};
    const base::Status lost = co_await etcd.Watch("/p/", 1, ignore, 500ms);
    EXPECT_FALSE(lost.ok());
    if (!lost.ok()) {
      EXPECT_EQ(lost.error().code, base::ErrorCode::kUnavailable);
    }
    Watched watched;
    const auto until_seen = [&]() -> asio::awaitable<void> {
      co_await Until([&] { return !watched.batches.empty(); }, kTimeout);
    };
    const std::optional<base::Status> ended =
        co_await WatchWhile(etcd, "/p/", 1, watched, until_seen());
    EXPECT_FALSE(ended.has_value()) << ended->error().message;
    EXPECT_THAT(watched.events(), ElementsAre(IsPut("/p/b", "2")));
  });
  etcd_.Resume(0);
}

TEST(EtcdTlsClientTest, SpeaksToMembersThatAskForItsCertificate) {
  EtcdCluster etcd(1, EtcdCluster::ClientTls::kMutual);
  const std::vector<std::string> urls = etcd.client_urls();
  ASSERT_TRUE(urls[0].starts_with("https://"));
  auto tls = net::TlsClientContext::Create(etcd.client_tls());
  ASSERT_TRUE(tls.ok()) << tls.error().message;
  WithClient(
      urls,
      [&](Client& client) -> asio::awaitable<void> {
        co_await MustPut(client, "/s/a", "1");
        Watched watched;
        const auto until_seen = [&]() -> asio::awaitable<void> {
          co_await Until([&] { return !watched.batches.empty(); }, kTimeout);
        };
        const std::optional<base::Status> ended =
            co_await WatchWhile(client, "/s/", 1, watched, until_seen());
        EXPECT_FALSE(ended.has_value()) << ended->error().message;
        EXPECT_THAT(watched.events(), ElementsAre(IsPut("/s/a", "1")));
      },
      *tls);

  // Without a certificate of its own, the members refuse it.
  net::TlsClientFiles ca_only;
  ca_only.ca = etcd.client_tls().ca;
  auto anonymous = net::TlsClientContext::Create(ca_only);
  ASSERT_TRUE(anonymous.ok()) << anonymous.error().message;
  WithClient(
      urls,
      [&](Client& client) -> asio::awaitable<void> {
        const base::Result<RangeReply> read = co_await client.Get("/s/a", kTimeout);
        EXPECT_FALSE(read.ok());
        std::function<void(const WatchBatch&)> ignore = [](const WatchBatch&) {};
        const base::Status watch = co_await client.Watch("/s/", 1, ignore, kTimeout);
        EXPECT_FALSE(watch.ok());
      },
      *anonymous);
}

}  // namespace
}  // namespace trellis::etcd
