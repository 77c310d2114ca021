// The JSON of etcd's gateway (etcd/wire.h) without an etcd: requests as etcd 3.4 takes
// them, replies as it writes them (fields at their default left out), and replies that
// are not what etcd writes refused with an error. The replies are copied from a real
// etcd 3.4.23.
#include "etcd/wire.h"

#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

namespace trellis::etcd {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(EtcdWireTest, ReadsARangeReplyWithItsDefaultsLeftOut) {
  // The second key has an empty value and no lease: etcd writes neither.
  const json reply = json::parse(R"({"header":{"cluster_id":"1","member_id":"2","revision":"3",
      "raft_term":"2"},"kvs":[{"key":"L2EveA==","create_revision":"2","mod_revision":"2",
      "version":"1","value":"MQ==","lease":"7587"},{"key":"L2EveQ==","create_revision":"3",
      "mod_revision":"3","version":"1"}],"count":"2"})");
  base::Result<RangeReply> range = wire::ParseRangeReply(reply);
  ASSERT_TRUE(range.ok()) << range.error().message;
  EXPECT_EQ(range->revision, 3);
  ASSERT_EQ(range->kvs.size(), 2u);
  EXPECT_EQ(range->kvs[0].key, "/a/x");
  EXPECT_EQ(range->kvs[0].value, "1");
  EXPECT_EQ(range->kvs[0].lease, 7587);
  EXPECT_EQ(range->kvs[1].key, "/a/y");
  EXPECT_EQ(range->kvs[1].value, "");
  EXPECT_EQ(range->kvs[1].lease, 0);
  EXPECT_EQ(range->kvs[1].create_revision, 3);
}

TEST(EtcdWireTest, ReadsAnEmptyRangeAsNoKeys) {
  base::Result<RangeReply> range =
      wire::ParseRangeReply(json::parse(R"({"header":{"revision":"1"}})"));
  ASSERT_TRUE(range.ok()) << range.error().message;
  EXPECT_EQ(range->revision, 1);
  EXPECT_TRUE(range->kvs.empty());
}

TEST(EtcdWireTest, ReadsATransactionThatFailedWithTheRangeOfItsFailureBranch) {
  base::Result<TxnReply> txn = wire::ParseTxnReply(json::parse(R"({"header":{"revision":"3"},
      "responses":[{"response_range":{"header":{"revision":"3"},"kvs":[{"key":"L2EveA==",
      "create_revision":"2","mod_revision":"2","version":"1","value":"MQ=="}],"count":"1"}},
      {"response_put":{"header":{"revision":"3"}}}]})"));
  ASSERT_TRUE(txn.ok()) << txn.error().message;
  EXPECT_FALSE(txn->succeeded);  // Left out when false.
  EXPECT_EQ(txn->revision, 3);
  ASSERT_EQ(txn->ranges.size(), 2u);
  ASSERT_EQ(txn->ranges[0].size(), 1u);
  EXPECT_EQ(txn->ranges[0][0].value, "1");
  EXPECT_TRUE(txn->ranges[1].empty());
}

TEST(EtcdWireTest, ReadsALeaseAndItsRenewals) {
  base::Result<Lease> lease = wire::ParseLeaseGrantReply(
      json::parse(R"({"header":{"revision":"5"},"ID":"198055322156095757","TTL":"5"})"));
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_EQ(lease->id, 198055322156095757);
  EXPECT_EQ(lease->ttl, 5s);

  base::Result<std::chrono::seconds> renewed = wire::ParseKeepAliveReply(json::parse(
      R"({"result":{"header":{"revision":"6"},"ID":"198055322156095767","TTL":"30"}})"));
  ASSERT_TRUE(renewed.ok()) << renewed.error().message;
  EXPECT_EQ(*renewed, 30s);
}

TEST(EtcdWireTest, AKeepAliveWithoutATtlIsALeaseEtcdNoLongerKnows) {
  base::Result<std::chrono::seconds> renewed = wire::ParseKeepAliveReply(
      json::parse(R"({"result":{"header":{"revision":"7"},"ID":"198055322156095767"}})"));
  ASSERT_FALSE(renewed.ok());
  EXPECT_EQ(renewed.error().code, base::ErrorCode::kNotFound);
}

TEST(EtcdWireTest, AKeepAliveThatEtcdFailedIsUnavailableNotALostLease) {
  // What a member without a leader writes (with status 503).
  base::Result<std::chrono::seconds> renewed = wire::ParseKeepAliveReply(
      json::parse(R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader",
      "http_status":"Service Unavailable"}})"));
  ASSERT_FALSE(renewed.ok());
  EXPECT_EQ(renewed.error().code, base::ErrorCode::kUnavailable);
  EXPECT_NE(renewed.error().message.find("no leader"), std::string::npos);
}

