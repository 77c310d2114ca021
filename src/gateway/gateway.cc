#include "gateway/gateway.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <nlohmann/json.hpp>

#include "gateway/health_checker.h"
#include "gateway/source_limiter.h"
#include "gateway/tcp_proxy.h"
#include "net/address.h"

namespace trellis::gateway {

namespace asio = boost::asio;

Gateway::Gateway(const GatewayOptions& options)
    : options_(options), workers_(static_cast<int>(std::max<size_t>(1, options.threads))) {}

Gateway::~Gateway() { Drain(std::chrono::milliseconds(0)); }

base::Result<std::unique_ptr<Gateway>> Gateway::Start(const GatewayOptions& options,
                                                      base::Registry& metrics) {
  std::unique_ptr<Gateway> gateway(new Gateway(options));
  for (const PoolConfig& config : options.config.pools) {
    TRELLIS_TRY(auto pool, Pool::Create(config));
    gateway->pools_.emplace(config.name, std::move(pool));
  }
  for (const ListenerConfig& listener : options.config.listeners) {
    auto address = net::ParseHostPort(listener.bind);
    auto endpoint =
        address ? net::Resolve(*address) : base::Result<asio::ip::tcp::endpoint>(address.error());
    if (!endpoint) {
      return base::InvalidArgument("listener \"" + listener.name +
                                   "\": " + endpoint.error().message);
    }
    net::ServerOptions server_options;
    server_options.name = "gateway-" + listener.name;
    server_options.listen = *endpoint;
    server_options.max_connections = listener.limits.max_connections;
    net::Server::Handler handler;
    if (listener.kind == ListenerKind::kTcp) {
      std::shared_ptr<Pool> pool = gateway->pools_.at(listener.pool);
      const auto connect_timeout = options.connect_timeout;
      handler = [pool, connect_timeout](net::Connection& client) {
        return ProxyTcp(client, *pool, connect_timeout);
      };
    } else if (listener.kind == ListenerKind::kHttp) {
      auto site = std::make_unique<HttpSite>(
          HttpSite{RouteTable(listener.routes), {}, listener.limits, options.connect_timeout});
      for (const RouteConfig& route : listener.routes) {
        site->pools.emplace(route.pool, gateway->pools_.at(route.pool));
      }
      // Between requests a client may idle this long.
      server_options.idle_timeout = listener.limits.idle_timeout;
      const HttpSite* serving = site.get();
      gateway->sites_.push_back(std::move(site));
      handler = [serving](net::Connection& client) { return ProxyHttp(client, *serving); };
    } else {
      return base::InvalidArgument("listener \"" + listener.name +
                                   "\": tls listeners are not served yet (docs/gateway.md)");
    }
    if (listener.kind == ListenerKind::kHttp) {
      server_options.overload_reply = HttpAnswer(503, "Service Unavailable", true);
    }
    // Per-source limits, when set: a source over them is refused before anything else.
    if (auto limiter = std::make_shared<SourceLimiter>(listener.limits); limiter->active()) {
      const std::string refusal =
          listener.kind == ListenerKind::kHttp ? HttpAnswer(429, "Too Many Requests", true) : "";
      handler = [limiter, refusal,
                 inner = std::move(handler)](net::Connection& client) -> asio::awaitable<void> {
        const SourceLimiter::Admission admission =
            limiter->Admit(client.peer().address(), SourceLimiter::Clock::now());
        if (!admission) {
          co_await client.Write(refusal);
          co_return;
        }
        co_await inner(client);
      };
    }
    auto server = net::Server::Start(gateway->workers_, server_options, handler, metrics);
    if (!server) {
      return base::WithContext("listener \"" + listener.name + "\"", server.error());
    }
    gateway->servers_.push_back({listener.name, listener.kind, std::move(server).value()});
  }
  for (auto& [name, pool] : gateway->pools_) {
    asio::co_spawn(gateway->workers_.context(0), CheckPool(pool, gateway->stopping_),
                   asio::detached);
  }
  gateway->workers_.Start();
  return gateway;
}

std::vector<daemon::Listener> Gateway::listeners() const {
  std::vector<daemon::Listener> listeners;
  for (const Listening& listening : servers_) {
    listeners.push_back({listening.name,
                         listening.kind == ListenerKind::kTcp ? "tcp proxy" : "http proxy",
                         listening.server->local_endpoint()});
  }
  return listeners;
}

void Gateway::ReportStatus(nlohmann::json& status) const {
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& [name, pool] : pools_) {
    nlohmann::json servers = nlohmann::json::array();
    for (const ServerStatus& server : pool->Servers()) {
      servers.push_back({{"address", server.address},
                         {"weight", server.weight},
                         {"health", server.health == ServerHealth::kUp ? "up" : "down"},
                         {"draining", server.draining},
                         {"active_connections", server.active_connections},
                         {"total_connections", server.total_connections},
                         {"failures", server.failures}});
    }
    pools.push_back({{"name", name}, {"servers", servers}});
  }
  status["gateway"] = {{"pools", pools}};
}

void Gateway::Drain(std::chrono::milliseconds timeout) {
  stopping_ = true;
  for (Listening& listening : servers_) {
    listening.server->Drain(timeout);
  }
  workers_.Stop();
}

}  // namespace trellis::gateway
