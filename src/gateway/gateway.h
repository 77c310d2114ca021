// Gateway: `trellis gateway` (docs/gateway.md), the unified L4/L7 entry point: one
// net::Server per configured listener on a pool of worker threads (SO_REUSEPORT, a
// connection lives on the thread that accepted it), each serving its kind (tcp:
// ProxyTcp; http: ProxyHttp with the listener's routes), the backend pools they name
// (Pool, shared by the listeners) and an active health checker per pool.
//
// Status (the daemon's /v1/status, "gateway", gateway_api.h): every listener's address
// and open connections, every pool's servers with their health, weight, draining flag
// and connection counts. Metrics: per http listener, requests by status class and their
// latency; per server, up, active connections, connections and failures; per pool, the
// health checks' latency.
//
// Not yet (docs/gateway.md): tls listeners, listeners and routes changed without a
// restart.
//
// Thread safety: Start and Drain from the daemon's main thread; the listeners run on the
// workers, the health checks on worker 0.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
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
#include "gateway/http_proxy.h"
#include "gateway/pool.h"
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
  //   PUT    /v1/pools/POOL/servers/HOST:PORT      {"weight": N} adds the server, or sets
  //                                                its weight (0: drained)
  //   DELETE /v1/pools/POOL/servers/HOST:PORT      removes it (its connections finish)
  //   POST   /v1/reload                            Reload()
  // Each change applies at once and is written back to the config file (atomically)
  // before it is answered, so a restart keeps it.
  admin::ApiHandler Api();
  // Reads the config file again (SIGHUP, POST /v1/reload) and applies its pools (servers,
  // weights, balancing, checks) at once; connections open stay. A file that does not
  // parse, or that changes the listeners, their routes or the set of pools (those take a
  // restart for now), is refused with the reason and the running config stays.
  base::Status Reload() override;
  // {"gateway": Status()} (gateway_api.h).
  void ReportStatus(nlohmann::json& status) const override;
  void Drain(std::chrono::milliseconds timeout) override;

 private:
  explicit Gateway(const GatewayOptions& options);

  const GatewayOptions options_;
  net::ShardPool workers_;
  std::map<std::string, std::shared_ptr<Pool>, std::less<>> pools_;
  std::vector<std::unique_ptr<HttpSite>> sites_;  // The http listeners'; servers_ use them.
  struct Listening {
    std::string name;
    ListenerKind kind;
    std::unique_ptr<net::Server> server;
  };
  std::vector<Listening> servers_;
  std::atomic<bool> stopping_{false};
  // What runs, as the file says it: changed by the API (on the admin endpoint's thread).
  std::mutex config_mu_;
  GatewayConfig config_;  // Guarded by config_mu_.
};

}  // namespace trellis::gateway
