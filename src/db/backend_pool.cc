#include "db/backend_pool.h"

#include <fmt/format.h>

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace trellis::db {

namespace asio = boost::asio;

BackendPool::BackendPool(asio::any_io_executor executor, BackendPoolOptions options,
                         base::Gauge& open, base::Counter& waits)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      server_(options_.server),
      open_gauge_(open),
      waits_(waits) {}

BackendPool::~BackendPool() { open_gauge_.Add(-static_cast<int64_t>(open_)); }

std::unique_ptr<BackendConnection> BackendPool::TakeIdle(const BackendKey& key,
                                                         const SessionState& session) {
  // What a connection would cost to bring to `session`: nothing, a USE, or a reset and
  // the SET statements again (and perhaps a USE).
  auto best = idle_.end();
  int best_score = -1;
  for (auto it = idle_.begin(); it != idle_.end() && best_score < 3; ++it) {
    const SessionState& has = (*it)->session();
    if ((*it)->key() != key || (session.schema.empty() && !has.schema.empty())) {
      continue;
    }
    const int score =
        (has.script == session.script ? 2 : 0) + (has.schema == session.schema ? 1 : 0);
    if (score > best_score) {
      best = it;
      best_score = score;
    }
  }
  if (best == idle_.end()) {
    return nullptr;
  }
  std::unique_ptr<BackendConnection> connection = std::move(*best);
  idle_.erase(best);
  return connection;
}

bool BackendPool::CloseOldestIdle() {
  if (idle_.empty()) {
    return false;
  }
  idle_.pop_back();
  --open_;
  open_gauge_.Add(-1);
  return true;
}

void BackendPool::WakeNextWaiter() {
  if (!waiters_.empty()) {
    waiters_.front()->cancel();
    waiters_.pop_front();
    ++woken_;
  }
}

asio::awaitable<base::Result<std::unique_ptr<BackendConnection>>> BackendPool::Lend(
    const BackendLogin& login, const SessionState& session) {
  const auto deadline = std::chrono::steady_clock::now() + options_.lend_timeout;
  bool waited = false;
  bool woken = false;  // Taken off the front of the line: this client's turn.
  for (;;) {
    // A newcomer takes a connection, idle or new, only when nobody waits for one: they
    // are served in the order they came.
    const bool my_turn = woken || (waiters_.empty() && woken_ == 0);
    if (my_turn) {
      if (std::unique_ptr<BackendConnection> idle = TakeIdle(login.key, session)) {
        co_return idle;
      }
    }
    if (server_ && my_turn && (open_ < options_.max_connections || CloseOldestIdle())) {
      ++open_;
      open_gauge_.Add(1);
      const boost::asio::ip::tcp::endpoint server = *server_;
      auto opened = co_await BackendConnection::Open(server, login, options_.connect_timeout);
      if (!opened) {
        --open_;
        open_gauge_.Add(-1);
        WakeNextWaiter();
      }
      co_return opened;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      if (woken) {
        WakeNextWaiter();  // This client's turn passes to the next.
      }
      if (!server_) {
        co_return base::Unavailable(
            fmt::format("no database server took writes within {} ms (a failover is under way)",
                        options_.lend_timeout.count()));
      }
      co_return base::ResourceExhausted(
          fmt::format("no connection to the database server came free within {} ms ({} open)",
                      options_.lend_timeout.count(), open_));
    }
    if (!waited) {
      waits_.Increment();
      waited = true;
    }
    asio::steady_timer turn(executor_, deadline);
    // A client woken for nothing (a newcomer took what came free) keeps its place.
    if (woken) {
      waiters_.push_front(&turn);
    } else {
      waiters_.push_back(&turn);
    }
    co_await turn.async_wait(asio::as_tuple(asio::use_awaitable));
    // Woken (cancelled, and taken off the line) or timed out (still on it).
    auto it = std::find(waiters_.begin(), waiters_.end(), &turn);
    woken = it == waiters_.end();
    if (woken) {
      --woken_;
    } else {
      waiters_.erase(it);
    }
  }
}

void BackendPool::Return(std::unique_ptr<BackendConnection> connection) {
  if (connection->server() != server_) {
    Discard(std::move(connection));  // Of a server it no longer lends.
    return;
  }
  idle_.push_front(std::move(connection));
  WakeNextWaiter();
}

void BackendPool::SetServer(std::optional<boost::asio::ip::tcp::endpoint> server) {
  if (server == server_) {
    return;
  }
  server_ = std::move(server);
  CloseIdle();
  while (!waiters_.empty()) {  // Those waiting for a server, or for the new one.
    WakeNextWaiter();
  }
}

void BackendPool::CloseIdle() {
  while (CloseOldestIdle()) {
    WakeNextWaiter();
  }
}

void BackendPool::Discard(std::unique_ptr<BackendConnection> connection) {
  connection.reset();
  --open_;
  open_gauge_.Add(-1);
  WakeNextWaiter();
}

}  // namespace trellis::db
