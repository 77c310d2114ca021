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
// leader itself. An error from etcd that any member would give (a compaction, a lease
// not found, a request it refuses) is not retried elsewhere; one that says this member
// cannot serve now (it knows no leader, its raft timed out) is.
//
//   auto etcd = etcd::Client::ForUrls(executor, {"http://127.0.0.1:2379"}, nullptr);
//   etcd::Txn txn;
//   txn.compare.push_back(etcd::Compare::CreateRevision("/trellis/leader", 0));
//   txn.success.push_back(etcd::Operation::Put("/trellis/leader", "me", lease.id));
//   base::Result<etcd::TxnReply> reply = co_await etcd->Commit(txn, 2s);
//
// The values it sends and returns are in etcd/messages.h.
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
#include "etcd/messages.h"
#include "net/client_stream.h"
#include "net/tls_context.h"

namespace trellis::etcd {

class Client {
 public:
  using Clock = std::chrono::steady_clock;

  // `urls`: the members' client URLs, "http://HOST:PORT" or "https://HOST:PORT" (then
  // `tls` must be set: the CA the members' certificates are from and this client's own
  // certificate, if they ask for one). kInvalidArgument for an empty list, a bad URL, or
  // an https:// URL without `tls`.
  static base::Result<Client> ForUrls(boost::asio::any_io_executor executor,
                                      const std::vector<std::string>& urls,
                                      std::shared_ptr<net::TlsClientContext> tls);

  // Each call has its own timeout covering every member it tries. Errors: kUnavailable
  // when no member answered in time; kInvalidArgument with etcd's message when it refused
  // the request. A member that takes the request and does not answer uses the call's time
  // up (it may still carry the request out, so it is not sent again): the next call
  // starts at the next member.
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
  // Connects to a member for a watch, trying each in turn from the one that answered last
  // by `deadline`; sets *member to the one it reached.
  boost::asio::awaitable<base::Result<net::ClientStream>> OpenStream(Clock::time_point deadline,
                                                                     size_t* member);
  std::shared_ptr<State> state_;
};

}  // namespace trellis::etcd
