// AdminServer: the HTTP/1.1 endpoint every Trellis daemon embeds on its own --admin
// address, for operators and monitoring:
//   GET /healthz    "ok" while the daemon runs                          (open)
//   GET /metrics    the daemon's metrics registry, Prometheus text format 0.0.4
//   GET /v1/status  JSON: kind, version, pid, uptime and listen addresses
//                   (both read; open when the endpoint listens on a loopback address)
//   anything else   the daemon's own API, if it has one (AdminOptions::api): read for
//                   GET, operate for other methods
// The scopes are those of a bearer token (http/auth.h), asked of
// AdminOptions::authenticator; without one, every path is open.
// It is an http::Server (http/server.h): bad requests get 400, oversized headers 431,
// unknown paths 404, other methods 405, each with a JSON error, and the connection closes
// after any of them; the daemon keeps serving.
//
// It runs on its own single-threaded ShardPool so that a busy data path never delays a
// health probe, and a flood of admin requests never steals a data-path thread.
//
// Thread safety: Start/Stop from the composition root's thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json_fwd.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "http/auth.h"
#include "http/server.h"
#include "net/shard_pool.h"

namespace trellis::admin {

// A request to a daemon's own API (the master's /v1/...): method, path, query, body.
struct ApiRequest {
  std::string method;  // "GET", "POST", "DELETE", ...
  std::string path;
  std::string query;  // After '?', undecoded.
  std::string body;
};

struct ApiResponse {
  int status = 200;
  std::string body;  // JSON.
};

// Answers a request, or nullopt when the path is not the API's (the server answers 404).
using ApiHandler =
    std::function<boost::asio::awaitable<std::optional<ApiResponse>>(const ApiRequest&)>;

struct AdminOptions {
  boost::asio::ip::tcp::endpoint listen;
  std::string kind;                                     // The daemon: "cache", "up", ...
  std::map<std::string, std::string> listen_addresses;  // Name -> "HOST:PORT" of each service.
  // Adds the daemon's own fields to /v1/status (`trellis up`: its children).
  std::function<void(nlohmann::json& status)> add_status;
  // The daemon's own API, asked for any other path (the gateway's runtime API).
  ApiHandler api;
  // Checks the tokens of requests (http/auth.h); null: the endpoint takes none.
  std::shared_ptr<http::Authenticator> authenticator;
};

class AdminServer {
 public:
  static base::Result<std::unique_ptr<AdminServer>> Start(AdminOptions options,
                                                          base::Registry& metrics);
  ~AdminServer();

  const boost::asio::ip::tcp::endpoint& local_endpoint() const { return local_endpoint_; }
  // Finishes in-flight requests (up to `timeout`) and stops.
  void Stop(std::chrono::milliseconds timeout);

 private:
  AdminServer(AdminOptions options, base::Registry& metrics);

  const AdminOptions options_;
  base::Registry& metrics_;
  const std::chrono::steady_clock::time_point started_;
  boost::asio::ip::tcp::endpoint local_endpoint_;
  net::ShardPool pool_{1};
  std::unique_ptr<http::Server> server_;
};

}  // namespace trellis::admin
