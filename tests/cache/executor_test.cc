#include "cache/executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/cluster_slot.h"
#include "proto/memcache/request_reader.h"
#include "proto/memcache/version.h"

namespace trellis::cache {
namespace {

using proto::memcache::ParseStatus;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint32_t kNow = 1'800'000'000;  // Synthetic unix time.
constexpr size_t kMaxItemSize = 1024;

// An input buffer with the two members RequestReader needs, as net::Connection has them.
class InputBuffer {
 public:
  explicit InputBuffer(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string_view input() const { return std::string_view(bytes_).substr(begin_); }
  void Consume(size_t n) { begin_ += n; }

 private:
  std::string bytes_;
  size_t begin_ = 0;
};

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest()
      : store_(StoreOptions{8 << 20, true}),
        metrics_(registry_),
        options_{
            kMaxItemSize, kNow - 100, 3, 77,
            [] {
              return std::vector<std::pair<const char*, int64_t>>{{"replication_sequence", 42}};
            }},
        executor_(store_, metrics_, options_) {}

  // Runs `commands` as a cache node's connection does and returns every reply; *open
  // says whether the connection stays open (no quit).
  std::string Run(const std::string& commands, uint32_t now = kNow, bool* open = nullptr) {
    InputBuffer buffer(commands);
    proto::memcache::RequestReader reader(kMaxItemSize);
    std::string out;
    bool still_open = true;
    while (still_open) {
      const auto result = reader.Next(buffer);
      if (result.status == ParseStatus::kNeedMore || result.status == ParseStatus::kClose) {
        break;
      }
      if (result.status == ParseStatus::kError) {
        proto::memcache::AppendParseError(reader.request(), result.error, &out);
      } else if (result.status == ParseStatus::kTooLarge) {
        executor_.RejectTooLarge(reader.request(), now, &out);
      } else {
        still_open = executor_.Execute(reader.request(), now, &out);
      }
      reader.Consume(buffer);
    }
    if (open != nullptr) {
      *open = still_open;
    }
    return out;
  }

  // The CAS of `key`, as `mg <key> c` reports it.
  uint64_t CasOf(const std::string& key) {
    const std::string reply = Run("mg " + key + " c\r\n");
    std::smatch match;
    EXPECT_TRUE(std::regex_search(reply, match, std::regex(R"( c(\d+))"))) << reply;
    return match.empty() ? 0 : std::stoull(match[1]);
  }

