// ServeAccess: the access proxy's handler for one client connection. It parses the
// client's memcached requests (text and meta) with the cache node's parser, so bad
// input gets the same replies; routes each key to its group's main through the shard's
// backends; splits multi-gets across groups; and writes the replies strictly in request
// order, whichever backend answers first.
//
// Answered here: version, verbosity, mn, quit, stats (the proxy's own). flush_all goes
// to every group; a tenant's goes to the master, which moves the tenant to a new key
// prefix (its old items are never read again and age out), and the requests after it
// wait until this node keys the tenant by the new prefix. Text noreply and meta q requests are sent
// with a trailing mn (see backend.h) so that quiet mode behaves exactly as the node's.
//
// Thread safety: runs on the connection's shard.
#pragma once

#include <cstddef>
#include <ctime>
#include <optional>

#include <boost/asio/awaitable.hpp>

#include "access/access_shard.h"
#include "access/tenant_directory.h"
#include "base/metrics.h"
#include "master/client/master_client.h"
#include "net/connection.h"

namespace trellis::access {

struct ProxyOptions {
  size_t max_item_size = 1 << 20;  // Values over this are refused here, as the node would.
  int threads = 1;
  time_t started = 0;
  base::Registry* metrics = nullptr;  // For the connection counts of `stats`.
  // get, gets and meta gets that change nothing go to the group's backups in turn
  // (its main if it has none): more read capacity, and reads go on while a group has
  // no main, at the price of reading what a backup has applied so far.
  bool read_from_backup = false;
  // Clients must log in as a tenant, as memcached's -Y asks (docs/security.md): the first
  // command is a set whose value is "NAME PASSWORD"; before it every command gets
  // "CLIENT_ERROR unauthenticated". A tenant's requests reach only its keys
  // (proto/memcache/key_namespace.h), within its rate.
  bool require_login = false;
  TenantRegistry* logins = nullptr;  // Counts logins; set with require_login.
  // The master a tenant's flush_all goes to (it moves the tenant to a new generation of
  // keys); set with require_login.
  std::optional<master::MasterAccess> master;
};

boost::asio::awaitable<void> ServeAccess(net::Connection& connection, AccessShard& shard,
                                         const ProxyOptions& options);

}  // namespace trellis::access
