#include "proto/nbd/nbd.h"

#include <gtest/gtest.h>

#include <cstring>

#include <boost/endian/conversion.hpp>

#include "base/byte_order.h"

namespace trellis::proto::nbd {
namespace {

std::string Option(uint32_t option, std::string_view data) {
  std::string out;
  base::AppendBig<uint64_t>(0x49484156454F5054, &out);
  base::AppendBig(option, &out);
  base::AppendBig(static_cast<uint32_t>(data.size()), &out);
  out.append(data);
  return out;
}

std::string GoData(std::string_view name, std::vector<uint16_t> infos) {
  std::string data;
  base::AppendBig(static_cast<uint32_t>(name.size()), &data);
  data.append(name);
  base::AppendBig(static_cast<uint16_t>(infos.size()), &data);
  for (const uint16_t info : infos) {
    base::AppendBig(info, &data);
  }
  return data;
}

// An option reply: (option, type, data).
struct Reply {
  uint32_t option, type;
  std::string data;
};
std::vector<Reply> Replies(std::string_view out) {
  std::vector<Reply> replies;
  while (out.size() >= 20) {
    EXPECT_EQ(base::LoadBig<uint64_t>(out, 0), 0x0003e889045565a9u);
    const uint32_t length = base::LoadBig<uint32_t>(out, 16);
    replies.push_back({base::LoadBig<uint32_t>(out, 8), base::LoadBig<uint32_t>(out, 12),
                       std::string(out.substr(20, length))});
    out.remove_prefix(20 + length);
  }
  EXPECT_TRUE(out.empty());
  return replies;
}

class NegotiationTest : public ::testing::Test {
 protected:
  NegotiationTest()
      : negotiation_(
            [](std::string_view name) -> std::optional<Export> {
              if (name != "v1") {
                return std::nullopt;
              }
              Export exported;
              exported.size = 1 << 30;
              exported.flags = kHasFlags | kSendFlush;
              exported.min_block = 4096;
              exported.description = "a volume";
              return exported;
            },
            [] {
              return std::vector<std::string>{"v1", "v2"};
            }) {}

  // Feeds `input` whole, one option at a time as the server does.
  Negotiation::Step FeedAll(std::string_view input, std::string* out) {
    size_t at = 0;
    for (;;) {
      size_t consumed = 0;
      const Negotiation::Step step = negotiation_.Feed(input.substr(at), &consumed, out);
      at += consumed;
      if (step != Negotiation::Step::kNeedMore || consumed == 0) {
        if (step != Negotiation::Step::kClose) {
          EXPECT_EQ(at, input.size());
        }
        return step;
      }
    }
  }

