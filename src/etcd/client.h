// Client: a typed client of etcd's v3 API through its JSON gateway (the HTTP/JSON
// translation of the gRPC API that every etcd 3.4+ member serves on its client URLs:
// POST /v3/kv/range, /v3/kv/txn, /v3/lease/grant, ...; keys and values base64, 64-bit
// integers as strings). Chosen over gRPC through libgrpc++ because the master already
// speaks HTTP/JSON with TLS through http::Client, the calls are few and small (a map
// change, a lease renewal every few hundred milliseconds), and it keeps protoc, gRPC's
// code generation and a second TLS stack out of the build.
//
// A client holds several member URLs and sends each call to the one that last answered,
// moving on to the next when one cannot be reached; etcd forwards what needs the raft
// leader itself. An error from etcd (a compaction, a lease not found, a request it
// refuses) is not retried elsewhere.
//
//   auto etcd = etcd::Client::ForUrls(executor, {"http://127.0.0.1:2379"}, nullptr);
//   etcd::Txn txn;
//   txn.compare.push_back(etcd::Compare::CreateRevision("/trellis/leader", 0));
//   txn.success.push_back(etcd::Operation::Put("/trellis/leader", "me", lease.id));
//   base::Result<etcd::TxnReply> reply = co_await etcd->Commit(txn);
//
// Thread safety: none; a Client is used on the one executor it was made for.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "base/result.h"
#include "net/client_stream.h"
#include "net/tls_context.h"

namespace trellis::etcd {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;  // Changes since creation; 0 for a key that does not exist.
  int64_t lease = 0;    // The lease it is attached to; 0: none.
};

// One condition of a transaction, on the key's revisions or value.
struct Compare {
  enum class Target { kCreateRevision, kModRevision, kVersion, kValue };
  enum class Relation { kEqual, kNotEqual, kGreater, kLess };

  // create_revision(key) == revision; 0 means "the key does not exist".
  static Compare CreateRevision(std::string key, int64_t revision);
  // mod_revision(key) == revision.
  static Compare ModRevision(std::string key, int64_t revision);
  static Compare Value(std::string key, std::string value);

  std::string key;
  Target target = Target::kCreateRevision;
  Relation relation = Relation::kEqual;
  int64_t number = 0;  // For every target but kValue.
  std::string value;   // For kValue.
};

// One request inside a transaction.
struct Operation {
  enum class Kind { kPut, kDelete, kRange };

  static Operation Put(std::string key, std::string value, int64_t lease = 0);
  static Operation Delete(std::string key);
  // Every key that starts with `prefix`.
  static Operation DeletePrefix(std::string prefix);
  static Operation Get(std::string key);
  static Operation GetPrefix(std::string prefix);

  Kind kind = Kind::kPut;
  std::string key;
  std::string range_end;  // "" for one key; else the end of the range (exclusive).
  std::string value;      // kPut.
  int64_t lease = 0;      // kPut.
};

struct Txn {
  std::vector<Compare> compare;  // All must hold for `success` to run, else `failure`.
  std::vector<Operation> success;
  std::vector<Operation> failure;
};

struct RangeReply {
  int64_t revision = 0;  // The store's revision when it answered.
  std::vector<KeyValue> kvs;
};

struct TxnReply {
  int64_t revision = 0;  // The store's revision after the transaction.
  bool succeeded = false;
  // One per operation that ran (success's or failure's), in order: a kRange's keys;
  // empty for a put or a delete.
  std::vector<std::vector<KeyValue>> ranges;
};

struct Lease {
  int64_t id = 0;
  std::chrono::seconds ttl{0};  // As granted (etcd may raise a TTL below its minimum).
};

// What a watch delivers: the changes of one revision or a few, in order.
struct WatchEvent {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  KeyValue kv;  // For a delete: its key and mod_revision (the delete's revision).
};
struct WatchBatch {
  int64_t revision = 0;  // The store's revision this batch brings the watcher to.
  std::vector<WatchEvent> events;
};

class Client {
 public:
  using Clock = std::chrono::steady_clock;

  // `urls`: the members' client URLs, "http://HOST:PORT" or "https://HOST:PORT" (then
  // `tls` must be set: the CA the members' certificates are from and this client's own
  // certificate, if they ask for one). kInvalidArgument for an empty list or a bad URL.
  static base::Result<Client> ForUrls(boost::asio::any_io_executor executor,
                                      const std::vector<std::string>& urls,
                                      std::shared_ptr<net::TlsClientContext> tls);

  // Each call has its own timeout covering every member it tries. Errors: kUnavailable
  // when no member answered in time; kInvalidArgument with etcd's message when it refused
  // the request.
  boost::asio::awaitable<base::Result<RangeReply>> Get(std::string key,
                                                       std::chrono::milliseconds timeout);
  boost::asio::awaitable<base::Result<RangeReply>> GetPrefix(std::string prefix,
                                                             std::chrono::milliseconds timeout);
  // Returns the revision of the put.
  boost::asio::awaitable<base::Result<int64_t>> Put(std::string key, std::string value,
                                                    std::chrono::milliseconds timeout);
  boost::asio::awaitable<base::Result<TxnReply>> Commit(Txn txn, std::chrono::milliseconds timeout);

  boost::asio::awaitable<base::Result<Lease>> GrantLease(std::chrono::seconds ttl,
                                                         std::chrono::milliseconds timeout);
  // Renews the lease once; answers the TTL it has now. kNotFound when the lease expired
  // or was revoked.
  boost::asio::awaitable<base::Result<std::chrono::seconds>> KeepAlive(
      int64_t lease, std::chrono::milliseconds timeout);
  // Revokes the lease, deleting every key attached to it. A lease that no longer exists
  // is not an error.
  boost::asio::awaitable<base::Status> RevokeLease(int64_t lease,
                                                   std::chrono::milliseconds timeout);

  // Watches every key starting with `prefix` from `start_revision` (inclusive; 0: from
  // now), calling `on_batch` with each batch of changes as etcd sends it, until the
  // caller cancels (the executor stops) or the stream breaks. Returns why it ended:
  // kUnavailable when no member could be reached or the stream broke (watch again from
  // the revision after the last batch), kConflict when `start_revision` was compacted
  // away (read the keys again and watch from the revision that read answered).
  // `connect_timeout` bounds connecting and the answer's header, not the stream.
  boost::asio::awaitable<base::Status> Watch(std::string prefix, int64_t start_revision,
                                             std::function<void(const WatchBatch&)> on_batch,
                                             std::chrono::milliseconds connect_timeout);

  // The URL of the member that answered last.
  const std::string& current_url() const;

 private:
  struct State;
  explicit Client(std::shared_ptr<State> state) : state_(std::move(state)) {}
  // POSTs `body` to `path` at the members in turn, from the one that answered last, until
  // one answers or `timeout` passed: its reply's JSON, or the error.
  boost::asio::awaitable<base::Result<nlohmann::json>> Post(std::string path, nlohmann::json body,
                                                            std::chrono::milliseconds timeout);
  // Connects to a member for a watch, trying each in turn by `deadline`.
  boost::asio::awaitable<base::Result<net::ClientStream>> OpenStream(Clock::time_point deadline);
  std::shared_ptr<State> state_;
};

// The end of the range of keys that start with `prefix` (etcd's range_end for a prefix).
std::string PrefixEnd(std::string prefix);

}  // namespace trellis::etcd
