#include "gateway/gateway.h"

#include <spdlog/spdlog.h>

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
#include "gateway/http_proxy.h"
#include "gateway/source_limiter.h"
#include "gateway/tcp_proxy.h"
#include "gateway/tls_proxy.h"
#include "http/message.h"
#include "net/address.h"

namespace trellis::gateway {

namespace asio = boost::asio;

namespace {

// Every second, each server of `pool` as metrics: up, active connections, the last
// check's time, and the totals of connections and failures; until the gateway stops or
// the pool is retired.
asio::awaitable<void> ExportPoolMetrics(std::shared_ptr<Pool> pool, base::Registry& metrics,
                                        const std::atomic<bool>& stop) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::map<std::string, std::pair<uint64_t, uint64_t>> counted;  // Connections, failures.
  while (!stop.load() && !pool->retired()) {
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
      metrics
          .GetGauge("trellis_gateway_server_check_microseconds",
                    "How long a pool's server's last active health check took.", labels)
          .Set(static_cast<int64_t>(server.check_seconds * 1e6));
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

// A listener's serving differs only in its routes or its pool: its connections can
// keep running, with the new routing.
bool SameServing(const ListenerConfig& a, const ListenerConfig& b) {
  ListenerConfig a_routed = a;
  a_routed.routes = b.routes;
  a_routed.pool = b.pool;
  return a_routed == b;
}

// The routes a listener's routing is made of: its routes, or its one pool as the route
// of any host and path.
std::vector<RouteConfig> RoutesOf(const ListenerConfig& listener) {
  if (!listener.routes.empty()) {
    return listener.routes;
  }
  return {RouteConfig{"*", "/", listener.pool}};
}

// The path of a config file's certificate: as written, relative to the file's directory.
std::filesystem::path Beside(const std::filesystem::path& config, const std::string& file) {
  const std::filesystem::path path(file);
  return path.is_absolute() || config.empty() ? path : config.parent_path() / path;
}

template <typename Named>
auto FindNamed(std::vector<Named>& items, std::string_view name) {
  return std::find_if(items.begin(), items.end(),
                      [&](const Named& item) { return item.name == name; });
}

}  // namespace

Gateway::Gateway(const GatewayOptions& options, base::Registry& metrics)
    : options_(options),
      metrics_(metrics),
      workers_(static_cast<int>(std::max<size_t>(1, options.threads))) {}

Gateway::~Gateway() { Drain(std::chrono::milliseconds(0)); }

base::Result<std::unique_ptr<Gateway>> Gateway::Start(const GatewayOptions& options,
                                                      base::Registry& metrics) {
  std::unique_ptr<Gateway> gateway(new Gateway(options, metrics));
  {
    std::lock_guard lock(gateway->mu_);
    TRELLIS_TRY_STATUS(gateway->Apply(options.config));
  }
  gateway->workers_.Start();
  return gateway;
}

std::shared_ptr<const Routing> Gateway::RoutingFor(const ListenerConfig& listener,
                                                   const PoolMap& pools) {
  const std::vector<RouteConfig> routes = RoutesOf(listener);
  std::vector<Routing::Target> targets;
  for (const RouteConfig& route : routes) {
    targets.push_back(
        {pools.at(route.pool),
         &metrics_.GetCounter(
             "trellis_gateway_route_requests_total",
             "Requests a route took (tcp and tls passthrough: connections).",
             {{"listener", listener.name}, {"host", route.host}, {"path", route.path}})});
  }
  return std::make_shared<const Routing>(routes, std::move(targets));
}

base::Result<std::shared_ptr<net::TlsServerContext>> Gateway::LoadCertificates(
    const ListenerConfig& listener) const {
  std::vector<net::TlsIdentity> identities;
  for (const CertificateConfig& certificate : listener.certificates) {
    identities.push_back({certificate.domain, Beside(options_.config_path, certificate.cert),
                          Beside(options_.config_path, certificate.key)});
  }
  auto tls = net::TlsServerContext::Create(identities, /*client_ca=*/{});
  if (!tls) {
    return base::WithContext("listener \"" + listener.name + "\"", tls.error());
  }
  return std::move(tls).value();
}

base::Result<Gateway::Listening> Gateway::StartListener(const ListenerConfig& listener,
                                                        const PoolMap& pools) {
  auto address = net::ParseHostPort(listener.bind);
  auto endpoint =
      address ? net::Resolve(*address) : base::Result<asio::ip::tcp::endpoint>(address.error());
  if (!endpoint) {
    return base::InvalidArgument("listener \"" + listener.name + "\": " + endpoint.error().message);
  }
  auto site = std::make_shared<Site>();
  site->limits = listener.limits;
  site->connect_timeout = options_.connect_timeout;
  site->Replace(RoutingFor(listener, pools));
  net::ServerOptions server_options;
  server_options.name = "gateway-" + listener.name;
  server_options.listen = *endpoint;
  server_options.max_connections = listener.limits.max_connections;
  const bool terminates =
      listener.kind == ListenerKind::kTls && listener.tls == TlsMode::kTerminate;
  const bool speaks_http = listener.kind == ListenerKind::kHttp || terminates;
  if (terminates) {
    TRELLIS_TRY(auto tls, LoadCertificates(listener));
    site->tls.store(std::move(tls));
    site->scheme = "https";
  }
  if (speaks_http) {
    for (int i = 0; i < 5; ++i) {
      site->metrics.responses[i] = &metrics_.GetCounter(
          "trellis_gateway_responses_total",
          "Responses of an http listener (its own answers included), by status class.",
          {{"listener", listener.name}, {"class", std::to_string(i + 1) + "xx"}});
    }
    site->metrics.seconds = &metrics_.GetHistogram(
        "trellis_gateway_request_seconds",
        "From a request's head to the end of its response, per http listener.",
        {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
        {{"listener", listener.name}});
    // Between requests a client may idle this long.
    server_options.idle_timeout = listener.limits.idle_timeout;
    server_options.overload_reply = HttpAnswer(503, "Service Unavailable", true);
  }
  net::Server::Handler handler;
  if (listener.kind == ListenerKind::kTcp) {
    handler = [site](net::Connection& client) -> asio::awaitable<void> {
      if (const std::shared_ptr<Pool> pool = site->PoolFor("", "/"); pool != nullptr) {
        co_await ProxyTcp(client, *pool, site->connect_timeout);
      }
    };
  } else if (listener.kind == ListenerKind::kHttp) {
    handler = [site](net::Connection& client) { return ProxyHttp(client, *site); };
  } else if (terminates) {
    handler = [site](net::Connection& client) { return ProxyTlsTerminated(client, *site); };
  } else {
    handler = [site](net::Connection& client) { return ProxyTlsPassthrough(client, *site); };
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
  auto server = net::Server::Start(workers_, server_options, handler, metrics_);
  if (!server) {
    return base::WithContext("listener \"" + listener.name + "\"", server.error());
  }
  return Listening{listener, std::move(site), std::move(server).value()};
}

void Gateway::RunPool(const std::shared_ptr<Pool>& pool) {
  asio::co_spawn(workers_.context(0), CheckPool(pool, stopping_), asio::detached);
  asio::co_spawn(workers_.context(0), ExportPoolMetrics(pool, metrics_, stopping_), asio::detached);
}

base::Status Gateway::Apply(const GatewayConfig& next) {
  // Everything that can fail, before anything running changes.
  PoolMap pools;
  std::vector<std::shared_ptr<Pool>> created;
  for (const PoolConfig& config : next.pools) {
    TRELLIS_TRY(auto pool, Pool::Create(config));  // Resolves every server.
    if (auto running = pools_.find(config.name); running != pools_.end()) {
      pools.emplace(config.name, running->second);
    } else {
      pools.emplace(config.name, pool);
      created.push_back(std::move(pool));
    }
  }
  std::vector<Listening> listening;
  // A kept listener that terminates TLS reads its certificates again (renewed files).
  std::map<std::string, std::shared_ptr<net::TlsServerContext>> reloaded;
  auto abandon = [&listening](base::Error error) -> base::Status {
    for (Listening& made : listening) {
      if (made.server != nullptr) {
        made.server->Drain(std::chrono::milliseconds(0));
      }
    }
    return error;
  };
  for (const ListenerConfig& config : next.listeners) {
    const auto running = FindNamed(config_.listeners, config.name);
    if (running != config_.listeners.end() && SameServing(*running, config)) {
      listening.push_back({config, nullptr, nullptr});  // Kept: filled in below.
      if (config.kind == ListenerKind::kTls && config.tls == TlsMode::kTerminate) {
        auto tls = LoadCertificates(config);
        if (!tls) {
          return abandon(tls.error());
        }
        reloaded.emplace(config.name, std::move(tls).value());
      }
      continue;
    }
    auto started = StartListener(config, pools);
    if (!started) {
      return abandon(started.error());
    }
    if (!config_.listeners.empty()) {  // The daemon prints the first ones.
      spdlog::info("{} listening on {}", config.name,
                   net::FormatEndpoint(started->server->local_endpoint()));
    }
    listening.push_back(std::move(started).value());
  }
  // Now what runs changes; nothing below fails.
  for (const PoolConfig& config : next.pools) {
    if (pools_.contains(config.name)) {
      (void)pools.at(config.name)->Update(config);  // Resolved above: it cannot fail.
    }
  }
  for (const std::shared_ptr<Pool>& pool : created) {
    RunPool(pool);
  }
  for (Listening& now : listening_) {
    auto kept = std::find_if(listening.begin(), listening.end(), [&](const Listening& l) {
      return l.server == nullptr && l.config.name == now.config.name;
    });
    if (kept == listening.end()) {
      spdlog::info("{} no longer accepts (its config changed): its connections finish",
                   now.config.name);
      now.server->StopAccepting();
      retired_.push_back(std::move(now.server));
      continue;
    }
    kept->site = std::move(now.site);
    kept->server = std::move(now.server);
    kept->site->Replace(RoutingFor(kept->config, pools));
    if (auto tls = reloaded.find(kept->config.name); tls != reloaded.end()) {
      kept->site->tls.store(tls->second);
    }
  }
  for (auto& [name, pool] : pools_) {
    if (!pools.contains(name)) {
      pool->Retire();
    }
  }
  pools_ = std::move(pools);
  listening_ = std::move(listening);
  config_ = next;
  return {};
}

base::Status Gateway::Change(const std::function<base::Status(GatewayConfig&)>& edit) {
  std::lock_guard lock(mu_);
  GatewayConfig changed = config_;
  TRELLIS_TRY_STATUS(edit(changed));
  TRELLIS_TRY(const GatewayConfig checked, ParseGatewayConfig(ToToml(changed)));
  TRELLIS_TRY_STATUS(Apply(checked));
  if (options_.config_path.empty()) {
    return {};
  }
  if (base::Status saved = base::ReplaceFile(options_.config_path, ToToml(checked)); !saved) {
    return base::WithContext("applied, but not written down", saved.error());
  }
  return {};
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
  std::lock_guard lock(mu_);
  if (base::Status applied = Apply(*loaded); !applied) {
    return base::WithContext(options_.config_path.string(), applied.error());
  }
  return {};
}

admin::ApiHandler Gateway::Api() {
  return [this](const admin::ApiRequest& request)
             -> asio::awaitable<std::optional<admin::ApiResponse>> {
    auto answer = [this](const base::Status& done) {
      if (!done) {
        const http::Response response = http::Response::Error(done.error());
        return admin::ApiResponse{response.status, response.body};
      }
      return admin::ApiResponse{200, ToJson(Status()).dump()};
    };
    const std::string_view path = request.path;
    const std::string_view method = request.method;
    if (path == "/v1/gateway" && method == "GET") {
      co_return answer({});
    }
    if (path == "/v1/reload" && method == "POST") {
      co_return answer(Reload());
    }
    if (method != "PUT" && method != "DELETE") {
      co_return std::nullopt;
    }
    const bool put = method == "PUT";
    constexpr std::string_view kPools = "/v1/pools/";
    constexpr std::string_view kListeners = "/v1/listeners/";
    constexpr std::string_view kServers = "/servers/";
    constexpr std::string_view kRoutes = "/routes/";
    if (path.starts_with(kPools) && path.find(kServers) != std::string_view::npos) {
      // /v1/pools/POOL/servers/HOST:PORT
      const size_t servers = path.find(kServers);
      const std::string pool_name(path.substr(kPools.size(), servers - kPools.size()));
      const std::string address(path.substr(servers + kServers.size()));
      uint32_t weight = 0;
      if (put) {
        const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
        if (!body.is_object() || !body.contains("weight") || !body["weight"].is_number_unsigned()) {
          co_return answer(base::InvalidArgument(R"(want {"weight": N}, N >= 0)"));
        }
        weight = body["weight"].get<uint32_t>();
      }
      co_return answer(Change([&](GatewayConfig& config) -> base::Status {
        const auto pool = FindNamed(config.pools, pool_name);
        if (pool == config.pools.end()) {
          return base::NotFound("no pool \"" + pool_name + "\"");
        }
        auto server = std::find_if(pool->servers.begin(), pool->servers.end(),
                                   [&](const ServerConfig& s) { return s.address == address; });
        if (put && server == pool->servers.end()) {
          pool->servers.push_back({address, weight});
        } else if (put) {
          server->weight = weight;
        } else if (server == pool->servers.end()) {
          return base::NotFound("no server " + address + " in pool \"" + pool_name + "\"");
        } else {
          pool->servers.erase(server);
        }
        return {};
      }));
    }
    if (path.starts_with(kPools)) {
      // /v1/pools/POOL
      const std::string pool_name(path.substr(kPools.size()));
      base::Result<PoolConfig> body = PoolConfig{};
      if (put) {
        body = ParsePoolJson(pool_name, request.body);
      }
      co_return answer(Change([&](GatewayConfig& config) -> base::Status {
        TRELLIS_TRY(PoolConfig pool, std::move(body));
        const auto running = FindNamed(config.pools, pool_name);
        if (put && running == config.pools.end()) {
          config.pools.push_back(std::move(pool));
        } else if (put) {
          *running = std::move(pool);
        } else if (running == config.pools.end()) {
          return base::NotFound("no pool \"" + pool_name + "\"");
        } else {
          config.pools.erase(running);
        }
        return {};
      }));
    }
    if (path.starts_with(kListeners) && path.find(kRoutes) != std::string_view::npos) {
      // /v1/listeners/LISTENER/routes/HOST[/PATH]
      const size_t routes = path.find(kRoutes);
      const std::string listener_name(path.substr(kListeners.size(), routes - kListeners.size()));
      const std::string_view host_and_path = path.substr(routes + kRoutes.size());
      const size_t slash = host_and_path.find('/');
      RouteConfig route;
      route.host = std::string(host_and_path.substr(0, slash));
      route.path = slash == std::string_view::npos ? "/" : std::string(host_and_path.substr(slash));
      if (put) {
        const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
        if (!body.is_object() || !body.contains("pool") || !body["pool"].is_string()) {
          co_return answer(base::InvalidArgument(R"(want {"pool": "NAME"})"));
        }
        route.pool = body["pool"].get<std::string>();
      }
      co_return answer(Change([&](GatewayConfig& config) -> base::Status {
        const auto listener = FindNamed(config.listeners, listener_name);
        if (listener == config.listeners.end()) {
          return base::NotFound("no listener \"" + listener_name + "\"");
        }
        auto same = std::find_if(
            listener->routes.begin(), listener->routes.end(),
            [&](const RouteConfig& r) { return r.host == route.host && r.path == route.path; });
        if (put && same == listener->routes.end()) {
          listener->routes.push_back(route);
        } else if (put) {
          same->pool = route.pool;
        } else if (same == listener->routes.end()) {
          return base::NotFound("no route " + route.host + route.path + " on listener \"" +
                                listener_name + "\"");
        } else {
          listener->routes.erase(same);
        }
        return {};
      }));
    }
    co_return std::nullopt;
  };
}

std::vector<daemon::Listener> Gateway::listeners() const {
  std::lock_guard lock(mu_);
  std::vector<daemon::Listener> listeners;
  for (const Listening& listening : listening_) {
    listeners.push_back({listening.config.name, std::string(Name(listening.config.kind)) + " proxy",
                         listening.server->local_endpoint()});
  }
  return listeners;
}

GatewayStatus Gateway::Status() const {
  std::lock_guard lock(mu_);
  GatewayStatus status;
  for (const Listening& listening : listening_) {
    status.listeners.push_back({listening.config.name, std::string(Name(listening.config.kind)),
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
                             server.failures, server.check_seconds});
    }
  }
  return status;
}

void Gateway::ReportStatus(nlohmann::json& status) const { status["gateway"] = ToJson(Status()); }

void Gateway::Drain(std::chrono::milliseconds timeout) {
  stopping_ = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now()));
  };
  std::lock_guard lock(mu_);
  for (Listening& listening : listening_) {
    listening.server->StopAccepting();
  }
  for (Listening& listening : listening_) {
    listening.server->Drain(left());
  }
  for (auto& server : retired_) {
    server->Drain(left());
  }
  workers_.Stop();
}

}  // namespace trellis::gateway
