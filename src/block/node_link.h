// NodeLink: one connection from one shard of the volume client (the NBD server) to one
// storage node, shared by every request of that shard for that node. Requests are
// appended to one output buffer and written together; the node answers in order, so
// replies are matched to requests by a FIFO.
//
// Failure: a refused or broken connection, a malformed reply, or a request unanswered
// past its deadline fails every request in flight (kUnavailable) and closes the
// connection. A request's deadline is `timeout` after it was sent, `sync_timeout` for one
// that waits for the disk (a FLUSH, a FUA write); as the node answers in order, the link
// fails only when its oldest unanswered request is overdue, so requests queued behind a
// long flush wait for it;
// for `retry_interval` after that new requests fail at once, then the next one
// reconnects. A caller never waits longer than `timeout` for a dead node, so the volume
// client can go on with the other copies.
//
// Thread safety: none; lives on one shard and is touched only by its thread.
// Lifetime: shared; its coroutines hold it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"
#include "net/client_stream.h"
#include "net/waker.h"
#include "proto/block/wire.h"

namespace trellis::block {

struct NodeLinkOptions {
  std::chrono::milliseconds timeout{10000};  // Also the most a connect takes.
  // For a FLUSH or FUA write: a node syncing gigabytes of writes to its disk takes seconds.
  std::chrono::milliseconds sync_timeout{30000};
  std::chrono::milliseconds retry_interval{200};
};

class NodeLink : public std::enable_shared_from_this<NodeLink> {
 public:
  struct Reply {
    proto::block::Status status = proto::block::Status::kOk;
    std::string data;  // A READ's.
  };

  static std::shared_ptr<NodeLink> Create(const boost::asio::any_io_executor& executor,
                                          boost::asio::ip::tcp::endpoint endpoint,
                                          NodeLinkOptions options);
  NodeLink(const NodeLink&) = delete;
  NodeLink& operator=(const NodeLink&) = delete;

  // Sends `header` (its id is set here) and `payload` (a WRITE's data), and waits for the
  // node's reply. Errors: kUnavailable when the node cannot be reached or did not answer
  // in time.
  boost::asio::awaitable<base::Result<Reply>> Call(proto::block::RequestHeader header,
                                                   std::string_view payload);
  const boost::asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }

 private:
  struct Pending {
    Pending(const boost::asio::any_io_executor& executor,
            std::chrono::steady_clock::time_point deadline)
        : done(executor), deadline(deadline) {}
    net::Waker done;
    std::chrono::steady_clock::time_point deadline;
    uint64_t id = 0;  // The request's: its reply must carry it.
    std::optional<base::Result<Reply>> result;
  };

  NodeLink(const boost::asio::any_io_executor& executor, boost::asio::ip::tcp::endpoint endpoint,
           NodeLinkOptions options)
      : executor_(executor), endpoint_(std::move(endpoint)), options_(options) {}
  boost::asio::awaitable<void> Connect();
  boost::asio::awaitable<void> WriteLoop();
  boost::asio::awaitable<void> ReadLoop();
  // Fails every request in flight with `why` and closes the connection.
  void Fail(const std::string& why);

  boost::asio::any_io_executor executor_;
  const boost::asio::ip::tcp::endpoint endpoint_;
  const NodeLinkOptions options_;
  // Shared with the read and write loops, which may still wait on it after a failure
  // closed it.
  std::shared_ptr<net::ClientStream> stream_;
  bool connecting_ = false;
  bool writing_ = false;
  std::chrono::steady_clock::time_point retry_at_{};
  std::string out_;  // Requests not yet written.
  std::deque<std::shared_ptr<Pending>> in_flight_;
  uint64_t next_id_ = 1;
  uint64_t generation_ = 0;  // Of the connection: a loop of an older one stops.
};

}  // namespace trellis::block
