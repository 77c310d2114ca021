#include "master/etcd_map_store.h"

#include <spdlog/spdlog.h>

#include <future>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include "master/client/cluster_state.h"

namespace trellis::master {

namespace asio = boost::asio;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// How long the store waits before it tries etcd again after a failure (the watch, a grant).
constexpr std::chrono::milliseconds kRetryPause{500};

base::Result<ClusterMap> MapOf(const StoredMap& stored) {
  std::vector<GroupInfo> groups;
  std::vector<NodeInfo> nodes;
  for (const GroupState& group : stored.map.groups) {
    groups.push_back({group.name, group.epoch, group.mode == WriteMode::kSync, false});
    for (const NodeState& state : group.nodes) {
      NodeInfo& node = nodes.emplace_back();
      node.address = state.address;
      node.group = group.name;
      node.role = state.role;
    }
  }
  return ClusterMap::Restore(stored.map.version, std::move(groups), std::move(nodes),
                             stored.map.slot_ranges, stored.map.tenants, stored.next_tenant_id);
}

std::string StoredValue(const ClusterMap& map) {
  return ToJson(StoredMap{map.ToState(std::chrono::milliseconds(0)), map.next_tenant_id()}).dump();
}

std::string StoredValue(const security::TokenRecord& token) {
  return ToJson(StoredToken{{token.id, token.name, token.scope, token.created_unix},
                            token.secret_sha256})
      .dump();
}

// `text` as JSON read by `parse`; `what` names it in errors.
template <typename Parse>
auto ParseValue(const std::string& text, std::string_view what, Parse parse)
    -> decltype(parse(json())) {
  const json value = json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    return base::Error{std::string(what) + " in etcd is not JSON"};
  }
  auto parsed = parse(value);
  if (!parsed) {
    return base::WithContext(std::string(what) + " in etcd", parsed.error());
  }
  return parsed;
}

}  // namespace

base::Result<std::unique_ptr<EtcdMapStore>> EtcdMapStore::Open(const EtcdStoreOptions& options) {
  if (options.prefix.empty() || options.prefix.front() != '/' || options.prefix.back() == '/') {
    return base::InvalidArgument("--etcd-prefix '" + options.prefix +
                                 "': expected a path such as /trellis/CLUSTER");
  }
  std::unique_ptr<EtcdMapStore> store(new EtcdMapStore(options));
  auto etcd = etcd::Client::ForUrls(store->io_.get_executor(), options.endpoints, options.tls);
  if (!etcd) {
    return base::WithContext("--etcd", etcd.error());
  }
  store->etcd_.emplace(std::move(etcd).value());
  store->thread_ = std::thread([store = store.get()] { store->io_.run(); });
  return store;
}

EtcdMapStore::EtcdMapStore(const EtcdStoreOptions& options)
    : options_(options), work_(io_.get_executor()) {}

EtcdMapStore::~EtcdMapStore() {
  if (thread_.joinable()) {
    // Resigns: the lease and the leader key on it go at once, so another master need not
    // wait out a TTL.
    auto resigned = asio::co_spawn(
        io_,
        [this]() -> asio::awaitable<void> {
          stopping_ = true;
          if (const int64_t lease = std::exchange(lease_, 0); lease != 0) {
            (void)co_await etcd_->RevokeLease(lease, options_.call_timeout);
          }
        },
        asio::use_future);
    resigned.wait_for(options_.call_timeout + std::chrono::milliseconds(500));
    io_.stop();
    thread_.join();
  }
}

template <typename T>
T EtcdMapStore::Run(std::function<asio::awaitable<T>(etcd::Client&)> call) {
  std::promise<T> result;
  std::future<T> answer = result.get_future();
  // Spawned as awaitable<void>: T (a Result) has no default value for co_spawn to hold.
  asio::co_spawn(
      io_,
      [this, &call, &result]() -> asio::awaitable<void> {
        result.set_value(co_await call(*etcd_));
      },
      [&result](std::exception_ptr failure) {
        if (failure) {
          result.set_exception(failure);
        }
      });
  return answer.get();
}

