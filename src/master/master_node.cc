#include "master/master_node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "master/sqlite_map_store.h"
#include "net/address.h"
#include "net/client_stream.h"

namespace trellis::master {

namespace asio = boost::asio;
using boost::beast::http::verb;
using http::Request;
using http::Response;
using http::Scope;
using nlohmann::json;

namespace {

// How long a main may take to report its slots' loads (`stats slots`, `stats moving`).
// Not a health probe: a main busy with load answers late rather than never, and a
// deadline of one probe interval (0.2 s in the tests) stalled moves on a loaded machine.
constexpr std::chrono::seconds kSlotLoadTimeout{5};

// A query parameter as seconds, fractions allowed ("0.25"), or `otherwise`.
double ToSeconds(std::optional<std::string_view> text, double otherwise) {
  double value = 0;
  if (!text) {
    return otherwise;
  }
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  return ec == std::errc() && end == text->data() + text->size() && value >= 0 ? value : otherwise;
}

uint64_t ToNumber(std::string_view text, uint64_t otherwise) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() ? value : otherwise;
}

// The request's body parsed by `parse` (cluster_state.h), or the error as a response.
template <typename Parse>
auto ParseBody(const Request& request, Parse parse) -> decltype(parse(json())) {
  auto body = request.JsonBody();
  if (!body) {
    return body.error();
  }
  return parse(*body);
}

// Runs task(0) ... task(count - 1) at the same time on this executor and returns when
// all have finished. The tasks may refer to the caller's locals.
template <typename Task>
asio::awaitable<void> AllAtOnce(size_t count, Task task) {
  const auto executor = co_await asio::this_coro::executor;
  size_t pending = count;
  auto waker = std::make_shared<net::Waker>(executor);
  for (size_t i = 0; i < count; ++i) {
    asio::co_spawn(
        executor,
        [&task, &pending, i, waker]() -> asio::awaitable<void> {
          co_await task(i);
          if (--pending == 0) {
            waker->Wake();
          }
        },
        asio::detached);
  }
  while (pending > 0) {
    co_await waker->Wait();
  }
}

}  // namespace

class MasterNode::GroupOperation {
 public:
  GroupOperation(std::set<std::string>* busy, std::string group)
      : busy_(busy), group_(std::move(group)) {}
  GroupOperation(GroupOperation&& other) noexcept
      : busy_(std::exchange(other.busy_, nullptr)), group_(std::move(other.group_)) {}
  GroupOperation& operator=(GroupOperation&&) = delete;
  ~GroupOperation() {
    if (busy_ != nullptr) {
      busy_->erase(group_);
    }
  }

 private:
  std::set<std::string>* busy_;  // Null once moved from.
  std::string group_;
};

MasterNode::MasterNode(const MasterOptions& options, base::Registry& metrics)
    : options_(options),
      automatic_failovers_(metrics.GetCounter("trellis_master_failovers_total",
                                              "Mains replaced: after failing probes (automatic) "
                                              "or asked for (switchover).",
                                              {{"kind", "automatic"}})),
      switchovers_(
          metrics.GetCounter("trellis_master_failovers_total", "", {{"kind", "switchover"}})),
      map_version_(metrics.GetGauge("trellis_master_map_version",
                                    "Version of the cluster map (goes up with every change).")),
      nodes_down_(metrics.GetGauge("trellis_master_nodes_down",
                                   "Cache nodes whose probes are failing now.")),
      watches_(metrics.GetGauge("trellis_master_watches",
                                "Long-polls waiting for the next cluster map now.")),
      slots_done_(metrics.GetGauge("trellis_master_rebalance_slots",
                                   "Slots of the last rebalance or drain, by state.",
                                   {{"state", "done"}})),
      slots_moving_(metrics.GetGauge("trellis_master_rebalance_slots", "", {{"state", "moving"}})),
      slots_pending_(
          metrics.GetGauge("trellis_master_rebalance_slots", "", {{"state", "pending"}})),
      keys_moved_(metrics.GetGauge("trellis_master_rebalance_keys",
                                   "Keys of the last rebalance or drain: moved, and in all.",
                                   {{"state", "moved"}})),
      keys_total_(metrics.GetGauge("trellis_master_rebalance_keys", "", {{"state", "total"}})),
      move_rate_(metrics.GetGauge("trellis_master_move_rate",
                                  "Keys per second each group moving slots may move now.")) {}

