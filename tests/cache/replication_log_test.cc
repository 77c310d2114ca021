#include "cache/replication_log.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "cache/replication_wire.h"

namespace trellis::cache {
namespace {

constexpr uint32_t kNow = 1'800'000'000;

MutationRecord Store(std::string_view key, std::string_view value) {
  return {0, MutationOp::kStore, key, value, 0, 0, 7, kNow};
}

// The sequences and keys of the record frames in `stream`, in order.
std::vector<std::pair<uint64_t, std::string>> Records(std::string_view stream) {
  std::vector<std::pair<uint64_t, std::string>> records;
  while (!stream.empty()) {
    ReplicationFrame frame;
    size_t consumed = 0;
    if (ParseReplicationFrame(stream, &frame, &consumed) != FrameStatus::kOk) {
      ADD_FAILURE() << "not a whole frame";
      break;
    }
    EXPECT_EQ(frame.type, 'R');
    records.emplace_back(frame.record.sequence, std::string(frame.record.key));
    stream.remove_prefix(consumed);
  }
  return records;
}

// The size of one record frame for a key and value of these lengths.
size_t FrameSize(size_t key_length, size_t value_length) {
  std::string frame;
  AppendRecordFrame(Store(std::string(key_length, 'k'), std::string(value_length, 'v')), &frame);
  return frame.size();
}

TEST(ReplicationLogTest, NumbersRecordsInTheOrderTheyArrive) {
  ReplicationLog log(1 << 20);
  log.Lead();
  EXPECT_EQ(log.last_sequence(), 0u);
  log.OnMutation(Store("a", "1"));
  log.OnMutation(Store("b", "2"));
  log.OnMutation({0, MutationOp::kDelete, "a", {}, 0, 0, 0, kNow});
  EXPECT_EQ(log.last_sequence(), 3u);
  EXPECT_EQ(ReplicationLog::LastSequenceOfThisThread(), 3u);

  uint64_t after = 0;
  std::string stream;
  ASSERT_TRUE(log.CopyAfter(&after, 1 << 20, &stream));
  EXPECT_EQ(after, 3u);
  const std::vector<std::pair<uint64_t, std::string>> expected = {{1, "a"}, {2, "b"}, {3, "a"}};
  EXPECT_EQ(Records(stream), expected);

  // From the middle; and nothing new is nothing to copy.
  after = 2;
  stream.clear();
  ASSERT_TRUE(log.CopyAfter(&after, 1 << 20, &stream));
  EXPECT_EQ(Records(stream), (std::vector<std::pair<uint64_t, std::string>>{{3, "a"}}));
  stream.clear();
  ASSERT_TRUE(log.CopyAfter(&after, 1 << 20, &stream));
  EXPECT_TRUE(stream.empty());
  EXPECT_EQ(after, 3u);
}

TEST(ReplicationLogTest, EachThreadKnowsTheLastSequenceItAppended) {
  ReplicationLog log(1 << 20);
  log.Lead();
  log.OnMutation(Store("a", "1"));
  uint64_t other_thread_last = 99;
  std::thread([&] {
    log.OnMutation(Store("b", "2"));
    log.OnMutation(Store("c", "3"));
    other_thread_last = ReplicationLog::LastSequenceOfThisThread();
  }).join();
  EXPECT_EQ(other_thread_last, 3u);
  EXPECT_EQ(ReplicationLog::LastSequenceOfThisThread(), 1u);
}

TEST(ReplicationLogTest, CopiesAboutMaxBytesAtATime) {
  ReplicationLog log(1 << 20);
  log.Lead();
  for (int i = 0; i < 10; ++i) {
    log.OnMutation(Store("key" + std::to_string(i), "value"));
  }
  const size_t frame = FrameSize(4, 5);
  uint64_t after = 0;
  std::string stream;
  // It stops once it has max_bytes or more: three frames for 2.5 frames' worth.
  ASSERT_TRUE(log.CopyAfter(&after, frame * 5 / 2, &stream));
  EXPECT_EQ(after, 3u);
  EXPECT_EQ(stream.size(), 3 * frame);
  stream.clear();
  ASSERT_TRUE(log.CopyAfter(&after, 1 << 20, &stream));
  EXPECT_EQ(after, 10u);
  EXPECT_EQ(Records(stream).front().first, 4u);
}

TEST(ReplicationLogTest, KeepsOnlyTheNewestCapacityBytes) {
  const size_t frame = FrameSize(4, 100);
  ReplicationLog log(frame * 4);
  log.Lead();
  for (int i = 0; i < 10; ++i) {
    log.OnMutation(Store("key" + std::to_string(i), std::string(100, 'v')));
  }
  EXPECT_EQ(log.last_sequence(), 10u);
  // Records 7 to 10 fit: a reader at 6 or later catches up from the log.
  uint64_t after = 6;
  std::string stream;
  ASSERT_TRUE(log.CopyAfter(&after, 1 << 20, &stream));
  EXPECT_EQ(Records(stream).size(), 4u);
  EXPECT_EQ(after, 10u);
  // A reader that fell further behind cannot: it needs a snapshot. It is left where it was.
  after = 5;
  stream.clear();
  EXPECT_FALSE(log.CopyAfter(&after, 1 << 20, &stream));
  EXPECT_EQ(after, 5u);
  EXPECT_TRUE(stream.empty());
  after = 0;
  EXPECT_FALSE(log.CopyAfter(&after, 1 << 20, &stream));
}

TEST(ReplicationLogTest, KeepsTheNewestRecordEvenWhenItAloneIsOverCapacity) {
  ReplicationLog log(16);
  log.Lead();
  log.OnMutation(Store("a", std::string(100, 'v')));
  log.OnMutation(Store("b", std::string(100, 'v')));
  uint64_t after = 1;
  std::string stream;
  ASSERT_TRUE(log.CopyAfter(&after, 1 << 20, &stream));
  EXPECT_EQ(Records(stream), (std::vector<std::pair<uint64_t, std::string>>{{2, "b"}}));
}

TEST(ReplicationLogTest, RefusesAReaderAheadOfTheLog) {
  // A backup that followed another log (a main that restarted) knows sequences this one
  // has not reached.
  ReplicationLog log(1 << 20);
  log.Lead();
  log.OnMutation(Store("a", "1"));
  uint64_t after = 5;
  std::string stream;
  EXPECT_FALSE(log.CopyAfter(&after, 1 << 20, &stream));
  EXPECT_EQ(after, 5u);
}

TEST(ReplicationLogTest, LogsOfDifferentLivesHaveDifferentIds) {
  ReplicationLog first(1024);
  ReplicationLog second(1024);
  EXPECT_EQ(first.log_id(), 0u) << "no id before it logs anything";
  first.OnMutation(Store("a", "1"));
  EXPECT_EQ(first.last_sequence(), 0u) << "a log that does not lead keeps nothing";
  first.Lead();
  second.Lead();
  EXPECT_NE(first.log_id(), second.log_id());
  EXPECT_NE(first.log_id(), 0u);
}

// The log of a backup that its main's records went to, as RunReplica feeds it.
void FollowMain(ReplicationLog& backup, uint64_t main_log_id, uint64_t snapshot_at,
                std::initializer_list<std::string_view> keys) {
  backup.Follow();
  backup.FollowFrom(main_log_id, snapshot_at);
  uint64_t sequence = snapshot_at;
  for (std::string_view key : keys) {
    MutationRecord record = Store(key, "v");
    record.sequence = ++sequence;
    ASSERT_TRUE(backup.AppendFollowed(record));
  }
}

TEST(ReplicationLogTest, APromotedBackupContinuesItsMainsLogForTheMainsOtherConsumers) {
  ReplicationLog main(1 << 20);
  main.Lead();
  ReplicationLog backup(1 << 20);
  FollowMain(backup, main.log_id(), 10, {"a", "b", "c"});
  EXPECT_EQ(backup.log_id(), main.log_id());
  EXPECT_EQ(backup.last_sequence(), 13u);
  backup.OnMutation(Store("local", "expiry"));
  EXPECT_EQ(backup.last_sequence(), 13u) << "a backup logs only its main's records";
  // The records are kept with the main's sequences.
  uint64_t after = 11;
  std::string stream;
  ASSERT_TRUE(backup.CopyAfter(&after, 1 << 20, &stream));
  EXPECT_EQ(Records(stream), (std::vector<std::pair<uint64_t, std::string>>{{12, "b"}, {13, "c"}}));

  backup.Lead();  // Promoted.
  const uint64_t promoted = backup.log_id();
  EXPECT_NE(promoted, main.log_id());
  backup.OnMutation(Store("d", "4"));
  EXPECT_EQ(backup.last_sequence(), 14u) << "its own records go on from the main's";
  // Another consumer of the old main, at 12 or at 13, continues; one past 13 had records
  // this node never got (it diverged), and one of another log knows nothing of this one.
  EXPECT_EQ(backup.ContinuationOf(main.log_id(), 12), promoted);
  EXPECT_EQ(backup.ContinuationOf(main.log_id(), 13), promoted);
  EXPECT_EQ(backup.ContinuationOf(main.log_id(), 14), 0u);
  EXPECT_EQ(backup.ContinuationOf(main.log_id() + 2, 12), 0u);
  EXPECT_EQ(backup.ContinuationOf(promoted, 14), promoted);
  EXPECT_EQ(backup.ContinuationOf(0, 0), 0u);
  after = 12;
  stream.clear();
  ASSERT_TRUE(backup.CopyAfter(&after, 1 << 20, &stream));
  EXPECT_EQ(Records(stream), (std::vector<std::pair<uint64_t, std::string>>{{13, "c"}, {14, "d"}}));
}

TEST(ReplicationLogTest, AFollowingLogTakesOnlyTheNextRecordAndNothingOncePromoted) {
  ReplicationLog backup(1 << 20);
  FollowMain(backup, 77, 5, {"a"});
  MutationRecord skipped = Store("b", "v");
  skipped.sequence = 8;
  EXPECT_FALSE(backup.AppendFollowed(skipped)) << "7 is missing";
  skipped.sequence = 6;
  EXPECT_FALSE(backup.AppendFollowed(skipped)) << "6 is there already";
  // A stream that says the main's log continues as another: the old id counts up to here.
  backup.ContinueAs(78);
  EXPECT_EQ(backup.log_id(), 78u);
  MutationRecord next = Store("c", "v");
  next.sequence = 7;
  EXPECT_TRUE(backup.AppendFollowed(next));
  backup.Lead();
  EXPECT_EQ(backup.ContinuationOf(78, 7), backup.log_id());
  next.sequence = 8;
  EXPECT_FALSE(backup.AppendFollowed(next)) << "promoted: the old main's stream must stop";
  // A snapshot being received: nothing to continue until it completes.
  ReplicationLog other(1 << 20);
  other.Follow();
  other.FollowFrom(0, 0);
  next.sequence = 1;
  EXPECT_FALSE(other.AppendFollowed(next));
  EXPECT_EQ(other.log_id(), 0u);
}

TEST(ReplicationLogTest, WakesAReaderWhenARecordArrivesAfterItsPlace) {
  ReplicationLog log(1 << 20);
  log.Lead();
  log.OnMutation(Store("a", "1"));
  int woken_at_once = 0;
  log.NotifyAfter(0, [&] { ++woken_at_once; });
  EXPECT_EQ(woken_at_once, 1) << "record 1 is already there";

  int woken = 0;
  log.NotifyAfter(1, [&] { ++woken; });
  EXPECT_EQ(woken, 0);
  log.OnMutation(Store("b", "2"));
  EXPECT_EQ(woken, 1);
  log.OnMutation(Store("c", "3"));
  EXPECT_EQ(woken, 1) << "a wake-up fires once";
}

TEST(ReplicationLogTest, CountsAcknowledgementsAndWakesTheirWaiters) {
  ReplicationLog log(1 << 20);
  log.Lead();
  for (int i = 0; i < 5; ++i) {
    log.OnMutation(Store("k", "v"));
  }
  EXPECT_EQ(log.acknowledged(), 0u);
  std::vector<uint64_t> released;
  for (uint64_t sequence : {2, 4, 5}) {
    log.NotifyAcknowledged(sequence, [&released, sequence] { released.push_back(sequence); });
  }
  EXPECT_TRUE(released.empty());

  log.Acknowledge(3);
  EXPECT_EQ(log.acknowledged(), 3u);
  EXPECT_EQ(released, std::vector<uint64_t>{2});
  log.Acknowledge(2);  // Older than what is known: ignored.
  EXPECT_EQ(log.acknowledged(), 3u);
  log.Acknowledge(9);  // Past the log: a confused backup, ignored.
  EXPECT_EQ(log.acknowledged(), 3u);
  log.Acknowledge(4);
  EXPECT_EQ(released, (std::vector<uint64_t>{2, 4}));
  log.Acknowledge(5);
  EXPECT_EQ(released, (std::vector<uint64_t>{2, 4, 5}));

  bool at_once = false;
  log.NotifyAcknowledged(5, [&] { at_once = true; });
  EXPECT_TRUE(at_once);
}

}  // namespace
}  // namespace trellis::cache
