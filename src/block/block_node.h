// BlockNode: a storage node of the block store, `trellis blockd` (docs/block.md). It
// serves the pieces of its PieceStore over the storage protocol (proto/block/wire.h) to
// the volume client, and keeps itself registered with the master as a platform service
// of kind "blockd" under its name (kept in DIR/node.name from its first start, so that
// the master's placements follow the node's data, whatever address it listens on), with
// its address as the URL and its usage in the summary.
//
// A connection's requests are done in order on its shard's thread (the shards are the
// node's I/O threads: reads and writes go to the page cache), but one that waits for the
// disk (a FUA write, a flush, a repair) on a sync thread, so that the shard's other
// connections are served meanwhile; every request already buffered is answered in one
// write.
//
// Thread safety: as daemon::Service.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "block/piece_store.h"
#include "daemon/service.h"
#include "master/client/master_client.h"
#include "net/server.h"
#include "net/shard_pool.h"

namespace trellis::block {

struct BlockNodeOptions {
  boost::asio::ip::tcp::endpoint listen;
  std::filesystem::path data;
  int threads = 4;
  size_t max_connections = 1024;
  master::MasterAccess master;
};

class BlockNode : public daemon::Service {
 public:
  static base::Result<std::unique_ptr<BlockNode>> Start(const BlockNodeOptions& options,
                                                        base::Registry& metrics);
  ~BlockNode() override;

  std::vector<daemon::Listener> listeners() const override;
  void ReportStatus(nlohmann::json& status) const override;
  void AdminListening(const std::string& address) override;
  void Drain(std::chrono::milliseconds timeout) override;

  const std::string& name() const { return name_; }

 private:
  BlockNode(const BlockNodeOptions& options, base::Registry& metrics);
  boost::asio::awaitable<void> Serve(net::Connection& connection);
  // Does one request; appends the reply (and a READ's data) to `out`.
  void Execute(const proto::block::RequestHeader& header, std::string_view data, std::string* out);
  // Execute() on a sync thread.
  boost::asio::awaitable<void> Sync(proto::block::RequestHeader header, std::string data,
                                    std::string* out);
  std::string Summary() const;

  const BlockNodeOptions options_;
  std::string name_;
  std::unique_ptr<PieceStore> store_;
  base::Counter& corrupt_reads_;
  base::Counter& stale_writes_;
  base::Counter& repaired_blocks_;
  net::ShardPool pool_;
  net::ShardPool registration_{1};  // Keeps the registration off the I/O threads.
  std::unique_ptr<net::Server> server_;
  boost::asio::thread_pool sync_threads_{2};
  bool drained_ = false;
};

}  // namespace trellis::block