base::Result<std::unique_ptr<MasterNode>> MasterNode::Start(const MasterOptions& options,
                                                            base::Registry& metrics) {
  std::unique_ptr<MasterNode> node(new MasterNode(options, metrics));
  if (options.etcd.endpoints.empty()) {
    auto store = SqliteMapStore::Open(options.data_dir);
    if (!store) {
      return base::WithContext("--data", store.error());
    }
    node->store_ = std::move(store).value();
  } else {
    TRELLIS_TRY(node->store_, EtcdMapStore::Open(options.etcd));
  }
  TRELLIS_TRY(node->tokens_, TokenService::Open(*node->store_, options.admin_token_file, metrics));
  TRELLIS_TRY(node->map_, node->store_->Load());
  node->saved_map_ = node->map_;
  MasterNode* const self = node.get();
  node->volumes_ = std::make_unique<VolumeService>(*node->store_, [self] {
    std::vector<std::string> names;
    for (const ServiceStatus& service : self->services_.List(std::chrono::steady_clock::now())) {
      if (service.registration.kind == kStorageNodeKind) {
        names.push_back(service.registration.name);
      }
    }
    return names;
  });
  TRELLIS_TRY_STATUS(node->volumes_->Load());
  node->map_version_.Set(static_cast<int64_t>(node->map_.version()));
  http::ServerOptions server_options;
  server_options.name = "master";
  server_options.listen = options.listen;
  server_options.max_connections = options.max_connections;
  // A follower's long-poll is quiet for up to a minute between answers.
  server_options.idle_timeout = std::chrono::seconds(120);
  server_options.tls = options.tls;
  auto server = http::Server::Start(node->pool_, server_options, node->Routes(), metrics);
  if (!server) {
    return base::WithContext("--listen", server.error());
  }
  node->server_ = std::move(server).value();
  const asio::any_io_executor executor = node->pool_.context(0).get_executor();
  node->store_->Campaign({executor, node->OwnUrl(), [self] { self->OnElected(); },
                          [self] { self->OnDeposed(); }, [self] { self->OnChanged(); }});
  asio::co_spawn(node->pool_.context(0), node->ProbeLoop(), asio::detached);
  asio::co_spawn(node->pool_.context(0), node->MigrationLoop(), asio::detached);
  node->pool_.Start();
  return node;
}

MasterNode::~MasterNode() { Drain(std::chrono::milliseconds(0)); }

std::vector<daemon::Listener> MasterNode::listeners() const {
  return {{"master", "HTTP/JSON API of the cluster map", local_endpoint()}};
}

void MasterNode::Drain(std::chrono::milliseconds timeout) {
  if (drained_) {
    return;
  }
  drained_ = true;
  pool_.RunOnEveryShard([this](int) {
    stopping_ = true;
    WakeWatchers();
    if (migration_waker_ != nullptr) {
      migration_waker_->Wake();
    }
  });
  server_->Drain(timeout);
  pool_.Stop();
}

std::shared_ptr<const http::Router> MasterNode::Routes() {
  auto router = std::make_shared<http::Router>();
  router->Add(verb::get, "/v1/cluster", Scope::kRead,
              http::MethodHandler(this, &MasterNode::GetCluster));
  router->Add(verb::post, "/v1/groups", Scope::kOperate,
              http::MethodHandler(this, &MasterNode::AddGroup));
  router->Add(verb::post, "/v1/nodes", Scope::kOperate,
              http::MethodHandler(this, &MasterNode::RegisterNode));
  router->Add(verb::delete_, "/v1/nodes/{address}", Scope::kOperate,
              http::MethodHandler(this, &MasterNode::RemoveNode));
  router->Add(verb::post, "/v1/groups/{name}/failover", Scope::kOperate,
              http::MethodHandler(this, &MasterNode::Switchover));
  router->Add(verb::post, "/v1/groups/{name}/mode", Scope::kOperate,
              http::MethodHandler(this, &MasterNode::SetMode));
  router->Add(verb::delete_, "/v1/groups/{name}", Scope::kOperate,
              http::MethodHandler(this, &MasterNode::RemoveGroup));
  router->Add(verb::post, "/v1/groups/{name}/drain", Scope::kOperate,
              http::MethodHandler(this, &MasterNode::Drain));
  router->Add(verb::post, "/v1/rebalance", Scope::kOperate,
              http::MethodHandler(this, &MasterNode::Rebalance));
  router->Add(verb::get, "/v1/migrations", Scope::kRead,
              http::MethodHandler(this, &MasterNode::GetMigrations));
  router->Add(verb::put, "/v1/services/{name}", Scope::kOperate,
              http::MethodHandler(this, &MasterNode::RegisterService));
  router->Add(verb::get, "/v1/services", Scope::kRead,
              http::MethodHandler(this, &MasterNode::ListServices));
  router->Add(verb::delete_, "/v1/services/{name}", Scope::kOperate,
              http::MethodHandler(this, &MasterNode::DeregisterService));
  tokens_->AddRoutes(*router);
  tenants_.AddRoutes(*router);
  volumes_->AddRoutes(*router);
  router->SetGate([this](const Request& request) { return FollowerAnswer(request); });
  if (auto table = tokens_->table()) {
    router->RequireTokens(std::move(table));
  }
  return router;
}

void MasterNode::WakeWatchers() {
  for (auto& waker : waiting_) {
    waker->Wake();
  }
  waiting_.clear();
}

base::Status MasterNode::Publish() {
  if (base::Status saved = store_->Save(map_); !saved) {
    spdlog::error("the map of version {} was not saved, and is undone: {}", map_.version(),
                  saved.error().message);
    map_ = saved_map_;
    return saved;
  }
  saved_map_ = map_;
  map_version_.Set(static_cast<int64_t>(map_.version()));
  nodes_down_.Set(std::count_if(map_.nodes().begin(), map_.nodes().end(),
                                [](const NodeInfo& node) { return !node.healthy; }));
  WakeWatchers();
  return {};
}

