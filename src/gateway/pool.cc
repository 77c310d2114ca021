#include "gateway/pool.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <cmath>
#include <unordered_map>
#include <utility>

#include "base/check.h"
#include "base/clock.h"
#include "net/address.h"

namespace trellis::gateway {

namespace asio = boost::asio;
using asio::ip::tcp;

// One server of a pool. The pool's vector and every lease on it share it, so a server
// removed by Update lives on, detached, until its last lease is released.
struct ServerLease::Server {
  Server(std::string address_in, tcp::endpoint endpoint_in, uint32_t weight_in)
      : address(std::move(address_in)), endpoint(endpoint_in), weight(weight_in) {}

  bool TakesConnections() const { return health == ServerHealth::kUp && !draining && weight > 0; }

  void TakeDown(base::SteadyClock::time_point now) {
    health = ServerHealth::kDown;
    successes_in_row = 0;
    failures_in_row = 0;
    down_since = now;
  }

  void BringUp() {
    health = ServerHealth::kUp;
    successes_in_row = 0;
    failures_in_row = 0;
  }

  const std::string address;
  const tcp::endpoint endpoint;

  // The rest is guarded by the pool's mu_.
  uint32_t weight;
  bool draining = false;
  ServerHealth health = ServerHealth::kUp;
  // False until a check has passed (or `rise` checks brought it up): a new server's
  // first failed check takes it down, without waiting for `fall`.
  bool proven = false;
  uint32_t successes_in_row = 0;  // While down: toward `rise`.
  uint32_t failures_in_row = 0;   // While up: toward `fall`.
  // While down: when it went down (with checks of kind none it comes back one interval
  // later).
  base::SteadyClock::time_point down_since;
  // Smooth weighted round-robin score (also breaks least-connections ties).
  int64_t current_weight = 0;
  uint64_t active_connections = 0;
  uint64_t total_connections = 0;
  uint64_t failures = 0;
  double check_seconds = 0;
};

struct Pool::State {
  using Server = ServerLease::Server;
  using ServerPtr = std::shared_ptr<Server>;

  // Brings servers that passive ejection took down back after one check interval, when
  // there are no active checks to do it.
  void ReadmitEjected() {
    if (check.kind != CheckKind::kNone) {
      return;
    }
    std::optional<base::SteadyClock::time_point> now;  // Read only if a server is down.
    for (const ServerPtr& server : servers) {
      if (server->health == ServerHealth::kDown) {
        if (!now) {
          now = base::SteadyClock::now();
        }
        if (*now - server->down_since >= check.interval) {
          server->BringUp();
        }
      }
    }
  }

  // Calls `visit` for each server that takes connections, except the one at `exclude`,
  // which is returned instead if it takes connections (nullptr otherwise). Servers are
  // passed, and picked, as their element of `servers`, so a pick copies no shared_ptr
  // but the one it returns.
  template <typename Visit>
  const ServerPtr* ForEachCandidate(std::string_view exclude, Visit visit) {
    const ServerPtr* excluded = nullptr;
    for (const ServerPtr& server : servers) {
      if (!server->TakesConnections()) {
        continue;
      }
      if (server->address == exclude) {
        excluded = &server;
        continue;
      }
      visit(server);
    }
    return excluded;
  }

  // nginx's smooth weighted round-robin among the servers `among` accepts.
  template <typename Among>
  const ServerPtr* RoundRobin(std::string_view exclude, Among among) {
    const ServerPtr* best = nullptr;
    int64_t total = 0;
    const ServerPtr* excluded = ForEachCandidate(exclude, [&](const ServerPtr& server) {
      if (!among(*server)) {
        return;
      }
      server->current_weight += server->weight;
      total += server->weight;
      if (best == nullptr || server->current_weight > (*best)->current_weight) {
        best = &server;
      }
    });
    if (best == nullptr) {
      return excluded;
    }
    (*best)->current_weight -= total;
    return best;
  }

  const ServerPtr* LeastConnections(std::string_view exclude) {
    // a has fewer connections than b relative to weight: a.active / a.weight <
    // b.active / b.weight, multiplied out (weights are > 0 here).
    const auto fewer = [](const Server& a, const Server& b) {
      return a.active_connections * b.weight < b.active_connections * a.weight;
    };
    const Server* least = nullptr;
    const ServerPtr* excluded = ForEachCandidate(exclude, [&](const ServerPtr& server) {
      if (least == nullptr || fewer(*server, *least)) {
        least = server.get();
      }
    });
    if (least == nullptr) {
      return excluded;
    }
    return RoundRobin(exclude, [&](const Server& server) { return !fewer(*least, server); });
  }

