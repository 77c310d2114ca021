// The dbproxy's configuration file (docs/db.md, "dbproxy"): the database server it lends
// connections of (or the `trellis db` manager that says which server is the primary),
// how many it may open, and the users clients log in as.
//
//   primary = "127.0.0.1:3307"        # the MariaDB server; or, instead:
//   manager = "http://127.0.0.1:7306" # `trellis db`'s admin endpoint (db_manager.h)
//   max_backend_connections = 200     # at most this many connections to it, in all
//   replica_reads = true              # with a manager: plain reads may go to replicas
//   max_replica_lag = 5               # seconds; a replica further behind gets no reads
//   [[user]]
//   name = "app"
//   password = "secret"               # or the "*" and 40 hex digits PASSWORD() gives
//
// The proxy logs in to the server as the client's own user: the server's accounts and
// grants apply unchanged, and the file needs no password of its own (a client's answer
// to the proxy's challenge yields what the server's challenge needs, auth.h). A user's
// password may be given as its hash, so the file need not hold passwords at all.
//
// Parsing is strict: an unknown key, a wrong type or a duplicate user is an error naming
// the line, so a typo never silently falls back to a default.
//
// Thread safety: pure functions and plain values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "proto/mysql/auth.h"

namespace trellis::db {

struct ProxyUser {
  std::string name;
  proto::mysql::Sha1 stored_hash{};  // SHA1(SHA1(password)).
};

struct DbProxyConfig {
  std::string primary;  // HOST:PORT, or
  std::string manager;  // the URL of `trellis db`'s admin endpoint (one of the two).
  size_t max_backend_connections = 200;  // To the primary, and to each replica.
  // Plain reads outside a transaction may go to a replica that has the client's writes
  // (client_session.h); only with a manager, which says where the replicas are.
  bool replica_reads = false;
  uint64_t max_replica_lag_seconds = 5;
  std::vector<ProxyUser> users;

  const ProxyUser* FindUser(std::string_view name) const;
};

base::Result<DbProxyConfig> ParseDbProxyConfig(std::string_view text);

}  // namespace trellis::db
