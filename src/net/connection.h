// Connection: one accepted client connection as a protocol handler sees it: a reusable
// input buffer that ReadMore() fills, Consume() to drop what was parsed, and Write().
//
// The server runtime (net/server.h) creates one per accepted socket, runs the
// protocol's handler coroutine on it, and uses what it knows here to enforce the idle
// timeout and to drain: a connection waiting in ReadMore() with nothing buffered is
// between requests, so a drain closes it at once; one with a partial request buffered
// is mid-request and gets until the drain deadline to finish. At that deadline the
// server Abort()s it, which also cancels the work a handler bound to abort_slot().
//
// On a TLS port the server calls StartTls before the handler (ServerOptions::tls); a
// handler that decides for itself (the gateway's, by server name) calls it first. From
// then on input() is the decrypted bytes and Write() encrypts; when the handler
// returns, the server sends the TLS close_notify (Finish) before the socket closes.
//
// Thread safety: owned by one shard; touched only on that shard's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/metrics.h"

namespace trellis::net {

class TlsServerContext;

class Connection {
 public:
  Connection(boost::asio::ip::tcp::socket socket, int shard, const bool* draining);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Answers the client's TLS handshake with `context`'s certificates; the connection
  // is encrypted from then on. False if the handshake failed (the client is not
  // speaking TLS, offers nothing in common, or went away): the handler should return.
  // REQUIRES: input() is empty and StartTls was not called before.
  boost::asio::awaitable<bool> StartTls(TlsServerContext& context);
  bool tls() const { return tls_ != nullptr; }

  // Waits for more input and appends it to input(). Returns false when the peer closed,
  // on an error, on the idle timeout, or when the server drains and nothing is buffered.
  boost::asio::awaitable<bool> ReadMore();

  // Bytes received and not yet consumed.
  std::string_view input() const { return {buffer_.data() + begin_, end_ - begin_}; }
  // REQUIRES: n <= input().size().
  void Consume(size_t n);

  // Writes all of `bytes`. Returns false if the connection broke or timed out.
  boost::asio::awaitable<bool> Write(std::string_view bytes);

  // Makes the next ReadMore() return false; the handler then returns and the socket closes.
  void Close() { closed_ = true; }
  // Ends this side's output (a FIN) and keeps reading: a relay whose other side finished
  // sending passes that on. Plain connections only (a TLS one has no half-close).
  void ShutdownSend();
  // Close(), and a ReadMore() or Write() in progress returns false now: for a handler
  // that reads and writes from two coroutines and must stop both. Also emits a terminal
  // cancellation on abort_slot().
  void Abort();
  bool closed() const { return closed_; }

  // For work a handler does on this connection's behalf that may wait on something else
  // than the socket (an HTTP route handler holding a long-poll): bound to this slot
  // (asio::bind_cancellation_slot), it is cancelled when the connection is aborted (the
  // drain deadline, the idle timeout), so the connection can end. One operation at a
  // time; it must complete before the connection's handler returns.
  boost::asio::cancellation_slot abort_slot() { return abort_signal_.slot(); }

  int shard() const { return shard_; }
  const boost::asio::ip::tcp::endpoint& peer() const { return peer_; }

 private:
  friend class Server;
  struct TlsStream;
  // The server's counters that its connections count in.
  struct Counters {
    base::Counter* received;  // Bytes.
    base::Counter* sent;      // Bytes.
    base::Counter* tls_handshakes_failed;
  };

  // After the handler: a TLS connection that is not broken sends its close_notify
  // (RFC 8446 section 6.1) and waits a moment for the client's.
  boost::asio::awaitable<void> Finish();

  // For the server's sweeper and drain, on this connection's shard.
  bool IsIdleBetweenRequests() const { return in_read_ && begin_ == end_; }

  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::endpoint peer_;
  std::unique_ptr<TlsStream> tls_;      // Set by StartTls; reads and writes go through it.
  const Counters* counters_ = nullptr;  // The server's, if it counts.
  const int shard_;
  const bool* draining_;  // The shard's drain flag; outlives the connection.

  // Invariant: begin_ <= end_ <= buffer_.size(); input() is buffer_[begin_, end_).
  std::vector<char> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;

  bool closed_ = false;
  bool in_read_ = false;           // Inside a socket read right now.
  bool in_write_ = false;          // Inside a socket write right now.
  uint64_t io_completions_ = 0;    // Bumped on every completed read or write.
  uint64_t seen_completions_ = 0;  // io_completions_ at the sweeper's last look.
  int idle_sweeps_ = 0;            // Consecutive sweeps that saw no progress in a read or write.
  boost::asio::cancellation_signal abort_signal_;
};

}  // namespace trellis::net
