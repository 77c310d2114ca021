// CacheNode: a running cache node: the Store, its memcached-protocol server on a
// ShardPool, and the expiry sweeper. `trellis cache` runs one; `trellis up` embeds one.
//
// Thread safety: Start/Stop from the composition root's thread.
#pragma once

#include <chrono>
#include <memory>
#include <thread>

#include <boost/asio/ip/tcp.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "cache/executor.h"
#include "cache/store.h"
#include "net/server.h"
#include "net/shard_pool.h"

namespace trellis::cache {

struct CacheNodeOptions {
  boost::asio::ip::tcp::endpoint listen;
  int threads = 4;
  size_t memory_bytes = 64 << 20;
  size_t max_item_size = 1 << 20;
  bool evict = true;
  size_t max_connections = 1024;
  std::chrono::milliseconds idle_timeout{0};
};

class CacheNode {
 public:
  static base::Result<std::unique_ptr<CacheNode>> Start(const CacheNodeOptions& options,
                                                        base::Registry& metrics);
  ~CacheNode();

  const boost::asio::ip::tcp::endpoint& local_endpoint() const { return endpoint_; }
  Store& store() { return store_; }

  // Stops accepting, finishes in-flight requests (up to `timeout`), stops the threads.
  void Stop(std::chrono::milliseconds timeout);

 private:
  CacheNode(const CacheNodeOptions& options, base::Registry& metrics);

  ExecutorOptions executor_options_;
  Store store_;
  CacheMetrics metrics_;
  net::ShardPool pool_;
  std::unique_ptr<net::Server> server_;
  boost::asio::ip::tcp::endpoint endpoint_;
  std::jthread sweeper_;
};

}  // namespace trellis::cache
