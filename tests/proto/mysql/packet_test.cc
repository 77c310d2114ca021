// MySQL packet framing (packet.h): one packet at a time with ReadFrame, whole messages
// with ReadMessage, the split of messages of 0xFFFFFF bytes and more into packets (the
// last one empty if need be), sequence numbers, kNeedMore on partial input and
// kTooLarge from a header alone.
#include "proto/mysql/packet.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "testing/hex.h"

namespace trellis::proto::mysql {
namespace {

using testing::FromHex;

// MariaDB 10.11.19's answer to `SELECT 1 AS a, 'x' AS b, NULL AS c` (captured on loopback):
// column count, three definitions, EOF, one row, EOF; sequence numbers 1 to 7.
constexpr std::string_view kResultSetHex =
    "0200000103011800000203646566000000016100000c3f0001000000038100000000180000030364"
    "6566000000016200000c210003000000fd01002700001800000403646566000000016300000c3f00"
    "0000000006800000000005000005fe000002000500000601310178fb05000007fe00000200";

std::string Header(size_t length, uint8_t sequence) {
  return std::string{static_cast<char>(length & 0xFF), static_cast<char>((length >> 8) & 0xFF),
                     static_cast<char>((length >> 16) & 0xFF), static_cast<char>(sequence)};
}

TEST(PacketTest, ReadsARealResultSetOnePacketAtATime) {
  const std::string stream = FromHex(kResultSetHex);
  std::string_view input = stream;
  std::vector<Frame> frames;
  while (!input.empty()) {
    Frame frame;
    ASSERT_EQ(ReadFrame(input, &frame), FrameStatus::kOk);
    ASSERT_LE(frame.bytes, input.size());
    EXPECT_EQ(frame.bytes, kPacketHeaderBytes + frame.payload.size());
    EXPECT_EQ(frame.payload.data(), input.data() + kPacketHeaderBytes);
    EXPECT_FALSE(frame.continues);
    frames.push_back(frame);
    input.remove_prefix(frame.bytes);
  }
  ASSERT_EQ(frames.size(), 7u);
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].sequence, i + 1);
  }
  // The column count, and the flag "metadata follows" of MariaDB's extended capability
  // MARIADB_CLIENT_CACHE_METADATA, which the mariadb client asked for.
  EXPECT_EQ(frames[0].payload, "\x03\x01");
  EXPECT_EQ(frames[1].payload.size(), 24u);
  EXPECT_EQ(frames[4].payload, std::string_view("\xFE\x00\x00\x02\x00", 5));
  EXPECT_EQ(frames[5].payload, "\x01\x31\x01\x78\xFB");
}

TEST(PacketTest, APartialHeaderOrPayloadNeedsMore) {
  const std::string packet = Header(5, 3) + "hello";
  for (size_t size = 0; size < packet.size(); ++size) {
    Frame frame;
    EXPECT_EQ(ReadFrame(std::string_view(packet).substr(0, size), &frame), FrameStatus::kNeedMore)
        << size;
    Message message;
    EXPECT_EQ(ReadMessage(std::string_view(packet).substr(0, size), 1024, &message),
              MessageStatus::kNeedMore)
        << size;
  }
  Frame frame;
  ASSERT_EQ(ReadFrame(packet + "more", &frame), FrameStatus::kOk);
  EXPECT_EQ(frame.sequence, 3);
  EXPECT_EQ(frame.payload, "hello");
  EXPECT_EQ(frame.bytes, packet.size());
}

TEST(PacketTest, AnEmptyPayloadIsOneEmptyPacket) {
  std::string out;
  EXPECT_EQ(AppendMessage(out, 4, ""), 5);
  EXPECT_EQ(out, Header(0, 4));
  Message message;
  ASSERT_EQ(ReadMessage(out, 0, &message), MessageStatus::kOk);
  EXPECT_EQ(message.payload, "");
  EXPECT_EQ(message.bytes, 4u);
  EXPECT_EQ(message.sequence, 4);
}

