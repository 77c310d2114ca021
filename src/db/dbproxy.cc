#include "db/dbproxy.h"

#include <algorithm>

#include "net/address.h"

namespace trellis::db {

DbProxy::DbProxy(const DbProxyOptions& options) : workers_(static_cast<int>(options.threads)) {}

DbProxy::~DbProxy() { Drain(std::chrono::milliseconds(0)); }

base::Result<std::unique_ptr<DbProxy>> DbProxy::Start(const DbProxyOptions& options,
                                                      base::Registry& metrics) {
  TRELLIS_TRY(const net::HostPort primary, net::ParseHostPort(options.config.primary));
  TRELLIS_TRY(const boost::asio::ip::tcp::endpoint server, net::Resolve(primary));
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
    proxy->pools_.push_back(std::make_unique<BackendPool>(
        proxy->workers_.context(static_cast<int>(shard)).get_executor(), pool_options, open,
        waits));
    proxy->shards_.push_back({config, proxy->pools_.back().get(), pinned, &commands, &refused});
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
  proxy->workers_.Start();
  return proxy;
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
  pools_.clear();
}

}  // namespace trellis::db
