#include "db/sql_client.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "proto/mysql/auth.h"
#include "proto/mysql/handshake.h"
#include "proto/mysql/messages.h"
#include "proto/mysql/packet.h"
#include "proto/mysql/response.h"
#include "proto/mysql/wire.h"

namespace trellis::db {

namespace mysql = proto::mysql;

namespace {

base::Error Broken(std::string what) { return base::Unavailable("SqlClient: " + std::move(what)); }

base::Result<SqlResult> ErrorOf(std::string_view payload) {
  mysql::ErrPacket err;
  if (!mysql::ParseErr(payload, &err)) {
    return Broken("neither OK nor ERR from the server");
  }
  SqlResult result;
  result.error_code = err.code;
  result.sql_state = err.sql_state;
  result.error = err.message;
  return result;
}

// Milliseconds left until `deadline`, at least 0.
int MillisecondsTo(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

std::optional<std::string> SqlResult::First(std::string_view column) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == column && !rows.empty() && i < rows[0].size()) {
      return rows[0][i];
    }
  }
  return std::nullopt;
}

SqlClient::SqlClient(SqlClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      timeout_(other.timeout_),
      buffer_(std::move(other.buffer_)) {}

SqlClient& SqlClient::operator=(SqlClient&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    timeout_ = other.timeout_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

SqlClient::~SqlClient() { Close(); }

void SqlClient::Close() {
  if (fd_ < 0) {
    return;
  }
  std::string bytes;
  mysql::AppendMessage(bytes, 0, std::string(1, static_cast<char>(mysql::Command::kQuit)));
  (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::close(fd_);
  fd_ = -1;
}

base::Result<SqlClient> SqlClient::Open(const boost::asio::ip::tcp::endpoint& server,
                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int fd =
      ::socket(server.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return Broken(std::string("socket: ") + std::strerror(errno));
  }
  SqlClient client(fd, timeout);
  const std::string where = fmt::format("{}:{}", server.address().to_string(), server.port());
  if (::connect(fd, server.data(), static_cast<socklen_t>(server.size())) != 0) {
    if (errno != EINPROGRESS) {
      return Broken(where + ": " + std::strerror(errno));
    }
    pollfd ready{fd, POLLOUT, 0};
    if (::poll(&ready, 1, MillisecondsTo(deadline)) <= 0) {
      return Broken(where + ": no connection within the timeout");
    }
    int failure = 0;
    socklen_t length = sizeof(failure);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length);
    if (failure != 0) {
      return Broken(where + ": " + std::strerror(failure));
    }
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return client;
}

base::Result<SqlClient> SqlClient::Connect(const boost::asio::ip::tcp::endpoint& server,
                                           const SqlLogin& login,
                                           std::chrono::milliseconds timeout) {
  TRELLIS_TRY(SqlClient client, Open(server, timeout));
  TRELLIS_TRY(const SqlResult answer, client.LogIn(login));
  if (!answer.ok()) {
    return base::PermissionDenied(fmt::format("{} {}", answer.error_code, answer.error));
  }
  return client;
}

base::Result<SqlResult> SqlClient::LogIn(const SqlLogin& login) {
  uint8_t sequence = 0;
  TRELLIS_TRY(const std::string greeting_payload, ReadMessage(&sequence));
  mysql::Greeting greeting;
  if (!mysql::ParseGreeting(greeting_payload, &greeting)) {
    return ErrorOf(greeting_payload);
  }
  const mysql::Sha1 password_sha1 = mysql::PasswordSha1(login.password);
  mysql::HandshakeResponse response;
  response.capabilities = mysql::capability::kProtocol41 | mysql::capability::kSecureConnection |
                          mysql::capability::kPluginAuth | mysql::capability::kTransactions |
                          mysql::capability::kMultiResults | mysql::capability::kLongPassword;
  if (login.multi_statements) {
    response.capabilities |= mysql::capability::kMultiStatements;
  }
  if (!login.database.empty()) {
    response.capabilities |= mysql::capability::kConnectWithDb;
    response.database = login.database;
  }
  response.max_packet = 1 << 24;
  response.charset = 45;
  response.user = login.user;
  // An account without a password takes an empty answer only.
  response.auth_response =
      login.password.empty() ? "" : mysql::NativePasswordAnswer(password_sha1, greeting.nonce);
  response.auth_plugin = mysql::kNativePassword;
  std::string payload;
  mysql::AppendHandshakeResponse(payload, response);
  TRELLIS_TRY_STATUS(Send(sequence + 1, payload));
  for (int round = 0; round < 2; ++round) {
    TRELLIS_TRY(const std::string reply, ReadMessage(&sequence));
    if (!reply.empty() && static_cast<uint8_t>(reply[0]) == 0x00) {
      return SqlResult{};
    }
    mysql::AuthSwitch to;
    if (reply.empty() || static_cast<uint8_t>(reply[0]) != 0xFE ||
        !mysql::ParseAuthSwitch(reply, &to)) {
      return ErrorOf(reply);
    }
    TRELLIS_TRY_STATUS(
        Send(sequence + 1,
             login.password.empty() ? "" : mysql::NativePasswordAnswer(password_sha1, to.data)));
  }
  return Broken("the server switched authentication twice");
}

base::Status SqlClient::Send(uint8_t sequence, std::string_view payload) {
  std::string bytes;
  mysql::AppendMessage(bytes, sequence, payload);
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return Broken("the connection broke while sending");
    }
    sent += static_cast<size_t>(n);
  }
  return {};
}

base::Result<std::string> SqlClient::ReadMessage(uint8_t* sequence) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    mysql::Message message;
    if (mysql::ReadMessage(buffer_, size_t{1} << 30, &message) == mysql::MessageStatus::kOk) {
      buffer_.erase(0, message.bytes);
      *sequence = message.sequence;
      return std::move(message.payload);
    }
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, MillisecondsTo(deadline)) <= 0) {
      return Broken("no reply within the timeout");
    }
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      return Broken("the server closed the connection");
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

