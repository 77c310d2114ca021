// The dbproxy's handler of one client connection (docs/db.md, "dbproxy"): the MySQL
// server side of the protocol towards the client, and backend connections borrowed from
// the shard's BackendPool for each statement, or for as long as the client's session
// lives on one.
//
// Login: the proxy's greeting with a challenge of its own, the client's answer checked
// against the configured user (mysql_native_password; a client that starts with another
// plugin is switched to it), then "Access denied" in MariaDB's words, or OK. A default
// schema asked at login is checked on the server (an unknown one is refused as the
// server refuses it).
//
// Commands: each goes to a backend connection, its response comes back as the server
// sent it (packet for packet; the proxy reads only the first bytes of each message, to
// know where the response ends: response.h). The connection goes back to the pool after
// the response unless the client's session now lives on it: a transaction is open (the
// server's status flags say so), or the statement did something to the session another
// connection would not have (session_use.h: LOCK TABLES, GET_LOCK, user variables,
// temporary tables, SQL PREPARE, cursors and long data, session variables,
// LAST_INSERT_ID and FOUND_ROWS). Prepared statements do not pin: the proxy keeps them,
// prepares each on the connection that runs it and translates the ids. Then the client keeps that
// connection: until the transaction ends, for a transaction alone; for the rest of its session
// otherwise (COM_RESET_CONNECTION frees it). Each reason a client gets pinned for is counted
// (trellis_dbproxy_pinned_total{reason}). Before a command runs on a borrowed
// connection, the connection is brought to the client's default schema.
//
// The proxy answers COM_PING and COM_QUIT itself; replication, shutdown, KILL and
// COM_CHANGE_USER are refused with "Unknown command" (1047).
//
// Thread safety: one coroutine per client, on its shard.
#pragma once

#include <memory>

#include <boost/asio/awaitable.hpp>

#include "base/metrics.h"
#include "db/backend_pool.h"
#include "db/dbproxy_config.h"
#include "db/replica_set.h"
#include "net/connection.h"
#include "proto/mysql/session_use.h"

namespace trellis::db {

// What every client of a shard shares.
struct ShardContext {
  std::shared_ptr<const DbProxyConfig> config;
  BackendPool* pool = nullptr;
  // trellis_dbproxy_pinned_total by SessionUse.
  std::array<base::Counter*, proto::mysql::kSessionUses> pinned{};
  base::Counter* commands = nullptr;
  base::Counter* refused_logins = nullptr;
  // Replicas for plain reads (replica_reads), or null.
  ReplicaSet* replicas = nullptr;
  base::Counter* replica_reads = nullptr;
  base::Counter* replica_waits_applied = nullptr;
  base::Counter* replica_waits_primary = nullptr;
};

boost::asio::awaitable<void> ServeMysqlClient(net::Connection& client, const ShardContext& shard);

}  // namespace trellis::db