base::Result<std::vector<etcd::KeyValue>> EtcdMapStore::Read(const std::string& key, bool prefix) {
  auto reply = Run<base::Result<etcd::RangeReply>>([&](etcd::Client& etcd) {
    return prefix ? etcd.GetPrefix(key, options_.call_timeout)
                  : etcd.Get(key, options_.call_timeout);
  });
  if (!reply) {
    return base::WithContext("etcd", reply.error());
  }
  return std::move(reply->kvs);
}

base::Result<ClusterMap> EtcdMapStore::Load() {
  const std::string key = Key("map");
  TRELLIS_TRY(const std::vector<etcd::KeyValue> kvs, Read(key, /*prefix=*/false));
  if (kvs.empty()) {
    map_revision_ = 0;
    return ClusterMap();
  }
  TRELLIS_TRY(const StoredMap stored, ParseValue(kvs[0].value, key, ParseStoredMap));
  TRELLIS_TRY(ClusterMap map, MapOf(stored));
  map_revision_ = kvs[0].mod_revision;
  return map;
}

base::Status EtcdMapStore::Save(const ClusterMap& map) {
  return GuardedPut(Key("map"), StoredValue(map), /*is_map=*/true);
}

base::Result<json> EtcdMapStore::LoadDocument(std::string_view name) {
  const std::string key = Key(std::string(name));
  TRELLIS_TRY(const std::vector<etcd::KeyValue> kvs, Read(key, /*prefix=*/false));
  if (kvs.empty()) {
    return json();
  }
  return ParseValue(kvs[0].value, key,
                    [](const json& value) -> base::Result<json> { return value; });
}

base::Status EtcdMapStore::SaveDocument(std::string_view name, const json& document) {
  return GuardedPut(Key(std::string(name)), document.dump(), /*is_map=*/false);
}

base::Result<std::vector<security::TokenRecord>> EtcdMapStore::LoadTokens() {
  TRELLIS_TRY(const std::vector<etcd::KeyValue> kvs, Read(Key("tokens/"), /*prefix=*/true));
  std::vector<security::TokenRecord> tokens;
  for (const etcd::KeyValue& kv : kvs) {
    TRELLIS_TRY(const StoredToken stored, ParseValue(kv.value, kv.key, ParseStoredToken));
    tokens.push_back({stored.info.id, stored.info.name, stored.info.scope, stored.secret_sha256,
                      stored.info.created_unix});
  }
  return tokens;
}

base::Status EtcdMapStore::SaveToken(const security::TokenRecord& token) {
  const std::string key = Key("tokens/" + token.id);
  const std::string value = StoredValue(token);
  auto put = Run<base::Result<int64_t>>(
      [&](etcd::Client& etcd) { return etcd.Put(key, value, options_.call_timeout); });
  if (!put) {
    return base::WithContext("etcd", put.error());
  }
  return {};
}

base::Status EtcdMapStore::DeleteToken(const std::string& id) {
  etcd::Txn txn;
  txn.success.push_back(etcd::Operation::Delete(Key("tokens/" + id)));
  auto deleted = Run<base::Result<etcd::TxnReply>>(
      [&](etcd::Client& etcd) { return etcd.Commit(txn, options_.call_timeout); });
  if (!deleted) {
    return base::WithContext("etcd", deleted.error());
  }
  return {};
}

base::Status EtcdMapStore::Import(const ClusterMap& map,
                                  const std::map<std::string, json>& documents,
                                  const std::vector<security::TokenRecord>& tokens) {
  etcd::Txn txn;
  txn.compare.push_back(etcd::Compare::CreateRevision(Key("map"), 0));
  txn.success.push_back(etcd::Operation::Put(Key("map"), StoredValue(map)));
  for (const auto& [name, document] : documents) {
    txn.success.push_back(etcd::Operation::Put(Key(name), document.dump()));
  }
  for (const security::TokenRecord& token : tokens) {
    txn.success.push_back(etcd::Operation::Put(Key("tokens/" + token.id), StoredValue(token)));
  }
  auto imported = Run<base::Result<etcd::TxnReply>>(
      [&](etcd::Client& etcd) { return etcd.Commit(txn, options_.call_timeout); });
  if (!imported) {
    return base::WithContext("etcd", imported.error());
  }
  if (!imported->succeeded) {
    return base::Conflict("etcd holds a cluster map under " + options_.prefix + " already");
  }
  return {};
}

