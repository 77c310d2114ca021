// Backend: one connection from one access shard to one cache node, shared by every
// client connection of that shard. Requests from all of them are appended to one output
// buffer and written together; the node answers in order, so replies are matched to
// requests by a FIFO. This is the multiplexing that lets thousands of client
// connections cost a few backend connections.
//
// Quiet requests (text noreply, meta q) may get no reply at all; the proxy sends them
// followed by "mn", and everything before the node's "MN" is their reply (possibly none),
// which keeps the FIFO exact without knowing memcached's rules for what quiet mode hides.
//
// Failure: a refused or broken connection, a malformed reply, or a request unanswered
// for `timeout` fails every request in flight with SERVER_ERROR and closes the
// connection; for `retry_interval` after that new requests fail at once, then the next
// one reconnects. A client never waits longer than `timeout` for a dead node.
//
// Thread safety: none; lives on one shard and is touched only by its thread.
// Lifetime: shared; its coroutines hold it, so Close() and dropping it is enough.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "access/reply_slot.h"
#include "net/client_stream.h"
#include "net/tls_context.h"

namespace trellis::access {

struct BackendOptions {
  std::chrono::milliseconds timeout{2000};  // Also the most a connect and handshake take.
  std::chrono::milliseconds retry_interval{200};
  // The cluster's client TLS (mutual TLS with the cache nodes); null: plaintext.
  std::shared_ptr<net::TlsClientContext> tls;
};

class Backend : public std::enable_shared_from_this<Backend> {
 public:
  static std::shared_ptr<Backend> Create(const boost::asio::any_io_executor& executor,
                                         boost::asio::ip::tcp::endpoint endpoint, std::string group,
                                         BackendOptions options);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // How a request goes: `until_noop`: its target gets all replies before the MN that
  // ends it (the caller appended "mn\r\n"), else one framed reply; `silent_failure`: a
  // failure is answered with nothing, else with a SERVER_ERROR line; `map_version`: the
  // route table's version, said to the node first (`mapv`) when it differs from the last
  // one said on this connection (0: unversioned, a static table).
  struct Mode {
    bool until_noop = false;
    bool silent_failure = false;
    uint64_t map_version = 0;
  };
  // Sends `request` (whole commands); `target` gets the reply.
  void Send(std::string_view request, ReplyTarget target, Mode mode);

  // Fails what is in flight and stops; call before the executor stops.
  void Close();

  const std::string& group() const { return group_; }

 private:
  struct Inflight {
    ReplyTarget target;
    bool until_noop;
    bool silent_failure;
    std::string partial;  // until_noop: replies so far.
  };

  Backend(const boost::asio::any_io_executor& executor, boost::asio::ip::tcp::endpoint endpoint,
          std::string group, BackendOptions options);

  // Each takes `self` so that the coroutine keeps the backend alive.
  boost::asio::awaitable<void> Run(uint64_t generation, std::shared_ptr<Backend> self);
  boost::asio::awaitable<void> ReadLoop(uint64_t generation,
                                        std::shared_ptr<net::ClientStream> stream,
                                        std::shared_ptr<Backend> self);
  boost::asio::awaitable<void> Watchdog(std::shared_ptr<Backend> self);
  // Fails every request in flight or queued with `reason`, closes the connection.
  void Fail(const std::string& reason);
  std::string FailureReply(const std::string& reason) const;

  const boost::asio::any_io_executor executor_;
  const boost::asio::ip::tcp::endpoint endpoint_;
  const std::string group_;
  const BackendOptions options_;

  // The connection of this generation; its coroutines hold it too, so Fail() can close
  // and drop it while their operations complete.
  std::shared_ptr<net::ClientStream> stream_;
  bool running_ = false;  // A Run() owns the connection (connecting or connected).
  bool closed_ = false;
  uint64_t generation_ = 0;    // Bumped by Fail(): coroutines of an older one stop.
  uint64_t said_version_ = 0;  // The map version said on this connection (0: none yet).
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::steady_clock::time_point last_progress_{};
  std::string last_failure_;

  std::string out_;      // Requests not yet written.
  std::string writing_;  // Requests being written.
  std::deque<Inflight> inflight_;
  Waker write_waker_;
  boost::asio::steady_timer watchdog_timer_;
};

}  // namespace trellis::access