  const ServerPtr* HashSource(const asio::ip::address& source, std::string_view exclude) {
    const uint64_t client = HashAddress(source);
    const ServerPtr* best = nullptr;
    double best_score = 0;
    const ServerPtr* excluded = ForEachCandidate(exclude, [&](const ServerPtr& server) {
      const uint64_t h =
          XXH3_64bits_withSeed(server->address.data(), server->address.size(), client);
      // The top 53 bits, centred in their interval: a double strictly inside (0, 1).
      const double unit = (static_cast<double>(h >> 11) + 0.5) * 0x1p-53;
      const double score = -static_cast<double>(server->weight) / std::log(unit);
      if (best == nullptr || score > best_score) {
        best = &server;
        best_score = score;
      }
    });
    return best != nullptr ? best : excluded;
  }

  static uint64_t HashAddress(const asio::ip::address& address) {
    // A v4-mapped v6 address is the same client as its v4 form (a dual-stack listener).
    if (address.is_v4() || address.to_v6().is_v4_mapped()) {
      const auto bytes =
          address.is_v4()
              ? address.to_v4().to_bytes()
              : asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_bytes();
      return XXH3_64bits(bytes.data(), bytes.size());
    }
    const auto bytes = address.to_v6().to_bytes();
    return XXH3_64bits(bytes.data(), bytes.size());
  }

  Server* Find(std::string_view address) const {
    for (const auto& server : servers) {
      if (server->address == address) {
        return server.get();
      }
    }
    return nullptr;
  }