base::Status EtcdMapStore::GuardedPut(const std::string& key, std::string value, bool is_map) {
  const int64_t leader_revision = LeaderRevision();
  if (leader_revision == 0) {
    return base::Conflict("this master does not lead the cluster now");
  }
  etcd::Txn txn;
  txn.compare.push_back(etcd::Compare::CreateRevision(Key("leader"), leader_revision));
  if (is_map) {
    txn.compare.push_back(etcd::Compare::ModRevision(key, map_revision_));
  }
  txn.success.push_back(etcd::Operation::Put(key, std::move(value)));
  auto reply = Run<base::Result<etcd::TxnReply>>(
      [&](etcd::Client& etcd) { return etcd.Commit(txn, options_.call_timeout); });
  if (!reply) {
    return base::WithContext("etcd", reply.error());
  }
  if (!reply->succeeded) {
    spdlog::warn("etcd refused a write of {}: this master no longer leads the cluster", key);
    StepDown();
    return base::Conflict("etcd refused the write of " + key +
                          ": this master no longer leads the cluster (its leader key or the "
                          "map changed since it took over)");
  }
  if (is_map) {
    map_revision_ = reply->revision;
  }
  return {};
}

void EtcdMapStore::Campaign(const Campaigner& campaigner) {
  campaigner_ = campaigner;
  asio::co_spawn(io_, CampaignLoop(), asio::detached);
  asio::co_spawn(io_, WatchLoop(), asio::detached);
}

bool EtcdMapStore::Leading() const { return LeaderRevision() != 0; }

int64_t EtcdMapStore::LeaderRevision() const {
  std::lock_guard lock(mutex_);
  return Clock::now() < lease_end_ ? leader_revision_ : 0;
}

std::string EtcdMapStore::leader_url() const {
  std::lock_guard lock(mutex_);
  return leader_url_;
}

void EtcdMapStore::StepDown() {
  {
    std::lock_guard lock(mutex_);
    if (leader_revision_ == 0) {
      return;
    }
    leader_revision_ = 0;
    leader_url_.clear();
  }
  spdlog::warn("this master no longer leads the cluster");
  asio::post(campaigner_.executor, campaigner_.deposed);
  // Its lease is given up for good: renewing it would keep a leader key this master no
  // longer acts on, and no other could take over.
  asio::co_spawn(
      io_,
      [this]() -> asio::awaitable<void> {
        if (const int64_t lease = std::exchange(lease_, 0); lease != 0) {
          (void)co_await etcd_->RevokeLease(lease, options_.call_timeout);
        }
      },
      asio::detached);
}

