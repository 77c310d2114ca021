// MysqlClient: a blocking MySQL-protocol client for tests, on the codec the dbproxy uses
// (proto/mysql): logs in with mysql_native_password (following an auth switch), sends
// COM_QUERY and reads the results as text, each read with a deadline. Tests use it to
// hold several sessions at once and interleave their statements, which the `mariadb`
// command-line client cannot.
//
// Thread safety: none; one thread owns a client.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::testing {

struct SqlResult {
  // An ERR: its code, SQLSTATE and message; 0 for success.
  uint16_t error_code = 0;
  std::string sql_state;
  std::string error;
  uint64_t affected_rows = 0;
  uint16_t status = 0;  // The server's status flags after it.
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt for NULL.

  bool ok() const { return error_code == 0; }
};

class MysqlClient {
 public:
  // Connects to 127.0.0.1:port and logs in; throws std::runtime_error when the
  // connection or the login fails (the server's ERR in the message).
  MysqlClient(uint16_t port, const std::string& user, const std::string& password,
              const std::string& database = "");
  ~MysqlClient();
  MysqlClient(const MysqlClient&) = delete;
  MysqlClient& operator=(const MysqlClient&) = delete;

  // The login's outcome without throwing: the ERR the server sent, or an empty result.
  static SqlResult TryLogIn(uint16_t port, const std::string& user, const std::string& password,
                            const std::string& database = "");

  // Runs `sql` (one statement; the last result of several); throws if the connection
  // breaks or the reply does not come within the deadline.
  SqlResult Query(std::string_view sql);
  // The first column of the first row of a query that must succeed; "NULL" for NULL.
  std::string Scalar(std::string_view sql);

 private:
  MysqlClient() = default;
  // Logs in; the server's ERR, or an empty result.
  SqlResult LogIn(uint16_t port, const std::string& user, const std::string& password,
                  const std::string& database);
  // The next whole message's payload and sequence number.
  std::string ReadMessage(uint8_t* sequence);
  void Send(uint8_t sequence, std::string_view payload);

  int fd_ = -1;
  std::string buffer_;
  std::chrono::milliseconds timeout_{10000};
};

}  // namespace trellis::testing
