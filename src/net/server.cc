#include "net/server.h"

#include <spdlog/spdlog.h>

#include <list>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "net/address.h"

namespace trellis::net {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Server::Shard {
  Shard(int index, asio::io_context& io) : index(index), io(io), acceptor(io), sweeper(io) {}

  const int index;
  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer sweeper;
  bool draining = false;
  std::list<Connection*> connections;
};

namespace {

base::Result<tcp::acceptor> Listen(asio::io_context& io, const tcp::endpoint& endpoint) {
  tcp::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return base::Unavailable("cannot listen on " + FormatEndpoint(endpoint) + ": " + ec.message());
  }
  return acceptor;
}

}  // namespace

Server::Server(ShardPool& pool, ServerOptions options, Handler handler, base::Registry& metrics)
    : pool_(pool),
      options_(std::move(options)),
      handler_(std::move(handler)),
      connections_gauge_(metrics.GetGauge("trellis_connections", "Client connections open now.",
                                          {{"server", options_.name}})),
      accepted_(metrics.GetCounter("trellis_connections_accepted_total",
                                   "Client connections accepted.", {{"server", options_.name}})),
      rejected_(metrics.GetCounter("trellis_connections_rejected_total",
                                   "Client connections refused because the cap was reached.",
                                   {{"server", options_.name}})),
      idle_closed_(metrics.GetCounter("trellis_connections_idle_closed_total",
                                      "Client connections closed by the idle timeout.",
                                      {{"server", options_.name}})),
      handler_errors_(
          metrics.GetCounter("trellis_connection_errors_total",
                             "Connections closed because their handler failed unexpectedly.",
                             {{"server", options_.name}})),
      connection_counters_{
          &metrics.GetCounter("trellis_received_bytes_total",
                              "Bytes read from client connections (TLS: decrypted).",
                              {{"server", options_.name}}),
          &metrics.GetCounter("trellis_sent_bytes_total",
                              "Bytes written to client connections (TLS: before encryption).",
                              {{"server", options_.name}}),
          &metrics.GetCounter("trellis_tls_handshakes_failed_total",
                              "TLS handshakes that failed: not TLS, cut short, no common "
                              "parameters, or (mutual TLS) no acceptable client certificate.",
                              {{"server", options_.name}})} {
  for (int i = 0; i < pool.size(); ++i) {
    shards_.push_back(std::make_unique<Shard>(i, pool.context(i)));
  }
}

base::Result<std::unique_ptr<Server>> Server::Start(ShardPool& pool, ServerOptions options,
                                                    Handler handler, base::Registry& metrics) {
  std::unique_ptr<Server> server(new Server(pool, std::move(options), std::move(handler), metrics));
  tcp::endpoint endpoint = server->options_.listen;
  for (auto& shard : server->shards_) {
    base::Result<tcp::acceptor> acceptor = Listen(shard->io, endpoint);
    if (!acceptor) {
      server->drained_ = true;  // Nothing was started, so there is nothing to drain.
      return acceptor.error();
    }
    shard->acceptor = std::move(acceptor).value();
    // Every further shard binds the port the first one got, so port 0 works too.
    endpoint = shard->acceptor.local_endpoint();
  }
  server->local_endpoint_ = endpoint;
  for (auto& shard : server->shards_) {
    server->TaskStarted();
    asio::co_spawn(shard->io, server->AcceptLoop(*shard), asio::detached);
    if (server->options_.idle_timeout.count() > 0) {
      server->TaskStarted();
      asio::co_spawn(shard->io, server->SweepIdle(*shard), asio::detached);
    }
  }
  return server;
}

Server::~Server() { Drain(std::chrono::milliseconds(0)); }

void Server::TaskStarted() {
  std::lock_guard lock(tasks_mu_);
  ++live_tasks_;
}

void Server::TaskFinished() {
  std::lock_guard lock(tasks_mu_);
  --live_tasks_;
  tasks_cv_.notify_all();
}

