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
  bool structured = false;
  std::unique_ptr<VolumeIo> io;
  std::string out;  // Replies not yet written.
  net::Waker wake_writer, slot_free, writer_done;
  size_t in_flight = 0;
  size_t bytes_in_flight = 0;  // Cost() of the requests in flight.
  bool reading_done = false;   // No request will start any more.
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
  server->control_links_ =
      std::make_unique<NodeLinks>(server->control_.context(0).get_executor(), options.links);
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
      // Still the same volume? One deleted and made again under its name is not.
      base::Result<master::VolumeState> now = co_await Master().GetVolume(name);
      if (now && now->id == it->second->id()) {
        co_return it->second;
      }
      if (!now && now.error().code != base::ErrorCode::kNotFound) {
        spdlog::error("nbd: volume {}: asking the master: {}", name, now.error().message);
        co_return nullptr;
      }
      opened_.erase(name);
      continue;
    }
    if (!opening_.contains(name)) {
      break;
    }
    auto waker = std::make_shared<net::Waker>(co_await asio::this_coro::executor);
    open_waiters_.push_back(waker);
    co_await waker->Wait();
  }
  opening_.insert(name);
  std::shared_ptr<OpenedVolume> volume = co_await Open(name);
  opening_.erase(name);
  for (const auto& waker : open_waiters_) {
    waker->Wake();
  }
  open_waiters_.clear();
  if (volume != nullptr) {
    opened_[name] = volume;
  }
  co_return volume;
}

asio::awaitable<std::shared_ptr<OpenedVolume>> NbdServer::Open(std::string name) {
  base::Result<master::VolumeState> state = co_await Master().OpenVolume(name);
  if (!state) {
    spdlog::error("nbd: opening volume {}: {}", name, state.error().message);
    co_return nullptr;
  }
  base::Result<std::map<std::string, asio::ip::tcp::endpoint>> nodes = co_await StorageNodes();
  if (!nodes) {
    spdlog::error("nbd: opening volume {}: {}", name, nodes.error().message);
    co_return nullptr;
  }
  auto volume = std::make_shared<OpenedVolume>(std::move(state).value(), std::move(nodes).value());
  // The writer before this one is refused from now on, not from this one's first write
  // to each node.
  VolumeIo fencer(volume, *control_links_,
                  [](uint64_t, const std::string&) -> asio::awaitable<base::Status> {
                    co_return base::Status();  // A fence marks nothing stale.
                  });
  if (base::Status fenced = co_await fencer.Fence(); !fenced) {
    spdlog::error("nbd: opening volume {}: {}", name, fenced.error().message);
    co_return nullptr;
  }
  spdlog::info("volume {} opened for writing, generation {}", name, volume->generation());
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
  std::shared_ptr<OpenedVolume> volume;
  std::optional<nbd::Negotiation> negotiation = co_await Negotiate(connection, &volume);
  if (negotiation && volume != nullptr) {
    co_await Transmit(connection, *negotiation, std::move(volume));
  }
}

