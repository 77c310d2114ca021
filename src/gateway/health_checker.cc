#include "gateway/health_checker.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/client.h"
#include "net/connect.h"

namespace trellis::gateway {

namespace asio = boost::asio;

namespace {

asio::awaitable<bool> TcpCheck(asio::ip::tcp::endpoint server, std::chrono::milliseconds timeout) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  co_return co_await net::ConnectWithin(socket, server, timeout);
}

asio::awaitable<bool> HttpCheck(const std::string& address, const CheckConfig& check) {
  auto client = http::Client::ForUrl(co_await asio::this_coro::executor, address);
  if (!client) {
    co_return false;
  }
  auto response = co_await client->Call(http::beast_http::verb::get, check.path, "", check.timeout);
  if (!response) {
    co_return false;
  }
  co_return check.expect != 0 ? response->status == static_cast<int>(check.expect)
                              : response->status >= 200 && response->status < 400;
}

asio::awaitable<void> CheckServer(std::shared_ptr<Pool> pool, std::string address,
                                  asio::ip::tcp::endpoint endpoint, CheckConfig check) {
  const auto started = std::chrono::steady_clock::now();
  bool ok = false;  // Not a ?: with co_await on both sides: g++ 12 miscompiles it.
  if (check.kind == CheckKind::kHttp) {
    ok = co_await HttpCheck(address, check);
  } else {
    ok = co_await TcpCheck(endpoint, check.timeout);
  }
  pool->ReportCheck(address, ok, std::chrono::steady_clock::now() - started);
}

}  // namespace

asio::awaitable<void> CheckPool(std::shared_ptr<Pool> pool, const std::atomic<bool>& stop) {
  const auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  while (!stop.load() && !pool->retired()) {
    const CheckConfig check = pool->check();
    if (check.kind != CheckKind::kNone) {
      for (auto& [address, endpoint] : pool->Endpoints()) {
        asio::co_spawn(executor, CheckServer(pool, address, endpoint, check), asio::detached);
      }
    }
    timer.expires_after(check.interval);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace trellis::gateway
