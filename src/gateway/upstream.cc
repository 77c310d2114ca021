#include "gateway/upstream.h"

#include <boost/asio/this_coro.hpp>

#include "net/connect.h"

namespace trellis::gateway {

namespace asio = boost::asio;

asio::awaitable<std::optional<Upstream>> ConnectUpstream(Pool& pool,
                                                         const asio::ip::address& source,
                                                         std::chrono::milliseconds timeout,
                                                         std::string failed) {
  const auto executor = co_await asio::this_coro::executor;
  for (int attempt = 0; attempt < 2; ++attempt) {
    ServerLease lease = pool.Pick(source, failed);
    if (!lease || lease.address() == failed) {
      co_return std::nullopt;
    }
    asio::ip::tcp::socket socket(executor);
    if (co_await net::ConnectWithin(socket, lease.endpoint(), timeout)) {
      socket.set_option(asio::ip::tcp::no_delay(true));
      socket.non_blocking(true);  // net::WriteAll's first attempt.
      co_return Upstream{std::move(lease), std::move(socket)};
    }
    pool.ReportFailure(lease);
    failed = lease.address();
  }
  co_return std::nullopt;
}

}  // namespace trellis::gateway
