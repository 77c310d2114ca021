// MigrateStore: carries a cluster from the one master's SQLite file over to etcd, where
// several masters can share it (`trellis master migrate-store`, docs/deploy.md).
//
// The SQLite master must be stopped first, so that the copy is its last map: its nodes
// and access nodes keep serving with the map they hold meanwhile (docs/master.md,
// "Master restart"), and masters started on etcd carry on from that map's version, so no
// follower ever sees an older one.
//
// Thread safety: none; a command-line tool.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "master/etcd_map_store.h"

namespace trellis::master {

// Copies the map, the documents (the rebalance in progress, the volumes) and the access
// tokens from <from_dir>/master.db into etcd, in one transaction, and answers the map's
// version. Errors: no master.db in `from_dir` (kNotFound), etcd holding a map under the
// prefix already (kConflict), etcd not answering.
base::Result<uint64_t> MigrateStore(const std::string& from_dir, const EtcdStoreOptions& to);

}  // namespace trellis::master
