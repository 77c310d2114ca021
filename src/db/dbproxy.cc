#include "db/dbproxy.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "db/manager_client.h"
#include "http/client.h"
#include "net/address.h"

namespace trellis::db {

namespace {

// How often the proxy asks `trellis db` which server takes writes. A failover takes the
// manager's delay (2 s by default) plus this.
constexpr std::chrono::milliseconds kFollowInterval{250};
constexpr std::chrono::milliseconds kFollowTimeout{2000};

// The server at `address` (HOST:PORT), or none for "" or an address that does not
// resolve (said in the log).
std::optional<boost::asio::ip::tcp::endpoint> ServerAt(const std::string& address) {
  if (address.empty()) {
    return std::nullopt;
  }
  auto resolved = [&]() -> base::Result<boost::asio::ip::tcp::endpoint> {
    TRELLIS_TRY(const net::HostPort host_port, net::ParseHostPort(address));
    return net::Resolve(host_port);
  }();
  if (!resolved) {
    spdlog::error("the primary {}: {}", address, resolved.error().message);
    return std::nullopt;
  }
  return *resolved;
}

}  // namespace

DbProxy::DbProxy(const DbProxyOptions& options) : workers_(static_cast<int>(options.threads)) {}

DbProxy::~DbProxy() { Drain(std::chrono::milliseconds(0)); }

base::Result<std::unique_ptr<DbProxy>> DbProxy::Start(const DbProxyOptions& options,
                                                      base::Registry& metrics) {
  if (options.threads > options.config.max_backend_connections) {
    return base::InvalidArgument(fmt::format(
        "--threads {}: more than max_backend_connections ({}); each thread needs a connection "
        "of its own",
        options.threads, options.config.max_backend_connections));
  }
  std::optional<boost::asio::ip::tcp::endpoint> server;
  if (!options.config.primary.empty()) {
    TRELLIS_TRY(const net::HostPort primary, net::ParseHostPort(options.config.primary));
    TRELLIS_TRY(server, net::Resolve(primary));
  }
  std::unique_ptr<DbProxy> proxy(new DbProxy(options));
  auto config = std::make_shared<const DbProxyConfig>(options.config);
  base::Gauge& open = metrics.GetGauge("trellis_dbproxy_backend_connections",
                                       "Connections open to the database server.");
  base::Counter& waits =
      metrics.GetCounter("trellis_dbproxy_lend_waits_total",
                         "Commands that waited for a connection to the database server.");
  std::array<base::Counter*, proto::mysql::kSessionUses> pinned{};
  for (size_t i = 0; i < pinned.size(); ++i) {
    pinned[i] = &metrics.GetCounter(
        "trellis_dbproxy_pinned_total",
        "Times a client was kept on one connection to the database server, by reason.",
        {{"reason",
          std::string(proto::mysql::SessionUseName(static_cast<proto::mysql::SessionUse>(i)))}});
  }
  base::Counter& commands =
      metrics.GetCounter("trellis_dbproxy_commands_total", "Commands clients sent.");
  base::Counter& refused = metrics.GetCounter("trellis_dbproxy_refused_logins_total",
                                              "Logins refused: unknown user or wrong password.");
  base::Counter& replica_reads = metrics.GetCounter("trellis_dbproxy_replica_reads_total",
                                                    "Plain reads answered by a replica.");
  base::Counter& waits_applied = metrics.GetCounter(
      "trellis_dbproxy_replica_waits_total",
      "Reads that waited for a replica to apply the client's writes, by outcome.",
      {{"outcome", "applied"}});
  base::Counter& waits_primary = metrics.GetCounter(
      "trellis_dbproxy_replica_waits_total",
      "Reads that waited for a replica to apply the client's writes, by outcome.",
      {{"outcome", "primary"}});
  const size_t threads = std::max<size_t>(1, options.threads);
  for (size_t shard = 0; shard < threads; ++shard) {
    BackendPoolOptions pool_options;
    pool_options.server = server;
    // Each worker's share; the first ones take the remainder.
    pool_options.max_connections =
        std::max<size_t>(1, options.config.max_backend_connections / threads +
                                (shard < options.config.max_backend_connections % threads ? 1 : 0));
    pool_options.connect_timeout = options.connect_timeout;
    pool_options.lend_timeout = options.lend_timeout;
    const auto executor = proxy->workers_.context(static_cast<int>(shard)).get_executor();
    proxy->pools_.push_back(std::make_unique<BackendPool>(executor, pool_options, open, waits));
    ReplicaSet* replicas = nullptr;
    if (options.config.replica_reads) {
      proxy->replica_sets_.push_back(std::make_unique<ReplicaSet>(
          executor, pool_options, options.config.max_replica_lag_seconds, open, waits));
      replicas = proxy->replica_sets_.back().get();
    }
    proxy->shards_.push_back({config, proxy->pools_.back().get(), pinned, &commands, &refused,
                              replicas, &replica_reads, &waits_applied, &waits_primary});
  }
  net::ServerOptions server_options;
  server_options.name = "dbproxy";
  server_options.listen = options.listen;
  server_options.max_connections = options.max_client_connections;
  DbProxy* self = proxy.get();
  TRELLIS_TRY(proxy->server_, net::Server::Start(
                                  proxy->workers_, server_options,
                                  [self](net::Connection& client) {
                                    return ServeMysqlClient(client, self->shards_[client.shard()]);
                                  },
                                  metrics));
  if (!options.config.manager.empty()) {
    boost::asio::io_context& first = proxy->workers_.context(0);
    TRELLIS_TRY(http::Client manager,
                http::Client::ForUrl(first.get_executor(), options.config.manager));
    boost::asio::co_spawn(first, proxy->FollowManager(std::move(manager)), boost::asio::detached);
  }
  proxy->workers_.Start();
  return proxy;
}

boost::asio::awaitable<void> DbProxy::FollowManager(http::Client manager) {
  boost::asio::steady_timer pause(co_await boost::asio::this_coro::executor);
  std::optional<std::string> following;  // The primary the pools lend connections to.
  std::string failing;                   // The last error said, to say each once.
  for (;;) {
    base::Result<DbTopology> topology = co_await FetchTopology(manager, kFollowTimeout);
    if (!topology) {
      if (topology.error().message != failing) {
        failing = topology.error().message;
        spdlog::warn("the db manager at {}: {}; lending on to {}", manager.address(), failing,
                     following.value_or("none"));
      }
    } else {
      for (size_t shard = 0; shard < replica_sets_.size(); ++shard) {
        ReplicaSet* replicas = replica_sets_[shard].get();
        boost::asio::post(workers_.context(static_cast<int>(shard)),
                          [replicas, listed = topology->replicas] { replicas->Update(listed); });
      }
    }
    if (topology && topology->primary != following) {
      failing.clear();
      following = topology->primary;
      spdlog::info("the primary is {} (epoch {})",
                   following->empty() ? std::string("none") : *following, topology->epoch);
      const std::optional<boost::asio::ip::tcp::endpoint> server = ServerAt(*following);
      for (size_t shard = 0; shard < pools_.size(); ++shard) {
        BackendPool* pool = pools_[shard].get();
        boost::asio::post(workers_.context(static_cast<int>(shard)),
                          [pool, server] { pool->SetServer(server); });
      }
    }
    pause.expires_after(kFollowInterval);
    co_await pause.async_wait(boost::asio::use_awaitable);
  }
}

std::vector<daemon::Listener> DbProxy::listeners() const {
  return {{"dbproxy", "MySQL protocol", server_->local_endpoint()}};
}

void DbProxy::Drain(std::chrono::milliseconds timeout) {
  if (drained_) {
    return;
  }
  drained_ = true;
  if (server_) {
    server_->Drain(timeout);
  }
  workers_.Stop();
  // The pools' connections belong to the workers' contexts: closed with them, here.
  replica_sets_.clear();
  pools_.clear();
}

}  // namespace trellis::db
