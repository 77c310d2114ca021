#include "db/backend_connection.h"

#include <fmt/format.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "net/connect.h"
#include "net/write.h"
#include "proto/mysql/handshake.h"
#include "proto/mysql/messages.h"

namespace trellis::db {

namespace asio = boost::asio;
namespace mysql = proto::mysql;

namespace {

constexpr size_t kReadBytes = 64 * 1024;
// A greeting or a login reply is small; a server that sends more is not one.
constexpr size_t kMaxLoginMessage = 64 * 1024;

// What the proxy asks of the server on every connection; the client's session-shaping
// flags are added per key. Not CLIENT_DEPRECATE_EOF (messages.h), not CLIENT_LOCAL_FILES
// (response.h), not CLIENT_SESSION_TRACK (the proxy reads no session tracking).
constexpr uint32_t kBackendCapabilities =
    mysql::capability::kLongPassword | mysql::capability::kLongFlag |
    mysql::capability::kProtocol41 | mysql::capability::kTransactions |
    mysql::capability::kSecureConnection | mysql::capability::kMultiResults |
    mysql::capability::kPsMultiResults | mysql::capability::kPluginAuth |
    mysql::capability::kPluginAuthLenencData;

base::Error Refusal(std::string_view payload) {
  mysql::ErrPacket err;
  if (mysql::ParseErr(payload, &err)) {
    return base::Unavailable(
        fmt::format("the database server refused the login: {} ({})", err.message, err.code));
  }
  return base::Unavailable("the database server answered the login with something unexpected");
}

}  // namespace

uint32_t SessionShapingFlags(uint32_t client_capabilities) {
  return client_capabilities &
         (mysql::capability::kFoundRows | mysql::capability::kMultiStatements |
          mysql::capability::kIgnoreSpace);
}

asio::ip::tcp::endpoint BackendConnection::server() const {
  boost::system::error_code ignored;
  return socket_.remote_endpoint(ignored);
}

asio::awaitable<base::Result<std::unique_ptr<BackendConnection>>> BackendConnection::Open(
    const asio::ip::tcp::endpoint& server, const BackendLogin& login,
    std::chrono::milliseconds timeout) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  if (!co_await net::ConnectWithin(socket, server, timeout)) {
    co_return base::Unavailable(fmt::format("cannot connect to the database server at {}:{}",
                                            server.address().to_string(), server.port()));
  }
  boost::system::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  socket.non_blocking(true, ignored);  // net::WriteAll's first attempt.
  std::unique_ptr<BackendConnection> connection(
      new BackendConnection(std::move(socket), login.key));
  // The login within the same timeout: a server that accepts and then says nothing (it
  // hangs, or its listen backlog is a proxy's) would hold the client forever.
  auto finished = std::make_shared<bool>(false);
  asio::steady_timer deadline(connection->socket_.get_executor(), timeout);
  deadline.async_wait([finished, &socket = connection->socket_](boost::system::error_code error) {
    if (!error && !*finished) {
      boost::system::error_code ignored;
      socket.cancel(ignored);  // The login's read fails.
    }
  });
  const base::Status logged_in = co_await connection->LogIn(login);
  *finished = true;
  deadline.cancel();
  if (!logged_in) {
    co_return logged_in.error();
  }
  co_return connection;
}

asio::awaitable<base::Result<mysql::Message>> BackendConnection::ReadMessage() {
  for (;;) {
    mysql::Message message;
    const std::string_view input(buffered(), input_.size());
    switch (mysql::ReadMessage(input, kMaxLoginMessage, &message)) {
      case mysql::MessageStatus::kOk:
        Consume(message.bytes);
        co_return message;
      case mysql::MessageStatus::kTooLarge:
        co_return base::Unavailable("the database server sent an oversized login message");
      case mysql::MessageStatus::kNeedMore:
        break;
    }
    if (!co_await ReadMore()) {
      co_return base::Unavailable("the database server closed the connection during the login");
    }
  }
}

