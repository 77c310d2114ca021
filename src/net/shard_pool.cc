#include "net/shard_pool.h"

#include <future>

#include <boost/asio/post.hpp>

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

void ShardPool::RunOnEveryShard(const std::function<void(int shard)>& fn) {
  if (threads_.empty()) {
    for (int shard = 0; shard < size(); ++shard) {
      fn(shard);
    }
    return;
  }
  std::vector<std::future<void>> done;
  for (int shard = 0; shard < size(); ++shard) {
    auto task = std::make_shared<std::packaged_task<void()>>([&fn, shard] { fn(shard); });
    done.push_back(task->get_future());
    boost::asio::post(shards_[shard]->io, [task] { (*task)(); });
  }
  for (auto& future : done) {
    future.wait();
  }
}

void ShardPool::PostToEveryShard(std::function<void(int shard)> fn) {
  auto shared = std::make_shared<std::function<void(int)>>(std::move(fn));
  for (int shard = 0; shard < size(); ++shard) {
    boost::asio::post(shards_[shard]->io, [shared, shard] { (*shared)(shard); });
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
