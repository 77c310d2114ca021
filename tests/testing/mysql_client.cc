#include "testing/mysql_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "proto/mysql/auth.h"
#include "proto/mysql/handshake.h"
#include "proto/mysql/messages.h"
#include "proto/mysql/packet.h"
#include "proto/mysql/wire.h"

namespace trellis::testing {

namespace mysql = proto::mysql;

namespace {

SqlResult ErrorOf(std::string_view payload) {
  SqlResult result;
  mysql::ErrPacket err;
  if (!mysql::ParseErr(payload, &err)) {
    throw std::runtime_error("MysqlClient: neither OK nor ERR from the server");
  }
  result.error_code = err.code;
  result.sql_state = err.sql_state;
  result.error = err.message;
  return result;
}

}  // namespace

MysqlClient::MysqlClient(uint16_t port, const std::string& user, const std::string& password,
                         const std::string& database) {
  const SqlResult login = LogIn(port, user, password, database);
  if (!login.ok()) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    throw std::runtime_error("MysqlClient: login refused: " + std::to_string(login.error_code) +
                             " " + login.error);
  }
}

MysqlClient::~MysqlClient() {
  if (fd_ >= 0) {
    std::string quit(1, static_cast<char>(mysql::Command::kQuit));
    std::string bytes;
    mysql::AppendMessage(bytes, 0, quit);
    (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ::close(fd_);
  }
}

SqlResult MysqlClient::TryLogIn(uint16_t port, const std::string& user, const std::string& password,
                                const std::string& database) {
  MysqlClient client;
  return client.LogIn(port, user, password, database);
}

SqlResult MysqlClient::LogIn(uint16_t port, const std::string& user, const std::string& password,
                             const std::string& database) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    throw std::runtime_error("MysqlClient: cannot connect to port " + std::to_string(port));
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  uint8_t sequence = 0;
  const std::string greeting_payload = ReadMessage(&sequence);
  mysql::Greeting greeting;
  if (!mysql::ParseGreeting(greeting_payload, &greeting)) {
    return ErrorOf(greeting_payload);
  }
  const mysql::Sha1 password_sha1 = mysql::PasswordSha1(password);
  mysql::HandshakeResponse response;
  response.capabilities = mysql::capability::kProtocol41 | mysql::capability::kSecureConnection |
                          mysql::capability::kPluginAuth | mysql::capability::kTransactions |
                          mysql::capability::kMultiResults | mysql::capability::kLongPassword;
  if (!database.empty()) {
    response.capabilities |= mysql::capability::kConnectWithDb;
    response.database = database;
  }
  response.max_packet = 1 << 24;
  response.charset = 45;
  response.user = user;
  // An account without a password takes an empty answer only.
  response.auth_response =
      password.empty() ? "" : mysql::NativePasswordAnswer(password_sha1, greeting.nonce);
  response.auth_plugin = mysql::kNativePassword;
  std::string payload;
  mysql::AppendHandshakeResponse(payload, response);
  Send(sequence + 1, payload);
  for (int round = 0; round < 2; ++round) {
    const std::string reply = ReadMessage(&sequence);
    if (!reply.empty() && static_cast<uint8_t>(reply[0]) == 0x00) {
      return {};
    }
    mysql::AuthSwitch to;
    if (reply.empty() || static_cast<uint8_t>(reply[0]) != 0xFE ||
        !mysql::ParseAuthSwitch(reply, &to)) {
      return ErrorOf(reply);
    }
    Send(sequence + 1, password.empty() ? "" : mysql::NativePasswordAnswer(password_sha1, to.data));
  }
  throw std::runtime_error("MysqlClient: the server switched authentication twice");
}

void MysqlClient::Send(uint8_t sequence, std::string_view payload) {
  std::string bytes;
  mysql::AppendMessage(bytes, sequence, payload);
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      throw std::runtime_error("MysqlClient: the connection broke while sending");
    }
    sent += static_cast<size_t>(n);
  }
}

std::string MysqlClient::ReadMessage(uint8_t* sequence) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    mysql::Message message;
    if (mysql::ReadMessage(buffer_, size_t{1} << 30, &message) == mysql::MessageStatus::kOk) {
      buffer_.erase(0, message.bytes);
      *sequence = message.sequence;
      return std::move(message.payload);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd ready{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) <= 0) {
      throw std::runtime_error("MysqlClient: no reply within the deadline");
    }
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      throw std::runtime_error("MysqlClient: the server closed the connection");
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

SqlResult MysqlClient::Query(std::string_view sql) {
  std::string payload(1, static_cast<char>(mysql::Command::kQuery));
  payload.append(sql);
  Send(0, payload);
  for (;;) {  // One result per round; the last one is returned.
    uint8_t sequence = 0;
    const std::string first = ReadMessage(&sequence);
    if (first.empty()) {
      throw std::runtime_error("MysqlClient: an empty reply");
    }
    SqlResult result;
    const auto marker = static_cast<uint8_t>(first[0]);
    if (marker == 0xFF) {
      return ErrorOf(first);
    }
    if (marker == 0x00) {
      mysql::OkPacket ok;
      if (!mysql::ParseOk(first, &ok)) {
        throw std::runtime_error("MysqlClient: a malformed OK");
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
      throw std::runtime_error("MysqlClient: a malformed column count");
    }
    for (uint64_t i = 0; i < columns; ++i) {
      // catalog, schema, table, original table, name, ...
      mysql::PayloadReader definition(ReadMessage(&sequence));
      std::string_view field;
      for (int skip = 0; skip < 4; ++skip) {
        definition.ReadLenencString(&field);
      }
      definition.ReadLenencString(&field);
      result.columns.emplace_back(field);
    }
    ReadMessage(&sequence);  // The EOF after the definitions.
    for (;;) {
      const std::string row = ReadMessage(&sequence);
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
          throw std::runtime_error("MysqlClient: a malformed row");
        }
      }
      result.rows.push_back(std::move(cells));
    }
    if ((result.status & mysql::server_status::kMoreResults) == 0) {
      return result;
    }
  }
}

std::string MysqlClient::Scalar(std::string_view sql) {
  const SqlResult result = Query(sql);
  if (!result.ok()) {
    throw std::runtime_error("MysqlClient: " + std::string(sql) + ": " + result.error);
  }
  if (result.rows.empty() || result.rows[0].empty()) {
    throw std::runtime_error("MysqlClient: " + std::string(sql) + ": no rows");
  }
  return result.rows[0][0].value_or("NULL");
}

}  // namespace trellis::testing