std::string MasterNode::OwnUrl() const {
  return (options_.tls ? "https://" : "http://") + net::FormatEndpoint(local_endpoint());
}

void MasterNode::OnElected() {
  if (stopping_) {
    return;
  }
  if (!store_->Leading()) {
    // Its lease may have run out before this ran: it never acted, and gives the lead up
    // rather than hold a key it does not act on.
    spdlog::warn("elected, but the lease may have run out meanwhile; resigning");
    store_->Resign();
    return;
  }
  base::Result<ClusterMap> map = store_->Load();
  base::Result<nlohmann::json> rebalance = store_->LoadDocument(kRebalanceDocument);
  base::Result<Rebalancer> rebalancer = rebalance && !rebalance->is_null()
                                            ? Rebalancer::FromJson(*rebalance)
                                            : base::Result<Rebalancer>(Rebalancer());
  const base::Status volumes = volumes_->Load();
  if (!map || !rebalance || !rebalancer || !volumes) {
    const base::Error& error =
        !map ? map.error()
             : (!rebalance ? rebalance.error()
                           : (!rebalancer ? rebalancer.error() : volumes.error()));
    spdlog::error("taking over as leader: {}; resigning", error.message);
    store_->Resign();
    return;
  }
  map_ = std::move(map).value();
  saved_map_ = map_;
  rebalancer_ = std::move(rebalancer).value();
  saved_rebalance_revision_ = rebalancer_.record_revision();
  leading_since_ = std::chrono::steady_clock::now();
  leading_ = true;
  spdlog::info("leading the cluster from map version {}", map_.version());
  map_version_.Set(static_cast<int64_t>(map_.version()));
  UpdateRebalanceGauges();
  WakeWatchers();
  if (migration_waker_ != nullptr) {
    migration_waker_->Wake();
  }
}

void MasterNode::OnDeposed() {
  if (!leading_) {
    return;
  }
  leading_ = false;
  spdlog::warn("following: another master leads the cluster, or etcd cannot be reached");
  FollowStore();
}

void MasterNode::OnChanged() {
  if (base::Status reloaded = tokens_->Reload(); !reloaded) {
    spdlog::warn("reading the tokens again: {}", reloaded.error().message);
  }
  if (!leading_) {
    FollowStore();
  }
}

void MasterNode::FollowStore() {
  base::Result<ClusterMap> map = store_->Load();
  if (!map) {
    spdlog::warn("following the map: {}", map.error().message);
    return;
  }
  if (map->version() == map_.version()) {
    return;
  }
  if (map->version() < map_.version()) {
    spdlog::warn("the stored map's version {} is below this master's {}", map->version(),
                 map_.version());
  }
  map_ = std::move(map).value();
  saved_map_ = map_;
  map_version_.Set(static_cast<int64_t>(map_.version()));
  WakeWatchers();
}

std::optional<Response> MasterNode::FollowerAnswer(const Request& request) const {
  if (Leads()) {
    return std::nullopt;
  }
  // What a follower answers itself: a long-poll for the next map, and tokens (records
  // of their own in the store, which any master may write). A plain read of the map goes
  // to the leader, whose map carries what its probes found (`trellis cluster status`),
  // unless none leads: then the follower's map is better than none.
  const bool map_read = request.method == verb::get && request.path == "/v1/cluster" &&
                        !request.Query("node").has_value();
  if ((map_read && request.Query("after").has_value()) || request.path.starts_with("/v1/tokens")) {
    return std::nullopt;
  }
  const std::string leader = store_->leader_url();
  if (map_read && (leader.empty() || leader == OwnUrl())) {
    return std::nullopt;
  }
  if (leader.empty() || leader == OwnUrl()) {
    Response none = Response::Error(
        base::Unavailable("no master leads the cluster now; ask again in a moment"));
    none.status = 421;
    return none;
  }
  Response redirect = Response::Json(
      {{"error", "this master follows; the leader is " + leader}, {"leader", leader}}, 307);
  redirect.headers.emplace_back("Location", leader + request.target);
  return redirect;
}

base::Result<MasterNode::GroupOperation> MasterNode::BeginOperation(const std::string& group,
                                                                    std::string_view what) {
  if (map_.FindGroup(group) == nullptr) {
    return base::NotFound("no group " + group);
  }
  if (!busy_groups_.insert(group).second) {
    return base::Conflict("group " + group + " is busy with another failover or removal; " +
                          std::string(what) + " refused");
  }
  return GroupOperation(&busy_groups_, group);
}