asio::awaitable<base::Status> BackendConnection::LogIn(const BackendLogin& login) {
  TRELLIS_CO_TRY(const mysql::Message greeting_message, co_await ReadMessage());
  mysql::Greeting greeting;
  if (!mysql::ParseGreeting(greeting_message.payload, &greeting)) {
    co_return Refusal(greeting_message.payload);  // An ERR (too many connections), or junk.
  }
  mysql::HandshakeResponse response;
  response.capabilities = (kBackendCapabilities | login.key.flags) & greeting.capabilities;
  response.max_packet = 1 << 30;
  response.charset = login.key.charset;
  response.user = login.key.user;
  response.auth_response = mysql::NativePasswordAnswer(login.password_sha1, greeting.nonce);
  response.auth_plugin = mysql::kNativePassword;
  std::string payload;
  mysql::AppendHandshakeResponse(payload, response);
  std::string bytes;
  mysql::AppendMessage(bytes, greeting_message.sequence + 1, payload);
  if (!co_await Write(bytes)) {
    co_return base::Unavailable("the database server closed the connection during the login");
  }
  for (int round = 0; round < 2; ++round) {
    TRELLIS_CO_TRY(const mysql::Message reply, co_await ReadMessage());
    const auto first = reply.payload.empty() ? 0xFF : static_cast<uint8_t>(reply.payload[0]);
    if (first == 0x00) {
      co_return base::Status();
    }
    mysql::AuthSwitch to;
    if (first != 0xFE || !mysql::ParseAuthSwitch(reply.payload, &to) ||
        to.plugin != mysql::kNativePassword) {
      co_return Refusal(reply.payload);
    }
    bytes.clear();
    mysql::AppendMessage(bytes, reply.sequence + 1,
                         mysql::NativePasswordAnswer(login.password_sha1, to.data));
    if (!co_await Write(bytes)) {
      co_return base::Unavailable("the database server closed the connection during the login");
    }
  }
  co_return base::Unavailable("the database server asked to switch authentication twice");
}

std::optional<uint32_t> BackendConnection::FindStatement(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    return std::nullopt;
  }
  it->second.used = ++uses_;
  return it->second.id;
}

std::optional<uint32_t> BackendConnection::RememberStatement(const std::string& sql, uint32_t id) {
  std::optional<uint32_t> evicted;
  if (auto it = statements_.find(sql); it != statements_.end()) {
    if (it->second.id != id) {
      evicted = it->second.id;  // Prepared again: the earlier one goes.
    }
    it->second = {id, ++uses_};
    return evicted;
  }
  if (statements_.size() >= kMaxStatements) {
    auto oldest = std::min_element(
        statements_.begin(), statements_.end(),
        [](const auto& a, const auto& b) { return a.second.used < b.second.used; });
    evicted = oldest->second.id;
    statements_.erase(oldest);
  }
  statements_[sql] = {id, ++uses_};
  return evicted;
}

bool BackendConnection::HasFrameAt(size_t offset) const {
  mysql::Frame frame;
  const std::string_view input(static_cast<const char*>(input_.data().data()), input_.size());
  return offset <= input.size() &&
         mysql::ReadFrame(input.substr(offset), &frame) == mysql::FrameStatus::kOk;
}

asio::awaitable<bool> BackendConnection::ReadFrameAt(size_t offset, mysql::Frame* frame) {
  // No co_await in a while loop (g++ 12 miscompiles some: client_session.cc).
  for (;;) {
    const std::string_view input(buffered(), input_.size());
    if (offset <= input.size() &&
        mysql::ReadFrame(input.substr(offset), frame) == mysql::FrameStatus::kOk) {
      co_return true;
    }
    const bool read = co_await ReadMore();
    if (!read) {
      co_return false;
    }
  }
}

asio::awaitable<bool> BackendConnection::ReadMore() {
  auto [error, read] = co_await socket_.async_read_some(input_.prepare(kReadBytes),
                                                        asio::as_tuple(asio::use_awaitable));
  input_.commit(read);
  co_return !error;
}

char* BackendConnection::buffered() { return static_cast<char*>(input_.data().data()); }

void BackendConnection::Consume(size_t bytes) { input_.consume(bytes); }

asio::awaitable<bool> BackendConnection::Write(std::string_view bytes) {
  const boost::system::error_code error = co_await net::WriteAll(socket_, bytes);
  co_return !error;
}

}  // namespace trellis::db