asio::awaitable<void> EtcdMapStore::CampaignLoop() {
  asio::steady_timer& timer = campaign_timer_;
  const auto tick = std::chrono::duration_cast<std::chrono::milliseconds>(options_.leader_ttl) / 4;
  const std::string leader_key = Key("leader");
  Clock::time_point renewed{};  // When the last renewal etcd granted was sent.
  std::chrono::seconds ttl{0};  // What that renewal gave.
  std::string failing;          // The error logged last; "" while etcd answers.
  const auto note_failure = [&failing](std::string_view what, const base::Error& error) {
    if (std::string message = std::string(what) + ": " + error.message; message != failing) {
      spdlog::warn("etcd: {}", message);
      failing = std::move(message);
    }
  };
  while (!stopping_) {
    timer.expires_after(tick);
    const Clock::time_point sent = Clock::now();
    if (lease_ != 0) {
      auto renewal = co_await etcd_->KeepAlive(lease_, tick);
      if (renewal) {
        renewed = sent;
        ttl = *renewal;
        std::lock_guard lock(mutex_);
        if (leader_revision_ != 0) {
          lease_end_ = renewed + ttl;
        }
      } else if (renewal.error().code == base::ErrorCode::kNotFound) {
        lease_ = 0;
        StepDown();
      } else {
        note_failure("renewing the lease", renewal.error());
        if (Clock::now() >= renewed + ttl) {
          StepDown();  // Ours may have run out: act as if it had.
        }
      }
    }
    if (lease_ == 0) {
      auto granted = co_await etcd_->GrantLease(options_.leader_ttl, options_.call_timeout);
      if (!granted) {
        note_failure("granting a lease", granted.error());
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      lease_ = granted->id;
      renewed = sent;
      ttl = granted->ttl;
    }
    if (!Leading()) {
      etcd::Txn txn;
      txn.compare.push_back(etcd::Compare::CreateRevision(leader_key, 0));
      txn.success.push_back(etcd::Operation::Put(leader_key, campaigner_.url, lease_));
      txn.failure.push_back(etcd::Operation::Get(leader_key));
      auto reply = co_await etcd_->Commit(txn, options_.call_timeout);
      if (!reply) {
        note_failure("campaigning", reply.error());
      } else {
        failing.clear();
        // Ours if just created, or created on our lease by a try whose answer was lost.
        int64_t created = reply->succeeded ? reply->revision : 0;
        std::string url = campaigner_.url;
        if (!reply->succeeded && !reply->ranges.empty() && !reply->ranges[0].empty()) {
          const etcd::KeyValue& leader = reply->ranges[0][0];
          created = leader.lease == lease_ ? leader.create_revision : 0;
          url = leader.value;
        }
        {
          std::lock_guard lock(mutex_);
          leader_url_ = url;
        }
        // The lease held when etcd took the key; a renewal says how long it holds from
        // now (the last one may be older than a TTL: etcd was slow to answer). Without it
        // the key is not claimed: the next round renews the lease and finds the key ours.
        const Clock::time_point confirming = Clock::now();
        base::Result<std::chrono::seconds> confirmed = base::NotFound("not ours");
        if (created != 0) {  // Not a ?: around co_await: g++ 12 miscompiles it.
          confirmed = co_await etcd_->KeepAlive(lease_, tick);
        }
        if (confirmed && !stopping_) {
          renewed = confirming;
          ttl = *confirmed;
          std::lock_guard lock(mutex_);
          leader_revision_ = created;
          lease_end_ = renewed + ttl;
          spdlog::info("this master leads the cluster (etcd revision {})", created);
          asio::post(campaigner_.executor, campaigner_.elected);
        }
      }
    }
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> EtcdMapStore::WatchLoop() {
  asio::steady_timer pause(io_);
  const std::string leader_key = Key("leader");
  int64_t from = 0;  // The next revision to watch from; 0: read the revision first.
  while (!stopping_) {
    if (from == 0) {
      auto now = co_await etcd_->Get(leader_key, options_.call_timeout);
      if (now) {
        from = now->revision + 1;
        // Whatever changed before this watch starts: the master reads it all again.
        asio::post(campaigner_.executor, campaigner_.changed);
      }
    }
    if (from != 0) {
      const base::Status ended = co_await etcd_->Watch(
          options_.prefix + "/", from,
          [&](const etcd::WatchBatch& batch) {
            from = batch.revision + 1;
            bool map_changed = false;
            for (const etcd::WatchEvent& event : batch.events) {
              map_changed = map_changed || event.kv.key != leader_key;
              if (event.kv.key == leader_key && event.kind == etcd::WatchEvent::Kind::kDelete) {
                campaign_timer_.cancel();  // No leader: campaign now, not at the next tick.
              }
            }
            if (map_changed) {
              asio::post(campaigner_.executor, campaigner_.changed);
            }
          },
          options_.call_timeout);
      if (!ended && ended.error().code == base::ErrorCode::kConflict) {
        from = 0;  // Compacted past where it was: read everything again.
        continue;
      }
    }
    pause.expires_after(kRetryPause);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace trellis::master
