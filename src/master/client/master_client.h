// MasterClient: the typed client of the master's API, for everything that talks to the
// master: cache nodes (registration, roles, leases), access nodes (the route table, their
// tenants' flush_all), platform services such as the backup center (their registration,
// KeepRegistered), `trellis cluster`, `trellis token`, `trellis tenant` and `trellis up`.
// Every reply is parsed once into the types of cluster_state.h; a transport failure, an
// error status or a malformed reply comes back as an Error (unavailable, not found,
// conflict, invalid argument, ...).
//
// A cluster may have several masters (docs/deploy.md): one leads, the others follow it.
// The client sends every call to the master that answered last; when that one cannot be
// reached, or answers 421 (it follows and knows no leader), it tries the next; when it
// redirects (307: it follows, and the Location names the leader), it goes there, adding
// the leader to its list if it was not in it. Each call tries every master at most twice.
// A call that went out and got no answer in time (a hung master) is sent to the next one
// too: the master's changes are safe to repeat or refuse a repeat (409, an epoch that
// moved on), except a token or a tenant created twice, of which the first stays unseen.
//
// Asynchronous, on one executor: a node runs it on a thread of its own so that a slow or
// absent master never stalls the data path, and stopping that thread ends every call at
// once. Command-line tools run it with http::RunBlocking.
//
// Thread safety: none; one executor.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "base/result.h"
#include "http/client.h"
#include "master/client/cluster_state.h"
#include "master/client/volume_state.h"

namespace trellis::master {

// Where the master is, and the token every call carries (docs/security.md): what a
// daemon's --master and --token-file say.
struct MasterAccess {
  // "http://HOST:PORT", "https://HOST:PORT" (the scheme is optional), or several of them
  // separated by commas: the masters of one cluster.
  std::string url;
  std::string token;  // "": none (a master that takes no tokens).
  // For an https:// URL: the cluster's CA and this client's certificate (mutual TLS).
  std::shared_ptr<net::TlsClientContext> tls;
};

class MasterClient {
 public:
  static base::Result<MasterClient> ForUrl(boost::asio::any_io_executor executor,
                                           const MasterAccess& access);

  boost::asio::awaitable<base::Result<ClusterState>> GetCluster();
  // The map once its version is above `after`, or after `wait` whatever it is: nullopt
  // if still at version `after` (the master answers 304 rather than the same map). No
  // `after`: the map at once. `node`, when not empty, is the cache node asking: the master
  // renews its lease if it is a main.
  boost::asio::awaitable<base::Result<std::optional<ClusterState>>> WatchCluster(
      std::optional<uint64_t> after, std::chrono::milliseconds wait, std::string_view node);
  boost::asio::awaitable<base::Result<RegistrationReply>> Register(
      const NodeRegistration& registration);
  boost::asio::awaitable<base::Status> AddGroup(const NewGroup& group);
  boost::asio::awaitable<base::Status> RemoveNode(std::string_view address);
  // A switchover may wait for a backup to catch up and for a lease to run out.
  boost::asio::awaitable<base::Result<FailoverReply>> Failover(std::string_view group,
                                                               const FailoverRequest& request);
  boost::asio::awaitable<base::Status> SetMode(std::string_view group, const ModeChange& change);
  // Rebalancing (docs/scale-out.md): plans moves and, unless a dry run, starts them.
  boost::asio::awaitable<base::Result<RebalanceReply>> Rebalance(const RebalanceRequest& request);
  boost::asio::awaitable<base::Result<RebalanceReply>> Drain(std::string_view group,
                                                             const RebalanceRequest& request);
  // Refused (kConflict, with the reason) while the group serves slots.
  boost::asio::awaitable<base::Status> RemoveGroup(std::string_view group);
  boost::asio::awaitable<base::Result<MigrationStatus>> GetMigrations();
  // Platform services (cluster_state.h, ServiceRegistration): registers one or renews its
  // lease, answering it as stored; a service keeps itself registered with KeepRegistered.
  boost::asio::awaitable<base::Result<ServiceStatus>> RegisterService(
      const ServiceRegistration& registration);
  // The live services, by name.
  boost::asio::awaitable<base::Result<std::vector<ServiceStatus>>> ListServices();
  // kNotFound if no live service has that name.
  boost::asio::awaitable<base::Status> DeregisterService(std::string_view name);

  // Access tokens (admin scope, but Whoami: any token).
  boost::asio::awaitable<base::Result<IssuedToken>> CreateToken(const TokenRequest& request);
  boost::asio::awaitable<base::Result<std::vector<TokenInfo>>> ListTokens();
  // kNotFound if no token has that id.
  boost::asio::awaitable<base::Status> RevokeToken(std::string_view id);
  // What this client's token allows; kUnauthenticated if the master does not know it.
  boost::asio::awaitable<base::Result<CallerGrant>> Whoami();

