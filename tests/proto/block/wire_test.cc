#include "proto/block/wire.h"

#include <gtest/gtest.h>

namespace trellis::proto::block {
namespace {

TEST(BlockWireTest, HeadersRoundTrip) {
  RequestHeader request;
  request.op = Op::kWrite;
  request.flags = kFlagFua;
  request.block_size = 512;
  request.chunk = 3;
  request.id = 99;
  request.volume = 7;
  request.offset = 1 << 20;
  request.generation = 5;
  request.length = 8192;
  std::string bytes;
  AppendRequestHeader(request, &bytes);
  ASSERT_EQ(bytes.size(), kRequestHeaderBytes);
  RequestHeader parsed;
  EXPECT_EQ(ParseRequestHeader(bytes.substr(0, 10), &parsed), ParseStatus::kIncomplete);
  ASSERT_EQ(ParseRequestHeader(bytes, &parsed), ParseStatus::kOk);
  EXPECT_EQ(parsed.op, Op::kWrite);
  EXPECT_EQ(parsed.flags, kFlagFua);
  EXPECT_EQ(parsed.block_size, 512u);
  EXPECT_EQ(parsed.chunk, 3u);
  EXPECT_EQ(parsed.id, 99u);
  EXPECT_EQ(parsed.volume, 7u);
  EXPECT_EQ(parsed.offset, 1u << 20);
  EXPECT_EQ(parsed.generation, 5u);
  EXPECT_EQ(parsed.length, 8192u);

  std::string reply;
  AppendReplyHeader({Status::kCorrupt, 99, 0}, &reply);
  ReplyHeader read;
  ASSERT_EQ(ParseReplyHeader(reply, &read), ParseStatus::kOk);
  EXPECT_EQ(read.status, Status::kCorrupt);
  EXPECT_EQ(read.id, 99u);
}

TEST(BlockWireTest, ForeignBytesUnknownOpsAndHugeLengthsAreRefused) {
  RequestHeader parsed;
  EXPECT_EQ(ParseRequestHeader("GET / HTTP/1.1\r\n", &parsed), ParseStatus::kBadMagic);
  RequestHeader request;
  request.length = kMaxPayload + 1;
  std::string huge;
  AppendRequestHeader(request, &huge);
  EXPECT_EQ(ParseRequestHeader(huge, &parsed), ParseStatus::kBadHeader);
  std::string unknown;
  AppendRequestHeader({}, &unknown);
  unknown[4] = 42;
  EXPECT_EQ(ParseRequestHeader(unknown, &parsed), ParseStatus::kBadHeader);
  std::string reply;
  AppendReplyHeader({}, &reply);
  reply[4] = 77;
  ReplyHeader header;
  EXPECT_EQ(ParseReplyHeader(reply, &header), ParseStatus::kBadHeader);
}

}  // namespace
}  // namespace trellis::proto::block
