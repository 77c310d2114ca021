// ShardPool: N threads, each running its own io_context ("shard"). The server runtime
// places every connection on one shard for its whole life, so per-connection and
// per-shard state is touched by one thread only and needs no lock (thread per core, as
// in Seastar and Dragonfly).
//
// Thread safety: Start/Stop from the owning thread; executor() from any thread.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace trellis::net {

class ShardPool {
 public:
  // REQUIRES: shards >= 1.
  explicit ShardPool(int shards);
  ~ShardPool();
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;

  // Starts one thread per shard. Work may be posted before Start(); it runs after.
  void Start();
  // Stops every io_context and joins the threads. Idempotent.
  void Stop();

  // Runs `fn(shard)` on every shard's thread and returns when all have run it; runs them
  // here, one after the other, when the pool is not running (before Start, after Stop).
  // REQUIRES: not called from one of the pool's threads, nor while another thread calls
  // Start or Stop. Work that must not wait (a thread that may race with Stop) posts
  // with PostToEveryShard instead.
  void RunOnEveryShard(const std::function<void(int shard)>& fn);
  // Posts `fn(shard)` to every shard and returns at once. Work posted to a stopped pool
  // never runs.
  void PostToEveryShard(std::function<void(int shard)> fn);

  int size() const { return static_cast<int>(shards_.size()); }
  boost::asio::io_context& context(int shard) { return shards_[shard]->io; }

 private:
  struct Shard {
    boost::asio::io_context io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
        io.get_executor()};
  };
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::thread> threads_;
};

}  // namespace trellis::net
