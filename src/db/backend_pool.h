// BackendPool: one shard's connections to the database server, lent to that shard's
// clients for a statement or a transaction and given back (ProxySQL's multiplexing).
// Thousands of clients share at most `max_connections`: a client that finds none idle
// of its key opens one while the pool is under its cap, else closes an idle one of
// another key to open its own, else waits its turn (first come, first served) for up to
// `lend_timeout`.
//
// The server may change (a failover: dbproxy.h follows `trellis db`): SetServer closes
// the idle connections to the old one, and those lent to its clients are closed when
// they come back.
//
// A connection comes back clean or not at all: the lender gives it back with Return only
// when nothing of its client's session is left on it (no transaction, nothing pinned),
// and Discards it otherwise, closing it.
//
// Thread safety: the shard's thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <list>
#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "db/backend_connection.h"

namespace trellis::db {

struct BackendPoolOptions {
  std::optional<boost::asio::ip::tcp::endpoint> server;  // None: no server takes writes now.
  size_t max_connections = 200;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds lend_timeout{10000};
};

class BackendPool {
 public:
  // `open` counts this pool's connections in the daemon's gauge of them.
  BackendPool(boost::asio::any_io_executor executor, BackendPoolOptions options, base::Gauge& open,
              base::Counter& waits);
  ~BackendPool();
  BackendPool(const BackendPool&) = delete;
  BackendPool& operator=(const BackendPool&) = delete;

  // A connection logged in as `login`'s key, idle or new: the idle one closest to
  // `session` (the same session variables first, then the same schema), for the caller
  // to bring the rest of the way; never one on a schema for a client that has none,
  // which no command can undo. While there is no server (a failover), it waits for one
  // as it waits for a connection. Errors: kResourceExhausted when none came free within
  // the lend timeout; kUnavailable when no server came within it, or it cannot be
  // reached or refused the login (its words).
  boost::asio::awaitable<base::Result<std::unique_ptr<BackendConnection>>> Lend(
      const BackendLogin& login, const SessionState& session);
  void Return(std::unique_ptr<BackendConnection> connection);
  void Discard(std::unique_ptr<BackendConnection> connection);
  // Lends connections to `server` from now on (none: lends nothing).
  void SetServer(std::optional<boost::asio::ip::tcp::endpoint> server);
  // Closes the idle connections.
  void CloseIdle();

 private:
  // Takes the idle connection of `key` Lend would lend for `session`, or nullptr.
  std::unique_ptr<BackendConnection> TakeIdle(const BackendKey& key, const SessionState& session);
  // Closes the least recently returned idle connection; false if none is idle.
  bool CloseOldestIdle();
  void WakeNextWaiter();

  const boost::asio::any_io_executor executor_;
  const BackendPoolOptions options_;
  std::optional<boost::asio::ip::tcp::endpoint> server_;
  base::Gauge& open_gauge_;
  base::Counter& waits_;
  size_t open_ = 0;  // Lent, idle and being opened.
  // Idle connections, the most recently returned at the front.
  std::list<std::unique_ptr<BackendConnection>> idle_;
  // Clients waiting for a connection, first come first: each waits on its own timer,
  // cancelled to wake it.
  std::deque<boost::asio::steady_timer*> waiters_;
  // Clients taken off the line to try again that have not run yet: a newcomer waits
  // behind them too.
  size_t woken_ = 0;
};

}  // namespace trellis::db
