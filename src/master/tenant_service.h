// TenantService: the /v1/tenants API of the master, which keeps the cache's tenants
// (docs/security.md) in the cluster map (cluster_map.h), so that every access node learns
// them with its next long-poll of the map and checks logins without asking the master.
// Each change is saved and published as every other change of the map is.
//
// API (http/auth.h for the scopes):
//   POST   /v1/tenants             {"name", "memory_bytes", "ops_per_second"} (limits
//                                  optional, 0: none) -> 201 {"name", "id", "generation",
//                                  "memory_bytes", "ops_per_second", "password"}; the
//                                  password is shown this once, the map keeps its SHA-256;
//                                  409 if the tenant exists, 400 for a bad name      admin
//   GET    /v1/tenants             {"tenants": [...]} as above without the password  read
//   DELETE /v1/tenants/NAME        204; 404 if there is none                         admin
//   POST   /v1/tenants/NAME/flush  the tenant's flush_all: moves it to its next
//                                  generation -> {"generation", "version"}; 404 if none
//                                                                                    operate
//
// Thread safety: the master's thread.
#pragma once

#include <functional>

#include <boost/asio/awaitable.hpp>

#include "http/router.h"
#include "master/cluster_map.h"

namespace trellis::master {

class TenantService {
 public:
  // `publish` saves the map and wakes its followers, or undoes the change and says why
  // (MasterNode::Publish).
  // REQUIRES: `map` outlives it.
  TenantService(ClusterMap& map, std::function<base::Status()> publish)
      : map_(map), publish_(std::move(publish)) {}

  void AddRoutes(http::Router& router);

 private:
  boost::asio::awaitable<http::Response> Create(const http::Request& request);
  boost::asio::awaitable<http::Response> List(const http::Request& request);
  boost::asio::awaitable<http::Response> Delete(const http::Request& request);
  boost::asio::awaitable<http::Response> Flush(const http::Request& request);

  ClusterMap& map_;
  const std::function<base::Status()> publish_;
};

}  // namespace trellis::master