asio::awaitable<void> Server::AcceptLoop(Shard& shard) {
  for (;;) {
    auto [ec, socket] = co_await shard.acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (!shard.acceptor.is_open() || ec == asio::error::operation_aborted) {
        break;
      }
      // Out of file descriptors or a transient error: back off instead of spinning.
      spdlog::warn("{}: accept failed: {}", options_.name, ec.message());
      asio::steady_timer pause(shard.io, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (open_connections_.fetch_add(1, std::memory_order_relaxed) >= options_.max_connections) {
      open_connections_.fetch_sub(1, std::memory_order_relaxed);
      rejected_.Increment();
      boost::system::error_code ignored;
      socket.non_blocking(true, ignored);
      socket.write_some(asio::buffer(options_.overload_reply), ignored);
      socket.close(ignored);
      continue;
    }
    accepted_.Increment();
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    TaskStarted();
    asio::co_spawn(shard.io, ServeConnection(shard, std::move(socket)), asio::detached);
  }
  TaskFinished();
}

asio::awaitable<void> Server::ServeConnection(Shard& shard, tcp::socket socket) {
  connections_gauge_.Add(1);
  {
    Connection connection(std::move(socket), shard.index, &shard.draining);
    connection.counters_ = &connection_counters_;
    auto registration = shard.connections.insert(shard.connections.end(), &connection);
    try {
      std::shared_ptr<TlsServerContext> tls;
      if (options_.tls != nullptr) {
        tls = options_.tls->current();
      }
      bool secured = true;
      if (tls != nullptr) {
        secured = co_await connection.StartTls(*tls);
      }
      if (secured) {
        co_await handler_(connection);
        co_await connection.Finish();
      }
    } catch (const std::exception& e) {
      handler_errors_.Increment();
      spdlog::error("{}: connection from {} failed: {}", options_.name,
                    FormatEndpoint(connection.peer()), e.what());
    }
    shard.connections.erase(registration);
  }
  connections_gauge_.Add(-1);
  open_connections_.fetch_sub(1, std::memory_order_relaxed);
  if (shard.draining && shard.connections.empty()) {
    shard.sweeper.cancel();
  }
  TaskFinished();
}

asio::awaitable<void> Server::SweepIdle(Shard& shard) {
  // Four sweeps per timeout: a connection is closed between 1x and 1.25x the timeout.
  const auto interval = std::max(options_.idle_timeout / 4, std::chrono::milliseconds(1));
  const int sweeps_to_close = 4;
  while (!(shard.draining && shard.connections.empty())) {
    shard.sweeper.expires_after(interval);
    co_await shard.sweeper.async_wait(asio::as_tuple(asio::use_awaitable));
    for (Connection* connection : shard.connections) {
      const bool waiting = connection->in_read_ || connection->in_write_;
      if (!waiting || connection->io_completions_ != connection->seen_completions_) {
        connection->seen_completions_ = connection->io_completions_;
        connection->idle_sweeps_ = 0;
        continue;
      }
      if (++connection->idle_sweeps_ >= sweeps_to_close) {
        idle_closed_.Increment();
        connection->Abort();
      }
    }
  }
  TaskFinished();
}

void Server::OnEveryShard(const std::function<void(Shard&)>& fn) {
  pool_.RunOnEveryShard([&](int shard) { fn(*shards_[shard]); });
}

void Server::StopAccepting() {
  if (stopped_accepting_) {
    return;
  }
  stopped_accepting_ = true;
  OnEveryShard([](Shard& shard) {
    shard.draining = true;
    boost::system::error_code ignored;
    shard.acceptor.close(ignored);
    for (Connection* connection : shard.connections) {
      // A request already in the socket's receive queue counts as in flight: it was sent
      // before the drain, so it is read and answered.
      boost::system::error_code ec;
      if (connection->IsIdleBetweenRequests() && connection->socket_.available(ec) == 0) {
        // Only cancel the read: if its data is already on the way, the read completes
        // with it and the request is answered; otherwise it ends and the handler returns.
        connection->socket_.cancel(ec);
      }
    }
    if (shard.connections.empty()) {
      shard.sweeper.cancel();
    }
  });
}

void Server::Drain(std::chrono::milliseconds timeout) {
  if (drained_) {
    return;
  }
  drained_ = true;
  StopAccepting();
  std::unique_lock lock(tasks_mu_);
  if (!tasks_cv_.wait_for(lock, timeout, [&] { return live_tasks_ == 0; })) {
    lock.unlock();
    OnEveryShard([](Shard& shard) {
      for (Connection* connection : shard.connections) {
        connection->Abort();
        boost::system::error_code ignored;
        connection->socket_.close(ignored);
      }
      shard.sweeper.cancel();
    });
    lock.lock();
    tasks_cv_.wait(lock, [&] { return live_tasks_ == 0; });
  }
}

}  // namespace trellis::net
