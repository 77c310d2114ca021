#include "etcd/wire.h"

#include <charconv>
#include <optional>
#include <string>

#include "proto/memcache/base64.h"

namespace trellis::etcd::wire {

using nlohmann::json;
using proto::memcache::Base64Decode;
using proto::memcache::Base64Encode;

namespace {

// gRPC's status codes that etcd's errors carry.
constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcNotFound = 5;
constexpr int kGrpcUnavailable = 14;

std::string Encoded(std::string_view bytes) { return Base64Encode(bytes); }

// Reads the fields of one reply object; the first bad field is kept, later reads are
// skipped. An absent field leaves the output at its default.
class Reader {
 public:
  Reader(const json& object, std::string_view what) : object_(object), what_(what) {
    if (!object.is_object()) {
      Fail("", "expected an object");
    }
  }

  const json* Find(const char* key) {
    if (error_) {
      return nullptr;
    }
    auto found = object_.find(key);
    return found == object_.end() || found->is_null() ? nullptr : &*found;
  }
  // An int64 as etcd writes it: a string of digits (or a number, to be lenient).
  void Int(const char* key, int64_t* out) {
    const json* field = Find(key);
    if (field == nullptr) {
      return;
    }
    if (field->is_number_integer()) {
      *out = field->get<int64_t>();
      return;
    }
    if (!field->is_string()) {
      Fail(key, "expected an integer");
      return;
    }
    const std::string& text = field->get_ref<const std::string&>();
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    if (ec != std::errc() || end != text.data() + text.size()) {
      Fail(key, "expected an integer");
    }
  }
  void Bool(const char* key, bool* out) {
    if (const json* field = Find(key)) {
      if (field->is_boolean()) {
        *out = field->get<bool>();
      } else {
        Fail(key, "expected true or false");
      }
    }
  }
  void String(const char* key, std::string* out) {
    if (const json* field = Find(key)) {
      if (field->is_string()) {
        *out = field->get<std::string>();
      } else {
        Fail(key, "expected a string");
      }
    }
  }
  void Bytes(const char* key, std::string* out) {
    std::string text;
    String(key, &text);
    if (error_ || text.empty()) {
      return;
    }
    std::optional<std::string> decoded = Base64Decode(text);
    if (!decoded) {
      Fail(key, "expected base64");
      return;
    }
    *out = std::move(*decoded);
  }
  // An object field read by `read` (absent: left alone).
  template <typename Read>
  void Object(const char* key, Read read) {
    if (const json* field = Find(key)) {
      Reader inner(*field, what_);
      read(inner);
      Take(inner);
    }
  }
  // Each element of an array field, an object read by `read`.
  template <typename Read>
  void Each(const char* key, Read read) {
    const json* field = Find(key);
    if (field == nullptr) {
      return;
    }
    if (!field->is_array()) {
      Fail(key, "expected an array");
      return;
    }
    for (const json& element : *field) {
      Reader inner(element, what_);
      read(inner);
      if (!Take(inner)) {
        return;
      }
    }
  }
  void Fail(std::string_view key, std::string_view problem) {
    if (!error_) {
      error_ = base::Error{"etcd's " + std::string(what_) + " reply" +
                           (key.empty() ? "" : ": \"" + std::string(key) + "\"") + ": " +
                           std::string(problem)};
    }
  }
  base::Status status() const {
    if (error_) {
      return *error_;
    }
    return {};
  }

 private:
  bool Take(const Reader& inner) {
    if (inner.error_ && !error_) {
      error_ = inner.error_;
    }
    return !error_;
  }

