#include "net/client_stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

#include "net/tls_context.h"

namespace trellis::net {

namespace asio = boost::asio;
namespace beast = boost::beast;

ClientStream::Peer ClientStream::PeerAt(const asio::ip::tcp::endpoint& endpoint) {
  return {endpoint.address().to_string(), {endpoint}};
}

beast::tcp_stream& ClientStream::tcp() {
  return std::visit(
      [](auto& stream) -> beast::tcp_stream& { return beast::get_lowest_layer(stream); }, link_);
}

asio::awaitable<base::Result<ClientStream>> ClientStream::Open(Peer peer, TlsClientContext* tls,
                                                               Clock::time_point deadline) {
  const auto executor = co_await asio::this_coro::executor;
  ClientStream stream(Link(std::in_place_type<beast::tcp_stream>, executor));
  if (tls != nullptr) {
    stream.link_.emplace<TlsStream>(executor, tls->context());
    TlsStream& tls_stream = std::get<TlsStream>(stream.link_);
    // The server's certificate must be for the address or name connected to.
    tls_stream.set_verify_callback(asio::ssl::host_name_verification(peer.host));
    boost::system::error_code not_ip;
    asio::ip::make_address(peer.host, not_ip);
    if (not_ip) {  // A name: sent for SNI.
      SSL_set_tlsext_host_name(tls_stream.native_handle(), peer.host.c_str());
    }
  }
  beast::tcp_stream& tcp = stream.tcp();
  tcp.expires_at(deadline);
  auto [connect_error, endpoint] =
      co_await tcp.async_connect(peer.endpoints, asio::as_tuple(asio::use_awaitable));
  if (connect_error) {
    co_return base::Unavailable(connect_error == beast::error::timeout
                                    ? "no connection in time"
                                    : "cannot connect: " + connect_error.message());
  }
  if (TlsStream* tls_stream = std::get_if<TlsStream>(&stream.link_)) {
    auto [handshake_error] = co_await tls_stream->async_handshake(
        asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
    if (handshake_error) {
      co_return base::Unavailable("TLS handshake failed: " + handshake_error.message());
    }
  }
  tcp.expires_never();
  co_return stream;
}

}  // namespace trellis::net
