// SqlClient: a blocking MySQL-protocol client on the codec the dbproxy uses
// (proto/mysql), for control work rather than traffic: CDB's manager probes and
// reconfigures its MariaDB servers with it (db_manager.h), tests drive several sessions
// at once with it. It logs in with mysql_native_password (following an auth switch),
// sends COM_QUERY and reads the results as text, each read within the client's timeout.
//
// Errors: a connection that cannot be made or breaks, a reply that does not come within
// the timeout, or bytes that are not the protocol are kUnavailable; after any of them the
// client is of no more use. An ERR the server sends is an answer, not an error: it comes
// back in the SqlResult (Execute turns it into one).
//
// Thread safety: none; one thread owns a client.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"

namespace trellis::db {

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
  // The value in `column` of the first row; nullopt when there is no row, no such column
  // or the value is NULL.
  std::optional<std::string> First(std::string_view column) const;
};

struct SqlLogin {
  std::string user;
  std::string password;           // Empty: an account without one.
  std::string database;           // Empty: none.
  bool multi_statements = false;  // CLIENT_MULTI_STATEMENTS: several statements per query.
};

class SqlClient {
 public:
  // Connects and logs in. The server's refusal is kPermissionDenied with its code and
  // words, e.g. "1045 Access denied for user ...".
  static base::Result<SqlClient> Connect(const boost::asio::ip::tcp::endpoint& server,
                                         const SqlLogin& login, std::chrono::milliseconds timeout);

  SqlClient(SqlClient&& other) noexcept;
  SqlClient& operator=(SqlClient&& other) noexcept;
  SqlClient(const SqlClient&) = delete;
  SqlClient& operator=(const SqlClient&) = delete;
  ~SqlClient();  // Says COM_QUIT and closes.

  // Runs `sql` (statements; the last result of several).
  base::Result<SqlResult> Query(std::string_view sql);
  // Query, with the server's ERR as a kConflict error: "SQL: CODE message".
  base::Result<SqlResult> Execute(std::string_view sql);
  // Sends the command `payload` (its first byte the command, proto/mysql/messages.h)
  // and returns its response's messages as they came, payload by payload (none for a
  // command without a response, such as COM_STMT_CLOSE). For tests that compare what
  // two servers answer byte for byte.
  base::Result<std::vector<std::string>> Exchange(std::string_view payload);

 private:
  SqlClient(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  static base::Result<SqlClient> Open(const boost::asio::ip::tcp::endpoint& server,
                                      std::chrono::milliseconds timeout);
  // Logs in; the server's ERR, or an empty result.
  base::Result<SqlResult> LogIn(const SqlLogin& login);
  // The next whole message's payload and sequence number.
  base::Result<std::string> ReadMessage(uint8_t* sequence);
  base::Status Send(uint8_t sequence, std::string_view payload);
  void Close();

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;  // Read and not yet parsed.
};

}  // namespace trellis::db