base::Result<SqlResult> SqlClient::Query(std::string_view sql) {
  if (fd_ < 0) {
    return Broken("not connected");
  }
  std::string payload(1, static_cast<char>(mysql::Command::kQuery));
  payload.append(sql);
  TRELLIS_TRY_STATUS(Send(0, payload));
  for (;;) {  // One result per round; the last one is returned.
    uint8_t sequence = 0;
    TRELLIS_TRY(const std::string first, ReadMessage(&sequence));
    if (first.empty()) {
      return Broken("an empty reply");
    }
    SqlResult result;
    const auto marker = static_cast<uint8_t>(first[0]);
    if (marker == 0xFF) {
      return ErrorOf(first);
    }
    if (marker == 0x00) {
      mysql::OkPacket ok;
      if (!mysql::ParseOk(first, &ok)) {
        return Broken("a malformed OK");
      }
      result.affected_rows = ok.affected_rows;
      result.status = ok.status;
      if ((ok.status & mysql::server_status::kMoreResults) != 0) {
        continue;
      }
      return result;
    }
    mysql::PayloadReader count_reader(first);
    uint64_t columns = 0;
    if (!count_reader.ReadLenencInt(&columns)) {
      return Broken("a malformed column count");
    }
    for (uint64_t i = 0; i < columns; ++i) {
      // catalog, schema, table, original table, name, ...
      TRELLIS_TRY(const std::string definition_payload, ReadMessage(&sequence));
      mysql::PayloadReader definition(definition_payload);
      std::string_view field;
      for (int skip = 0; skip < 4; ++skip) {
        definition.ReadLenencString(&field);
      }
      definition.ReadLenencString(&field);
      result.columns.emplace_back(field);
    }
    TRELLIS_TRY(const std::string definitions_end, ReadMessage(&sequence));
    for (;;) {
      TRELLIS_TRY(const std::string row, ReadMessage(&sequence));
      if (mysql::IsEof(row)) {
        mysql::EofPacket eof;
        mysql::ParseEof(row, &eof);
        result.status = eof.status;
        break;
      }
      if (!row.empty() && static_cast<uint8_t>(row[0]) == 0xFF) {
        return ErrorOf(row);
      }
      mysql::PayloadReader values(row);
      std::vector<std::optional<std::string>> cells;
      for (uint64_t i = 0; i < columns; ++i) {
        std::string_view cell;
        if (!values.empty() && static_cast<uint8_t>(row[row.size() - values.remaining()]) == 0xFB) {
          values.Skip(1);
          cells.emplace_back(std::nullopt);
        } else if (values.ReadLenencString(&cell)) {
          cells.emplace_back(std::string(cell));
        } else {
          return Broken("a malformed row");
        }
      }
      result.rows.push_back(std::move(cells));
    }
    if ((result.status & mysql::server_status::kMoreResults) == 0) {
      return result;
    }
  }
}

base::Result<std::vector<std::string>> SqlClient::Exchange(std::string_view payload) {
  if (fd_ < 0 || payload.empty()) {
    return Broken("not connected, or no command");
  }
  TRELLIS_TRY_STATUS(Send(0, payload));
  std::vector<std::string> messages;
  const mysql::ResponseShape shape = mysql::ShapeOf(static_cast<mysql::Command>(payload[0]));
  if (shape == mysql::ResponseShape::kNone) {
    return messages;
  }
  mysql::ResponseReader reader(shape);
  // The answer's packets are numbered on from the command's, as a client library checks.
  auto expected = static_cast<uint8_t>(payload.size() / mysql::kMaxPacketPayload + 1);
  for (;;) {
    uint8_t sequence = 0;
    TRELLIS_TRY(std::string message, ReadMessage(&sequence));
    const auto last = static_cast<uint8_t>(expected + message.size() / mysql::kMaxPacketPayload);
    if (sequence != last) {
      return Broken(fmt::format("packets out of order: {} where {} was due", sequence, last));
    }
    expected = static_cast<uint8_t>(last + 1);
    const mysql::ResponseReader::Step step = reader.Next(message);
    messages.push_back(std::move(message));
    if (step == mysql::ResponseReader::Step::kBad) {
      return Broken("a response out of step");
    }
    if (step == mysql::ResponseReader::Step::kDone) {
      return messages;
    }
  }
}

base::Result<SqlResult> SqlClient::Execute(std::string_view sql) {
  TRELLIS_TRY(SqlResult result, Query(sql));
  if (!result.ok()) {
    return base::Conflict(fmt::format("{}: {} {}", sql, result.error_code, result.error));
  }
  return result;
}

}  // namespace trellis::db
