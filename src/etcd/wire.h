// The JSON of etcd's v3 gateway (etcd/client.h), as pure functions: requests built from
// the client's values (etcd/messages.h), replies read back into them. Keys and values
// travel base64, 64-bit integers as strings, and fields at their default (false, 0, "")
// are left out, so an absent field reads as its default. A reply that is not what etcd
// sends (a field of the wrong type, bad base64) is an error, never a throw. Fuzzed
// (tests/fuzz/etcd_reply_fuzz.cc).
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "etcd/messages.h"

namespace trellis::etcd::wire {

nlohmann::json RangeRequest(const std::string& key, const std::string& range_end);
nlohmann::json PutRequest(const std::string& key, const std::string& value, int64_t lease);
nlohmann::json TxnRequest(const Txn& txn);
nlohmann::json LeaseGrantRequest(std::chrono::seconds ttl);
nlohmann::json LeaseRequest(int64_t lease);  // keepalive, revoke
nlohmann::json WatchRequest(const std::string& key, const std::string& range_end,
                            int64_t start_revision);

base::Result<RangeReply> ParseRangeReply(const nlohmann::json& reply);
// A put's revision.
base::Result<int64_t> ParsePutReply(const nlohmann::json& reply);
base::Result<TxnReply> ParseTxnReply(const nlohmann::json& reply);
base::Result<Lease> ParseLeaseGrantReply(const nlohmann::json& reply);
// The TTL the lease has now; kNotFound when etcd no longer knows it (a result without a
// TTL). An error etcd wrote instead of a result is that error (as ErrorOf).
base::Result<std::chrono::seconds> ParseKeepAliveReply(const nlohmann::json& reply);

// One message of a watch stream (one line).
struct WatchMessage {
  int64_t revision = 0;
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // When canceled for a compaction.
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};
// An error etcd wrote into the stream is kUnavailable.
base::Result<WatchMessage> ParseWatchMessage(std::string_view line);

// An error body with the HTTP status it came with, as the client's error: gRPC's NotFound
// as kNotFound; Unavailable, DeadlineExceeded and any status of 500 or more as
// kUnavailable (another member may answer); anything else kInvalidArgument. A unary
// call's body is {"error": "text", "code": N}, a streaming call's (a keepalive, a watch)
// {"error": {"grpc_code": N, "message": "text", ...}}.
base::Error ErrorOf(int http_status, std::string_view body);

}  // namespace trellis::etcd::wire
