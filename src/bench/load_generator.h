// The memcached load generator behind `trellis bench`: threads of connections that keep a
// pipeline of get/set requests in flight against one server and measure every reply.
// Closed loop by default (as fast as the server answers); with a target rate, each
// request has an intended send time and its latency counts from then, so a stalled
// server is not hidden by requests that were never sent (coordinated omission).
//
// Thread safety: RunBench() runs its own threads and returns when they are done.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"
#include "bench/key_chooser.h"
#include "bench/latency_histogram.h"
#include "net/tls_context.h"

namespace trellis::bench {

struct BenchOptions {
  boost::asio::ip::tcp::endpoint server;
  int threads = 1;
  int connections = 10;  // Per thread.
  int pipeline = 1;      // Requests in flight per connection.
  int set_ratio = 1;
  int get_ratio = 9;
  uint64_t keys = 100000;
  KeyPattern key_pattern;
  std::string key_prefix = "key:";
  size_t value_min = 64;
  size_t value_max = 64;
  double duration_seconds = 10;
  uint64_t requests = 0;  // When non-zero, stop after this many instead of the duration.
  double warmup_seconds = 0;
  bool meta_protocol = false;
  bool fill = false;  // Set every key once (sequentially), then stop.
  int multiget = 1;   // Keys per get request.
  double rate = 0;    // Requests per second in total; 0: as fast as possible.
  // TLS: the CA file the server's certificate must come from (empty: plaintext), and the
  // certificate to show a server that asks for one (mutual TLS). Every connection makes a
  // full handshake before its first request.
  net::TlsClientFiles tls;
  // "NAME PASSWORD": each connection logs in as that tenant first, with memcached's ASCII
  // authentication (an access node with --auth); empty: no login.
  std::string login;
};

struct CommandReport {
  uint64_t requests = 0;
  LatencyHistogram latency;
};

struct BenchReport {
  double seconds = 0;  // Measured time, warm-up excluded.
  CommandReport gets;
  CommandReport sets;
  uint64_t key_hits = 0;                   // Keys that get requests found...
  uint64_t key_misses = 0;                 // ...and did not.
  std::map<std::string, uint64_t> errors;  // By kind: SERVER_ERROR, connection, ...
  LatencyHistogram all;

  double ops_per_second() const {
    return seconds > 0 ? static_cast<double>(gets.requests + sets.requests) / seconds : 0;
  }
  double hit_ratio() const {
    const uint64_t total = key_hits + key_misses;
    return total == 0 ? 0 : static_cast<double>(key_hits) / static_cast<double>(total);
  }
};

// Called about once a second while the run lasts, with requests completed so far.
using ProgressCallback = std::function<void(double elapsed_seconds, uint64_t requests)>;

// Runs the workload. Fails when no connection to the server can be made, or the TLS CA
// file cannot be read.
base::Result<BenchReport> RunBench(const BenchOptions& options, const ProgressCallback& progress);

}  // namespace trellis::bench
