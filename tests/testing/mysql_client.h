// MysqlClient: db::SqlClient (a blocking MySQL-protocol client on the dbproxy's codec) for
// tests: connects to a loopback port and throws std::runtime_error where SqlClient
// returns an error, so that a test reads as the statements it runs. Tests use it to hold
// several sessions at once and interleave their statements, which the `mariadb`
// command-line client cannot.
//
// Thread safety: none; one thread owns a client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "db/sql_client.h"

namespace trellis::testing {

using db::SqlResult;

class MysqlClient {
 public:
  // Connects to 127.0.0.1:port and logs in; throws when the connection or the login
  // fails (the server's ERR in the message).
  MysqlClient(uint16_t port, const std::string& user, const std::string& password,
              const std::string& database = "");

  // Runs `sql` (one statement; the last result of several); throws if the connection
  // breaks or the reply does not come within ten seconds.
  SqlResult Query(std::string_view sql);
  // The first column of the first row of a query that must succeed; "NULL" for NULL.
  std::string Scalar(std::string_view sql);

 private:
  std::optional<db::SqlClient> client_;
};

}  // namespace trellis::testing
