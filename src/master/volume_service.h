// VolumeService: the /v1/volumes API of the master (docs/block.md), over its VolumeTable.
// Volumes are placed on the storage nodes registered as platform services of kind
// "blockd" (service_registry.h) whose lease is live. Each change is saved to the store
// before it is answered; a change the store refuses is undone and the error answered.
//
// API (http/auth.h for the scopes):
//   POST   /v1/volumes              VolumeRequest -> 201 VolumeState; 409 if the name is
//                                   taken, 503 with too few storage nodes up       admin
//   GET    /v1/volumes              VolumeList                                      read
//   GET    /v1/volumes/NAME         VolumeState; 404                                read
//   DELETE /v1/volumes/NAME         204; 404                                        admin
//   POST   /v1/volumes/NAME/open    VolumeState with its generation raised: the caller
//                                   is the volume's writer from now on            operate
//   POST   /v1/volumes/NAME/stale   StaleReport -> VolumeState; 409 for a writer of a
//                                   replaced generation                           operate
//
// Thread safety: the master's thread.
#pragma once

#include <spdlog/spdlog.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "http/router.h"
#include "master/map_store.h"
#include "master/volume_table.h"

namespace trellis::master {

class VolumeService {
 public:
  // `storage_nodes` answers the names of the storage nodes up now.
  // REQUIRES: `store` outlives it.
  VolumeService(MapStore& store, std::function<std::vector<std::string>()> storage_nodes)
      : store_(store), storage_nodes_(std::move(storage_nodes)) {}

  // Loads the table from the store: called when this master starts to lead.
  base::Status Load();
  void AddRoutes(http::Router& router);

 private:
  boost::asio::awaitable<http::Response> Create(const http::Request& request);
  boost::asio::awaitable<http::Response> List(const http::Request& request);
  boost::asio::awaitable<http::Response> Get(const http::Request& request);
  boost::asio::awaitable<http::Response> Delete(const http::Request& request);
  boost::asio::awaitable<http::Response> Open(const http::Request& request);
  boost::asio::awaitable<http::Response> MarkStale(const http::Request& request);
  // Applies `change` to the table and saves it; a change refused, or one the store did not
  // take (then undone), answers its error.
  template <typename Changer>
  auto Change(const Changer& change) -> decltype(change(std::declval<VolumeTable&>())) {
    VolumeTable before = table_;
    auto changed = change(table_);
    if (!changed) {
      return changed;
    }
    if (base::Status saved = store_.SaveDocument(kVolumesDocument, table_.ToJson()); !saved) {
      spdlog::error("the volumes were not saved, and the change is undone: {}",
                    saved.error().message);
      table_ = std::move(before);
      return saved.error();
    }
    return changed;
  }

  MapStore& store_;
  const std::function<std::vector<std::string>()> storage_nodes_;
  VolumeTable table_;
};

}  // namespace trellis::master