  base::Registry registry_;
  Store store_;
  CacheMetrics metrics_;
  ExecutorOptions options_;
  Executor executor_;
};

struct Exchange {
  std::string commands;
  std::string replies;
};

TEST_F(ExecutorTest, TextCommandsReplyAsMemcachedDoes) {
  const Exchange exchanges[] = {
      {"set k 5 0 3\r\nabc\r\nget k\r\n", "STORED\r\nVALUE k 5 3\r\nabc\r\nEND\r\n"},
      {"add k 0 0 1\r\nx\r\nadd k2 0 0 1\r\ny\r\n", "NOT_STORED\r\nSTORED\r\n"},
      {"replace k 9 0 2\r\nzz\r\nreplace nope 0 0 1\r\nx\r\nget k\r\n",
       "STORED\r\nNOT_STORED\r\nVALUE k 9 2\r\nzz\r\nEND\r\n"},
      {"append k 0 0 2\r\n>>\r\nprepend k 0 0 2\r\n<<\r\nappend nope 0 0 1\r\nx\r\nget k\r\n",
       "STORED\r\nSTORED\r\nNOT_STORED\r\nVALUE k 9 6\r\n<<zz>>\r\nEND\r\n"},
      {"get nope k2 k\r\n", "VALUE k2 0 1\r\ny\r\nVALUE k 9 6\r\n<<zz>>\r\nEND\r\n"},
      {"cas nope 0 0 1 1\r\nx\r\ncas k 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\nEXISTS\r\n"},
      {"delete k2\r\ndelete k2\r\nget k2\r\n", "DELETED\r\nNOT_FOUND\r\nEND\r\n"},
      {"touch k 100\r\ntouch nope 100\r\n", "TOUCHED\r\nNOT_FOUND\r\n"},
      {"set q 0 0 1 noreply\r\nq\r\ndelete nope noreply\r\nincr q 1 noreply\r\nget q\r\n",
       "VALUE q 0 1\r\nq\r\nEND\r\n"},
      {"verbosity 1\r\nverbosity 1 noreply\r\nmn\r\n", "OK\r\nMN\r\n"},
      {"version\r\n", std::string(proto::memcache::kVersionReply)},
      {"bogus\r\nget\r\nset k 0 0 1\r\nxyz\r\n",
       "ERROR\r\nERROR\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\n"},
      {"flush_all\r\nget k q\r\n", "OK\r\nEND\r\n"},
  };
  for (const Exchange& exchange : exchanges) {
    EXPECT_EQ(Run(exchange.commands), exchange.replies) << exchange.commands;
  }
}

TEST_F(ExecutorTest, CasStoresOnlyOverTheVersionGetsReported) {
  Run("set k 0 0 1\r\na\r\n");
  const std::string gets = Run("gets k\r\n");
  std::smatch match;
  ASSERT_TRUE(std::regex_match(gets, match, std::regex("VALUE k 0 1 (\\d+)\r\na\r\nEND\r\n")))
      << gets;
  const std::string cas = match[1];
  EXPECT_EQ(Run("cas k 0 0 1 " + cas + "\r\nb\r\ncas k 0 0 1 " + cas + "\r\nc\r\nget k\r\n"),
            "STORED\r\nEXISTS\r\nVALUE k 0 1\r\nb\r\nEND\r\n");
}

TEST_F(ExecutorTest, IncrAndDecrReadTheValueAsMemcachedsStrtoullAndPadInPlace) {
  const Exchange exchanges[] = {
      {"set k 0 0 2\r\n10\r\nincr k 5\r\nget k\r\n",
       "STORED\r\n15\r\nVALUE k 0 2\r\n15\r\nEND\r\n"},
      // Leading whitespace is accepted; a shorter result is padded to the old length.
      {"set k 0 0 4\r\n  10\r\nincr k 1\r\nget k\r\n",
       "STORED\r\n11\r\nVALUE k 0 4\r\n11  \r\nEND\r\n"},
      {"set k 0 0 4\r\n10  \r\ndecr k 5\r\nget k\r\n",
       "STORED\r\n5\r\nVALUE k 0 4\r\n5   \r\nEND\r\n"},
      // Anything after the first whitespace is ignored.
      {"set k 0 0 4\r\n1 2 \r\nincr k 1\r\nget k\r\n",
       "STORED\r\n2\r\nVALUE k 0 4\r\n2   \r\nEND\r\n"},
      // A longer result makes the value longer.
      {"set k 0 0 2\r\n99\r\nincr k 1\r\nget k\r\n",
       "STORED\r\n100\r\nVALUE k 0 3\r\n100\r\nEND\r\n"},
      {"set k 0 0 4\r\n 999\r\nincr k 1\r\nget k\r\n",
       "STORED\r\n1000\r\nVALUE k 0 4\r\n1000\r\nEND\r\n"},
      // decr stops at zero, incr wraps at 2^64.
      {"set k 0 0 3\r\n100\r\ndecr k 200\r\nget k\r\n",
       "STORED\r\n0\r\nVALUE k 0 3\r\n0  \r\nEND\r\n"},
      {"set k 0 0 20\r\n18446744073709551615\r\nincr k 2\r\n", "STORED\r\n1\r\n"},
      {"set k 0 0 3\r\n+10\r\nincr k 1\r\n", "STORED\r\n11\r\n"},
      {"set k 0 0 2\r\n-0\r\nincr k 1\r\n", "STORED\r\n1\r\n"},
      {"set k 0 0 3\r\n-10\r\nincr k 1\r\n",
       "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
      {"set k 0 0 3\r\n   \r\nincr k 1\r\n",
       "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
      {"set k 0 0 4\r\n10ab\r\nincr k 1\r\n",
       "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
      {"set k 0 0 0\r\n\r\ndecr k 1\r\n",
       "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
      {"incr nope 1\r\n", "NOT_FOUND\r\n"},
  };
  for (const Exchange& exchange : exchanges) {
    EXPECT_EQ(Run(exchange.commands), exchange.replies) << exchange.commands;
  }
}

TEST_F(ExecutorTest, MetaSetWithInvalidateStoresALowerCasAsAStaleValue) {
  Run("set k 0 0 5\r\nhello\r\nmd k I\r\n");
  const uint64_t stale_cas = CasOf("k");  // This fetch takes the win token (W).
  // Higher than the item's: refused. Lower: stored, still stale, token kept (Z).
  EXPECT_EQ(Run("ms k 2 I C" + std::to_string(stale_cas + 1) + "\r\nhi\r\nmg k v\r\n"),
            "EX\r\nVA 5 Z X\r\nhello\r\n");
  EXPECT_EQ(Run("ms k 2 I C" + std::to_string(stale_cas - 1) + "\r\nhi\r\nmg k v\r\n"),
            "HD\r\nVA 2 Z X\r\nhi\r\n");
  EXPECT_NE(CasOf("k"), stale_cas - 1) << "the stale value gets a CAS of its own";
  // Equal: an ordinary store that ends the staleness.
  EXPECT_EQ(Run("ms k 2 I C" + std::to_string(CasOf("k")) + "\r\nok\r\nmg k v\r\n"),
            "HD\r\nVA 2\r\nok\r\n");
  // Without I a lower CAS is refused, stale or not.
  Run("md k I\r\n");
  EXPECT_EQ(Run("ms k 2 C1\r\nno\r\nmg k v\r\n"), "EX\r\nVA 2 X W\r\nok\r\n");
}

TEST_F(ExecutorTest, MetaSetWithInvalidateKeepsTheStaleItemsExpiry) {
  Run("ms k 5 T100\r\nhello\r\n");
  EXPECT_EQ(Run("ms k 2 I C1 T0\r\nhi\r\nmg k v t\r\n"), "HD\r\nVA 2 t100 X W\r\nhi\r\n")
      << "a lower CAS on a fresh item stores it stale too, as memcached does";
  EXPECT_EQ(Run("mg k v\r\n", kNow + 100), "EN\r\n");
}

TEST_F(ExecutorTest, ItemsExpireAtTheirTime) {
  Run("set k 0 10 1\r\nx\r\nset forever 0 0 1\r\ny\r\n");
  EXPECT_EQ(Run("get k forever\r\n", kNow + 9),
            "VALUE k 0 1\r\nx\r\nVALUE forever 0 1\r\ny\r\nEND\r\n");
  EXPECT_EQ(Run("get k forever\r\n", kNow + 10), "VALUE forever 0 1\r\ny\r\nEND\r\n");
}

TEST_F(ExecutorTest, QuitClosesTheConnection) {
  bool open = true;
  EXPECT_EQ(Run("version\r\nquit\r\nversion\r\n", kNow, &open), proto::memcache::kVersionReply);
  EXPECT_FALSE(open);
}

TEST_F(ExecutorTest, TooLargeValuesAreRefusedAndASetRemovesTheOldValue) {
  const std::string big(kMaxItemSize, 'v');
  Run("set k 0 0 3\r\nold\r\nset a 0 0 3\r\nold\r\n");
  EXPECT_EQ(Run("set k 0 0 1024\r\n" + big + "\r\nget k\r\n"),
            "SERVER_ERROR object too large for cache\r\nEND\r\n");
  // add, append and the rest keep the old value.
  EXPECT_EQ(Run("append a 0 0 1024\r\n" + big + "\r\nget a\r\n"),
            "SERVER_ERROR object too large for cache\r\nVALUE a 0 3\r\nold\r\nEND\r\n");
  // Quiet under text noreply; meta reports it even with q.
  EXPECT_EQ(Run("set a 0 0 1024 noreply\r\n" + big + "\r\nget a\r\n"), "END\r\n");
  EXPECT_EQ(Run("ms a 1024 q\r\n" + big + "\r\nmn\r\n"),
            "SERVER_ERROR object too large for cache\r\nMN\r\n");
  // The largest value that fits: the key and memcached's 56-byte header count too.
  const std::string fits(kMaxItemSize - 56 - 1, 'f');
  EXPECT_EQ(Run("set f 0 0 " + std::to_string(fits.size()) + "\r\n" + fits + "\r\n"), "STORED\r\n");
  EXPECT_THAT(Run("stats\r\n"), HasSubstr("STAT store_too_large 4\r\n"));
}

TEST_F(ExecutorTest, StatsCountCommandsAndReportOptionsAndReplication) {
  Run("set a 0 0 1\r\nx\r\nget a\r\nget a missing\r\nincr missing 1\r\ndelete a\r\n");
  const std::string stats = Run("stats\r\n", kNow + 5);
  const std::vector<std::string> expected = {
      "STAT uptime 105",
      "STAT time 1800000005",
      "STAT version " + std::string(proto::memcache::kServerVersion),
      "STAT max_connections 77",
      "STAT cmd_get 3",
      "STAT cmd_set 1",
      "STAT get_hits 2",
      "STAT get_misses 1",
      "STAT incr_misses 1",
      "STAT delete_hits 1",
      "STAT threads 3",
      "STAT curr_items 0",
      "STAT total_items 1",
      "STAT replication_sequence 42"};
  for (const std::string& line : expected) {
    EXPECT_THAT(stats, HasSubstr("\r\n" + line + "\r\n"));
  }
  EXPECT_THAT(stats, ::testing::EndsWith("END\r\n"));

  EXPECT_EQ(Run("stats reset\r\n"), "RESET\r\n");
  const std::string after_reset = Run("stats\r\n");
  EXPECT_THAT(after_reset, HasSubstr("\r\nSTAT cmd_get 0\r\n"));
  EXPECT_THAT(after_reset, HasSubstr("\r\nSTAT total_items 0\r\n"));
  // The Prometheus counters behind them stay monotonic.
  EXPECT_EQ(metrics_.get_hits.Value(), 2u);

  const std::string settings = Run("stats settings\r\n");
  EXPECT_THAT(settings, HasSubstr("STAT item_size_max 1024\r\n"));
  EXPECT_THAT(settings, HasSubstr("STAT num_threads 3\r\n"));
  EXPECT_THAT(settings, Not(HasSubstr("cmd_get")));
  EXPECT_EQ(Run("stats nonsense\r\n"), "ERROR\r\n");
}

TEST_F(ExecutorTest, StatsSlotsReportsTheClusterSlotsThatHoldItems) {
  EXPECT_EQ(Run("stats slots\r\n"), "END\r\n");
  Run("set a 0 0 1\r\nx\r\nset b 0 0 3\r\nxyz\r\n");
  const std::string slots = Run("stats slots\r\n");
  for (const char* key : {"a", "b"}) {
    const std::string prefix = "STAT slot:" + std::to_string(base::ClusterSlotOf(key)) + ":";
    EXPECT_THAT(slots, HasSubstr(prefix + "items 1\r\n")) << slots;
    EXPECT_THAT(slots, ::testing::ContainsRegex(prefix + "bytes [1-9][0-9]*\r\n")) << slots;
  }
  EXPECT_THAT(slots, ::testing::EndsWith("END\r\n"));
  Run("delete a\r\ndelete b\r\n");
  EXPECT_EQ(Run("stats slots\r\n"), "END\r\n");
}

TEST_F(ExecutorTest, CountsEachCommandUnderItsWireName) {
  Run("mn\r\nmn\r\nbget k\r\nflush_all\r\n");
  EXPECT_EQ(registry_.GetCounter("trellis_cache_commands_total", "", {{"command", "mn"}}).Value(),
            2u);
  EXPECT_EQ(registry_.GetCounter("trellis_cache_commands_total", "", {{"command", "get"}}).Value(),
            1u);
  EXPECT_EQ(
      registry_.GetCounter("trellis_cache_commands_total", "", {{"command", "flush_all"}}).Value(),
      1u);
}

// Records what the store reports.
class RecordingListener : public MutationListener {
 public:
  void OnMutation(const MutationRecord& record) override {
    ops.push_back(record.op);
    keys.emplace_back(record.key);
  }
  std::vector<MutationOp> ops;
  std::vector<std::string> keys;
};

TEST_F(ExecutorTest, AMoveInStoresOnlyIntoAnIncomingSlotWhereNoItemAndNoTombstoneIs) {
  RecordingListener log;
  store_.SetMutationListener(&log);
  const uint32_t slot = base::ClusterSlotOf("gone");
  store_.SetMoving(slot, Store::Moving::kIn);
  store_.SetMoving(base::ClusterSlotOf("new"), Store::Moving::kIn);
  // A delete of a key that is not here still leaves a tombstone, and is logged so that
  // the backups keep it too.
  EXPECT_EQ(Run("delete gone\r\n"), "NOT_FOUND\r\n");
  ASSERT_EQ(log.ops.size(), 1u);
  EXPECT_EQ(log.ops[0], MutationOp::kDelete);
  EXPECT_EQ(Run("ms gone 2 X T0 F3 E77\r\nhi\r\n"), "NS\r\n") << "the tombstone blocks it";
  EXPECT_EQ(Run("mg gone v\r\n"), "EN\r\n");

  EXPECT_EQ(Run("ms new 2 X F3 E77\r\nhi\r\nmg new v f c\r\n"), "HD\r\nVA 2 f3 c77\r\nhi\r\n");
  EXPECT_EQ(log.ops.back(), MutationOp::kMoveIn);
  EXPECT_EQ(Run("ms new 2 X E78\r\nho\r\n"), "NS\r\n") << "nothing is overwritten";
  // The store's own CAS values go on above one a move brought.
  const std::string reply = Run("set new 0 0 1\r\nx\r\nmg new c\r\n");
  ASSERT_EQ(reply.substr(0, 12), "STORED\r\nHD c");
  EXPECT_GT(std::stoull(reply.substr(12)), 77u);

  // A slot moving away logs deletes of keys it does not hold (its backups may), and
  // keeps no tombstone.
  store_.SetMoving(slot, Store::Moving::kOut);
  const size_t logged = log.ops.size();
  EXPECT_EQ(Run("md gone\r\n"), "NF\r\n");
  ASSERT_EQ(log.ops.size(), logged + 1);
  EXPECT_EQ(log.ops.back(), MutationOp::kDelete);

  // Once the slot's move has ended, nothing more moves in: a late copy is refused.
  store_.SetMoving(slot, Store::Moving::kNo);
  EXPECT_EQ(Run("ms gone 2 X\r\nhi\r\n"), "NS\r\n");
  EXPECT_EQ(Run("mg gone v\r\n"), "EN\r\n");
  EXPECT_EQ(Run("mg gone X\r\n"), "CLIENT_ERROR invalid flag\r\n") << "ms only";
  store_.SetMutationListener(nullptr);
}

}  // namespace
}  // namespace trellis::cache
