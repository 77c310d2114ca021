#include "master/master_node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "net/address.h"

namespace trellis::master {

namespace asio = boost::asio;
using admin::ApiRequest;
using admin::ApiResponse;
using nlohmann::json;

namespace {

ApiResponse Reply(int status, const json& body) { return {status, body.dump() + "\n"}; }
ApiResponse Fail(int status, const std::string& message) {
  return Reply(status, {{"error", message}});
}

// The value of `name` in a query string "a=1&b=2", or "".
std::string QueryValue(const std::string& query, const std::string& name) {
  size_t start = 0;
  while (start < query.size()) {
    const size_t end = std::min(query.find('&', start), query.size());
    const std::string_view pair(query.data() + start, end - start);
    if (pair.substr(0, name.size() + 1) == name + "=") {
      return std::string(pair.substr(name.size() + 1));
    }
    start = end + 1;
  }
  return {};
}

// Seconds, fractions allowed ("0.25"), or `otherwise`.
double ToSeconds(std::string_view text, double otherwise) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && value >= 0 ? value : otherwise;
}

uint64_t ToNumber(std::string_view text, uint64_t otherwise) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() ? value : otherwise;
}

// The body as a JSON object with string fields `names`, or an error.
base::Result<std::vector<std::string>> Fields(const std::string& body,
                                              const std::vector<std::string>& names) {
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return base::Error{"the body must be a JSON object"};
  }
  std::vector<std::string> values;
  for (const std::string& name : names) {
    if (!parsed.contains(name) || !parsed[name].is_string()) {
      return base::Error{"\"" + name + "\" (a string) is required"};
    }
    values.push_back(parsed[name]);
  }
  return values;
}

}  // namespace

MasterNode::MasterNode(const MasterOptions& options, base::Registry& metrics)
    : options_(options),
      automatic_failovers_(metrics.GetCounter("trellis_master_failovers_total",
                                              "Mains replaced: after failing probes (automatic) "
                                              "or asked for (switchover).",
                                              {{"kind", "automatic"}})),
      switchovers_(metrics.GetCounter("trellis_master_failovers_total", "",
                                      {{"kind", "switchover"}})),
      map_version_(metrics.GetGauge("trellis_master_map_version",
                                    "Version of the cluster map (goes up with every change).")),
      nodes_down_(metrics.GetGauge("trellis_master_nodes_down",
                                   "Cache nodes whose probes are failing now.")) {}

base::Result<std::unique_ptr<MasterNode>> MasterNode::Start(const MasterOptions& options,
                                                          base::Registry& metrics) {
  std::unique_ptr<MasterNode> node(new MasterNode(options, metrics));
  auto store = MapStore::Open(options.data_dir);
  if (!store) {
    return store.error();
  }
  node->store_ = std::move(store).value();
  auto map = node->store_->Load();
  if (!map) {
    return map.error();
  }
  node->map_ = std::move(map).value();
  node->map_version_.Set(static_cast<int64_t>(node->map_.version()));
  asio::co_spawn(node->pool_.context(0), node->ProbeLoop(), asio::detached);
  node->pool_.Start();
  return node;
}

MasterNode::~MasterNode() { Stop(); }

void MasterNode::Stop() {
  asio::post(pool_.context(0), [this] { stopping_ = true; });
  pool_.Stop();
}

admin::ApiHandler MasterNode::api() {
  return [this](const ApiRequest& request) -> asio::awaitable<std::optional<ApiResponse>> {
    co_return co_await asio::co_spawn(pool_.context(0), Handle(request), asio::use_awaitable);
  };
}

void MasterNode::Publish() {
  if (base::Status saved = store_->Save(map_); !saved) {
    spdlog::error("{}", saved.error().message);
  }
  map_version_.Set(static_cast<int64_t>(map_.version()));
  nodes_down_.Set(std::count_if(map_.nodes().begin(), map_.nodes().end(),
                                [](const NodeInfo& node) { return !node.healthy; }));
  for (auto& waker : waiting_) {
    waker->Wake();
  }
  waiting_.clear();
}

