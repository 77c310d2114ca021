// Executor: runs parsed memcached commands (text and meta protocol) against a Store and
// writes memcached 1.6's replies, byte for byte. One per connection; the connection's
// handler parses with proto/memcache and calls Execute() for each request.
//
// Thread safety: an Executor belongs to one connection; the Store and CacheMetrics it
// uses are shared and internally synchronised.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/metrics.h"
#include "cache/store.h"
#include "proto/memcache/request.h"

namespace trellis::cache {

// The counters behind `stats` and /metrics, shared by every connection of a node.
struct CacheMetrics {
  explicit CacheMetrics(base::Registry& registry);

  base::Counter& Command(proto::memcache::Command command);

  // `stats reset`: later `stats` replies count from now. The Prometheus counters on
  // /metrics stay monotonic, as Prometheus requires.
  void Reset(const StoreStats& store_now);
  // `counter` as `stats` reports it: its increase since the last Reset().
  uint64_t SinceReset(const base::Counter& counter) const;
  StoreStats StoreSinceReset(StoreStats now) const;

  base::Registry& registry;
  base::Counter &get_hits, &get_misses, &get_expired, &delete_hits, &delete_misses, &incr_hits,
      &incr_misses, &decr_hits, &decr_misses, &cas_hits, &cas_misses, &cas_badval, &touch_hits,
      &touch_misses, &store_too_large, &store_no_memory;
  base::Counter* commands[proto::memcache::kCommandCount];
  base::Histogram& batch_seconds;

 private:
  mutable std::mutex reset_mu_;
  std::map<const base::Counter*, uint64_t> baseline_;  // Guarded by reset_mu_.
  StoreStats store_baseline_;                          // Guarded by reset_mu_.
};

struct ExecutorOptions {
  size_t max_item_size = 1 << 20;
  uint32_t process_started = 0;  // Unix seconds, for `stats`.
  int threads = 1;
  size_t max_connections = 1024;
  // For `stats`: the replication figures the master probes (replication_sequence,
  // replica_applied_sequence, ...), as name and value. Null: not reported.
  std::function<std::vector<std::pair<const char*, int64_t>>()> replication_stats;
};

class Executor {
 public:
  Executor(Store& store, CacheMetrics& metrics, const ExecutorOptions& options)
      : store_(store), metrics_(metrics), options_(options) {}

  // Appends the reply to `request` to `out`. Returns false when the client asked to
  // close the connection (quit).
  bool Execute(const proto::memcache::Request& request, uint32_t now, std::string* out);

  // The reply to a storage command whose value is over the item size limit. A failed set
  // (text or meta) also removes the key's old value, as memcached does.
  void RejectTooLarge(const proto::memcache::Request& request, uint32_t now, std::string* out);

 private:
  void Get(const proto::memcache::Request& request, uint32_t now, std::string* out);
  void Update(const proto::memcache::Request& request, uint32_t now, std::string* out);
  void Arithmetic(const proto::memcache::Request& request, uint32_t now, std::string* out);
  void Stats(const proto::memcache::Request& request, uint32_t now, std::string* out);
  void MetaGet(const proto::memcache::Request& request, uint32_t now, std::string* out);
  void MetaSet(const proto::memcache::Request& request, uint32_t now, std::string* out);
  void MetaDelete(const proto::memcache::Request& request, uint32_t now, std::string* out);
  void MetaArithmetic(const proto::memcache::Request& request, uint32_t now, std::string* out);
  void MetaDebug(const proto::memcache::Request& request, uint32_t now, std::string* out);

  Store& store_;
  CacheMetrics& metrics_;
  const ExecutorOptions& options_;
};

}  // namespace trellis::cache
