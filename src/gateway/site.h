// Site: what one listener serves with, shared by its connections: its routes and the
// pools they lead to (Routing, replaced whole by the runtime API and reloads), its
// limits, and what it counts.
//
// A connection asks the site for a request's pool (PoolFor) each time it needs one, so
// a route added, changed or removed applies to the next request at once; a pool it got
// stays alive for as long as it uses it, even after a change took it out.
//
// Thread safety: PoolFor, Replace and `tls` from any thread (atomic shared_ptrs); the
// other fields are set before the listener starts and read-only after.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/metrics.h"
#include "gateway/gateway_config.h"
#include "gateway/pool.h"
#include "gateway/route_table.h"
#include "net/tls_context.h"

namespace trellis::gateway {

// What an http listener counts: responses by status class (its own answers included)
// and the time from a request's head to the end of its response.
struct HttpMetrics {
  std::array<base::Counter*, 5> responses{};  // 1xx .. 5xx.
  base::Histogram* seconds = nullptr;

  void Count(unsigned status, std::chrono::steady_clock::time_point head_done) const;
};

// A listener's routes with, for each, the pool it leads to and its request counter.
class Routing {
 public:
  struct Target {
    std::shared_ptr<Pool> pool;
    base::Counter* requests = nullptr;  // Requests (or connections) the route took.
  };
  // REQUIRES: targets[i] is for routes[i].
  Routing(const std::vector<RouteConfig>& routes, std::vector<Target> targets)
      : table_(routes), targets_(std::move(targets)) {}

  // nullptr: no route.
  const Target* Find(std::string_view host, std::string_view target) const {
    const std::optional<size_t> route = table_.Match(host, target);
    return route ? &targets_[*route] : nullptr;
  }

 private:
  RouteTable table_;
  std::vector<Target> targets_;
};

struct Site {
  std::string scheme = "http";  // X-Forwarded-Proto: "https" behind TLS termination.
  LimitsConfig limits;
  std::chrono::milliseconds connect_timeout{2000};
  HttpMetrics metrics;  // http listeners and tls terminate.
  // tls terminate: the certificates, read again by each reload (a connection keeps the
  // context it started with).
  std::atomic<std::shared_ptr<net::TlsServerContext>> tls;

  // The pool for a request of `host` and `target` (RouteTable's rules), counted on its
  // route; nullptr: no route.
  std::shared_ptr<Pool> PoolFor(std::string_view host, std::string_view target) const {
    const std::shared_ptr<const Routing> now = routing.load(std::memory_order_acquire);
    const Routing::Target* found = now->Find(host, target);
    if (found == nullptr) {
      return nullptr;
    }
    found->requests->Increment();
    return found->pool;
  }
  void Replace(std::shared_ptr<const Routing> next) {
    routing.store(std::move(next), std::memory_order_release);
  }

  std::atomic<std::shared_ptr<const Routing>> routing;  // Never null once serving.
};

}  // namespace trellis::gateway