  // The cache's tenants (admin scope to create and delete, operate to flush, read to list).
  // kConflict if one of that name exists, kInvalidArgument for a bad name.
  boost::asio::awaitable<base::Result<IssuedTenant>> CreateTenant(const TenantRequest& request);
  boost::asio::awaitable<base::Result<TenantList>> ListTenants();
  // kNotFound if no tenant has that name.
  boost::asio::awaitable<base::Status> DeleteTenant(std::string_view name);
  // Moves the tenant to its next generation (its flush_all); kNotFound if there is none.
  boost::asio::awaitable<base::Result<TenantFlushed>> FlushTenant(std::string_view name);

  // The block store's volumes (volume_state.h; admin scope to create and delete, operate
  // to open and mark stale, read to list). kConflict if the name is taken, kUnavailable
  // with too few storage nodes up.
  boost::asio::awaitable<base::Result<VolumeState>> CreateVolume(const VolumeRequest& request);
  boost::asio::awaitable<base::Result<VolumeList>> ListVolumes();
  // kNotFound if there is none (GetVolume, DeleteVolume, OpenVolume).
  boost::asio::awaitable<base::Result<VolumeState>> GetVolume(std::string_view name);
  boost::asio::awaitable<base::Status> DeleteVolume(std::string_view name);
  // Makes the caller the volume's writer: answers it with its generation raised.
  boost::asio::awaitable<base::Result<VolumeState>> OpenVolume(std::string_view name);
  // kConflict when the report's generation was replaced by another writer's.
  boost::asio::awaitable<base::Result<VolumeState>> MarkStale(std::string_view volume,
                                                              const StaleReport& report);

  // HOST:PORT of the master the next call goes to.
  const std::string& address() const { return masters_[current_].address(); }

 private:
  MasterClient(boost::asio::any_io_executor executor, MasterAccess access,
               std::vector<http::Client> masters)
      : executor_(std::move(executor)), access_(std::move(access)), masters_(std::move(masters)) {}
  // Sends one call (see above for which master gets it) and answers the response of the
  // master that took it; an error when none did. `timeout` is each try's.
  boost::asio::awaitable<base::Result<http::Response>> Send(boost::beast::http::verb method,
                                                            std::string target, std::string body,
                                                            std::chrono::milliseconds timeout);
  // Send() with JSON in and out, as http::CallJson.
  boost::asio::awaitable<base::Result<nlohmann::json>> CallJson(boost::beast::http::verb method,
                                                                std::string target,
                                                                const nlohmann::json& body);
  // The index in masters_ of the master at `location` (a redirect's "http://HOST:PORT/..."),
  // added if it is not there; nullopt for a location that names no master.
  std::optional<size_t> MasterAt(std::string_view location);

  boost::asio::any_io_executor executor_;
  MasterAccess access_;
  std::vector<http::Client> masters_;  // Never empty.
  size_t current_ = 0;                 // Who answered last.
};

// Runs `act` with a client of `master` to completion (http::RunBlocking): for tools that
// ask the master and exit. T is a base::Result or base::Status: a client that cannot be
// made (a bad URL, unreadable TLS files) is its error.
template <typename T>
T CallMaster(const MasterAccess& master,
             std::function<boost::asio::awaitable<T>(MasterClient&)> act) {
  return http::RunBlocking<T>(
      [&](boost::asio::any_io_executor executor) -> boost::asio::awaitable<T> {
        base::Result<MasterClient> client = MasterClient::ForUrl(executor, master);
        if (!client) {
          co_return client.error();
        }
        co_return co_await act(*client);
      });
}

// Follows the master's map until cancelled (the executor stops): calls `on_map` with
// every map the master answers, `changed` when its version differs from the last one,
// with when it was asked for (each answer renews a main's lease from then). Waits out
// an absent master, and skips a malformed answer (logged), keeping the last good map.
// `node`: as for WatchCluster.
using MapObserver = std::function<boost::asio::awaitable<void>(
    const ClusterState& map, bool changed, std::chrono::steady_clock::time_point asked)>;
boost::asio::awaitable<void> FollowCluster(MasterClient& client, std::string node,
                                           MapObserver on_map);

// Keeps a platform service registered until cancelled (the executor stops, or the
// caller's cancellation slot fires): PUTs describe() at once and then every `every`
// (kServiceRenewal, well inside the master's kServiceLease), so the summary the master
// shows is at most that old. Logs when registrations start to go through (at first, and
// after an outage) and, once per outage, when they start failing (the master away or
// restarting, a registration it refuses, describe() throwing); a failure is retried at
// the next tick. Never throws. REQUIRES: every > 0.
boost::asio::awaitable<void> KeepRegistered(MasterClient& client,
                                            std::function<ServiceRegistration()> describe,
                                            std::chrono::milliseconds every);

}  // namespace trellis::master