  const json& object_;
  std::string_view what_;
  std::optional<base::Error> error_;
};

void ReadKeyValue(Reader& in, KeyValue* kv) {
  in.Bytes("key", &kv->key);
  in.Bytes("value", &kv->value);
  in.Int("create_revision", &kv->create_revision);
  in.Int("mod_revision", &kv->mod_revision);
  in.Int("version", &kv->version);
  in.Int("lease", &kv->lease);
}

void ReadRevision(Reader& in, int64_t* revision) {
  in.Object("header", [revision](Reader& header) { header.Int("revision", revision); });
}

void ReadKvs(Reader& in, std::vector<KeyValue>* kvs) {
  in.Each("kvs", [kvs](Reader& element) { ReadKeyValue(element, &kvs->emplace_back()); });
}

// etcd's error in `reply`, if it holds one: {"error": "text", "code": N} from a unary
// call, {"error": {"grpc_code": N, "message": "text", ...}} from a streaming one (a
// keepalive, a watch). Something else under "error" still counts as one.
struct GrpcError {
  std::string message;
  int64_t code = 0;  // gRPC's status code; 0 when absent.
};
std::optional<GrpcError> ErrorIn(const json& reply) {
  if (!reply.is_object() || !reply.contains("error") || reply["error"].is_null()) {
    return std::nullopt;
  }
  GrpcError error;
  const json& field = reply["error"];
  if (field.is_object()) {
    Reader in(field, "error");
    in.String("message", &error.message);
    in.Int("grpc_code", &error.code);
  } else {
    Reader in(reply, "error");
    in.String("error", &error.message);
    in.Int("code", &error.code);
  }
  if (error.message.empty()) {
    error.message = "an error it did not describe";
  }
  return error;
}

// gRPC's code as the client's.
base::ErrorCode CodeOf(int64_t grpc_code, int http_status) {
  if (grpc_code == kGrpcNotFound) {
    return base::ErrorCode::kNotFound;
  }
  if (grpc_code == kGrpcUnavailable || grpc_code == kGrpcDeadlineExceeded || http_status >= 500) {
    return base::ErrorCode::kUnavailable;
  }
  return base::ErrorCode::kInvalidArgument;
}

// etcd rejects an empty key; a range from "" starts at the smallest key there is, "\0".
std::string RangeStart(const std::string& key, const std::string& range_end) {
  return key.empty() && !range_end.empty() ? std::string(1, '\0') : key;
}

json OperationJson(const Operation& operation) {
  switch (operation.kind) {
    case Operation::Kind::kPut: {
      json put = {{"key", Encoded(operation.key)}, {"value", Encoded(operation.value)}};
      if (operation.lease != 0) {
        put["lease"] = std::to_string(operation.lease);
      }
      return {{"request_put", std::move(put)}};
    }
    case Operation::Kind::kDelete: {
      json range = {{"key", Encoded(RangeStart(operation.key, operation.range_end))}};
      if (!operation.range_end.empty()) {
        range["range_end"] = Encoded(operation.range_end);
      }
      return {{"request_delete_range", std::move(range)}};
    }
    case Operation::Kind::kRange:
      return {{"request_range", RangeRequest(operation.key, operation.range_end)}};
  }
  return json();
}

json CompareJson(const Compare& compare) {
  static constexpr const char* kRelations[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
  json out = {{"key", Encoded(compare.key)},
              {"result", kRelations[static_cast<int>(compare.relation)]}};
  switch (compare.target) {
    case Compare::Target::kCreateRevision:
      out["target"] = "CREATE";
      out["create_revision"] = std::to_string(compare.number);
      break;
    case Compare::Target::kModRevision:
      out["target"] = "MOD";
      out["mod_revision"] = std::to_string(compare.number);
      break;
    case Compare::Target::kVersion:
      out["target"] = "VERSION";
      out["version"] = std::to_string(compare.number);
      break;
    case Compare::Target::kValue:
      out["target"] = "VALUE";
      out["value"] = Encoded(compare.value);
      break;
  }
  return out;
}

}  // namespace

json RangeRequest(const std::string& key, const std::string& range_end) {
  json request = {{"key", Encoded(RangeStart(key, range_end))}};
  if (!range_end.empty()) {
    request["range_end"] = Encoded(range_end);
  }
  return request;
}

json PutRequest(const std::string& key, const std::string& value, int64_t lease) {
  Operation put;
  put.key = key;
  put.value = value;
  put.lease = lease;
  return OperationJson(put)["request_put"];
}

json TxnRequest(const Txn& txn) {
  json request = {
      {"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const Compare& compare : txn.compare) {
    request["compare"].push_back(CompareJson(compare));
  }
  for (const Operation& operation : txn.success) {
    request["success"].push_back(OperationJson(operation));
  }
  for (const Operation& operation : txn.failure) {
    request["failure"].push_back(OperationJson(operation));
  }
  return request;
}

json LeaseGrantRequest(std::chrono::seconds ttl) { return {{"TTL", std::to_string(ttl.count())}}; }

json LeaseRequest(int64_t lease) { return {{"ID", std::to_string(lease)}}; }

json WatchRequest(const std::string& key, const std::string& range_end, int64_t start_revision) {
  json create = RangeRequest(key, range_end);
  if (start_revision != 0) {
    create["start_revision"] = std::to_string(start_revision);
  }
  return {{"create_request", std::move(create)}};
}

base::Result<RangeReply> ParseRangeReply(const json& reply) {
  RangeReply out;
  Reader in(reply, "range");
  ReadRevision(in, &out.revision);
  ReadKvs(in, &out.kvs);
  TRELLIS_TRY_STATUS(in.status());
  return out;
}

base::Result<int64_t> ParsePutReply(const json& reply) {
  int64_t revision = 0;
  Reader in(reply, "put");
  ReadRevision(in, &revision);
  TRELLIS_TRY_STATUS(in.status());
  return revision;
}

base::Result<TxnReply> ParseTxnReply(const json& reply) {
  TxnReply out;
  Reader in(reply, "txn");
  ReadRevision(in, &out.revision);
  in.Bool("succeeded", &out.succeeded);
  in.Each("responses", [&out](Reader& response) {
    std::vector<KeyValue>& kvs = out.ranges.emplace_back();
    response.Object("response_range", [&kvs](Reader& range) { ReadKvs(range, &kvs); });
  });
  TRELLIS_TRY_STATUS(in.status());
  return out;
}

base::Result<Lease> ParseLeaseGrantReply(const json& reply) {
  Lease out;
  int64_t ttl = 0;
  Reader in(reply, "lease grant");
  in.Int("ID", &out.id);
  in.Int("TTL", &ttl);
  std::string error;
  in.String("error", &error);
  TRELLIS_TRY_STATUS(in.status());
  if (out.id == 0 || ttl <= 0) {
    return base::Error{"etcd granted no lease" + (error.empty() ? "" : ": " + error),
                       base::ErrorCode::kUnavailable};
  }
  out.ttl = std::chrono::seconds(ttl);
  return out;
}

base::Result<std::chrono::seconds> ParseKeepAliveReply(const json& reply) {
  if (std::optional<GrpcError> error = ErrorIn(reply)) {
    // Not a lease it no longer knows (that is a result without a TTL): etcd failed to
    // answer, as it does without a leader.
    return base::Error{"etcd: " + error->message, CodeOf(error->code, 200)};
  }
  int64_t ttl = 0;
  Reader in(reply, "lease keepalive");
  in.Object("result", [&ttl](Reader& result) { result.Int("TTL", &ttl); });
  TRELLIS_TRY_STATUS(in.status());
  if (ttl <= 0) {
    return base::NotFound("etcd no longer knows the lease");
  }
  return std::chrono::seconds(ttl);
}

base::Result<WatchMessage> ParseWatchMessage(std::string_view line) {
  const json message = json::parse(line, nullptr, false);
  if (message.is_discarded()) {
    return base::Error{"etcd's watch stream: a message that is not JSON"};
  }
  if (std::optional<GrpcError> error = ErrorIn(message)) {
    return base::Unavailable("etcd's watch stream: " + error->message);
  }
  WatchMessage out;
  Reader in(message, "watch");
  in.Object("result", [&out](Reader& result) {
    ReadRevision(result, &out.revision);
    result.Bool("created", &out.created);
    result.Bool("canceled", &out.canceled);
    result.Int("compact_revision", &out.compact_revision);
    result.String("cancel_reason", &out.cancel_reason);
    result.Each("events", [&out](Reader& event) {
      WatchEvent& added = out.events.emplace_back();
      std::string type;
      event.String("type", &type);
      if (type == "DELETE") {
        added.kind = WatchEvent::Kind::kDelete;
      } else if (!type.empty() && type != "PUT") {
        event.Fail("type", "expected PUT or DELETE");
      }
      event.Object("kv", [&added](Reader& kv) { ReadKeyValue(kv, &added.kv); });
    });
  });
  TRELLIS_TRY_STATUS(in.status());
  return out;
}

base::Error ErrorOf(int http_status, std::string_view body) {
  const json reply = json::parse(body, nullptr, false);
  std::optional<GrpcError> error = ErrorIn(reply);
  if (!error) {
    return base::Error{"etcd: status " + std::to_string(http_status), CodeOf(0, http_status)};
  }
  return base::Error{"etcd: " + error->message, CodeOf(error->code, http_status)};
}

}  // namespace trellis::etcd::wire
