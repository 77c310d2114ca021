#include "gateway/tls_proxy.h"

#include <boost/asio/this_coro.hpp>

#include "gateway/deadline.h"
#include "gateway/http_proxy.h"
#include "gateway/tcp_proxy.h"
#include "proto/tls/client_hello.h"

namespace trellis::gateway {

namespace asio = boost::asio;

asio::awaitable<void> ProxyTlsPassthrough(net::Connection& client, const Site& site) {
  Deadline deadline(client, co_await asio::this_coro::executor);
  const auto started = std::chrono::steady_clock::now();
  deadline.AtStart(started, site.limits);
  proto::tls::ClientHello hello;
  for (bool head_timed = false;;) {
    size_t needed = 0;
    const proto::tls::HelloStatus status =
        proto::tls::ParseClientHello(client.input(), &hello, &needed);
    if (status == proto::tls::HelloStatus::kOk) {
      break;
    }
    if (status != proto::tls::HelloStatus::kNeedMore || needed > proto::tls::kMaxHelloLength + 5) {
      co_return;  // Not TLS, a malformed hello, or one in records too small to bound.
    }
    if (!head_timed && !client.input().empty()) {
      deadline.At(started + site.limits.head_timeout);
      head_timed = true;
    }
    if (!co_await client.ReadMore()) {
      co_return;
    }
  }
  deadline.Cancel();
  const std::shared_ptr<Pool> pool = site.PoolFor(hello.server_name, "/");
  if (pool == nullptr) {
    co_return;
  }
  co_await ProxyTcp(client, *pool, site.connect_timeout);
}

asio::awaitable<void> ProxyTlsTerminated(net::Connection& client, const Site& site) {
  // Held for the connection: its handshake's server-name callback points into it.
  const std::shared_ptr<net::TlsServerContext> context = site.tls.load();
  {
    Deadline deadline(client, co_await asio::this_coro::executor);
    deadline.AtStart(std::chrono::steady_clock::now(), site.limits);
    if (!co_await client.StartTls(*context)) {
      co_return;
    }
  }
  co_await ProxyHttp(client, site);
}

}  // namespace trellis::gateway
