#include "block/nbd_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "net/address.h"
#include "net/waker.h"

namespace trellis::block {

namespace asio = boost::asio;
namespace nbd = proto::nbd;

namespace {

// What a failed request answers, in NBD's words; the failure is logged.
uint32_t NbdError(const base::Status& status) {
  if (status.ok()) {
    return 0;
  }
  spdlog::warn("nbd: {}", status.error().message);
  return status.error().code == base::ErrorCode::kInvalidArgument ? nbd::kEinval : nbd::kEio;
}

}  // namespace

// One connection's transmission phase: the requests in flight and the replies to write.
struct NbdServer::Transmission {
  explicit Transmission(const asio::any_io_executor& executor)
      : wake_writer(executor), slot_free(executor), writer_done(executor) {}
  std::unique_ptr<VolumeIo> io;
  bool structured = false;
  std::string out;  // Replies not yet written.
  net::Waker wake_writer, slot_free, writer_done;
  size_t in_flight = 0;
  bool reading_done = false;  // No request will start any more.
};

NbdServer::NbdServer(const NbdServerOptions& options, base::Registry& metrics)
    : options_(options),
      requests_(metrics.GetCounter("trellis_nbd_requests_total", "NBD requests done.")),
      errors_(metrics.GetCounter("trellis_nbd_request_errors_total",
                                 "NBD requests answered with an error.")),
      pool_(options.threads) {}

NbdServer::~NbdServer() { Drain(std::chrono::milliseconds(0)); }

base::Result<std::unique_ptr<NbdServer>> NbdServer::Start(const NbdServerOptions& options,
                                                          base::Registry& metrics) {
  std::unique_ptr<NbdServer> server(new NbdServer(options, metrics));
  for (int shard = 0; shard < options.threads; ++shard) {
    server->links_.push_back(
        std::make_unique<NodeLinks>(server->pool_.context(shard).get_executor(), options.links));
  }
  auto master =
      master::MasterClient::ForUrl(server->control_.context(0).get_executor(), options.master);
  if (!master) {
    return base::WithContext("--master", master.error());
  }
  server->master_.emplace(std::move(master).value());
  net::ServerOptions server_options;
  server_options.name = "nbd";
  server_options.listen = options.listen;
  server_options.max_connections = options.max_connections;
  NbdServer* self = server.get();
  TRELLIS_TRY(
      server->server_,
      net::Server::Start(
          server->pool_, server_options,
          [self](net::Connection& connection) { return self->Serve(connection); }, metrics));
  asio::co_spawn(server->control_.context(0), server->FollowStorageNodes(), asio::detached);
  server->control_.Start();
  server->pool_.Start();
  return server;
}

std::vector<daemon::Listener> NbdServer::listeners() const {
  return {{"nbd", "NBD protocol", server_->local_endpoint()}};
}

void NbdServer::ReportStatus(nlohmann::json& status) const {
  status["nbd"] = {{"requests", requests_.Value()}, {"errors", errors_.Value()}};
}

void NbdServer::Drain(std::chrono::milliseconds timeout) {
  if (drained_) {
    return;
  }
  drained_ = true;
  if (server_) {
    server_->Drain(timeout);
  }
  pool_.Stop();
  control_.Stop();
}

master::MasterClient& NbdServer::Master() { return *master_; }

asio::awaitable<base::Result<std::map<std::string, asio::ip::tcp::endpoint>>>
NbdServer::StorageNodes() {
  TRELLIS_CO_TRY(const std::vector<master::ServiceStatus> services,
                 co_await Master().ListServices());
  std::map<std::string, asio::ip::tcp::endpoint> nodes;
  for (const master::ServiceStatus& service : services) {
    const master::ServiceRegistration& node = service.registration;
    if (node.kind != master::kStorageNodeKind || !node.url.starts_with("tcp://")) {
      continue;
    }
    const auto address = net::ParseHostPort(std::string_view(node.url).substr(6));
    const auto endpoint =
        address ? net::Resolve(*address) : base::Result<asio::ip::tcp::endpoint>(address.error());
    if (!endpoint) {
      spdlog::warn("storage node {}: a URL that names no address: {}", node.name, node.url);
      continue;
    }
    nodes.emplace(node.name, *endpoint);
  }
  co_return nodes;
}

asio::awaitable<void> NbdServer::FollowStorageNodes() {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (;;) {
    pause.expires_after(master::kServiceRenewal);
    co_await pause.async_wait(asio::use_awaitable);
    if (opened_.empty()) {
      continue;
    }
    auto nodes = co_await StorageNodes();
    if (!nodes) {
      continue;  // The master away: the addresses known stay.
    }
    for (auto& [name, volume] : opened_) {
      volume->SetEndpoints(*nodes);
    }
  }
}

asio::awaitable<std::optional<nbd::Export>> NbdServer::LookUp(std::string name) {
  base::Result<master::VolumeState> volume = co_await Master().GetVolume(name);
  if (!volume) {
    if (volume.error().code != base::ErrorCode::kNotFound) {
      spdlog::warn("export {}: asking the master: {}", name, volume.error().message);
    }
    co_return std::nullopt;
  }
  nbd::Export exported;
  exported.size = volume->size;
  exported.flags = nbd::kHasFlags | nbd::kSendFlush | nbd::kSendFua | nbd::kSendTrim |
                   nbd::kSendWriteZeroes | nbd::kCanMultiConn;
  exported.min_block = volume->block_size;
  exported.preferred_block = std::max<uint32_t>(volume->block_size, 4096);
  exported.description =
      fmt::format("trellis volume, {}", master::FormatRedundancy(volume->redundancy));
  co_return exported;
}

asio::awaitable<std::vector<std::string>> NbdServer::ListNames() {
  std::vector<std::string> names;
  if (base::Result<master::VolumeList> list = co_await Master().ListVolumes()) {
    for (const master::VolumeState& volume : list->volumes) {
      names.push_back(volume.name);
    }
  }
  co_return names;
}

asio::awaitable<std::shared_ptr<OpenedVolume>> NbdServer::Acquire(std::string name) {
  for (;;) {
    if (auto it = opened_.find(name); it != opened_.end() && !it->second->fenced()) {
      co_return it->second;
    }
    if (!opening_.contains(name)) {
      break;
    }
    auto waker = std::make_shared<net::Waker>(co_await asio::this_coro::executor);
    open_waiters_.push_back(waker);
    co_await waker->Wait();
  }
  opening_.insert(name);
  base::Result<master::VolumeState> state = co_await Master().OpenVolume(name);
  base::Result<std::map<std::string, asio::ip::tcp::endpoint>> nodes =
      std::map<std::string, asio::ip::tcp::endpoint>();
  if (state) {
    nodes = co_await StorageNodes();  // Not in a ?: (g++ 12 and co_await).
  }
  opening_.erase(name);
  for (const auto& waker : open_waiters_) {
    waker->Wake();
  }
  open_waiters_.clear();
  if (!state || !nodes) {
    spdlog::error("nbd: opening volume {}: {}", name,
                  !state ? state.error().message : nodes.error().message);
    co_return nullptr;
  }
  auto volume = std::make_shared<OpenedVolume>(std::move(state).value(), std::move(nodes).value());
  spdlog::info("volume {} opened for writing, generation {}", name, volume->generation());
  opened_[name] = volume;
  co_return volume;
}

asio::awaitable<base::Status> NbdServer::MarkStale(std::shared_ptr<OpenedVolume> volume,
                                                   uint64_t chunk, std::string node) {
  const master::StaleReport report{chunk, node, volume->generation()};
  base::Result<master::VolumeState> marked = co_await Master().MarkStale(volume->name(), report);
  if (!marked) {
    if (marked.error().code == base::ErrorCode::kConflict) {
      volume->Fence();
    }
    co_return marked.error();
  }
  volume->Update(*marked);
  co_return base::Status();
}

asio::awaitable<void> NbdServer::Serve(net::Connection& connection) {
  if (!co_await connection.Write(nbd::Greeting())) {
    co_return;
  }
  std::optional<nbd::Negotiation> negotiation = co_await Negotiate(connection);
  if (negotiation) {
    co_await Transmit(connection, *negotiation);
  }
}

asio::awaitable<std::optional<nbd::Negotiation>> NbdServer::Negotiate(net::Connection& connection) {
  // What the master said of each export named so far, and the names LIST answers.
  auto known = std::make_shared<std::map<std::string, std::optional<nbd::Export>>>();
  auto names = std::make_shared<std::vector<std::string>>();
  nbd::Negotiation negotiation(
      [known](std::string_view name) -> std::optional<nbd::Export> {
        const auto it = known->find(std::string(name));
        return it == known->end() ? std::nullopt : it->second;
      },
      [names] { return *names; });
  asio::any_io_executor control = control_.context(0).get_executor();
  for (;;) {
    const nbd::Negotiation::Upcoming upcoming = negotiation.Peek(connection.input());
    if (upcoming.export_name && !known->contains(*upcoming.export_name)) {
      std::optional<nbd::Export> found =
          co_await asio::co_spawn(control, LookUp(*upcoming.export_name), asio::use_awaitable);
      known->emplace(*upcoming.export_name, std::move(found));
    }
    if (upcoming.list) {
      *names = co_await asio::co_spawn(control, ListNames(), asio::use_awaitable);
    }
    size_t consumed = 0;
    std::string out;
    const nbd::Negotiation::Step step = negotiation.Feed(connection.input(), &consumed, &out);
    connection.Consume(consumed);
    if (!out.empty() && !co_await connection.Write(out)) {
      co_return std::nullopt;
    }
    if (step == nbd::Negotiation::Step::kTransmission) {
      co_return negotiation;
    }
    if (step == nbd::Negotiation::Step::kClose) {
      if (!negotiation.error().empty()) {
        spdlog::info("nbd: closing a connection from {}: {}",
                     net::FormatEndpoint(connection.peer()), negotiation.error());
      }
      co_return std::nullopt;
    }
    if (consumed == 0 && !co_await connection.ReadMore()) {
      co_return std::nullopt;
    }
  }
}

asio::awaitable<void> NbdServer::Transmit(net::Connection& connection,
                                          const nbd::Negotiation& negotiation) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  std::shared_ptr<OpenedVolume> opened = co_await asio::co_spawn(
      control_.context(0), Acquire(negotiation.export_name()), asio::use_awaitable);
  if (opened == nullptr) {
    co_return;  // Acquire said why; the client sees the connection close.
  }
  auto state = std::make_shared<Transmission>(executor);
  state->structured = negotiation.structured_replies();
  asio::any_io_executor control = control_.context(0).get_executor();
  state->io = std::make_unique<VolumeIo>(
      opened, *links_[static_cast<size_t>(connection.shard())],
      [this, opened, control](uint64_t chunk, const std::string& node) {
        return asio::co_spawn(control, MarkStale(opened, chunk, node), asio::use_awaitable);
      });
  // The writer: replies as they are done, several in one write.
  asio::co_spawn(
      executor,
      [state, &connection]() -> asio::awaitable<void> {
        for (;;) {
          if (!state->out.empty()) {
            std::string writing;
            writing.swap(state->out);
            if (!co_await connection.Write(writing)) {
              connection.Abort();
            }
            continue;
          }
          if (state->reading_done && state->in_flight == 0) {
            break;
          }
          co_await state->wake_writer.Wait();
        }
        state->writer_done.Wake();
      },
      asio::detached);
  const uint64_t size = opened->size();
  const uint32_t block = opened->block_size();
  // One request, done on its own and answered when done.
  auto handle = [this, state, size, block](nbd::Request request,
                                           std::string data) -> asio::awaitable<void> {
    uint32_t error = 0;
    std::string read;
    const bool fua = (request.flags & nbd::kCmdFlagFua) != 0;
    const bool in_range = request.offset <= size && request.length <= size - request.offset;
    const bool aligned = request.offset % block == 0 && request.length % block == 0;
    switch (request.type) {
      case nbd::kCmdRead:
        error = !in_range ? nbd::kEinval
                : !aligned
                    ? nbd::kEinval
                    : NbdError(co_await state->io->Read(request.offset, request.length, &read));
        break;
      case nbd::kCmdWrite:
        error = !in_range  ? nbd::kEnospc
                : !aligned ? nbd::kEinval
                           : NbdError(co_await state->io->Write(request.offset, data, fua));
        break;
      case nbd::kCmdWriteZeroes:
        error = !in_range ? nbd::kEnospc
                : !aligned
                    ? nbd::kEinval
                    : NbdError(co_await state->io->Zero(request.offset, request.length, fua));
        break;
      case nbd::kCmdTrim:
        // A hint: the space of the whole blocks inside the range is given back.
        if (!in_range) {
          error = nbd::kEinval;
        } else {
          const uint64_t first = (request.offset + block - 1) / block * block;
          const uint64_t end = (request.offset + request.length) / block * block;
          if (end > first) {
            error = NbdError(co_await state->io->Zero(first, end - first, fua));
          }
        }
        break;
      case nbd::kCmdFlush:
        error = NbdError(co_await state->io->Flush());
        break;
      case nbd::kCmdCache:
        break;
      default:
        error = nbd::kEinval;
    }
    requests_.Increment();
    if (error != 0) {
      errors_.Increment();
      nbd::AppendReply(request, state->structured, error, &state->out);
    } else if (request.type == nbd::kCmdRead && state->structured) {
      nbd::AppendReadChunkHeader(request.cookie, request.offset, request.length, &state->out);
      state->out.append(read);
    } else {
      nbd::AppendSimpleReply(0, request.cookie, &state->out);
      state->out.append(read);
    }
    --state->in_flight;
    state->slot_free.Wake();
    state->wake_writer.Wake();
  };
  for (;;) {
    nbd::Request request;
    const nbd::ParseStatus parsed = nbd::ParseRequest(connection.input(), &request);
    if (parsed == nbd::ParseStatus::kBadMagic) {
      spdlog::info("nbd: a request without its magic from {}; closing",
                   net::FormatEndpoint(connection.peer()));
      break;
    }
    const size_t payload = request.type == nbd::kCmdWrite ? request.length : 0;
    if (parsed == nbd::ParseStatus::kOk && payload > nbd::kMaxPayload) {
      spdlog::info("nbd: a write of {} bytes from {}; closing", payload,
                   net::FormatEndpoint(connection.peer()));
      break;
    }
    if (parsed == nbd::ParseStatus::kIncomplete ||
        connection.input().size() < nbd::kRequestBytes + payload) {
      if (!co_await connection.ReadMore()) {
        break;
      }
      continue;
    }
    if (request.type == nbd::kCmdDisconnect) {
      break;  // The requests in flight are answered first.
    }
    while (state->in_flight >= kMaxInFlight) {
      co_await state->slot_free.Wait();
    }
    std::string data(connection.input().substr(nbd::kRequestBytes, payload));
    connection.Consume(nbd::kRequestBytes + payload);
    ++state->in_flight;
    asio::co_spawn(executor, handle(request, std::move(data)), asio::detached);
  }
  state->reading_done = true;
  state->wake_writer.Wake();
  co_await state->writer_done.Wait();
}

}  // namespace trellis::block
