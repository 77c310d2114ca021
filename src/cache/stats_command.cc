// `stats` and CacheMetrics: the counters behind the stats command and /metrics.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "base/cluster_slot.h"
#include "cache/executor.h"
#include "proto/memcache/version.h"

namespace trellis::cache {

using proto::memcache::Command;
using proto::memcache::Request;

CacheMetrics::CacheMetrics(base::Registry& r)
    : registry(r),
#define TRELLIS_CACHE_COUNTER(name, help) r.GetCounter("trellis_cache_" name "_total", help)
      get_hits(TRELLIS_CACHE_COUNTER("get_hits", "Keys found by get-family commands.")),
      get_misses(TRELLIS_CACHE_COUNTER("get_misses", "Keys not found by get-family commands.")),
      get_expired(TRELLIS_CACHE_COUNTER("get_expired", "Gets that found only an expired item.")),
      delete_hits(TRELLIS_CACHE_COUNTER("delete_hits", "Deletes of present keys.")),
      delete_misses(TRELLIS_CACHE_COUNTER("delete_misses", "Deletes of absent keys.")),
      incr_hits(TRELLIS_CACHE_COUNTER("incr_hits", "Increments of present keys.")),
      incr_misses(TRELLIS_CACHE_COUNTER("incr_misses", "Increments of absent keys.")),
      decr_hits(TRELLIS_CACHE_COUNTER("decr_hits", "Decrements of present keys.")),
      decr_misses(TRELLIS_CACHE_COUNTER("decr_misses", "Decrements of absent keys.")),
      cas_hits(TRELLIS_CACHE_COUNTER("cas_hits", "CAS stores that matched.")),
      cas_misses(TRELLIS_CACHE_COUNTER("cas_misses", "CAS stores of absent keys.")),
      cas_badval(TRELLIS_CACHE_COUNTER("cas_badval", "CAS stores refused: the value changed.")),
      touch_hits(TRELLIS_CACHE_COUNTER("touch_hits", "Touches of present keys.")),
      touch_misses(TRELLIS_CACHE_COUNTER("touch_misses", "Touches of absent keys.")),
      store_too_large(TRELLIS_CACHE_COUNTER("store_too_large", "Stores refused: value too large.")),
      store_no_memory(TRELLIS_CACHE_COUNTER("store_no_memory", "Stores refused: out of memory.")),
#undef TRELLIS_CACHE_COUNTER
      batch_seconds(r.GetHistogram(
          "trellis_cache_batch_seconds",
          "Time from a batch of pipelined requests arriving to its replies being written.",
          base::LatencyBuckets())) {
  for (size_t i = 0; i < proto::memcache::kCommandCount; ++i) {
    const std::string name(proto::memcache::CommandName(static_cast<proto::memcache::Command>(i)));
    commands[i] = &r.GetCounter("trellis_cache_commands_total", "Commands executed, by command.",
                                {{"command", name}});
  }
}

base::Counter& CacheMetrics::Command(proto::memcache::Command command) {
  return *commands[static_cast<int>(command)];
}

void CacheMetrics::Reset(const StoreStats& store_now) {
  std::lock_guard lock(reset_mu_);
  for (base::Counter* counter :
       {&get_hits, &get_misses, &get_expired, &delete_hits, &delete_misses, &incr_hits,
        &incr_misses, &decr_hits, &decr_misses, &cas_hits, &cas_misses, &cas_badval, &touch_hits,
        &touch_misses, &store_too_large, &store_no_memory}) {
    baseline_[counter] = counter->Value();
  }
  for (base::Counter* counter : commands) {
    baseline_[counter] = counter->Value();
  }
  store_baseline_ = store_now;
}

uint64_t CacheMetrics::SinceReset(const base::Counter& counter) const {
  std::lock_guard lock(reset_mu_);
  auto it = baseline_.find(&counter);
  return counter.Value() - (it == baseline_.end() ? 0 : it->second);
}

StoreStats CacheMetrics::StoreSinceReset(StoreStats now) const {
  std::lock_guard lock(reset_mu_);
  now.total_items -= store_baseline_.total_items;
  now.evictions -= store_baseline_.evictions;
  now.expired -= store_baseline_.expired;
  now.evicted_unfetched -= store_baseline_.evicted_unfetched;
  now.expired_unfetched -= store_baseline_.expired_unfetched;
  return now;
}

void Executor::Stats(const Request& request, uint32_t now, std::string* out) {
  auto stat = [out](std::string_view name, auto value) {
    out->append("STAT ");
    out->append(name);
    out->push_back(' ');
    if constexpr (std::is_convertible_v<decltype(value), std::string_view>) {
      out->append(value);
    } else {
      out->append(std::to_string(value));
    }
    out->append("\r\n");
  };
  const StoreStats store = metrics_.StoreSinceReset(store_.Stats());
  const std::string_view group = request.stats_group;
  if (group.empty()) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& tv) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(tv.tv_sec),
                    static_cast<long>(tv.tv_usec));
      return std::string(buf);
    };
    const uint64_t get_hits = metrics_.SinceReset(metrics_.get_hits);
    const uint64_t get_misses = metrics_.SinceReset(metrics_.get_misses);
    stat("pid", getpid());
    stat("uptime", now - options_.process_started);
    stat("time", now);
    stat("version", proto::memcache::kServerVersion);
    stat("pointer_size", sizeof(void*) * 8);
    stat("rusage_user", seconds(usage.ru_utime));
    stat("rusage_system", seconds(usage.ru_stime));
    stat("max_connections", options_.max_connections);
    stat("curr_connections",
         metrics_.registry.GetGauge("trellis_connections", "", {{"server", "cache"}}).Value());
    stat("total_connections",
         metrics_.registry
             .GetCounter("trellis_connections_accepted_total", "", {{"server", "cache"}})
             .Value());
    stat("rejected_connections",
         metrics_.registry
             .GetCounter("trellis_connections_rejected_total", "", {{"server", "cache"}})
             .Value());
    stat("cmd_get", get_hits + get_misses);
    stat("cmd_set", metrics_.SinceReset(metrics_.Command(Command::kSet)) +
                        metrics_.SinceReset(metrics_.Command(Command::kAdd)) +
                        metrics_.SinceReset(metrics_.Command(Command::kReplace)) +
                        metrics_.SinceReset(metrics_.Command(Command::kAppend)) +
                        metrics_.SinceReset(metrics_.Command(Command::kPrepend)) +
                        metrics_.SinceReset(metrics_.Command(Command::kCas)) +
                        metrics_.SinceReset(metrics_.Command(Command::kMetaSet)));
    stat("cmd_flush", metrics_.SinceReset(metrics_.Command(Command::kFlushAll)));
    stat("cmd_touch",
         metrics_.SinceReset(metrics_.touch_hits) + metrics_.SinceReset(metrics_.touch_misses));
    stat("get_hits", get_hits);
    stat("get_misses", get_misses);
    stat("get_expired", metrics_.SinceReset(metrics_.get_expired));
    stat("delete_misses", metrics_.SinceReset(metrics_.delete_misses));
    stat("delete_hits", metrics_.SinceReset(metrics_.delete_hits));
    stat("incr_misses", metrics_.SinceReset(metrics_.incr_misses));
    stat("incr_hits", metrics_.SinceReset(metrics_.incr_hits));
    stat("decr_misses", metrics_.SinceReset(metrics_.decr_misses));
    stat("decr_hits", metrics_.SinceReset(metrics_.decr_hits));
    stat("cas_misses", metrics_.SinceReset(metrics_.cas_misses));
    stat("cas_hits", metrics_.SinceReset(metrics_.cas_hits));
    stat("cas_badval", metrics_.SinceReset(metrics_.cas_badval));
    stat("touch_hits", metrics_.SinceReset(metrics_.touch_hits));
    stat("touch_misses", metrics_.SinceReset(metrics_.touch_misses));
    stat("store_too_large", metrics_.SinceReset(metrics_.store_too_large));
    stat("store_no_memory", metrics_.SinceReset(metrics_.store_no_memory));
    stat("threads", options_.threads);
    stat("bytes", store.bytes);
    stat("curr_items", store.items);
    stat("total_items", store.total_items);
    stat("expired_unfetched", store.expired_unfetched);
    stat("evicted_unfetched", store.evicted_unfetched);
    stat("evictions", store.evictions);
    stat("reclaimed", store.expired);
    stat("limit_maxbytes", store_.memory_limit());
    if (options_.replication_stats) {
      for (const auto& [name, value] : options_.replication_stats()) {
        stat(name, value);
      }
    }
  } else if (group == "settings") {
    stat("maxbytes", store_.memory_limit());
    stat("maxconns", options_.max_connections);
    stat("evictions", "on");
    stat("num_threads", options_.threads);
    stat("cas_enabled", "yes");
    stat("item_size_max", options_.max_item_size);
    stat("eviction_policy", "s3fifo");
  } else if (group == "items") {
    for (const SizeClassStats& cls : store_.ClassStats()) {
      const std::string prefix = "items:" + std::to_string(cls.id) + ":";
      stat(prefix + "number", cls.items);
      stat(prefix + "age", cls.oldest_time == 0 ? 0 : now - std::min(cls.oldest_time, now));
      stat(prefix + "evicted", cls.evictions);
    }
  } else if (group == "slabs") {
    // Our size classes, in memcached's terms: a class is a slab class, a slot a chunk;
    // the large-item class has one chunk per item, each its own mapping.
    uint64_t total_bytes = 0;
    size_t active = 0;
    for (const SizeClassStats& cls : store_.ClassStats()) {
      const std::string prefix = std::to_string(cls.id) + ":";
      const uint64_t per_page = cls.slot_size == 0 ? 1 : ItemArena::kPageSize / cls.slot_size;
      stat(prefix + "chunk_size", cls.slot_size);
      stat(prefix + "chunks_per_page", per_page);
      stat(prefix + "total_pages", cls.pages);
      stat(prefix + "total_chunks", cls.slot_size == 0 ? cls.items : cls.pages * per_page);
      stat(prefix + "used_chunks", cls.items);
      stat(prefix + "free_chunks", cls.free_slots);
      total_bytes += cls.bytes;
      active += 1;
    }
    stat("active_slabs", active);
    stat("total_malloced", total_bytes);
  } else if (group == "slots") {
    // The cluster slots that hold items (base/cluster_slot.h), for rebalancing.
    for (uint32_t slot = 0; slot < base::kClusterSlots; ++slot) {
      const SlotUsage usage = store_.UsageOfSlot(slot);
      if (usage.items > 0) {
        const std::string prefix = "slot:" + std::to_string(slot) + ":";
        stat(prefix + "items", usage.items);
        stat(prefix + "bytes", usage.bytes);
      }
    }
  } else if (group == "moving") {
    // The slots this node's group is moving away, as its map says, empty ones included:
    // what the master watches to end each move (docs/scale-out.md).
    for (uint32_t slot = 0; slot < base::kClusterSlots; ++slot) {
      if (store_.moving(slot) == Store::Moving::kOut) {
        const SlotUsage usage = store_.UsageOfSlot(slot);
        const std::string prefix = "slot:" + std::to_string(slot) + ":";
        stat(prefix + "items", usage.items);
        stat(prefix + "bytes", usage.bytes);
      }
    }
  } else if (group == "reset") {
    metrics_.Reset(store_.Stats());
    out->append("RESET\r\n");
    return;
  } else {
    out->append("ERROR\r\n");
    return;
  }
  out->append("END\r\n");
}

}  // namespace trellis::cache
