// NbdServer: `trellis nbd`, the block store's front door (docs/block.md): an NBD server
// whose exports are the master's volumes. A client (nbdinfo, nbdcopy, qemu, fio, the
// kernel's nbd) negotiates with proto/nbd's state machine and then reads and writes the
// volume through the volume client (volume_client.h), which replicates to the storage
// nodes itself.
//
// The first connection to a volume opens it at the master (raising its generation, so
// that any other writer is fenced) and every later one, on any shard, shares that open:
// CAN_MULTI_CONN holds because every connection's writes go to the same nodes, and a
// FLUSH on any connection flushes every node of the volume. Requests on a connection are
// done concurrently (up to kMaxInFlight) and answered as they finish, out of order as NBD
// allows. A volume's block size is the minimum block size advertised: requests must be
// whole blocks (EINVAL otherwise).
//
// The master is asked on the server's control thread (one MasterClient): exports as
// clients name them, opens, stale pieces, and every kServiceRenewal where the storage
// nodes listen.
//
// Thread safety: as daemon::Service; connections live on their shards.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/metrics.h"
#include "base/result.h"
#include "block/volume_client.h"
#include "daemon/service.h"
#include "master/client/master_client.h"
#include "net/server.h"
#include "net/shard_pool.h"
#include "proto/nbd/nbd.h"

namespace trellis::block {

struct NbdServerOptions {
  boost::asio::ip::tcp::endpoint listen;
  int threads = 4;
  size_t max_connections = 1024;
  master::MasterAccess master;
  NodeLinkOptions links;
};

class NbdServer : public daemon::Service {
 public:
  // Requests of one connection done at once, and the bytes they and the replies not yet
  // written may hold; more requests wait to be read.
  static constexpr size_t kMaxInFlight = 128;
  static constexpr size_t kMaxBytesInFlight = 64 << 20;
  // Exports a connection may ask the master about while it negotiates.
  static constexpr size_t kMaxLookups = 16;

  static base::Result<std::unique_ptr<NbdServer>> Start(const NbdServerOptions& options,
                                                        base::Registry& metrics);
  ~NbdServer() override;

  std::vector<daemon::Listener> listeners() const override;
  void ReportStatus(nlohmann::json& status) const override;
  void Drain(std::chrono::milliseconds timeout) override;

 private:
  struct Transmission;

  NbdServer(const NbdServerOptions& options, base::Registry& metrics);
  boost::asio::awaitable<void> Serve(net::Connection& connection);
  // Negotiates; answers the negotiation once an export is chosen, with its volume opened
  // in `*volume`, or nullopt when the connection should close.
  boost::asio::awaitable<std::optional<proto::nbd::Negotiation>> Negotiate(
      net::Connection& connection, std::shared_ptr<OpenedVolume>* volume);
  boost::asio::awaitable<void> Transmit(net::Connection& connection,
                                        const proto::nbd::Negotiation& negotiation,
                                        std::shared_ptr<OpenedVolume> volume);
  // Does one request and queues its reply.
  boost::asio::awaitable<void> Handle(std::shared_ptr<Transmission> state,
                                      proto::nbd::Request request, std::string data);
  // What a request is refused with before it is done (NBD's errno), 0 if nothing.
  static uint32_t RequestError(const proto::nbd::Request& request, uint64_t size, uint32_t block);
  static size_t Cost(const proto::nbd::Request& request);
  // The control thread's: the volume as an export, or nullopt; all volumes' names.
  boost::asio::awaitable<std::optional<proto::nbd::Export>> LookUp(std::string name);
  boost::asio::awaitable<std::vector<std::string>> ListNames();
  // The control thread's: the volume opened by this server (once), shared; null (the
  // error logged) when it cannot be opened.
  boost::asio::awaitable<std::shared_ptr<OpenedVolume>> Acquire(std::string name);
  // Opens it at the master and fences the writer before on the storage nodes.
  boost::asio::awaitable<std::shared_ptr<OpenedVolume>> Open(std::string name);
  boost::asio::awaitable<base::Status> MarkStale(std::shared_ptr<OpenedVolume> volume,
                                                 uint64_t chunk, std::string node);
  // Where the storage nodes listen, by name, as the master lists them.
  boost::asio::awaitable<base::Result<std::map<std::string, boost::asio::ip::tcp::endpoint>>>
  StorageNodes();
  boost::asio::awaitable<void> FollowStorageNodes();
  master::MasterClient& Master();

  const NbdServerOptions options_;
  base::Counter& requests_;
  base::Counter& errors_;
  net::ShardPool pool_;
  net::ShardPool control_{1};
  std::vector<std::unique_ptr<NodeLinks>> links_;  // By shard.
  std::unique_ptr<net::Server> server_;
  // The control thread's:
  std::optional<master::MasterClient> master_;
  std::unique_ptr<NodeLinks> control_links_;  // For fencing at an open.
  std::map<std::string, std::shared_ptr<OpenedVolume>> opened_;
  std::set<std::string> opening_;
  std::vector<std::shared_ptr<net::Waker>> open_waiters_;
  bool drained_ = false;
};

}  // namespace trellis::block
