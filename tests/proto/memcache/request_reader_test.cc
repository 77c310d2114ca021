#include "proto/memcache/request_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace trellis::proto::memcache {
namespace {

// Input arriving in pieces, as a connection's buffer holds it.
class InputBuffer {
 public:
  void Arrive(std::string_view bytes) { bytes_.append(bytes); }
  std::string_view input() const { return std::string_view(bytes_).substr(begin_); }
  void Consume(size_t n) { begin_ += n; }

 private:
  std::string bytes_;
  size_t begin_ = 0;
};

TEST(RequestReaderTest, ConsumesARequestOnlyWhenTheCallerIsDoneWithIt) {
  InputBuffer buffer;
  buffer.Arrive("get a\r\nset b 0 0 1\r\nx\r\nget");
  RequestReader reader(1024);
  ParseResult result = reader.Next(buffer);
  ASSERT_EQ(result.status, ParseStatus::kOk);
  EXPECT_EQ(reader.request().key, "a");
  EXPECT_EQ(buffer.input().substr(0, result.consumed), "get a\r\n");
  reader.Consume(buffer);

  result = reader.Next(buffer);
  ASSERT_EQ(result.status, ParseStatus::kOk);
  EXPECT_EQ(reader.request().value, "x");
  reader.Consume(buffer);
  EXPECT_EQ(reader.Next(buffer).status, ParseStatus::kNeedMore);
  EXPECT_EQ(buffer.input(), "get");
}

TEST(RequestReaderTest, DropsTheDataBlockOfARefusedValueHoweverItArrives) {
  InputBuffer buffer;
  RequestReader reader(1024);
  const std::string value(3000, 'v');
  buffer.Arrive("set k 0 0 3000\r\n" + value.substr(0, 100));
  ParseResult result = reader.Next(buffer);
  ASSERT_EQ(result.status, ParseStatus::kTooLarge);
  EXPECT_EQ(reader.request().key, "k");
  reader.Consume(buffer);
  EXPECT_EQ(reader.Next(buffer).status, ParseStatus::kNeedMore);
  EXPECT_EQ(buffer.input(), "");
  buffer.Arrive(value.substr(100, 2000));
  EXPECT_EQ(reader.Next(buffer).status, ParseStatus::kNeedMore);
  buffer.Arrive(value.substr(2100) + "\r\nget k\r\n");
  result = reader.Next(buffer);
  ASSERT_EQ(result.status, ParseStatus::kOk);
  EXPECT_EQ(reader.request().command, Command::kGet);
}

TEST(RequestReaderTest, DropsTheDataBlockOfAMetaSetWithBadFlags) {
  InputBuffer buffer;
  buffer.Arrive("ms k 2 !\r\nhi\r\nmn\r\n");
  RequestReader reader(1024);
  const ParseResult result = reader.Next(buffer);
  ASSERT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error, "CLIENT_ERROR invalid flag");
  reader.Consume(buffer);
  ASSERT_EQ(reader.Next(buffer).status, ParseStatus::kOk);
  EXPECT_EQ(reader.request().command, Command::kMetaNoop);
}

}  // namespace
}  // namespace trellis::proto::memcache