asio::awaitable<std::optional<ApiResponse>> MasterNode::Handle(ApiRequest request) {
  const std::string& path = request.path;
  if (path == "/v1/cluster" && request.method == "GET") {
    co_return co_await GetCluster(request.query);
  }
  if (path == "/v1/groups" && request.method == "POST") {
    auto fields = Fields(request.body, {"name"});
    if (!fields) {
      co_return Fail(400, fields.error().message);
    }
    if (base::Status added = map_.AddGroup((*fields)[0]); !added) {
      co_return Fail(map_.FindGroup((*fields)[0]) != nullptr ? 409 : 400, added.error().message);
    }
    Publish();
    co_return Reply(201, {{"name", (*fields)[0]}, {"version", map_.version()}});
  }
  if (path == "/v1/nodes" && request.method == "POST") {
    auto fields = Fields(request.body, {"group", "address"});
    if (!fields) {
      co_return Fail(400, fields.error().message);
    }
    const std::string& group = (*fields)[0];
    const std::string& address = (*fields)[1];
    if (!net::ParseHostPort(address)) {
      co_return Fail(400, "\"address\" must be HOST:PORT");
    }
    auto role = map_.RegisterNode(group, address);
    if (!role) {
      co_return Fail(map_.FindGroup(group) == nullptr ? 404 : 409, role.error().message);
    }
    Publish();
    const NodeInfo* main = map_.MainOf(group);
    co_return Reply(200, {{"role", RoleName(*role)},
                          {"main", main != nullptr ? json(main->address) : json()},
                          {"epoch", map_.FindGroup(group)->epoch},
                          {"version", map_.version()}});
  }
  const std::string nodes_prefix = "/v1/nodes/";
  if (path.rfind(nodes_prefix, 0) == 0 && request.method == "DELETE") {
    co_return co_await RemoveNode(path.substr(nodes_prefix.size()));
  }
  const std::string groups_prefix = "/v1/groups/";
  if (path.rfind(groups_prefix, 0) == 0 && request.method == "POST") {
    const std::string rest = path.substr(groups_prefix.size());
    const size_t slash = rest.find('/');
    const std::string group = rest.substr(0, slash);
    const std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (map_.FindGroup(group) == nullptr) {
      co_return Fail(404, "no group " + group);
    }
    if (action == "failover") {
      co_return co_await Switchover(group);
    }
    if (action == "mode") {
      auto fields = Fields(request.body, {"mode"});
      if (!fields || ((*fields)[0] != "sync" && (*fields)[0] != "async")) {
        co_return Fail(400, "{\"mode\": \"sync\"} or {\"mode\": \"async\"} is required");
      }
      (void)map_.SetMode(group, (*fields)[0] == "sync");
      Publish();
      co_return Reply(200, {{"mode", (*fields)[0]}, {"version", map_.version()}});
    }
  }
  co_return std::nullopt;
}

asio::awaitable<ApiResponse> MasterNode::RemoveNode(std::string address) {
  if (const NodeInfo* node = map_.FindNode(address); node != nullptr && node->role == Role::kMain) {
    co_await WaitOutLease(address);  // Its backup becomes main: no overlap.
  }
  if (base::Status removed = map_.RemoveNode(address); !removed) {
    co_return Fail(404, removed.error().message);
  }
  Publish();
  co_return Reply(200, {{"version", map_.version()}});
}

asio::awaitable<ApiResponse> MasterNode::Switchover(std::string group) {
  const NodeInfo* old_main = map_.MainOf(group);
  const std::string old_address = old_main != nullptr ? old_main->address : "";
  if (!co_await CatchUpBeforeSwitchover(group)) {
    co_await WaitOutLease(old_address);
  }
  auto main = map_.Promote(group);
  if (!main) {
    map_.SetFrozen(group, false);  // No switchover: the main takes writes again.
    Publish();
    co_return Fail(409, main.error().message);
  }
  spdlog::info("group {}: switchover, main is now {}", group, *main);
  switchovers_.Increment();
  Publish();
  co_return Reply(200, {{"main", *main}, {"version", map_.version()}});
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
  Publish();
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
        caught_up = caught_up || applied->sequence >= written->sequence;
      }
    }
    if (caught_up) {
      break;
    }
  }
  co_return frozen_seen;
}

