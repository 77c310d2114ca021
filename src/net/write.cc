#include "net/write.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace trellis::net {

namespace asio = boost::asio;

asio::awaitable<boost::system::error_code> WriteAll(asio::ip::tcp::socket& socket,
                                                    std::string_view bytes) {
  boost::system::error_code error;
  const size_t written = socket.write_some(asio::buffer(bytes.data(), bytes.size()), error);
  if (!error && written == bytes.size()) {
    co_return error;
  }
  if (error && error != asio::error::would_block) {
    co_return error;
  }
  bytes.remove_prefix(error ? 0 : written);
  auto [failed, rest] = co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()),
                                                   asio::as_tuple(asio::use_awaitable));
  co_return failed;
}

}  // namespace trellis::net
