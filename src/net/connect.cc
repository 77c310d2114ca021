#include "net/connect.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace trellis::net {

namespace asio = boost::asio;

asio::awaitable<bool> ConnectWithin(asio::ip::tcp::socket& socket,
                                    const asio::ip::tcp::endpoint& to,
                                    std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(timeout);
  auto result = co_await (socket.async_connect(to, asio::as_tuple(asio::use_awaitable)) ||
                          timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  co_return result.index() == 0 && !std::get<0>(std::get<0>(result));
}

}  // namespace trellis::net