TEST(EtcdWireTest, ReadsTheMessagesOfAWatch) {
  base::Result<wire::WatchMessage> created = wire::ParseWatchMessage(
      R"({"result":{"header":{"cluster_id":"1","revision":"7","raft_term":"2"},"created":true}})");
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->revision, 7);
  EXPECT_TRUE(created->events.empty());

  base::Result<wire::WatchMessage> changes = wire::ParseWatchMessage(
      R"({"result":{"header":{"revision":"9"},"events":[{"kv":{"key":"L2Evdw==",)"
      R"("create_revision":"8","mod_revision":"8","version":"1","value":"OQ=="}},)"
      R"({"type":"DELETE","kv":{"key":"L2Evdw==","mod_revision":"9"}}]}})");
  ASSERT_TRUE(changes.ok()) << changes.error().message;
  ASSERT_EQ(changes->events.size(), 2u);
  EXPECT_EQ(changes->events[0].kind, WatchEvent::Kind::kPut);
  EXPECT_EQ(changes->events[0].kv.key, "/a/w");
  EXPECT_EQ(changes->events[0].kv.value, "9");
  EXPECT_EQ(changes->events[1].kind, WatchEvent::Kind::kDelete);
  EXPECT_EQ(changes->events[1].kv.mod_revision, 9);

  // A compaction cancels the watch in a message without a revision.
  base::Result<wire::WatchMessage> compacted = wire::ParseWatchMessage(
      R"({"result":{"header":{"cluster_id":"1","raft_term":"27"},"canceled":true,)"
      R"("compact_revision":"4"}})");
  ASSERT_TRUE(compacted.ok()) << compacted.error().message;
  EXPECT_TRUE(compacted->canceled);
  EXPECT_EQ(compacted->compact_revision, 4);
}

TEST(EtcdWireTest, AnErrorInAWatchStreamIsUnavailable) {
  base::Result<wire::WatchMessage> message = wire::ParseWatchMessage(
      R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}})");
  ASSERT_FALSE(message.ok());
  EXPECT_EQ(message.error().code, base::ErrorCode::kUnavailable);
}

// Replies that are not what etcd writes: each an error, none a throw.
TEST(EtcdWireTest, RefusesRepliesThatAreNotEtcds) {
  const char* const kRanges[] = {
      R"([])",
      R"("text")",
      R"({"header":[]})",
      R"({"header":{"revision":"12x"}})",
      R"({"header":{"revision":"-"}})",
      R"({"header":{"revision":"99999999999999999999"}})",
      R"({"header":{"revision":true}})",
      R"({"header":{"revision":1.5}})",
      R"({"kvs":{}})",
      R"({"kvs":[1]})",
      R"({"kvs":[{"key":"not base64!"}]})",
      R"({"kvs":[{"key":"L2E"}]})",
      R"({"kvs":[{"key":7}]})",
      R"({"kvs":[{"key":"L2E=","value":"=L2E"}]})",
      R"({"kvs":[{"key":"L2E=","lease":{}}]})",
  };
  for (const char* text : kRanges) {
    base::Result<RangeReply> range = wire::ParseRangeReply(json::parse(text));
    EXPECT_FALSE(range.ok()) << text;
  }
  EXPECT_FALSE(wire::ParsePutReply(json::parse(R"({"header":{"revision":[]}})")).ok());
  EXPECT_FALSE(wire::ParseTxnReply(json::parse(R"({"succeeded":"true"})")).ok());
  EXPECT_FALSE(wire::ParseTxnReply(json::parse(R"({"responses":{}})")).ok());
  EXPECT_FALSE(
      wire::ParseTxnReply(json::parse(R"({"responses":[{"response_range":{"kvs":"x"}}]})")).ok());
  EXPECT_FALSE(wire::ParseLeaseGrantReply(json::parse(R"({"ID":"x","TTL":"5"})")).ok());
  EXPECT_FALSE(wire::ParseLeaseGrantReply(json::parse(R"({"ID":"5"})")).ok());   // No TTL.
  EXPECT_FALSE(wire::ParseLeaseGrantReply(json::parse(R"({"TTL":"5"})")).ok());  // No ID.
  EXPECT_FALSE(wire::ParseKeepAliveReply(json::parse(R"({"result":{"TTL":"-"}})")).ok());
  EXPECT_FALSE(wire::ParseKeepAliveReply(json::parse(R"({"result":[]})")).ok());
  EXPECT_FALSE(wire::ParseWatchMessage("").ok());
  EXPECT_FALSE(wire::ParseWatchMessage(R"({"result":)").ok());
  EXPECT_FALSE(wire::ParseWatchMessage(R"({"result":{"events":[{"type":"EXPIRE"}]}})").ok());
  EXPECT_FALSE(wire::ParseWatchMessage(R"({"result":{"events":[{"kv":[]}]}})").ok());
  EXPECT_FALSE(wire::ParseWatchMessage(R"({"result":{"canceled":"yes"}})").ok());
  EXPECT_FALSE(wire::ParseWatchMessage(R"({"result":{"compact_revision":{}}})").ok());
}

