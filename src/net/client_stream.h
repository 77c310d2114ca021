// ClientStream: a connection one Trellis process opens to another, plain TCP or TLS.
// Over TLS the server's certificate must be from the cluster's CA and for the address or
// name connected to, and this process shows its own certificate when it has one (mutual
// TLS). It is the one place that connects and handshakes: for the master client
// (http::Client) and for every memcached-protocol connection between daemons (an access
// node's backends, replication, slot moves, the master's probes, the backup center's
// streams), so each of them is encrypted exactly when its cluster has a CA.
//
// An asio AsyncReadStream and AsyncWriteStream: asio::async_read, async_write,
// async_read_until and Beast's HTTP functions take it. Operations honour per-operation
// cancellation (the || of awaitable_operators) and the expiry set on tcp().
//
// Thread safety: as an asio socket: one read and one write at a time, on its executor.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "base/result.h"

namespace trellis::net {

class TlsClientContext;

class ClientStream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using Clock = std::chrono::steady_clock;

  // Whom to connect to.
  struct Peer {
    std::string host;  // What the server's certificate must name: an address, or a DNS name
                       // (then also sent for SNI).
    std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // Tried in turn.
  };
  // The peer at one endpoint, whose certificate must name its address.
  static Peer PeerAt(const boost::asio::ip::tcp::endpoint& endpoint);

  // Connects to `peer` on the calling coroutine's executor and, with `tls`, completes
  // the TLS handshake, both by `deadline`; the stream has no expiry once open. `tls`
  // null: plaintext. Errors (kUnavailable) say which step failed: "cannot connect: ...",
  // "no connection in time", "TLS handshake failed: ...".
  static boost::asio::awaitable<base::Result<ClientStream>> Open(Peer peer, TlsClientContext* tls,
                                                                 Clock::time_point deadline);

  ClientStream(ClientStream&&) = default;
  ClientStream& operator=(ClientStream&&) = default;

  bool tls() const { return std::holds_alternative<TlsStream>(link_); }
  // The TCP stream beneath: for socket options, expiry and close.
  boost::beast::tcp_stream& tcp();

  executor_type get_executor() { return tcp().get_executor(); }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& into) {
          std::visit([&](auto& stream) { stream.async_read_some(into, std::move(handler)); },
                     link_);
        },
        token, buffers);
  }

  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& from) {
          std::visit([&](auto& stream) { stream.async_write_some(from, std::move(handler)); },
                     link_);
        },
        token, buffers);
  }

 private:
  using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using Link = std::variant<boost::beast::tcp_stream, TlsStream>;
  explicit ClientStream(Link link) : link_(std::move(link)) {}

  Link link_;
};

}  // namespace trellis::net