asio::awaitable<std::optional<nbd::Negotiation>> NbdServer::Negotiate(
    net::Connection& connection, std::shared_ptr<OpenedVolume>* volume) {
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
      // Each name costs a question to the master: a client gets a few.
      std::optional<nbd::Export> found;
      if (known->size() < kMaxLookups) {
        found =
            co_await asio::co_spawn(control, LookUp(*upcoming.export_name), asio::use_awaitable);
      }
      known->emplace(*upcoming.export_name, std::move(found));
    }
    if (upcoming.opens && known->at(*upcoming.export_name).has_value()) {
      // Opened before GO is answered: a volume that cannot be opened is an unknown export.
      *volume =
          co_await asio::co_spawn(control, Acquire(*upcoming.export_name), asio::use_awaitable);
      if (*volume == nullptr) {
        known->at(*upcoming.export_name).reset();
      }
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

uint32_t NbdServer::RequestError(const nbd::Request& request, uint64_t size, uint32_t block) {
  constexpr uint16_t kFlagsOf[] = {
      nbd::kCmdFlagFua,                        // READ
      nbd::kCmdFlagFua,                        // WRITE
      0,                                       // DISC
      nbd::kCmdFlagFua,                        // FLUSH
      nbd::kCmdFlagFua,                        // TRIM
      nbd::kCmdFlagFua,                        // CACHE
      nbd::kCmdFlagFua | nbd::kCmdFlagNoHole,  // WRITE_ZEROES
  };
  if (request.type >= std::size(kFlagsOf) || (request.flags & ~kFlagsOf[request.type]) != 0) {
    return nbd::kEinval;  // An unknown command, or a flag it does not take.
  }
  const bool in_range = request.offset <= size && request.length <= size - request.offset;
  const bool aligned = request.offset % block == 0 && request.length % block == 0;
  switch (request.type) {
    case nbd::kCmdRead:
      return !in_range || !aligned || request.length == 0 || request.length > nbd::kMaxPayload
                 ? nbd::kEinval
                 : 0;
    case nbd::kCmdWrite:
    case nbd::kCmdWriteZeroes:
      return !in_range ? nbd::kEnospc : !aligned ? nbd::kEinval : 0;
    case nbd::kCmdTrim:
      return in_range ? 0 : nbd::kEinval;
    default:
      return 0;
  }
}

asio::awaitable<void> NbdServer::Handle(std::shared_ptr<Transmission> state, nbd::Request request,
                                        std::string data) {
  const uint32_t block = state->io->volume().block_size();
  uint32_t error = RequestError(request, state->io->volume().size(), block);
  const bool fua = (request.flags & nbd::kCmdFlagFua) != 0;
  const bool no_hole = (request.flags & nbd::kCmdFlagNoHole) != 0;
  std::string read;
  base::Status done = base::Status();
  if (error == 0 && request.length > 0) {
    switch (request.type) {
      case nbd::kCmdRead:
        done = co_await state->io->Read(request.offset, request.length, &read);
        break;
      case nbd::kCmdWrite:
        done = co_await state->io->Write(request.offset, data, fua);
        break;
      case nbd::kCmdWriteZeroes:
        done = co_await state->io->Zero(request.offset, request.length, fua, no_hole);
        break;
      case nbd::kCmdTrim: {
        // A hint: the space of the whole blocks inside the range is given back.
        const uint64_t first = (request.offset + block - 1) / block * block;
        const uint64_t end = (request.offset + request.length) / block * block;
        if (end > first) {
          done = co_await state->io->Zero(first, end - first, fua, /*no_hole=*/false);
        }
        break;
      }
      default:
        break;
    }
  }
  if (error == 0 && request.type == nbd::kCmdFlush) {
    done = co_await state->io->Flush();
  }
  if (error == 0) {
    error = NbdError(done);
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
  state->bytes_in_flight -= Cost(request);
  state->slot_free.Wake();
  state->wake_writer.Wake();
}

size_t NbdServer::Cost(const nbd::Request& request) {
  // The bytes a request holds while it is done: a write's data, a read's reply.
  const bool moves_data = request.type == nbd::kCmdWrite || request.type == nbd::kCmdRead;
  return moves_data ? std::min<size_t>(request.length, nbd::kMaxPayload) : 0;
}

asio::awaitable<void> NbdServer::Transmit(net::Connection& connection,
                                          const nbd::Negotiation& negotiation,
                                          std::shared_ptr<OpenedVolume> opened) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
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
            state->slot_free.Wake();  // The reader may wait for the replies to drain.
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
    // Bounded: requests at once, their bytes, and the replies not yet written.
    while (state->in_flight > 0 &&
           (state->in_flight >= kMaxInFlight ||
            state->bytes_in_flight + Cost(request) > kMaxBytesInFlight ||
            state->out.size() > kMaxBytesInFlight) &&
           !connection.closed()) {
      co_await state->slot_free.Wait();
    }
    std::string data(connection.input().substr(nbd::kRequestBytes, payload));
    connection.Consume(nbd::kRequestBytes + payload);
    ++state->in_flight;
    state->bytes_in_flight += Cost(request);
    asio::co_spawn(executor, Handle(state, request, std::move(data)), asio::detached);
  }
  state->reading_done = true;
  state->wake_writer.Wake();
  co_await state->writer_done.Wait();
}

}  // namespace trellis::block
