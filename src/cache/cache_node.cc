#include "cache/cache_node.h"

#include <time.h>

#include <condition_variable>
#include <mutex>

#include <boost/asio/use_awaitable.hpp>

#include "proto/memcache/parser.h"

namespace trellis::cache {

namespace asio = boost::asio;
using proto::memcache::ParseRequest;
using proto::memcache::ParseStatus;
using proto::memcache::Request;

namespace {

// Unix seconds from the coarse clock: read once per batch of requests, never per request.
uint32_t CoarseNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<uint32_t>(ts.tv_sec);
}

bool IsMeta(proto::memcache::Command command) {
  return command >= proto::memcache::Command::kMetaGet;
}

// Replies are written when a batch of pipelined requests is done, or sooner past this.
constexpr size_t kFlushReplyBytes = 256 * 1024;

asio::awaitable<void> ServeMemcache(net::Connection& connection, Store& store,
                                    CacheMetrics& metrics, const ExecutorOptions& options) {
  Executor executor(store, metrics, options);
  Request request;
  std::string out;
  size_t swallow = 0;  // Bytes of a refused value still to skip.
  bool open = true;
  // Not `while (open && co_await ...)`: g++ 12 evaluates a co_await on the right of && even
  // when the left side is false.
  while (open) {
    if (!co_await connection.ReadMore()) {
      break;
    }
    const uint32_t now = CoarseNow();
    const auto batch_start = std::chrono::steady_clock::now();
    for (;;) {
      if (swallow > 0) {
        const size_t skip = std::min(swallow, connection.input().size());
        connection.Consume(skip);
        swallow -= skip;
        if (swallow > 0) {
          break;
        }
      }
      const auto result = ParseRequest(connection.input(), options.max_item_size, &request);
      if (result.status == ParseStatus::kNeedMore) {
        break;
      }
      if (result.status == ParseStatus::kClose) {
        open = false;
        break;
      }
      if (result.status == ParseStatus::kError) {
        // Text commands keep noreply quiet even for errors; meta commands always report.
        if (!request.noreply || IsMeta(request.command)) {
          out.append(result.error);
          out.append("\r\n");
        }
      } else if (result.status == ParseStatus::kTooLarge) {
        executor.RejectTooLarge(request, now, &out);
      } else if (!executor.Execute(request, now, &out)) {
        open = false;
      }
      // The request's views point into the input: consume only after executing it.
      connection.Consume(result.consumed);
      swallow = result.swallow;
      if (!open) {
        break;
      }
      if (out.size() > kFlushReplyBytes) {
        if (!co_await connection.Write(out)) {
          co_return;
        }
        out.clear();
      }
    }
    if (!out.empty()) {
      if (!co_await connection.Write(out)) {
        co_return;
      }
      out.clear();
      metrics.batch_seconds.Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - batch_start).count());
    }
  }
}

}  // namespace

CacheNode::CacheNode(const CacheNodeOptions& options, base::Registry& metrics)
    : executor_options_{options.max_item_size, CoarseNow(), options.threads,
                        options.max_connections},
      store_(StoreOptions{options.memory_bytes, options.evict}),
      metrics_(metrics),
      pool_(options.threads) {}

base::Result<std::unique_ptr<CacheNode>> CacheNode::Start(const CacheNodeOptions& options,
                                                          base::Registry& metrics) {
  std::unique_ptr<CacheNode> node(new CacheNode(options, metrics));
  Store* store = &node->store_;
  metrics.AddGaugeCallback("trellis_cache_items", "Items stored now.",
                           [store] { return static_cast<int64_t>(store->Stats().items); });
  metrics.AddGaugeCallback("trellis_cache_bytes", "Item memory charged against the limit.",
                           [store] { return static_cast<int64_t>(store->Stats().bytes); });
  metrics.AddGaugeCallback("trellis_cache_limit_bytes", "The item memory limit (--memory).",
                           [store] { return static_cast<int64_t>(store->memory_limit()); });
  metrics.AddCounterCallback("trellis_cache_evictions_total", "Items evicted to make room.",
                             [store] { return store->Stats().evictions; });
  metrics.AddCounterCallback("trellis_cache_expired_total", "Items removed after expiring.",
                             [store] { return store->Stats().expired; });
  metrics.AddCounterCallback("trellis_cache_stored_total", "Items ever stored.",
                             [store] { return store->Stats().total_items; });
  net::ServerOptions server_options;
  server_options.name = "cache";
  server_options.listen = options.listen;
  server_options.max_connections = options.max_connections;
  server_options.idle_timeout = options.idle_timeout;
  server_options.overload_reply = "ERROR Too many open connections\r\n";
  CacheNode* self = node.get();
  auto server = net::Server::Start(
      node->pool_, server_options,
      [self](net::Connection& connection) {
        return ServeMemcache(connection, self->store_, self->metrics_, self->executor_options_);
      },
      metrics);
  if (!server) {
    return server.error();
  }
  node->server_ = std::move(server).value();
  node->endpoint_ = node->server_->local_endpoint();
  node->pool_.Start();
  node->sweeper_ = std::jthread([self](std::stop_token stop) {
    // Expired items give their memory back within about a second even if never read.
    while (!stop.stop_requested()) {
      self->store_.SweepExpired(CoarseNow(), 1 << 16);
      std::mutex mu;
      std::condition_variable_any cv;
      std::unique_lock lock(mu);
      cv.wait_for(lock, stop, std::chrono::milliseconds(100), [] { return false; });
    }
  });
  return node;
}

CacheNode::~CacheNode() { Stop(std::chrono::milliseconds(0)); }

void CacheNode::Stop(std::chrono::milliseconds timeout) {
  if (server_) {
    server_->Drain(timeout);
    server_.reset();
  }
  pool_.Stop();
  sweeper_ = {};
}

}  // namespace trellis::cache