asio::awaitable<Response> MasterNode::GetCluster(const Request& request) {
  const auto node = request.Query("node");
  // A node asks for what comes after the map it holds (and has applied): noted before the
  // wait, since slots in the prepare step wait for every node to hold that step.
  NodeInfo* asking = node ? map_.FindNode(std::string(*node)) : nullptr;
  if (const auto after = request.Query("after");
      asking != nullptr && after && ToNumber(*after, 0) > asking->map_version) {
    asking->map_version = ToNumber(*after, 0);
    if (migration_waker_ != nullptr) {
      migration_waker_->Wake();
    }
  }
  if (const auto after = request.Query("after")) {
    const uint64_t version = ToNumber(*after, 0);
    const auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(std::min(ToSeconds(request.Query("wait"), 10), 60.0)));
    if (map_.version() <= version && !stopping_) {
      auto waker = std::make_shared<net::Waker>(co_await asio::this_coro::executor);
      waiting_.push_back(waker);
      watches_.Add(1);
      co_await waker->WaitUntil(std::chrono::steady_clock::now() + wait);
      watches_.Add(-1);
      std::erase(waiting_, waker);
    }
  }
  // The node asked before this answer: the lease it counts from then ends before ours.
  // (Looked up again: the node may have been removed while the poll waited.)
  if (NodeInfo* answered = node ? map_.FindNode(std::string(*node)) : nullptr;
      answered != nullptr && answered->role == Role::kMain) {
    answered->lease_granted = std::chrono::steady_clock::now();
  }
  // Still the map the node holds: not the same map again. The nodes ask four times a
  // second, and once slots had moved (a map of 6,800 ranges, 350 KB) parsing it cut the
  // throughput through an access node to 72% of what it was before the move; now 93%.
  if (const auto after = request.Query("after"); after && ToNumber(*after, 0) == map_.version()) {
    Response unchanged;
    unchanged.status = 304;
    co_return unchanged;
  }
  co_return Response::Text(MapBody(), "application/json");
}

const std::string& MasterNode::MapBody() {
  if (map_body_.body.empty() || map_body_.version != map_.version() ||
      map_body_.probe_rounds != probe_rounds_) {
    map_body_.version = map_.version();
    map_body_.probe_rounds = probe_rounds_;
    map_body_.body = ToJson(map_.ToState(lease())).dump() + "\n";
  }
  return map_body_.body;
}

asio::awaitable<Response> MasterNode::AddGroup(const Request& request) {
  auto group = ParseBody(request, ParseNewGroup);
  if (!group) {
    co_return Response::Error(group.error());
  }
  if (base::Status added = map_.AddGroup(group->name); !added) {
    co_return Response::Error(added.error());
  }
  if (base::Status published = Publish(); !published) {
    co_return Response::Error(published.error());
  }
  co_return Response::Json({{"name", group->name}, {"version", map_.version()}}, 201);
}

asio::awaitable<Response> MasterNode::RegisterNode(const Request& request) {
  auto registration = ParseBody(request, ParseNodeRegistration);
  if (!registration) {
    co_return Response::Error(registration.error());
  }
  if (!net::ParseHostPort(registration->address)) {
    co_return Response::Error(base::InvalidArgument("\"address\" must be HOST:PORT"));
  }
  auto role = map_.RegisterNode(registration->group, registration->address);
  if (!role) {
    co_return Response::Error(role.error());
  }
  if (base::Status published = Publish(); !published) {
    co_return Response::Error(published.error());
  }
  RegistrationReply reply;
  reply.role = *role;
  if (const NodeInfo* main = map_.MainOf(registration->group)) {
    reply.main = main->address;
  }
  reply.epoch = map_.FindGroup(registration->group)->epoch;
  reply.version = map_.version();
  co_return Response::Json(ToJson(reply), 200);
}

asio::awaitable<Response> MasterNode::RemoveNode(const Request& request) {
  const std::string address(request.Param("address"));
  const NodeInfo* node = map_.FindNode(address);
  if (node == nullptr) {
    co_return Response::Error(base::NotFound("no node " + address));
  }
  auto operation = BeginOperation(node->group, "removal");
  if (!operation) {
    co_return Response::Error(operation.error());
  }
  if (node->role == Role::kMain) {
    co_await WaitOutLease(address);  // Its backup becomes main: no overlap.
  }
  if (base::Status removed = map_.RemoveNode(address); !removed) {
    co_return Response::Error(removed.error());
  }
  if (base::Status published = Publish(); !published) {
    co_return Response::Error(published.error());
  }
  co_return Response::Json({{"version", map_.version()}}, 200);
}