asio::awaitable<ApiResponse> MasterNode::GetCluster(const std::string& query) {
  const std::string after = QueryValue(query, "after");
  if (!after.empty()) {
    const uint64_t version = ToNumber(after, 0);
    const auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(std::min(ToSeconds(QueryValue(query, "wait"), 10), 60.0)));
    if (map_.version() <= version) {
      auto waker = std::make_shared<net::Waker>(co_await asio::this_coro::executor);
      waiting_.push_back(waker);
      co_await waker->WaitUntil(std::chrono::steady_clock::now() + wait);
      std::erase(waiting_, waker);
    }
  }
  // The node asked before this answer: the lease it counts from then ends before ours.
  if (NodeInfo* node = map_.FindNode(QueryValue(query, "node")); node != nullptr && node->role == Role::kMain) {
    node->lease_granted = std::chrono::steady_clock::now();
  }
  co_return Reply(200, map_.ToJson(lease()));
}

asio::awaitable<std::optional<MasterNode::ProbeResult>> MasterNode::Probe(std::string address) {
  using namespace asio::experimental::awaitable_operators;
  auto parsed = net::ParseHostPort(address);
  if (!parsed) {
    co_return std::nullopt;
  }
  auto endpoint = net::Resolve(*parsed);
  if (!endpoint) {
    co_return std::nullopt;
  }
  const auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::socket socket(executor);
  asio::steady_timer deadline(executor);
  deadline.expires_after(options_.probe_interval);
  std::string reply;
  auto exchange = [&]() -> asio::awaitable<bool> {
    auto [connect_error] =
        co_await socket.async_connect(*endpoint, asio::as_tuple(asio::use_awaitable));
    if (connect_error) {
      co_return false;
    }
    auto [write_error, written] = co_await asio::async_write(
        socket, asio::buffer(std::string_view("stats\r\n")), asio::as_tuple(asio::use_awaitable));
    if (write_error) {
      co_return false;
    }
    auto [read_error, read] = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(reply), "END\r\n", asio::as_tuple(asio::use_awaitable));
    co_return !read_error;
  };
  auto result = co_await (exchange() || deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (result.index() != 0 || !std::get<0>(result)) {
    co_return std::nullopt;
  }
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
      value("read_only") == 1, value("pid"),
      reply.find("STAT replica_lag_ms ") != std::string::npos
          ? static_cast<int64_t>(value("replica_lag_ms"))
          : -1};
}

asio::awaitable<void> MasterNode::ProbeAll() {
  const auto executor = co_await asio::this_coro::executor;
  std::vector<std::string> addresses;
  for (const NodeInfo& node : map_.nodes()) {
    addresses.push_back(node.address);
  }
  std::vector<std::optional<ProbeResult>> results(addresses.size());
  size_t pending = addresses.size();
  auto waker = std::make_shared<net::Waker>(executor);
  for (size_t i = 0; i < addresses.size(); ++i) {
    asio::co_spawn(
        executor,
        [&, i, waker]() -> asio::awaitable<void> {
          results[i] = co_await Probe(addresses[i]);
          if (--pending == 0) {
            waker->Wake();
          }
        },
        asio::detached);
  }
  while (pending > 0) {
    co_await waker->Wait();
  }
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
      node->failed_probes = 0;
      if (!node->healthy) {
        node->healthy = true;
        spdlog::info("{} answers again", address);
        map_.Touch();
        Publish();
      }
    } else if (++node->failed_probes >= options_.failure_threshold && node->healthy) {
      node->healthy = false;
      spdlog::warn("{} ({} of group {}) is down", address, RoleName(node->role), node->group);
      map_.Touch();
      Publish();
    }
  }
}

asio::awaitable<void> MasterNode::ProbeLoop() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!stopping_) {
    // Rounds start every probe interval: a round whose probes time out (a hung node)
    // does not stretch the time to detect it.
    timer.expires_after(options_.probe_interval);
    co_await ProbeAll();
    // Every group whose main is down gets its best healthy backup, once the main's lease
    // ran out (it may only be cut off from us, and still reach its clients).
    for (const GroupInfo& group : map_.groups()) {
      const NodeInfo* main = map_.MainOf(group.name);
      if (main != nullptr && !main->healthy &&
          std::chrono::steady_clock::now() >= LeaseEnd(*main)) {
        if (auto promoted = map_.Promote(group.name)) {
          spdlog::warn("group {}: failover, main is now {} (epoch {})", group.name, *promoted,
                       map_.FindGroup(group.name)->epoch);
          automatic_failovers_.Increment();
          Publish();
        }
      }
    }
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace trellis::master
