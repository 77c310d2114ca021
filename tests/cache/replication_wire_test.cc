#include "cache/replication_wire.h"

#include <gtest/gtest.h>

#include <string>

namespace trellis::cache {
namespace {

TEST(ReplicationWireTest, FramesComeBackAsTheyWereWritten) {
  std::string stream;
  AppendSnapshotStart(7, &stream);
  AppendRecordFrame({42, MutationOp::kStore, "key", "value", 5, 100, 9, 1234}, &stream);
  AppendHeartbeat({123456789, 1764158400123, 1500, true}, &stream);
  AppendSnapshotEnd(42, &stream);
  AppendContinuation(11, &stream);

  std::string_view input = stream;
  ReplicationFrame frame;
  size_t consumed = 0;
  ASSERT_EQ(ParseReplicationFrame(input, &frame, &consumed), FrameStatus::kOk);
  EXPECT_EQ(frame.type, 'F');
  EXPECT_EQ(frame.value, 7u);
  input.remove_prefix(consumed);
  ASSERT_EQ(ParseReplicationFrame(input, &frame, &consumed), FrameStatus::kOk);
  EXPECT_EQ(frame.type, 'R');
  EXPECT_EQ(frame.record.sequence, 42u);
  EXPECT_EQ(frame.record.key, "key");
  EXPECT_EQ(frame.record.value, "value");
  EXPECT_EQ(frame.record.cas, 9u);
  input.remove_prefix(consumed);
  ASSERT_EQ(ParseReplicationFrame(input, &frame, &consumed), FrameStatus::kOk);
  EXPECT_EQ(frame.type, 'H');
  EXPECT_EQ(frame.heartbeat.token, 123456789u);
  EXPECT_EQ(frame.heartbeat.wall_ms, 1764158400123u);
  EXPECT_EQ(frame.heartbeat.lease_ms, 1500u);
  EXPECT_TRUE(frame.heartbeat.frozen);
  input.remove_prefix(consumed);
  ASSERT_EQ(ParseReplicationFrame(input, &frame, &consumed), FrameStatus::kOk);
  EXPECT_EQ(frame.type, 'E');
  EXPECT_EQ(frame.value, 42u);
  input.remove_prefix(consumed);
  ASSERT_EQ(ParseReplicationFrame(input, &frame, &consumed), FrameStatus::kOk);
  EXPECT_EQ(frame.type, 'C');
  EXPECT_EQ(frame.value, 11u);
  EXPECT_EQ(consumed, input.size());
}

TEST(ReplicationWireTest, MovesKeepTheirMarkAndAnUnknownKindIsRejected) {
  for (const MutationOp op : {MutationOp::kMoveIn, MutationOp::kMoveOut}) {
    std::string stream;
    AppendRecordFrame({7, op, "key", op == MutationOp::kMoveIn ? "value" : "", 0, 0, 3, 99},
                      &stream);
    ReplicationFrame frame;
    size_t consumed = 0;
    ASSERT_EQ(ParseReplicationFrame(stream, &frame, &consumed), FrameStatus::kOk);
    EXPECT_EQ(frame.record.op, op) << "a consumer of the log tells a move from a client write";
  }
  std::string stream;
  AppendRecordFrame({7, MutationOp::kMoveOut, "key", "", 0, 0, 3, 99}, &stream);
  // The kind byte follows the type and the 8-byte sequence.
  stream[1 + 8] = static_cast<char>(static_cast<uint8_t>(MutationOp::kMoveOut) + 1);
  ReplicationFrame frame;
  size_t consumed = 0;
  EXPECT_EQ(ParseReplicationFrame(stream, &frame, &consumed), FrameStatus::kBad);
}

TEST(ReplicationWireTest, PartialFramesWaitAndBadOnesAreRejected) {
  std::string heartbeat;
  AppendHeartbeat({1, 2, 3, false}, &heartbeat);
  ReplicationFrame frame;
  size_t consumed = 0;
  for (size_t size = 0; size < heartbeat.size(); ++size) {
    EXPECT_EQ(ParseReplicationFrame(std::string_view(heartbeat).substr(0, size), &frame, &consumed),
              FrameStatus::kNeedMore)
        << size;
  }
  heartbeat.back() = 2;  // "frozen" is 0 or 1.
  EXPECT_EQ(ParseReplicationFrame(heartbeat, &frame, &consumed), FrameStatus::kBad);
  EXPECT_EQ(ParseReplicationFrame("X", &frame, &consumed), FrameStatus::kBad);
}

}  // namespace
}  // namespace trellis::cache