asio::awaitable<Response> MasterNode::Switchover(const Request& request) {
  const std::string group(request.Param("name"));
  // An empty body asks for a switchover whatever the epoch.
  auto failover = request.body.empty() ? base::Result<FailoverRequest>(FailoverRequest{})
                                       : ParseBody(request, ParseFailoverRequest);
  if (!failover) {
    co_return Response::Error(failover.error());
  }
  auto operation = BeginOperation(group, "failover");
  if (!operation) {
    co_return Response::Error(operation.error());
  }
  if (const uint64_t epoch = map_.FindGroup(group)->epoch;
      failover->epoch && *failover->epoch != epoch) {
    co_return Response::Error(
        base::Conflict("group " + group + " is at epoch " + std::to_string(epoch) + ", not " +
                       std::to_string(*failover->epoch) + ": its main has changed already"));
  }
  const NodeInfo* old_main = map_.MainOf(group);
  const std::string old_address = old_main != nullptr ? old_main->address : "";
  if (!co_await CatchUpBeforeSwitchover(group)) {
    co_await WaitOutLease(old_address);
  }
  auto main = map_.Promote(group);
  if (!main) {
    map_.SetFrozen(group, false);  // No switchover: the main takes writes again.
    const base::Status published = Publish();
    co_return Response::Error(published ? main.error() : published.error());
  }
  spdlog::info("group {}: switchover, main is now {}", group, *main);
  switchovers_.Increment();
  if (base::Status published = Publish(); !published) {
    co_return Response::Error(published.error());
  }
  co_return Response::Json(ToJson(FailoverReply{*main, map_.version()}), 200);
}

asio::awaitable<Response> MasterNode::SetMode(const Request& request) {
  const std::string group(request.Param("name"));
  auto change = ParseBody(request, ParseModeChange);
  if (!change) {
    co_return Response::Error(change.error());
  }
  if (base::Status set = map_.SetMode(group, change->mode == WriteMode::kSync); !set) {
    co_return Response::Error(set.error());
  }
  if (base::Status published = Publish(); !published) {
    co_return Response::Error(published.error());
  }
  co_return Response::Json({{"mode", WriteModeName(change->mode)}, {"version", map_.version()}},
                           200);
}

