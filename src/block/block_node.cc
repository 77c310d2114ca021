#include "block/block_node.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <nlohmann/json.hpp>

#include "net/address.h"
#include "net/waker.h"
#include "security/access_token.h"

namespace trellis::block {
namespace {

namespace asio = boost::asio;
using proto::block::Op;
using proto::block::ParseStatus;
using proto::block::ReplyHeader;
using proto::block::RequestHeader;
using proto::block::Status;

// The node's name: DIR/node.name, made on the first start ("blockd-" and 8 hex digits).
base::Result<std::string> NodeName(const std::filesystem::path& data) {
  const std::filesystem::path file = data / "node.name";
  std::string name;
  if (std::ifstream in(file); in >> name) {
    return name;
  }
  TRELLIS_TRY(const security::MintedSecret secret, security::MintSecret());
  name = "blockd-" + secret.sha256_hex.substr(0, 8);
  std::ofstream out(file);
  if (!(out << name << "\n") || !(out.flush())) {
    return base::Error{file.string() + ": cannot write the node's name"};
  }
  return name;
}

}  // namespace

BlockNode::BlockNode(const BlockNodeOptions& options, base::Registry& metrics)
    : options_(options),
      corrupt_reads_(metrics.GetCounter("trellis_blockd_corrupt_reads_total",
                                        "Reads refused because a block failed its checksum.")),
      stale_writes_(metrics.GetCounter("trellis_blockd_stale_writes_total",
                                       "Writes refused from a writer a newer one fenced.")),
      repaired_blocks_(metrics.GetCounter("trellis_blockd_repaired_blocks_total",
                                          "Blocks that failed their checksum, rewritten from a "
                                          "good copy.")),
      pool_(options.threads) {}

BlockNode::~BlockNode() { Drain(std::chrono::milliseconds(0)); }

base::Result<std::unique_ptr<BlockNode>> BlockNode::Start(const BlockNodeOptions& options,
                                                          base::Registry& metrics) {
  std::unique_ptr<BlockNode> node(new BlockNode(options, metrics));
  std::error_code error;
  std::filesystem::create_directories(options.data, error);
  if (error) {
    return base::Error{"--data " + options.data.string() + ": " + error.message()};
  }
  TRELLIS_TRY(node->name_, NodeName(options.data));
  TRELLIS_TRY(node->store_, PieceStore::Open(options.data));
  net::ServerOptions server_options;
  server_options.name = "blockd";
  server_options.listen = options.listen;
  server_options.max_connections = options.max_connections;
  BlockNode* self = node.get();
  TRELLIS_TRY(
      node->server_,
      net::Server::Start(
          node->pool_, server_options,
          [self](net::Connection& connection) { return self->Serve(connection); }, metrics));
  PieceStore* store = node->store_.get();
  metrics.AddGaugeCallback("trellis_blockd_pieces", "Pieces of volumes kept on this node.",
                           [store] { return static_cast<int64_t>(store->usage().pieces); });
  metrics.AddGaugeCallback("trellis_blockd_bytes", "Disk space the pieces take.",
                           [store] { return static_cast<int64_t>(store->usage().bytes); });
  node->pool_.Start();
  node->registration_.Start();
  spdlog::info("storage node {} keeps its pieces in {}", node->name_, options.data.string());
  return node;
}

std::vector<daemon::Listener> BlockNode::listeners() const {
  return {{"blockd", "storage protocol", server_->local_endpoint()}};
}

void BlockNode::ReportStatus(nlohmann::json& status) const {
  const PieceStore::Usage usage = store_->usage();
  status["node"] = {{"name", name_}, {"pieces", usage.pieces}, {"bytes", usage.bytes}};
}

std::string BlockNode::Summary() const {
  const PieceStore::Usage usage = store_->usage();
  struct statvfs disk {};
  std::string summary = fmt::format("{} pieces, {:.1f} MiB", usage.pieces,
                                    static_cast<double>(usage.bytes) / (1 << 20));
  if (::statvfs(options_.data.c_str(), &disk) == 0) {
    summary += fmt::format(", {:.1f} GiB free",
                           static_cast<double>(disk.f_bavail) * disk.f_frsize / (1 << 30));
  }
  return summary;
}

void BlockNode::AdminListening(const std::string& address) {
  asio::co_spawn(
      registration_.context(0),
      [this, address]() -> asio::awaitable<void> {
        auto client =
            master::MasterClient::ForUrl(co_await asio::this_coro::executor, options_.master);
        if (!client) {
          spdlog::error("--master: {}", client.error().message);
          co_return;
        }
        const std::string url = "tcp://" + net::FormatEndpoint(server_->local_endpoint());
        co_await master::KeepRegistered(
            *client,
            [this, url, address] {
              return master::ServiceRegistration{name_, std::string(master::kStorageNodeKind), url,
                                                 "http://" + address + "/metrics", Summary()};
            },
            master::kServiceRenewal);
      },
      asio::detached);
}

void BlockNode::Execute(const RequestHeader& header, std::string_view data, std::string* out) {
  Status status = Status::kOk;
  std::string read;
  switch (header.op) {
    case Op::kRead:
      status = store_->Read(header, &read);
      break;
    case Op::kWrite:
      status = store_->Write(header, data);
      break;
    case Op::kZero:
      status = store_->Zero(header);
      break;
    case Op::kFlush:
      status = store_->Flush();
      break;
    case Op::kFence:
      status = store_->Fence(header.volume, header.generation);
      break;
    case Op::kRepair: {
      size_t repaired = 0;
      status = store_->Repair(header, data, &repaired);
      if (repaired > 0) {
        repaired_blocks_.Increment(repaired);
        spdlog::info("piece {}/{}: {} bad blocks rewritten from a good copy", header.volume,
                     header.chunk, repaired);
      }
      break;
    }
  }
  if (status == Status::kCorrupt) {
    corrupt_reads_.Increment();
  } else if (status == Status::kStale) {
    stale_writes_.Increment();
  }
  const bool has_data = status == Status::kOk && header.op == Op::kRead;
  proto::block::AppendReplyHeader({status, header.id, has_data ? header.length : 0}, out);
  if (has_data) {
    out->append(read);
  }
}

asio::awaitable<void> BlockNode::Sync(RequestHeader header, std::string data, std::string* out) {
  struct Done {
    explicit Done(const asio::any_io_executor& executor) : waker(executor) {}
    net::Waker waker;
    std::string reply;
  };
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto done = std::make_shared<Done>(executor);
  asio::post(sync_threads_, [this, done, executor, header, data = std::move(data)] {
    Execute(header, data, &done->reply);
    asio::post(executor, [done] { done->waker.Wake(); });
  });
  co_await done->waker.Wait();
  out->append(done->reply);
}

asio::awaitable<void> BlockNode::Serve(net::Connection& connection) {
  std::string out;
  for (;;) {
    // Every whole request buffered is done, then their replies go in one write.
    for (;;) {
      RequestHeader header;
      const ParseStatus parsed = ParseRequestHeader(connection.input(), &header);
      if (parsed == ParseStatus::kBadMagic || parsed == ParseStatus::kBadHeader) {
        spdlog::warn(
            "blockd: closing a connection from {} that does not speak the storage "
            "protocol",
            net::FormatEndpoint(connection.peer()));
        co_return;
      }
      const size_t payload =
          header.op == Op::kWrite || header.op == Op::kRepair ? header.length : 0;
      if (parsed == ParseStatus::kIncomplete ||
          connection.input().size() < proto::block::kRequestHeaderBytes + payload) {
        break;
      }
      const std::string_view data =
          connection.input().substr(proto::block::kRequestHeaderBytes, payload);
      const bool syncs = header.op == Op::kFlush || header.op == Op::kRepair ||
                         (header.flags & proto::block::kFlagFua) != 0;
      if (syncs) {
        // Waits for the disk on the sync threads: the shard goes on serving its other
        // connections, this one's replies stay in order.
        co_await Sync(header, std::string(data), &out);
      } else {
        Execute(header, data, &out);
      }
      connection.Consume(proto::block::kRequestHeaderBytes + payload);
    }
    if (!out.empty()) {
      if (!co_await connection.Write(out)) {
        co_return;
      }
      out.clear();
    }
    if (!co_await connection.ReadMore()) {
      co_return;
    }
  }
}

void BlockNode::Drain(std::chrono::milliseconds timeout) {
  if (drained_) {
    return;
  }
  drained_ = true;
  registration_.Stop();
  if (server_) {
    server_->Drain(timeout);
  }
  pool_.Stop();
  sync_threads_.join();
}

}  // namespace trellis::block
