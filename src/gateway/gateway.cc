#include "gateway/gateway.h"

#include <algorithm>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "gateway/health_checker.h"
#include "gateway/source_limiter.h"
#include "gateway/tcp_proxy.h"
#include "http/message.h"
#include "net/address.h"

namespace trellis::gateway {

namespace asio = boost::asio;

namespace {

// Every second, each server of `pool` as metrics: up, active connections, and the
// totals of connections and failures.
asio::awaitable<void> ExportPoolMetrics(std::shared_ptr<Pool> pool, base::Registry& metrics,
                                        const std::atomic<bool>& stop) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::map<std::string, std::pair<uint64_t, uint64_t>> counted;  // Connections, failures.
  while (!stop.load()) {
    for (const ServerStatus& server : pool->Servers()) {
      const base::Labels labels = {{"pool", pool->name()}, {"server", server.address}};
      metrics
          .GetGauge("trellis_gateway_server_up", "1 while a pool's server takes connections.",
                    labels)
          .Set(server.health == ServerHealth::kUp && !server.draining ? 1 : 0);
      metrics
          .GetGauge("trellis_gateway_server_active_connections",
                    "Connections open to a pool's server.", labels)
          .Set(static_cast<int64_t>(server.active_connections));
      auto& [connections, failures] = counted[server.address];
      metrics
          .GetCounter("trellis_gateway_server_connections_total",
                      "Connections made to a pool's server.", labels)
          .Increment(server.total_connections - std::min(connections, server.total_connections));
      metrics
          .GetCounter("trellis_gateway_server_failures_total",
                      "A pool's server taken out: failed checks and passive ejections.", labels)
          .Increment(server.failures - std::min(failures, server.failures));
      connections = server.total_connections;
      failures = server.failures;
    }
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace

Gateway::Gateway(const GatewayOptions& options)
    : options_(options),
      workers_(static_cast<int>(std::max<size_t>(1, options.threads))),
      config_(options.config) {}

admin::ApiHandler Gateway::Api() {
  return [this](const admin::ApiRequest& request)
             -> asio::awaitable<std::optional<admin::ApiResponse>> {
    auto error = [](const base::Error& failure) {
      const http::Response response = http::Response::Error(failure);
      return admin::ApiResponse{response.status, response.body};
    };
    if (request.path == "/v1/gateway" && request.method == "GET") {
      co_return admin::ApiResponse{200, ToJson(Status()).dump()};
    }
    if (request.path == "/v1/reload" && request.method == "POST") {
      if (base::Status reloaded = Reload(); !reloaded) {
        co_return error(reloaded.error());
      }
      co_return admin::ApiResponse{200, ToJson(Status()).dump()};
    }
    // /v1/pools/POOL/servers/HOST:PORT
    constexpr std::string_view kPools = "/v1/pools/";
    const std::string_view path = request.path;
    const size_t servers = path.find("/servers/");
    if (!path.starts_with(kPools) || servers == std::string_view::npos) {
      co_return std::nullopt;
    }
    const std::string pool_name(path.substr(kPools.size(), servers - kPools.size()));
    const std::string address(path.substr(servers + std::string_view("/servers/").size()));
    const auto pool = pools_.find(pool_name);
    if (pool == pools_.end()) {
      co_return error(base::NotFound("no pool \"" + pool_name + "\""));
    }
    std::lock_guard lock(config_mu_);
    GatewayConfig changed = config_;
    PoolConfig& pool_config =
        *std::find_if(changed.pools.begin(), changed.pools.end(),
                      [&](const PoolConfig& candidate) { return candidate.name == pool_name; });
    auto server = std::find_if(pool_config.servers.begin(), pool_config.servers.end(),
                               [&](const ServerConfig& s) { return s.address == address; });
    if (request.method == "PUT") {
      const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
      if (!body.is_object() || !body.contains("weight") || !body["weight"].is_number_unsigned()) {
        co_return error(base::InvalidArgument(R"(want {"weight": N}, N >= 0)"));
      }
      const uint32_t weight = body["weight"].get<uint32_t>();
      if (server == pool_config.servers.end()) {
        pool_config.servers.push_back({address, weight});
      } else {
        server->weight = weight;
      }
    } else if (request.method == "DELETE") {
      if (server == pool_config.servers.end()) {
        co_return error(base::NotFound("no server " + address + " in pool \"" + pool_name + "\""));
      }
      pool_config.servers.erase(server);
    } else {
      co_return error(base::InvalidArgument("PUT or DELETE"));
    }
    // Checked as a file would be, applied, then written down.
    if (auto valid = ParseGatewayConfig(ToToml(changed)); !valid) {
      co_return error(valid.error());
    }
    if (base::Status applied = pool->second->Update(pool_config); !applied) {
      co_return error(applied.error());
    }
    if (!options_.config_path.empty()) {
      if (base::Status saved = base::ReplaceFile(options_.config_path, ToToml(changed)); !saved) {
        co_return error(saved.error());
      }
    }
    config_ = std::move(changed);
    co_return admin::ApiResponse{200, ToJson(Status()).dump()};
  };
}

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
          HttpSite{RouteTable(listener.routes), {}, listener.limits, options.connect_timeout, {}});
      for (int i = 0; i < 5; ++i) {
        site->metrics.responses[i] = &metrics.GetCounter(
            "trellis_gateway_responses_total",
            "Responses of an http listener (its own answers included), by status class.",
            {{"listener", listener.name}, {"class", std::to_string(i + 1) + "xx"}});
      }
      site->metrics.seconds = &metrics.GetHistogram(
          "trellis_gateway_request_seconds",
          "From a request's head to the end of its response, per http listener.",
          {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
          {{"listener", listener.name}});
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
    asio::co_spawn(gateway->workers_.context(0),
                   ExportPoolMetrics(pool, metrics, gateway->stopping_), asio::detached);
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

base::Status Gateway::Reload() {
  if (options_.config_path.empty()) {
    return {};
  }
  TRELLIS_TRY(const std::string text, base::ReadFile(options_.config_path));
  auto loaded = ParseGatewayConfig(text);
  if (!loaded) {
    return base::WithContext(options_.config_path.string(), loaded.error());
  }
  std::lock_guard lock(config_mu_);
  if (loaded->listeners != config_.listeners) {
    return base::InvalidArgument(options_.config_path.string() +
                                 ": the listeners or their routes changed: that takes a restart");
  }
  for (const PoolConfig& pool : loaded->pools) {
    if (!pools_.contains(pool.name)) {
      return base::InvalidArgument(options_.config_path.string() + ": pool \"" + pool.name +
                                   "\" is new: that takes a restart");
    }
  }
  if (loaded->pools.size() != pools_.size()) {
    return base::InvalidArgument(options_.config_path.string() +
                                 ": a pool was removed: that takes a restart");
  }
  for (const PoolConfig& pool : loaded->pools) {
    // Resolved before anything changes: a server that does not resolve refuses it all.
    TRELLIS_TRY(auto checked, Pool::Create(pool));
  }
  for (const PoolConfig& pool : loaded->pools) {
    TRELLIS_TRY_STATUS(pools_.at(pool.name)->Update(pool));
  }
  config_ = std::move(loaded).value();
  return {};
}

GatewayStatus Gateway::Status() const {
  GatewayStatus status;
  for (const Listening& listening : servers_) {
    status.listeners.push_back({listening.name, std::string(Name(listening.kind)),
                                net::FormatEndpoint(listening.server->local_endpoint()),
                                listening.server->connection_count()});
  }
  for (const auto& [name, pool] : pools_) {
    PoolStatus& out = status.pools.emplace_back();
    out.name = name;
    out.balance = std::string(Name(pool->balance()));
    for (const ServerStatus& server : pool->Servers()) {
      out.servers.push_back({server.address, server.weight, server.health == ServerHealth::kUp,
                             server.draining, server.active_connections, server.total_connections,
                             server.failures});
    }
  }
  return status;
}

void Gateway::ReportStatus(nlohmann::json& status) const { status["gateway"] = ToJson(Status()); }

void Gateway::Drain(std::chrono::milliseconds timeout) {
  stopping_ = true;
  for (Listening& listening : servers_) {
    listening.server->Drain(timeout);
  }
  workers_.Stop();
}

}  // namespace trellis::gateway
