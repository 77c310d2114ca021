#include "gateway/tcp_proxy.h"

#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/upstream.h"
#include "net/write.h"

namespace trellis::gateway {

namespace asio = boost::asio;

namespace {

constexpr size_t kReadBytes = 64 * 1024;

// Client to server, until the client ends its output (or either side fails).
asio::awaitable<void> ClientToServer(net::Connection& client, asio::ip::tcp::socket& server) {
  for (;;) {
    if (!client.input().empty()) {
      if (co_await net::WriteAll(server, client.input())) {
        break;
      }
      client.Consume(client.input().size());
    }
    if (!co_await client.ReadMore()) {
      break;
    }
  }
  boost::system::error_code ignored;
  server.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

// Server to client, until the server ends its output (or either side fails).
asio::awaitable<void> ServerToClient(asio::ip::tcp::socket& server, net::Connection& client) {
  std::string buffer(kReadBytes, '\0');
  for (;;) {
    auto [error, read] =
        co_await server.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    if (error) {
      break;
    }
    if (!co_await client.Write(std::string_view(buffer.data(), read))) {
      break;
    }
  }
  client.ShutdownSend();
}

}  // namespace

asio::awaitable<void> ProxyTcp(net::Connection& client, Pool& pool,
                               std::chrono::milliseconds connect_timeout) {
  using namespace asio::experimental::awaitable_operators;
  std::optional<Upstream> upstream =
      co_await ConnectUpstream(pool, client.peer().address(), connect_timeout, "");
  if (!upstream) {
    co_return;
  }
  co_await (ClientToServer(client, upstream->socket) && ServerToClient(upstream->socket, client));
}

}  // namespace trellis::gateway
