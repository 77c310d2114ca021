#include "net/shard_pool.h"

#include "base/check.h"

namespace trellis::net {

ShardPool::ShardPool(int shards) {
  TRELLIS_CHECK(shards >= 1);
  for (int i = 0; i < shards; ++i) {
    shards_.push_back(std::make_unique<Shard>());
  }
}

ShardPool::~ShardPool() { Stop(); }

void ShardPool::Start() {
  for (auto& shard : shards_) {
    threads_.emplace_back([io = &shard->io] { io->run(); });
  }
}

void ShardPool::Stop() {
  for (auto& shard : shards_) {
    shard->work.reset();
    shard->io.stop();
  }
  for (std::thread& thread : threads_) {
    thread.join();
  }
  threads_.clear();
}

}  // namespace trellis::net