asio::awaitable<void> MasterNode::WaitOutLease(const std::string& address) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  if (const NodeInfo* node = map_.FindNode(address)) {
    timer.expires_at(LeaseEnd(*node));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<bool> MasterNode::CatchUpBeforeSwitchover(const std::string& group) {
  const NodeInfo* main = map_.MainOf(group);
  if (main == nullptr || !main->healthy) {
    co_return false;  // Nothing to drain: a plain failover.
  }
  const std::string main_address = main->address;
  map_.SetFrozen(group, true);
  if (!Publish()) {
    co_return false;
  }
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool frozen_seen = false;
  while (std::chrono::steady_clock::now() < deadline) {
    // Writes stop once the main has seen the frozen map; then its sequence holds still.
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    const std::optional<ProbeResult> written = co_await Probe(main_address);
    if (!written) {
      co_return false;
    }
    if (!written->read_only) {
      continue;  // The main has not seen the frozen map yet: its sequence may still grow.
    }
    frozen_seen = true;
    bool caught_up = false;
    std::vector<std::string> backups;
    for (const NodeInfo& node : map_.nodes()) {
      if (node.group == group && node.role == Role::kBackup && node.healthy) {
        backups.push_back(node.address);
      }
    }
    for (const std::string& address : backups) {
      const std::optional<ProbeResult> applied = co_await Probe(address);
      if (NodeInfo* node = map_.FindNode(address); node != nullptr && applied) {
        node->sequence = applied->sequence;
        ++probe_rounds_;
        caught_up = caught_up || applied->sequence >= written->sequence;
      }
    }
    if (caught_up) {
      break;
    }
  }
  co_return frozen_seen;
}

asio::awaitable<std::optional<std::string>> MasterNode::AskStats(
    std::string address, std::string_view command, std::chrono::steady_clock::duration timeout) {
  auto parsed = net::ParseHostPort(address);
  if (!parsed) {
    co_return std::nullopt;
  }
  auto endpoint = net::Resolve(*parsed);
  if (!endpoint) {
    co_return std::nullopt;
  }
  net::ClientStream::Peer peer{parsed->host, {*endpoint}};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  base::Result<net::ClientStream> opened =
      co_await net::ClientStream::Open(std::move(peer), options_.probe_tls.get(), deadline);
  if (!opened) {
    co_return std::nullopt;
  }
  net::ClientStream& stream = *opened;
  stream.tcp().expires_at(deadline);
  auto [write_error, written] = co_await asio::async_write(stream, asio::buffer(command),
                                                           asio::as_tuple(asio::use_awaitable));
  if (write_error) {
    co_return std::nullopt;
  }
  std::string reply;
  auto [read_error, read] = co_await asio::async_read_until(
      stream, asio::dynamic_buffer(reply), "END\r\n", asio::as_tuple(asio::use_awaitable));
  if (read_error) {
    co_return std::nullopt;
  }
  co_return reply;
}

asio::awaitable<std::optional<MasterNode::ProbeResult>> MasterNode::Probe(std::string address) {
  const std::optional<std::string> stats =
      co_await AskStats(address, "stats\r\n", options_.probe_interval);
  if (!stats) {
    co_return std::nullopt;
  }
  const std::string& reply = *stats;
  // A main reports its log's sequence, a backup what it has applied of its main's.
  const NodeInfo* node = map_.FindNode(address);
  auto value = [&reply](const std::string& name) -> uint64_t {
    const std::string stat = "STAT " + name + " ";
    const size_t at = reply.find(stat);
    if (at == std::string::npos) {
      return 0;
    }
    const size_t start = at + stat.size();
    return ToNumber(std::string_view(reply).substr(start, reply.find('\r', start) - start), 0);
  };
  co_return ProbeResult{
      value(node != nullptr && node->role == Role::kMain ? "replication_sequence"
                                                         : "replica_applied_sequence"),
      value("read_only") == 1,
      value("pid"),
      reply.find("STAT replica_lag_ms ") != std::string::npos
          ? static_cast<int64_t>(value("replica_lag_ms"))
          : -1,
      value("curr_items"),
      value("bytes")};
}

asio::awaitable<void> MasterNode::ProbeAll() {
  std::vector<std::string> addresses;
  for (const NodeInfo& node : map_.nodes()) {
    addresses.push_back(node.address);
  }
  std::vector<std::optional<ProbeResult>> results(addresses.size());
  co_await AllAtOnce(addresses.size(), [&](size_t i) -> asio::awaitable<void> {
    results[i] = co_await Probe(addresses[i]);
  });
  ++probe_rounds_;
  for (size_t i = 0; i < addresses.size(); ++i) {
    const std::string& address = addresses[i];
    const std::optional<ProbeResult>& probed = results[i];
    NodeInfo* node = map_.FindNode(address);
    if (node == nullptr) {
      continue;  // Removed while we asked.
    }
    if (probed) {
      node->sequence = probed->sequence;
      node->pid = probed->pid;
      node->lag_ms = probed->lag_ms;
      node->items = probed->items;
      node->bytes = probed->bytes;
      node->failed_probes = 0;
      if (!node->healthy) {
        node->healthy = true;
        spdlog::info("{} answers again", address);
        map_.Touch();
        if (!Publish()) {
          co_return;
        }
      }
    } else if (++node->failed_probes >= options_.failure_threshold && node->healthy) {
      node->healthy = false;
      spdlog::warn("{} ({} of group {}) is down", address, RoleName(node->role), node->group);
      map_.Touch();
      if (!Publish()) {
        co_return;
      }
    }
  }
}

void MasterNode::FailOverDeadMains() {
  // Every group whose main is down gets its best healthy backup, once the main's lease
  // ran out (it may only be cut off from us, and still reach its clients).
  for (const GroupInfo& group : map_.groups()) {
    const NodeInfo* main = map_.MainOf(group.name);
    if (main == nullptr || main->healthy || std::chrono::steady_clock::now() < LeaseEnd(*main) ||
        busy_groups_.contains(group.name)) {
      continue;
    }
    if (auto promoted = map_.Promote(group.name)) {
      spdlog::warn("group {}: failover, main is now {} (epoch {})", group.name, *promoted,
                   map_.FindGroup(group.name)->epoch);
      automatic_failovers_.Increment();
      if (!Publish()) {
        return;  // Undone: the loop's map is gone.
      }
    }
  }
}

asio::awaitable<void> MasterNode::ProbeLoop() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!stopping_) {
    // Rounds start every probe interval: a round whose probes time out (a hung node)
    // does not stretch the time to detect it.
    timer.expires_after(options_.probe_interval);
    if (Leads()) {
      co_await ProbeAll();
      if (stopping_) {
        break;
      }
      if (Leads()) {
        FailOverDeadMains();
      }
    }
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<Rebalancer::SlotLoads> MasterNode::ProbeSlotLoads(bool moving_only) {
  // The mains asked, all at once: every one, or those of groups moving slots away.
  std::vector<bool> asked(map_.groups().size(), !moving_only);
  for (const SlotState& slot : map_.slots()) {
    asked[slot.group] = asked[slot.group] || slot.target != SlotState::kNoGroup;
  }
  std::vector<const NodeInfo*> mains;
  for (size_t i = 0; i < map_.groups().size(); ++i) {
    mains.push_back(asked[i] ? map_.MainOf(map_.groups()[i].name) : nullptr);
  }
  std::vector<std::string> addresses;
  for (const NodeInfo* main : mains) {
    addresses.push_back(main != nullptr ? main->address : "");
  }
  std::vector<std::optional<std::string>> replies(mains.size());
  const std::string_view command = moving_only ? "stats moving\r\n" : "stats slots\r\n";
  co_await AllAtOnce(mains.size(), [&](size_t i) -> asio::awaitable<void> {
    if (!addresses[i].empty()) {
      replies[i] = co_await AskStats(addresses[i], command, kSlotLoadTimeout);
    }
  });
  // Per group: the slots its main reported ("STAT slot:N:items X", "STAT slot:N:bytes X").
  // `stats slots` leaves out empty slots; `stats moving` reports only moving ones.
  std::vector<std::vector<std::optional<SlotLoad>>> per_group(mains.size());
  for (size_t i = 0; i < mains.size(); ++i) {
    if (!replies[i]) {
      continue;
    }
    per_group[i].assign(ClusterState::kSlots,
                        moving_only ? std::nullopt : std::optional<SlotLoad>(SlotLoad{}));
    std::string_view rest = *replies[i];
    constexpr std::string_view kPrefix = "STAT slot:";
    for (size_t at = rest.find(kPrefix); at != std::string_view::npos;
         at = rest.find(kPrefix, at + 1)) {
      const std::string_view line =
          rest.substr(at + kPrefix.size(), rest.find('\r', at) - at - kPrefix.size());
      const size_t colon = line.find(':');
      const size_t space = line.find(' ');
      if (colon == std::string_view::npos || space == std::string_view::npos || space < colon) {
        continue;
      }
      const uint64_t slot = ToNumber(line.substr(0, colon), ClusterState::kSlots);
      const std::string_view what = line.substr(colon + 1, space - colon - 1);
      const uint64_t number = ToNumber(line.substr(space + 1), 0);
      if (slot >= ClusterState::kSlots) {
        continue;
      }
      std::optional<SlotLoad>& load = per_group[i][slot];
      if (!load) {
        load = SlotLoad{};
      }
      (what == "items" ? load->items : load->bytes) = number;
    }
  }
  // A moving slot's load counts only from a main that holds the map of its last step (so
  // it knows the slot moves, and its "nothing left" means the move is done).
  Rebalancer::SlotLoads loads(map_.slots().size());
  for (uint32_t slot = 0; slot < map_.slots().size(); ++slot) {
    const SlotState& state = map_.slots()[slot];
    const NodeInfo* main = state.group < mains.size() ? mains[state.group] : nullptr;
    if (main != nullptr && !per_group[state.group].empty() &&
        (state.target == SlotState::kNoGroup || main->map_version >= state.since)) {
      loads[slot] = per_group[state.group][slot];
    }
  }
  co_return loads;
}

void MasterNode::UpdateRebalanceGauges() {
  const MigrationStatus status = rebalancer_.Status(map_, slot_loads_);
  slots_done_.Set(status.slots_done);
  slots_moving_.Set(status.slots_moving);
  slots_pending_.Set(
      std::max<int64_t>(0, int64_t{status.slots_total} - status.slots_done - status.slots_moving));
  keys_moved_.Set(static_cast<int64_t>(status.keys_moved));
  keys_total_.Set(static_cast<int64_t>(status.keys_total));
  move_rate_.Set(static_cast<int64_t>(map_.move_rate()));
}

void MasterNode::SaveRebalance() {
  if (rebalancer_.record_revision() == saved_rebalance_revision_) {
    return;
  }
  if (base::Status saved = store_->SaveDocument(kRebalanceDocument, rebalancer_.ToJson()); !saved) {
    spdlog::error("saving the rebalance: {}", saved.error().message);
    return;
  }
  saved_rebalance_revision_ = rebalancer_.record_revision();
}

asio::awaitable<void> MasterNode::MigrationLoop() {
  net::Waker woken(co_await asio::this_coro::executor);
  migration_waker_ = &woken;
  auto next_step = std::chrono::steady_clock::now();
  while (!stopping_) {
    co_await woken.WaitUntil(next_step);
    if (stopping_) {
      break;
    }
    if (!Leads()) {
      next_step = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
      continue;  // Only the leader moves slots.
    }
    if (std::chrono::steady_clock::now() < next_step) {
      // Woken early: a node holds a newer map, which may let prepared slots go dual (the
      // clients of a slot in the prepare step wait for that).
      if (rebalancer_.StartDual(map_)) {
        (void)Publish();  // Refused: this master follows now, and stops moving.
      }
      continue;
    }
    next_step = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
    if (rebalancer_.Active(map_)) {
      slot_loads_ = co_await ProbeSlotLoads(/*moving_only=*/true);
      if (stopping_) {
        break;
      }
      if (rebalancer_.Step(map_, slot_loads_)) {
        SaveRebalance();
        (void)Publish();
      }
      UpdateRebalanceGauges();
    } else if (map_.move_rate() != 0) {
      map_.SetMoveRate(0);
      (void)Publish();
      UpdateRebalanceGauges();
    }
  }
  migration_waker_ = nullptr;
}

asio::awaitable<Response> MasterNode::RemoveGroup(const Request& request) {
  const std::string group(request.Param("name"));
  auto operation = BeginOperation(group, "removal");
  if (!operation) {
    co_return Response::Error(operation.error());
  }
  if (base::Status removed = map_.RemoveGroup(group); !removed) {
    co_return Response::Error(removed.error());
  }
  spdlog::info("group {} removed", group);
  if (base::Status published = Publish(); !published) {
    co_return Response::Error(published.error());
  }
  co_return Response::Json({{"version", map_.version()}}, 200);
}

asio::awaitable<Response> MasterNode::Rebalance(const Request& request) {
  auto rebalance = request.body.empty() ? base::Result<RebalanceRequest>(RebalanceRequest{})
                                        : ParseBody(request, ParseRebalanceRequest);
  if (!rebalance) {
    co_return Response::Error(rebalance.error());
  }
  co_return co_await PlanAndStart(*rebalance, rebalancer_.draining());
}

asio::awaitable<Response> MasterNode::Drain(const Request& request) {
  const std::string group(request.Param("name"));
  auto rebalance = request.body.empty() ? base::Result<RebalanceRequest>(RebalanceRequest{})
                                        : ParseBody(request, ParseRebalanceRequest);
  if (!rebalance) {
    co_return Response::Error(rebalance.error());
  }
  if (map_.FindGroup(group) == nullptr) {
    co_return Response::Error(base::NotFound("no group " + group));
  }
  std::vector<std::string> draining = rebalancer_.draining();
  if (std::find(draining.begin(), draining.end(), group) == draining.end()) {
    draining.push_back(group);
  }
  co_return co_await PlanAndStart(*rebalance, std::move(draining));
}

asio::awaitable<Response> MasterNode::PlanAndStart(const RebalanceRequest& request,
                                                   std::vector<std::string> draining) {
  if (request.max_rate == 0u) {
    co_return Response::Error(base::InvalidArgument("max_rate: at least 1 key a second"));
  }
  const Rebalancer::SlotLoads loads = co_await ProbeSlotLoads(/*moving_only=*/false);
  std::erase_if(draining,
                [this](const std::string& group) { return map_.FindGroup(group) == nullptr; });
  RebalanceInput input;
  input.groups = map_.groups().size();
  input.draining.resize(input.groups);
  for (const std::string& group : draining) {
    for (size_t i = 0; i < input.groups; ++i) {
      input.draining[i] = input.draining[i] || map_.groups()[i].name == group;
    }
  }
  bool holds_anything = false;
  for (uint32_t slot = 0; slot < map_.slots().size(); ++slot) {
    const SlotState& state = map_.slots()[slot];
    // A moving slot counts where it is going.
    input.owners.push_back(state.target != SlotState::kNoGroup ? state.target : state.group);
    if (!loads[slot]) {
      co_return Response::Error(base::Unavailable(
          "the main of group " + map_.groups()[state.group].name +
          " did not answer: its slots cannot be weighed; try again once it has a main"));
    }
    input.loads.push_back(*loads[slot]);
    holds_anything = holds_anything || loads[slot]->items > 0;
  }
  if (!holds_anything) {
    input.loads.clear();  // Weigh by slots.
  }
  const std::vector<PlannedMove> plan = PlanRebalance(input);
  RebalanceReply reply;
  std::vector<PendingMove> moves;
  std::map<std::pair<uint16_t, uint16_t>, PlannedTransfer> transfers;
  for (const PlannedMove& move : plan) {
    PlannedTransfer& transfer = transfers[{move.from, move.to}];
    transfer.from = map_.groups()[move.from].name;
    transfer.to = map_.groups()[move.to].name;
    ++transfer.slots;
    transfer.items += loads[move.slot]->items;
    transfer.bytes += loads[move.slot]->bytes;
    moves.push_back({move.slot, transfer.to, *loads[move.slot]});
  }
  for (auto& [groups, transfer] : transfers) {
    reply.slots += transfer.slots;
    reply.items += transfer.items;
    reply.bytes += transfer.bytes;
    reply.transfers.push_back(std::move(transfer));
  }
  if (!request.dry_run && !moves.empty()) {
    rebalancer_.Start(std::move(moves), request.max_rate.value_or(Rebalancer::kDefaultRate),
                      std::move(draining));
    SaveRebalance();
    reply.started = true;
    spdlog::info("rebalance: {} slots ({} items) to move", reply.slots, reply.items);
  }
  co_return Response::Json(ToJson(reply), 200);
}

asio::awaitable<Response> MasterNode::GetMigrations(const Request&) {
  co_return Response::Json(ToJson(rebalancer_.Status(map_, slot_loads_)), 200);
}

asio::awaitable<Response> MasterNode::RegisterService(const Request& request) {
  const std::string_view name = request.Param("name");
  auto registration = ParseBody(request, ParseServiceRegistration);
  if (!registration) {
    co_return Response::Error(registration.error());
  }
  if (registration->name != name) {
    co_return Response::Error(base::InvalidArgument("name: \"" + registration->name +
                                                    "\" is not the NAME of /v1/services/" +
                                                    std::string(name)));
  }
  const auto now = std::chrono::steady_clock::now();
  const bool known = services_.Contains(name, now);
  auto status = services_.Renew(std::move(registration).value(), now);
  if (!status) {
    co_return Response::Error(status.error());
  }
  if (!known) {
    spdlog::info("service {} ({}) registered: {}", status->registration.name,
                 status->registration.kind, status->registration.url);
  }
  co_return Response::Json(ToJson(*status), 200);
}

asio::awaitable<Response> MasterNode::ListServices(const Request&) {
  co_return Response::Json(ToJson(ServiceList{services_.List(std::chrono::steady_clock::now())}),
                           200);
}

asio::awaitable<Response> MasterNode::DeregisterService(const Request& request) {
  const std::string_view name = request.Param("name");
  if (base::Status removed = services_.Remove(name, std::chrono::steady_clock::now()); !removed) {
    co_return Response::Error(removed.error());
  }
  spdlog::info("service {} deregistered", name);
  Response gone;
  gone.status = 204;
  co_return gone;
}

}  // namespace trellis::master