TEST(PacketTest, APayloadOfExactlyTheMaximumEndsWithAnEmptyPacket) {
  const std::string payload(kMaxPacketPayload, 'm');
  std::string out;
  EXPECT_EQ(AppendMessage(out, 0, payload), 2);
  ASSERT_EQ(out.size(), 2 * kPacketHeaderBytes + kMaxPacketPayload);
  EXPECT_EQ(out.substr(0, 4), Header(kMaxPacketPayload, 0));
  EXPECT_EQ(out.substr(4 + kMaxPacketPayload), Header(0, 1));

  Frame first;
  ASSERT_EQ(ReadFrame(out, &first), FrameStatus::kOk);
  EXPECT_TRUE(first.continues);
  EXPECT_EQ(first.payload.size(), kMaxPacketPayload);
  EXPECT_EQ(first.sequence, 0);
  Frame second;
  ASSERT_EQ(ReadFrame(std::string_view(out).substr(first.bytes), &second), FrameStatus::kOk);
  EXPECT_FALSE(second.continues);
  EXPECT_TRUE(second.payload.empty());
  EXPECT_EQ(second.sequence, 1);

  Message message;
  ASSERT_EQ(ReadMessage(out, kMaxPacketPayload, &message), MessageStatus::kOk);
  EXPECT_EQ(message.payload, payload);
  EXPECT_EQ(message.bytes, out.size());
  EXPECT_EQ(message.sequence, 1);
  // Without its empty packet the message is not over.
  EXPECT_EQ(
      ReadMessage(std::string_view(out).substr(0, out.size() - 1), kMaxPacketPayload, &message),
      MessageStatus::kNeedMore);
}

TEST(PacketTest, APayloadLongerThanTheMaximumContinuesInAShortPacket) {
  std::string payload(kMaxPacketPayload + 10, 'x');
  payload.replace(kMaxPacketPayload, 10, "0123456789");
  std::string out;
  EXPECT_EQ(AppendMessage(out, 7, payload), 9);
  ASSERT_EQ(out.size(), 2 * kPacketHeaderBytes + kMaxPacketPayload + 10);
  EXPECT_EQ(out.substr(4 + kMaxPacketPayload), Header(10, 8) + "0123456789");

  Frame first;
  ASSERT_EQ(ReadFrame(out, &first), FrameStatus::kOk);
  EXPECT_TRUE(first.continues);
  Frame second;
  ASSERT_EQ(ReadFrame(std::string_view(out).substr(first.bytes), &second), FrameStatus::kOk);
  EXPECT_FALSE(second.continues);
  EXPECT_EQ(second.payload, "0123456789");

  Message message;
  ASSERT_EQ(ReadMessage(out + "next", payload.size(), &message), MessageStatus::kOk);
  EXPECT_EQ(message.payload, payload);
  EXPECT_EQ(message.bytes, out.size());
  EXPECT_EQ(message.sequence, 8);
  // The second packet's header has come but not its payload.
  EXPECT_EQ(ReadMessage(std::string_view(out).substr(0, 4 + kMaxPacketPayload + 4 + 9),
                        payload.size(), &message),
            MessageStatus::kNeedMore);
}

TEST(PacketTest, SequenceNumbersWrapAfter255) {
  std::string out;
  EXPECT_EQ(AppendMessage(out, 255, std::string(kMaxPacketPayload, 'w')), 1);
  Frame first;
  ASSERT_EQ(ReadFrame(out, &first), FrameStatus::kOk);
  EXPECT_EQ(first.sequence, 255);
  Frame second;
  ASSERT_EQ(ReadFrame(std::string_view(out).substr(first.bytes), &second), FrameStatus::kOk);
  EXPECT_EQ(second.sequence, 0);
}

TEST(PacketTest, ReadMessageRefusesAnOversizedMessageFromItsHeaderAlone) {
  Message message;
  EXPECT_EQ(ReadMessage(Header(1000, 0), 999, &message), MessageStatus::kTooLarge);
  EXPECT_EQ(ReadMessage(Header(1000, 0), 1000, &message), MessageStatus::kNeedMore);
  // A continuation's header counts what came before it.
  const std::string big = Header(kMaxPacketPayload, 0) + std::string(kMaxPacketPayload, 'b');
  EXPECT_EQ(ReadMessage(big + Header(10, 1), kMaxPacketPayload + 9, &message),
            MessageStatus::kTooLarge);
  EXPECT_EQ(ReadMessage(big + Header(10, 1), kMaxPacketPayload + 10, &message),
            MessageStatus::kNeedMore);
}

TEST(PacketTest, ReadMessageTakesTheFirstMessageAndLeavesTheRest) {
  std::string out;
  AppendMessage(out, 0, "\x03SELECT 1");
  const size_t first = out.size();
  AppendMessage(out, 0, "\x0E");
  Message message;
  ASSERT_EQ(ReadMessage(out, 64, &message), MessageStatus::kOk);
  EXPECT_EQ(message.payload, "\x03SELECT 1");
  EXPECT_EQ(message.bytes, first);
  ASSERT_EQ(ReadMessage(std::string_view(out).substr(first), 64, &message), MessageStatus::kOk);
  EXPECT_EQ(message.payload, "\x0E");
  EXPECT_EQ(message.sequence, 0);
}

}  // namespace
}  // namespace trellis::proto::mysql
