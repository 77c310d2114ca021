// Pool: one backend pool of the gateway (docs/gateway.md, "Pools"): its servers, their
// health and load, and which server a new connection goes to. The listeners pick a
// server per client connection (tcp) or per request (http, when no kept-alive server
// connection is at hand); the health checker and the proxies report what they see.
//
// Health: a server is up or down. Active checks (the health checker) bring a down server
// up after `rise` successes in a row and take an up one down after `fall` failures in a
// row. Passive ejection: a proxy that fails to connect or times out waiting for a server
// reports it (ReportFailure) and the server is down at once, until `rise` active checks
// succeed (with checks of kind none it comes back at the next Pick after one interval).
// A new server starts up (its first failed check, or connection, takes it down).
//
// Balancing, among servers that are up, not draining and of weight > 0:
// - round-robin: smooth weighted round-robin (nginx's: each pick adds every server's
//   weight to its current score, takes the highest and subtracts the total), so weights
//   2:1 give a, b, a, a, b, a ... interleaved rather than in runs;
// - least-connections: the fewest active connections relative to weight (ties by the
//   round-robin order);
// - hash-source: weighted rendezvous hashing of the client address (each server scores
//   hash(address, server) scaled by weight; the highest wins), so a client keeps its
//   server, and when one server leaves only that server's clients move.
//
// Runtime changes (the gateway's API, a reload): servers are added and removed, weights
// set, servers drained (no new connections; those open finish) by address; Update keeps
// the health and counts of servers that stay.
//
// Thread safety: internally synchronised (one mutex per pool; a Pick is a few hundred
// nanoseconds); a ServerLease keeps a removed server's counters valid until released.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"
#include "gateway/gateway_config.h"

namespace trellis::gateway {

enum class ServerHealth { kUp, kDown };

// What the gateway knows of one server now (for status and metrics).
struct ServerStatus {
  std::string address;
  uint32_t weight = 1;
  ServerHealth health = ServerHealth::kUp;
  bool draining = false;
  uint64_t active_connections = 0;
  uint64_t total_connections = 0;
  uint64_t failures = 0;     // Passive ejections and failed checks, since it was added.
  double check_seconds = 0;  // How long its last active check took (0: none yet).
};

class Pool;

// A server picked for one connection: counts it active until destroyed.
class ServerLease {
 public:
  ServerLease() = default;
  ServerLease(ServerLease&& other) noexcept;
  ServerLease& operator=(ServerLease&& other) noexcept;
  ServerLease(const ServerLease&) = delete;
  ServerLease& operator=(const ServerLease&) = delete;
  ~ServerLease();

  explicit operator bool() const { return server_ != nullptr; }
  const boost::asio::ip::tcp::endpoint& endpoint() const;
  const std::string& address() const;

 private:
  friend class Pool;
  struct Server;
  ServerLease(std::shared_ptr<Pool> pool, std::shared_ptr<Server> server);
  std::shared_ptr<Pool> pool_;
  std::shared_ptr<Server> server_;
};

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  // Errors: a server address that does not resolve (kInvalidArgument).
  static base::Result<std::shared_ptr<Pool>> Create(const PoolConfig& config);

  const std::string& name() const { return name_; }
  CheckConfig check() const;
  Balance balance() const;

  // A server for a new connection from `source`, none if no server can take one.
  // `exclude`: a server already tried for this request (a retry goes elsewhere; it is
  // picked again only if it is the only one).
  ServerLease Pick(const boost::asio::ip::address& source, std::string_view exclude = {});

  // The health checker's result for `address`, which took `took` (ignored if the server
  // is no longer in the pool).
  void ReportCheck(std::string_view address, bool ok, std::chrono::duration<double> took);
  // A proxy could not connect to the server of `lease`, or it timed out: down at once.
  void ReportFailure(const ServerLease& lease);

  // Applies a changed config of this pool (same name): servers added, removed, reweighted;
  // the balancing method and check replaced. Servers that stay keep health and counts.
  // Errors: as Create; the pool is unchanged then.
  base::Status Update(const PoolConfig& config);
  // Drains (or undrains) the server at `address`. Errors: kNotFound.
  base::Status SetDraining(std::string_view address, bool draining);
  // Errors: kNotFound.
  base::Status SetWeight(std::string_view address, uint32_t weight);

  // The pool was taken out of the config: its health checks and metrics stop (the
  // connections that use it finish).
  void Retire() { retired_.store(true); }
  bool retired() const { return retired_.load(); }

  std::vector<ServerStatus> Servers() const;
  // The servers' endpoints (the health checker's list), with their addresses.
  std::vector<std::pair<std::string, boost::asio::ip::tcp::endpoint>> Endpoints() const;

 private:
  friend class ServerLease;
  explicit Pool(std::string name);
  void Release(ServerLease::Server& server);

  const std::string name_;
  std::atomic<bool> retired_{false};
  mutable std::mutex mu_;
  // Guarded by mu_: the servers in config order, the method, the check, the
  // round-robin state.
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace trellis::gateway