TEST(EtcdWireTest, TurnsEtcdsErrorsIntoTheClientsCodes) {
  struct Case {
    int status;
    const char* body;
    base::ErrorCode code;
    const char* message;
  };
  const Case kCases[] = {
      {404,
       R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})",
       base::ErrorCode::kNotFound, "etcd: etcdserver: requested lease not found"},
      {503,
       R"({"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":14})",
       base::ErrorCode::kUnavailable, "etcd: etcdserver: request timed out"},
      {500, R"({"error":"context deadline exceeded","code":2})", base::ErrorCode::kUnavailable,
       "etcd: context deadline exceeded"},
      {400, R"({"error":"etcdserver: key is not provided","code":3})",
       base::ErrorCode::kInvalidArgument, "etcd: etcdserver: key is not provided"},
      {400, R"({"error":"etcdserver: mvcc: required revision has been compacted","code":11})",
       base::ErrorCode::kInvalidArgument,
       "etcd: etcdserver: mvcc: required revision has been compacted"},
      {503,
       R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}})",
       base::ErrorCode::kUnavailable, "etcd: etcdserver: no leader"},
      {404, "Not Found", base::ErrorCode::kInvalidArgument, "etcd: status 404"},
      {502, "", base::ErrorCode::kUnavailable, "etcd: status 502"},
      {400, R"({"error":7,"code":"x"})", base::ErrorCode::kInvalidArgument,
       "etcd: an error it did not describe"},
  };
  for (const Case& c : kCases) {
    const base::Error error = wire::ErrorOf(c.status, c.body);
    EXPECT_EQ(error.code, c.code) << c.body;
    EXPECT_EQ(error.message, c.message) << c.body;
  }
}

TEST(EtcdWireTest, WritesATransactionAsEtcdTakesIt) {
  Txn txn;
  txn.compare.push_back(Compare::CreateRevision("/l", 0));
  txn.compare.push_back(Compare::ModRevision("/m", 12));
  txn.compare.push_back(Compare::Value("/v", "x"));
  txn.success.push_back(Operation::Put("/l", "me", 77));
  txn.success.push_back(Operation::DeletePrefix("/d/"));
  txn.failure.push_back(Operation::Get("/l"));
  const json expected = json::parse(R"({
    "compare": [
      {"key": "L2w=", "result": "EQUAL", "target": "CREATE", "create_revision": "0"},
      {"key": "L20=", "result": "EQUAL", "target": "MOD", "mod_revision": "12"},
      {"key": "L3Y=", "result": "EQUAL", "target": "VALUE", "value": "eA=="}],
    "success": [
      {"request_put": {"key": "L2w=", "value": "bWU=", "lease": "77"}},
      {"request_delete_range": {"key": "L2Qv", "range_end": "L2Qw"}}],
    "failure": [{"request_range": {"key": "L2w="}}]})");
  EXPECT_EQ(wire::TxnRequest(txn), expected);
}

TEST(EtcdWireTest, WritesTheOtherRequests) {
  EXPECT_EQ(wire::PutRequest("/a", "", 0), json::parse(R"({"key":"L2E=","value":""})"));
  EXPECT_EQ(wire::LeaseGrantRequest(5s), json::parse(R"({"TTL":"5"})"));
  EXPECT_EQ(wire::LeaseRequest(198055322156095757), json::parse(R"({"ID":"198055322156095757"})"));
  EXPECT_EQ(wire::WatchRequest("/a/", "/a0", 4),
            json::parse(R"({"create_request":{"key":"L2Ev","range_end":"L2Ew",
                          "start_revision":"4"}})"));
  EXPECT_EQ(wire::WatchRequest("/a/", "/a0", 0),
            json::parse(R"({"create_request":{"key":"L2Ev","range_end":"L2Ew"}})"));
  // etcd takes no empty key: a range of every key starts at "\0".
  EXPECT_EQ(wire::RangeRequest("", PrefixEnd("")),
            json::parse(R"({"key":"AA==","range_end":"AA=="})"));
}

TEST(EtcdWireTest, APrefixEndsAtTheNextKeyOfItsLength) {
  EXPECT_EQ(PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd("\xff\xff"), std::string(1, '\0'));
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

}  // namespace
}  // namespace trellis::etcd
