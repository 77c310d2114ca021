// GatewayConfig: what `trellis gateway --config FILE.toml` serves (docs/gateway.md): its
// listeners (each a bind address and a kind: tcp bytes to one pool, http routed by Host
// and longest path prefix, tls routed by SNI or terminated and then routed as http) and
// its pools (servers with weights, a balancing method, an active health check).
//
// The file is TOML (toml++). ParseGatewayConfig reads and validates it whole: a bad file
// is refused with one message naming the first problem and where it is ("listener
// \"web\": route 2: pool \"b\" is not defined"), so a reload never applies half a file.
// ToToml writes a config back (the runtime API keeps the file in step with what runs);
// ParseGatewayConfig(ToToml(c)) == c.
//
// Every key a listener can have (each kind takes only its own: see ParseGatewayConfig):
//
//   [[listener]]
//   name = "web"                # unique; [A-Za-z0-9._-]
//   bind = "127.0.0.1:8443"     # HOST:PORT (port 0: any free port)
//   kind = "tls"                # tcp | http | tls
//   tls = "terminate"           # tls only: "passthrough" (route by SNI, bytes as they are)
//                               # or "terminate" (OpenSSL, then route as http)
//   pool = "a"                  # tcp (and tls passthrough without routes): the one pool
//   [[listener.route]]          # http, and tls: host "*" matches any; the longest path
//   host = "a.example"          # prefix of the matching host wins (exact host before "*")
//   path = "/"
//   pool = "a"
//   [[listener.certificate]]    # tls terminate: per domain, chosen by SNI; the first is
//   domain = "a.example"        # the default for a client that sends none
//   cert = "a.crt"              # PEM files, relative to the config file's directory
//   key = "a.key"
//   [listener.limits]           # all optional, defaults below
//   max_connections = 10000     # the listener's cap; one more is refused at once
//   per_source_connections = 0  # concurrent connections per client address (0: none)
//   per_source_rate = 0         # new connections per second per client address (0: none)
//   per_source_burst = 0        # the token bucket's depth (0: the rate)
//   first_byte_timeout = "5s"   # the client's first byte must come within this
//   head_timeout = "10s"        # http: the whole request head within this
//   max_header_bytes = 65536    # http: the request head at most
//   max_headers = 100           # http: header fields at most
//   server_timeout = "30s"      # http: the server's response head within this (504)
//   idle_timeout = "60s"        # a keep-alive client connection idle this long is closed
//
//   [[pool]]
//   name = "a"
//   servers = ["127.0.0.1:9001", "127.0.0.1:9002 weight=2"]
//   balance = "round-robin"     # round-robin | least-connections | hash-source
//   [pool.check]                # or inline, on one line: check = { kind = "http", ... }
//   kind = "http"               # tcp | http | none
//   path = "/healthz"
//   interval = "1s"
//   rise = 2
//   fall = 2
//   timeout = "500ms"
//   expect = 200
//
// Durations are "<n>ms", "<n>s" or "<n>m". Unknown keys are refused (a typo must not
// silently mean the default).
//
// Thread safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace trellis::gateway {

enum class ListenerKind { kTcp, kHttp, kTls };
enum class TlsMode { kPassthrough, kTerminate };
enum class Balance { kRoundRobin, kLeastConnections, kHashSource };
enum class CheckKind { kNone, kTcp, kHttp };

struct RouteConfig {
  std::string host = "*";
  std::string path = "/";
  std::string pool;

  bool operator==(const RouteConfig&) const = default;
};

struct CertificateConfig {
  std::string domain;
  std::string cert;  // Paths as written in the file.
  std::string key;

  bool operator==(const CertificateConfig&) const = default;
};

struct LimitsConfig {
  uint32_t max_connections = 10000;
  uint32_t per_source_connections = 0;
  uint32_t per_source_rate = 0;
  uint32_t per_source_burst = 0;
  std::chrono::milliseconds first_byte_timeout{5000};
  std::chrono::milliseconds head_timeout{10000};
  uint32_t max_header_bytes = 65536;
  uint32_t max_headers = 100;
  std::chrono::milliseconds server_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};

  bool operator==(const LimitsConfig&) const = default;
};

struct ListenerConfig {
  std::string name;
  std::string bind;  // HOST:PORT.
  ListenerKind kind = ListenerKind::kHttp;
  TlsMode tls = TlsMode::kPassthrough;          // kTls only.
  std::string pool;                             // kTcp; kTls passthrough without routes.
  std::vector<RouteConfig> routes;              // kHttp, kTls.
  std::vector<CertificateConfig> certificates;  // kTls terminate.
  LimitsConfig limits;

  bool operator==(const ListenerConfig&) const = default;
};

struct ServerConfig {
  std::string address;  // HOST:PORT.
  uint32_t weight = 1;  // 0: takes no new connections (as drained).

  bool operator==(const ServerConfig&) const = default;
};

struct CheckConfig {
  CheckKind kind = CheckKind::kTcp;
  std::string path = "/";  // kHttp.
  std::chrono::milliseconds interval{1000};
  uint32_t rise = 2;  // Successes in a row that bring a down server up.
  uint32_t fall = 2;  // Failures in a row that take an up server down.
  std::chrono::milliseconds timeout{500};
  uint32_t expect = 0;  // kHttp: the status wanted (0: any 2xx or 3xx).

  bool operator==(const CheckConfig&) const = default;
};

struct PoolConfig {
  std::string name;
  std::vector<ServerConfig> servers;
  Balance balance = Balance::kRoundRobin;
  CheckConfig check;

  bool operator==(const PoolConfig&) const = default;
};

struct GatewayConfig {
  std::vector<ListenerConfig> listeners;
  std::vector<PoolConfig> pools;

  const PoolConfig* FindPool(std::string_view name) const;
  bool operator==(const GatewayConfig&) const = default;
};

// Parses and validates a whole file's text: unique listener and pool names, binds and
// server addresses that parse as HOST:PORT, every pool a route or listener names
// defined, the fields each kind needs (a tcp listener's pool, an http listener's routes,
// a terminating tls listener's certificates) and no field a kind cannot use, positive
// intervals and timeouts, rise and fall >= 1. Errors: kInvalidArgument naming where.
base::Result<GatewayConfig> ParseGatewayConfig(std::string_view toml);

// The pool `name` from a JSON object with the keys of a [[pool]] table in the file (the
// runtime API's body): {"servers": ["127.0.0.1:9001 weight=2"], "balance": "...",
// "check": {"kind": "http", "interval": "1s", ...}}. Errors as the file's, and
// kInvalidArgument for what is not such an object.
base::Result<PoolConfig> ParsePoolJson(std::string_view name, std::string_view json);

// Writes `config` as a file that ParseGatewayConfig reads back equal (defaults included,
// so that what runs is written down whole).
std::string ToToml(const GatewayConfig& config);

// The names as the file writes them ("http", "least-connections", ...).
std::string_view Name(ListenerKind kind);
std::string_view Name(TlsMode mode);
std::string_view Name(Balance balance);
std::string_view Name(CheckKind kind);

}  // namespace trellis::gateway
