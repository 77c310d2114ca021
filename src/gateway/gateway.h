// Gateway: `trellis gateway` (docs/gateway.md), the unified L4/L7 entry point: one
// net::Server per configured listener on a pool of worker threads (SO_REUSEPORT, a
// connection lives on the thread that accepted it), each serving its kind (tcp:
// ProxyTcp; http: ProxyHttp; tls: ProxyTlsPassthrough or ProxyTlsTerminated) with its
// Site (routes, limits, counters), the backend pools they name (Pool, shared by the
// listeners) and an active health checker per pool.
//
// What runs changes without a restart (Apply): routes and a listener's pool are swapped
// in its Site (the next request sees them), and TLS certificates are read again (the
// next handshake uses renewed files); pools are added, updated in place (servers
// keep their health and counts) or retired; a listener added starts, one removed stops
// accepting while its connections finish, and one whose bind, kind, limits or
// certificates changed is replaced by a new one on the same address (SO_REUSEPORT:
// both listen for a moment, so nothing is refused).
//
// Status (the daemon's /v1/status, "gateway", gateway_api.h): every listener's address
// and open connections, every pool's servers with their health, weight, draining flag,
// connection counts and last check's time. Metrics: per listener, bytes (net::Server)
// and for http, requests by status class and their latency; per route, requests; per
// server, up, active connections, connections, failures and the check's latency.
//
// Thread safety: Start and Drain from the daemon's main thread; Api and Reload from any
// thread (mu_); the listeners run on the workers, the health checks on worker 0.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "base/metrics.h"
#include "base/result.h"
#include "daemon/service.h"
#include "gateway/gateway_api.h"
#include "gateway/gateway_config.h"
#include "gateway/pool.h"
#include "gateway/site.h"
#include "net/server.h"
#include "net/shard_pool.h"

namespace trellis::gateway {

struct GatewayOptions {
  GatewayConfig config;
  // Where the config came from: the runtime API writes every change back to it.
  std::filesystem::path config_path;
  size_t threads = 1;
  std::chrono::milliseconds connect_timeout{2000};  // To a server.
};

class Gateway : public daemon::Service {
 public:
  // Errors: a listener that cannot bind (naming it), a server address that does not resolve.
  static base::Result<std::unique_ptr<Gateway>> Start(const GatewayOptions& options,
                                                      base::Registry& metrics);
  ~Gateway() override;

  std::vector<daemon::Listener> listeners() const override;
  GatewayStatus Status() const;
  // The runtime API on the daemon's admin endpoint (docs/gateway.md, "Runtime changes"):
  //   GET    /v1/gateway                           the status (gateway_api.h)
  //   PUT    /v1/pools/POOL                        the pool as JSON, keys as in the file
  //                                                (ParsePoolJson): adds or replaces it
  //   DELETE /v1/pools/POOL                        removes it (refused while routed to)
  //   PUT    /v1/pools/POOL/servers/HOST:PORT      {"weight": N} adds the server, or sets
  //                                                its weight (0: drained)
  //   DELETE /v1/pools/POOL/servers/HOST:PORT      removes it (its connections finish)
  //   PUT    /v1/listeners/L/routes/HOST[/PATH]    {"pool": "P"}: adds the route of HOST
  //                                                ("*": any) and path prefix /PATH (none:
  //                                                "/"), or points it at another pool
  //   DELETE /v1/listeners/L/routes/HOST[/PATH]    removes it
  //   POST   /v1/reload                            Reload()
  // Each change is checked as a file would be, applies at once and is written back to
  // the config file (atomically) before it is answered, so a restart keeps it.
  admin::ApiHandler Api();
  // Reads the config file again (SIGHUP, POST /v1/reload) and applies it (Apply);
  // connections open stay. A file that does not parse, or that cannot apply (a bind
  // that fails, a server that does not resolve), is refused with the reason and the
  // running config stays whole.
  base::Status Reload() override;
  // {"gateway": Status()} (gateway_api.h).
  void ReportStatus(nlohmann::json& status) const override;
  void Drain(std::chrono::milliseconds timeout) override;

 private:
  using PoolMap = std::map<std::string, std::shared_ptr<Pool>, std::less<>>;
  struct Listening {
    ListenerConfig config;
    std::shared_ptr<Site> site;
    std::unique_ptr<net::Server> server;
  };

  Gateway(const GatewayOptions& options, base::Registry& metrics);

  // Makes `next` (a valid config) what runs, or changes nothing and says why: new pools
  // and listeners are made first, and only when all of them are there does anything
  // running change. REQUIRES: mu_ held.
  base::Status Apply(const GatewayConfig& next);
  // The API's changes: `edit` a copy of the running config, check it as a file, Apply
  // it and write it to the config file.
  base::Status Change(const std::function<base::Status(GatewayConfig&)>& edit);
  base::Result<Listening> StartListener(const ListenerConfig& listener, const PoolMap& pools);
  // A tls terminate listener's certificates, read from their files.
  base::Result<std::shared_ptr<net::TlsServerContext>> LoadCertificates(
      const ListenerConfig& listener) const;
  std::shared_ptr<const Routing> RoutingFor(const ListenerConfig& listener, const PoolMap& pools);
  // Starts the health checks and the metrics of a pool new to the gateway.
  void RunPool(const std::shared_ptr<Pool>& pool);

  const GatewayOptions options_;
  base::Registry& metrics_;
  net::ShardPool workers_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  // What runs, as the file says it, and what serves it. Guarded by mu_.
  GatewayConfig config_;
  PoolMap pools_;
  std::vector<Listening> listening_;  // In config order.
  // Listeners taken out by a change: they accept no more; their connections finish, or
  // are closed by Drain.
  std::vector<std::unique_ptr<net::Server>> retired_;
};

}  // namespace trellis::gateway