  Negotiation negotiation_;
};

TEST_F(NegotiationTest, GreetingAdvertisesFixedNewstyleAndNoZeroes) {
  const std::string greeting = Greeting();
  ASSERT_EQ(greeting.size(), 18u);
  EXPECT_EQ(greeting.substr(0, 8), "NBDMAGIC");
  EXPECT_EQ(greeting.substr(8, 8), "IHAVEOPT");
  EXPECT_EQ(base::LoadBig<uint16_t>(greeting, 16), 3u);
}

TEST_F(NegotiationTest, GoAnswersExportNameDescriptionAndBlockSizesThenAcks) {
  std::string in;
  base::AppendBig<uint32_t>(3, &in);
  in += Option(kOptStructuredReply, "");
  in += Option(kOptGo, GoData("v1", {kInfoName, kInfoDescription, kInfoBlockSize}));
  std::string out;
  EXPECT_EQ(FeedAll(in, &out), Negotiation::Step::kTransmission);
  const std::vector<Reply> replies = Replies(out);
  ASSERT_EQ(replies.size(), 6u);
  EXPECT_EQ(replies[0].type, kRepAck);  // STRUCTURED_REPLY
  EXPECT_EQ(base::LoadBig<uint16_t>(replies[1].data, 0), kInfoExport);
  EXPECT_EQ(base::LoadBig<uint64_t>(replies[1].data, 2), uint64_t{1} << 30);
  EXPECT_EQ(base::LoadBig<uint16_t>(replies[1].data, 10), kHasFlags | kSendFlush);
  EXPECT_EQ(replies[2].data.substr(2), "v1");
  EXPECT_EQ(replies[3].data.substr(2), "a volume");
  EXPECT_EQ(base::LoadBig<uint32_t>(replies[4].data, 2), 4096u);
  EXPECT_EQ(base::LoadBig<uint32_t>(replies[4].data, 10), kMaxPayload);
  EXPECT_EQ(replies[5].type, kRepAck);
  EXPECT_TRUE(negotiation_.structured_replies());
  EXPECT_EQ(negotiation_.export_name(), "v1");
}

TEST_F(NegotiationTest, UnknownExportsOptionsAndTlsAreRefusedAndTheClientMayGoOn) {
  std::string in;
  base::AppendBig<uint32_t>(3, &in);
  in += Option(kOptGo, GoData("nope", {}));
  in += Option(kOptStartTls, "");
  in += Option(99, "whatever");
  in += Option(kOptGo, GoData("v1", {}).substr(0, 5));  // Shorter than its own fields.
  in += Option(kOptList, "");
  in += Option(kOptInfo, GoData("v1", {}));
  std::string out;
  EXPECT_EQ(FeedAll(in, &out), Negotiation::Step::kNeedMore);
  const std::vector<Reply> replies = Replies(out);
  ASSERT_EQ(replies.size(), 10u);
  EXPECT_EQ(replies[0].type, kRepErrUnknown);
  EXPECT_EQ(replies[1].type, kRepErrPolicy);
  EXPECT_EQ(replies[2].type, kRepErrUnsup);
  EXPECT_EQ(replies[3].type, kRepErrInvalid);
  EXPECT_EQ(replies[4].type, kRepServer);
  EXPECT_EQ(replies[4].data.substr(4), "v1");
  EXPECT_EQ(replies[5].data.substr(4), "v2");
  EXPECT_EQ(replies[6].type, kRepAck);
  // INFO answers (the block sizes unasked) and stays in negotiation.
  EXPECT_EQ(base::LoadBig<uint16_t>(replies[7].data, 0), kInfoExport);
  EXPECT_EQ(base::LoadBig<uint16_t>(replies[8].data, 0), kInfoBlockSize);
  EXPECT_EQ(replies[9].type, kRepAck);
  EXPECT_FALSE(negotiation_.structured_replies());
}

TEST_F(NegotiationTest, ExportNameAnswersWithoutAHeaderAndZeroesUnlessRefused) {
  std::string in;
  base::AppendBig<uint32_t>(1, &in);  // FIXED_NEWSTYLE only: the 124 zeroes follow.
  in += Option(kOptExportName, "v1");
  std::string out;
  EXPECT_EQ(FeedAll(in, &out), Negotiation::Step::kTransmission);
  ASSERT_EQ(out.size(), 134u);
  EXPECT_EQ(base::LoadBig<uint64_t>(out, 0), uint64_t{1} << 30);
  EXPECT_EQ(out.substr(10), std::string(124, '\0'));
}

TEST_F(NegotiationTest, UnknownClientFlagsClose) {
  std::string bad_flags;
  base::AppendBig<uint32_t>(8, &bad_flags);
  std::string out;
  EXPECT_EQ(FeedAll(bad_flags, &out), Negotiation::Step::kClose);
  EXPECT_FALSE(negotiation_.error().empty());
}

TEST_F(NegotiationTest, AnOptionWithoutItsMagicCloses) {
  std::string no_magic;
  base::AppendBig<uint32_t>(3, &no_magic);
  no_magic += std::string(16, 'x');
  std::string out;
  EXPECT_EQ(FeedAll(no_magic, &out), Negotiation::Step::kClose);
}

TEST_F(NegotiationTest, PeekNamesTheExportOfTheNextWholeOption) {
  std::string in;
  base::AppendBig<uint32_t>(3, &in);
  const std::string go = Option(kOptGo, GoData("v9", {3}));
  EXPECT_FALSE(negotiation_.Peek(in + go.substr(0, 20)).export_name.has_value());
  EXPECT_EQ(negotiation_.Peek(in + go).export_name, "v9");
  EXPECT_TRUE(negotiation_.Peek(in + Option(kOptList, "")).list);
}

TEST(NbdRequestTest, RequestsRoundTripAndABadMagicIsSeenEarly) {
  const Request request{kCmdFlagFua, kCmdWrite, 0xdeadbeef, 1 << 20, 4096};
  std::string bytes;
  AppendRequest(request, &bytes);
  ASSERT_EQ(bytes.size(), kRequestBytes);
  Request parsed;
  EXPECT_EQ(ParseRequest(bytes.substr(0, 27), &parsed), ParseStatus::kIncomplete);
  ASSERT_EQ(ParseRequest(bytes, &parsed), ParseStatus::kOk);
  EXPECT_EQ(parsed.cookie, request.cookie);
  EXPECT_EQ(parsed.offset, request.offset);
  EXPECT_EQ(parsed.length, request.length);
  EXPECT_EQ(parsed.flags, request.flags);
  EXPECT_EQ(ParseRequest("GET /", &parsed), ParseStatus::kBadMagic);
}

TEST(NbdRequestTest, AStructuredClientGetsReadErrorsAsChunks) {
  const Request read{0, kCmdRead, 7, 0, 4096};
  std::string simple, structured;
  AppendReply(read, false, kEio, &simple);
  AppendReply(read, true, kEio, &structured);
  EXPECT_EQ(base::LoadBig<uint32_t>(simple, 0), 0x67446698u);
  EXPECT_EQ(base::LoadBig<uint32_t>(simple, 4), kEio);
  EXPECT_EQ(base::LoadBig<uint32_t>(structured, 0), 0x668e33efu);
  EXPECT_EQ(base::LoadBig<uint16_t>(structured, 4), 1u);       // DONE
  EXPECT_EQ(base::LoadBig<uint16_t>(structured, 6), 0x8001u);  // ERROR
  EXPECT_EQ(base::LoadBig<uint32_t>(structured, 20), kEio);
}

}  // namespace
}  // namespace trellis::proto::nbd