  Balance balance = Balance::kRoundRobin;
  CheckConfig check;
  // In config order; addresses unique.
  std::vector<ServerPtr> servers;
};

namespace {

struct Resolved {
  std::string address;
  tcp::endpoint endpoint;
  uint32_t weight;
};

// Resolves every server of `config`. Errors: an address that does not resolve, or one
// listed twice (kInvalidArgument).
base::Result<std::vector<Resolved>> ResolveServers(const PoolConfig& config) {
  std::vector<Resolved> resolved;
  resolved.reserve(config.servers.size());
  for (const ServerConfig& server : config.servers) {
    const std::string context =
        fmt::format("pool \"{}\": server \"{}\"", config.name, server.address);
    auto host_port = net::ParseHostPort(server.address);
    if (!host_port) {
      return base::WithContext(context, host_port.error());
    }
    auto endpoint = net::Resolve(*host_port);
    if (!endpoint) {
      return base::WithContext(context, endpoint.error());
    }
    for (const Resolved& other : resolved) {
      if (other.address == server.address) {
        return base::InvalidArgument(context + ": listed twice");
      }
    }
    resolved.push_back({server.address, *endpoint, server.weight});
  }
  return resolved;
}

}  // namespace

ServerLease::ServerLease(std::shared_ptr<Pool> pool, std::shared_ptr<Server> server)
    : pool_(std::move(pool)), server_(std::move(server)) {}

ServerLease::ServerLease(ServerLease&& other) noexcept
    : pool_(std::move(other.pool_)), server_(std::move(other.server_)) {}

ServerLease& ServerLease::operator=(ServerLease&& other) noexcept {
  if (this != &other) {
    if (server_ != nullptr) {
      pool_->Release(*server_);
    }
    pool_ = std::move(other.pool_);
    server_ = std::move(other.server_);
  }
  return *this;
}

ServerLease::~ServerLease() {
  if (server_ != nullptr) {
    pool_->Release(*server_);
  }
}

const tcp::endpoint& ServerLease::endpoint() const { return server_->endpoint; }

const std::string& ServerLease::address() const { return server_->address; }

Pool::Pool(std::string name) : name_(std::move(name)), state_(std::make_unique<State>()) {}

base::Result<std::shared_ptr<Pool>> Pool::Create(const PoolConfig& config) {
  TRELLIS_TRY(std::vector<Resolved> resolved, ResolveServers(config));
  std::shared_ptr<Pool> pool(new Pool(config.name));
  State& state = *pool->state_;
  state.balance = config.balance;
  state.check = config.check;
  state.servers.reserve(resolved.size());
  for (Resolved& server : resolved) {
    state.servers.push_back(
        std::make_shared<State::Server>(std::move(server.address), server.endpoint, server.weight));
  }
  return pool;
}

CheckConfig Pool::check() const {
  std::lock_guard lock(mu_);
  return state_->check;
}

Balance Pool::balance() const {
  std::lock_guard lock(mu_);
  return state_->balance;
}

ServerLease Pool::Pick(const asio::ip::address& source, std::string_view exclude) {
  State::ServerPtr picked;
  {
    std::lock_guard lock(mu_);
    State& state = *state_;
    state.ReadmitEjected();
    const State::ServerPtr* server = nullptr;
    switch (state.balance) {
      case Balance::kRoundRobin:
        server = state.RoundRobin(exclude, [](const State::Server&) { return true; });
        break;
      case Balance::kLeastConnections:
        server = state.LeastConnections(exclude);
        break;
      case Balance::kHashSource:
        server = state.HashSource(source, exclude);
        break;
    }
    if (server == nullptr) {
      return {};
    }
    picked = *server;
    ++picked->active_connections;
    ++picked->total_connections;
  }
  return ServerLease(shared_from_this(), std::move(picked));
}

void Pool::Release(ServerLease::Server& server) {
  std::lock_guard lock(mu_);
  TRELLIS_CHECK(server.active_connections > 0);
  --server.active_connections;
}

void Pool::ReportCheck(std::string_view address, bool ok, std::chrono::duration<double> took) {
  std::lock_guard lock(mu_);
  State& state = *state_;
  State::Server* server = state.Find(address);
  if (server == nullptr) {
    return;
  }
  server->check_seconds = took.count();
  if (ok) {
    if (server->health == ServerHealth::kUp) {
      server->failures_in_row = 0;
      server->proven = true;
    } else if (++server->successes_in_row >= state.check.rise) {
      server->BringUp();
      server->proven = true;
    }
    return;
  }
  ++server->failures;
  if (server->health == ServerHealth::kDown) {
    server->successes_in_row = 0;
  } else if (!server->proven || ++server->failures_in_row >= state.check.fall) {
    server->TakeDown(base::SteadyClock::now());
  }
}

void Pool::ReportFailure(const ServerLease& lease) {
  if (lease.server_ == nullptr || lease.pool_.get() != this) {
    return;
  }
  const auto now = base::SteadyClock::now();
  std::lock_guard lock(mu_);
  ++lease.server_->failures;
  lease.server_->TakeDown(now);
}

base::Status Pool::Update(const PoolConfig& config) {
  TRELLIS_TRY(std::vector<Resolved> resolved, ResolveServers(config));
  std::vector<State::ServerPtr> servers;
  servers.reserve(resolved.size());
  std::lock_guard lock(mu_);
  State& state = *state_;
  std::unordered_map<std::string_view, State::ServerPtr> staying;
  for (const auto& server : state.servers) {
    staying.emplace(server->address, server);
  }
  for (Resolved& server : resolved) {
    if (auto it = staying.find(server.address); it != staying.end()) {
      it->second->weight = server.weight;
      servers.push_back(it->second);
    } else {
      servers.push_back(std::make_shared<State::Server>(std::move(server.address), server.endpoint,
                                                        server.weight));
    }
  }
  state.servers = std::move(servers);
  state.balance = config.balance;
  state.check = config.check;
  return {};
}

base::Status Pool::SetDraining(std::string_view address, bool draining) {
  std::lock_guard lock(mu_);
  State::Server* server = state_->Find(address);
  if (server == nullptr) {
    return base::NotFound(fmt::format("pool \"{}\" has no server \"{}\"", name_, address));
  }
  server->draining = draining;
  return {};
}

base::Status Pool::SetWeight(std::string_view address, uint32_t weight) {
  std::lock_guard lock(mu_);
  State::Server* server = state_->Find(address);
  if (server == nullptr) {
    return base::NotFound(fmt::format("pool \"{}\" has no server \"{}\"", name_, address));
  }
  server->weight = weight;
  return {};
}

std::vector<ServerStatus> Pool::Servers() const {
  std::lock_guard lock(mu_);
  std::vector<ServerStatus> statuses;
  statuses.reserve(state_->servers.size());
  for (const auto& server : state_->servers) {
    statuses.push_back({.address = server->address,
                        .weight = server->weight,
                        .health = server->health,
                        .draining = server->draining,
                        .active_connections = server->active_connections,
                        .total_connections = server->total_connections,
                        .failures = server->failures,
                        .check_seconds = server->check_seconds});
  }
  return statuses;
}

std::vector<std::pair<std::string, tcp::endpoint>> Pool::Endpoints() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, tcp::endpoint>> endpoints;
  endpoints.reserve(state_->servers.size());
  for (const auto& server : state_->servers) {
    endpoints.emplace_back(server->address, server->endpoint);
  }
  return endpoints;
}

}  // namespace trellis::gateway
