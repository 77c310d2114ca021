#include "db/db_manager.h"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "db/backup_files.h"
#include "http/message.h"
#include "net/address.h"

namespace trellis::db {

namespace mysql = proto::mysql;

namespace {

// A probe's statements answer at once, or the server is as good as down.
constexpr std::chrono::milliseconds kProbeTimeout{1000};
// Promoting waits for the server to apply what it received; following is quick.
constexpr std::chrono::seconds kActionTimeout{40};
constexpr int kApplyWaitSeconds = 30;
// How often an asked-for backup is looked at until it is taken.
constexpr std::chrono::milliseconds kBackupPoll{50};

// `text` as an SQL string literal.
std::string Quoted(std::string_view text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'' || c == '\\') {
      quoted.push_back('\\');
    }
    quoted.push_back(c);
  }
  return quoted + "'";
}

std::string_view RoleOf(const DbTopology& topology, const std::string& address,
                        const InstanceView& view) {
  if (!view.answers) {
    return "down";
  }
  if (address == topology.primary) {
    return "primary";
  }
  if (view.read_only && view.source == topology.primary && !topology.primary.empty()) {
    return view.fetching && view.applying ? "replica" : "stopped";
  }
  return view.read_only ? "fenced" : "writable";
}

}  // namespace

base::Result<std::vector<InstancePlan>> InstancePlans(const DbManagerOptions& options) {
  std::vector<InstancePlan> plans;
  for (const DbInstanceConfig& instance : options.config.instances) {
    InstancePlan& plan = plans.emplace_back();
    plan.name = instance.name;
    auto address = net::ParseHostPort(instance.listen);
    if (!address) {
      return base::WithContext("instance " + instance.name, address.error());
    }
    auto endpoint = net::Resolve(*address);
    if (!endpoint) {
      return base::WithContext("instance " + instance.name, endpoint.error());
    }
    plan.listen = *endpoint;
    plan.server_id = static_cast<int>(plans.size());
    // mariadbd takes a relative path from its base directory (/usr), not from here.
    plan.data = std::filesystem::absolute(options.data);
  }
  return plans;
}

base::Result<std::string> PrepareInstances(const std::vector<InstancePlan>& plans,
                                           const std::filesystem::path& data) {
  std::error_code made;
  std::filesystem::create_directories(data, made);
  if (made) {
    return base::InvalidArgument(data.string() + ": " + made.message());
  }
  TRELLIS_TRY(std::string password, SecretInFile(data / "admin.password"));
  for (const InstancePlan& plan : plans) {
    TRELLIS_TRY_STATUS(PrepareInstance(plan, password));
  }
  TRELLIS_TRY_STATUS(WriteToolOptions(data, password));
  return password;
}

DbManager::DbManager(DbManagerOptions options, std::vector<InstancePlan> plans,
                     std::string password, base::Registry& metrics)
    : options_(std::move(options)),
      plans_(std::move(plans)),
      password_(std::move(password)),
      failovers_(metrics.GetCounter("trellis_db_failovers_total",
                                    "Primaries replaced after they stopped serving.")),
      primary_changes_(metrics.GetCounter("trellis_db_primary_changes_total",
                                          "Times a server was made the primary.")),
      refusals_(metrics.GetCounter("trellis_db_refusals_total",
                                   "Probes after which a due failover was refused.")),
      servers_up_(
          metrics.GetGauge("trellis_db_servers_up", "Servers that answered the last probe.")),
      probes_(plans_.size()) {}

DbManager::~DbManager() { Drain(std::chrono::milliseconds(0)); }

base::Result<std::unique_ptr<DbManager>> DbManager::Start(DbManagerOptions options,
                                                          base::Registry& metrics) {
  TRELLIS_TRY(std::vector<InstancePlan> plans, InstancePlans(options));
  TRELLIS_TRY(std::string password, PrepareInstances(plans, options.data));
  TRELLIS_TRY(const std::string self, daemon::SelfProgram());
  std::unique_ptr<DbManager> manager(
      new DbManager(std::move(options), std::move(plans), std::move(password), metrics));
  manager->servers_ =
      std::make_unique<daemon::Supervisor>(self, (manager->options_.data / "logs").string());
  std::vector<daemon::ChildSpec> servers;
  for (const InstancePlan& plan : manager->plans_) {
    servers.push_back({plan.name,
                       MariadbdArgs(plan),
                       {{plan.name, "MySQL protocol (MariaDB)", plan.listen}},
                       kMariadbd});
  }
  TRELLIS_TRY_STATUS(manager->servers_->Add(std::move(servers), manager->options_.start_patience));
  DbManager& built = *manager;
  built.backup_dir_ = built.plans_.front().data / built.options_.config.backup.dir;
  built.archiver_ = std::make_unique<BinlogArchiver>(
      built.backup_dir_, ToolOptionsPath(built.plans_.front().data), *built.servers_);
  built.backups_ = std::make_unique<BackupScheduler>(
      BackupSchedulerOptions{built.options_.config.backup, built.backup_dir_,
                             built.plans_.front().data,
                             [raw = &built]() -> std::optional<InstancePlan> {
                               std::lock_guard lock(raw->mu_);
                               if (!raw->serving_primary_) {
                                 return std::nullopt;
                               }
                               return raw->plans_[*raw->serving_primary_];
                             }},
      metrics);
  manager->primary_serving_at_ = std::chrono::steady_clock::now();
  manager->views_.resize(manager->plans_.size());
  manager->thread_ = std::thread([raw = manager.get()] { raw->Run(); });
  return manager;
}

void DbManager::Run() {
  ClusterView view;
  for (const InstancePlan& plan : plans_) {
    view.addresses.push_back(net::FormatEndpoint(plan.listen));
  }
  for (;;) {
    view.instances.clear();
    for (size_t i = 0; i < plans_.size(); ++i) {
      view.instances.push_back(Probe(i));
    }
    const auto now = std::chrono::steady_clock::now();
    if (primary_ && view.instances[*primary_].answers && !view.instances[*primary_].read_only) {
      primary_serving_at_ = now;
      primary_last_position_ = view.instances[*primary_].position;
      primary_last_semi_sync_ = view.instances[*primary_].semi_sync;
    }
    view.primary = primary_;
    view.primary_lost = now - primary_serving_at_ >= options_.failover_after;
    view.primary_last_position = primary_last_position_;
    view.primary_last_semi_sync = primary_last_semi_sync_;
    ClusterPlan plan = PlanCluster(view);
    bool promoted = false;
    for (const Action& action : plan.actions) {
      const base::Status done = Act(action, *plan.primary);
      if (!done) {
        const std::string failed = fmt::format(
            "{} {}: {}", action.kind == ActionKind::kPromote ? "promoting" : "repointing",
            plans_[action.instance].name, done.error().message);
        if (action.kind == ActionKind::kPromote) {
          plan.primary = primary_;  // Not promoted: tried again at the next probe.
          plan.refusal = failed;
          break;
        }
        spdlog::warn("{}", failed);
      } else {
        promoted = promoted || action.kind == ActionKind::kPromote;
      }
    }
    if (plan.primary != primary_) {
      if (primary_) {
        failovers_.Increment();
        spdlog::warn("{} is the primary now: {} did not serve for {} ms",
                     plans_[*plan.primary].name, plans_[*primary_].name,
                     options_.failover_after.count());
      } else {
        spdlog::info("{} is the primary", plans_[*plan.primary].name);
      }
      primary_changes_.Increment();
      primary_ = plan.primary;
      primary_serving_at_ = now;
      primary_last_position_ = view.instances[*primary_].position;
    }
    if (!plan.refusal.empty()) {
      refusals_.Increment();
    }
    if (promoted) {
      // After the others follow: each statement waits for a replica's acknowledgement.
      if (const base::Status made = MakeUsers(*plan.primary); !made) {
        spdlog::error("making the file's users on {}: {}", plans_[*plan.primary].name,
                      made.error().message);
      }
    }
    bool serving = plan.primary && (promoted || (view.instances[*plan.primary].answers &&
                                                 !view.instances[*plan.primary].read_only));
    std::optional<size_t> switchover_to;
    {
      std::lock_guard lock(mu_);
      switchover_to = std::exchange(switchover_to_, std::nullopt);
    }
    if (switchover_to) {
      // Asked of a settled cluster only: a serving primary, nothing else under way.
      base::Status switched =
          !serving || !plan.actions.empty()
              ? base::Status(base::Conflict("the cluster is not settled (a primary serving, "
                                            "every other server following it)"))
              : Switchover(*primary_, *switchover_to);
      if (switched) {
        spdlog::warn("{} is the primary now: switched over from {}", plans_[*switchover_to].name,
                     plans_[*primary_].name);
        primary_changes_.Increment();
        primary_ = *switchover_to;
        plan.primary = primary_;
        primary_serving_at_ = now;
        primary_last_position_ = view.instances[*primary_].position;
        serving = true;
      }
      const std::string refusal =
          switched ? std::string()
                   : fmt::format("switchover to {}: {}", plans_[*switchover_to].name,
                                 switched.error().message);
      if (!switched) {
        spdlog::error("refused: {}", refusal);
      }
      std::lock_guard lock(mu_);
      switchover_refusal_ = refusal;
    }
    Publish(view, plan, serving);
    if (serving) {
      Archive();
    }
    std::unique_lock lock(mu_);
    if (wake_.wait_for(lock, options_.probe_interval,
                       [this] { return stopping_ || switchover_to_.has_value(); })) {
      if (stopping_) {
        return;
      }
    }
  }
}

void DbManager::Publish(const ClusterView& view, const ClusterPlan& plan, bool serving) {
  int up = 0;
  DbTopology topology;
  {
    std::lock_guard lock(mu_);
    topology.epoch = topology_.epoch;
    if (serving) {
      topology.primary = view.addresses[*plan.primary];
    }
    serving_primary_ = serving ? plan.primary : std::nullopt;
    if (topology.primary != topology_.primary) {
      ++topology.epoch;
    }
    for (size_t i = 0; i < view.instances.size(); ++i) {
      const InstanceView& instance = view.instances[i];
      up += instance.answers ? 1 : 0;
      if (i != plan.primary && instance.answers && instance.fetching &&
          instance.source == topology.primary) {
        topology.replicas.push_back(
            {view.addresses[i], mysql::FormatGtidPosition(instance.applied), instance.lag_seconds});
      }
    }
    topology_ = topology;
    views_ = view.instances;
    if (plan.refusal != refusal_ && !plan.refusal.empty()) {
      spdlog::error("refused: {}", plan.refusal);
    }
    refusal_ = plan.refusal;
  }
  servers_up_.Set(up);
}

InstanceView DbManager::Probe(size_t i) {
  InstanceView view;
  std::optional<SqlClient>& client = probes_[i];
  if (!client) {
    auto connected =
        SqlClient::Connect(plans_[i].listen, {kManagerUser, password_, ""}, kProbeTimeout);
    if (!connected) {
      spdlog::debug("probing {}: {}", plans_[i].name, connected.error().message);
      return view;
    }
    client.emplace(std::move(connected).value());
  }
  auto state = client->Execute(
      "SELECT @@read_only AS read_only, @@gtid_current_pos AS position, (SELECT VARIABLE_VALUE "
      "FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = "
      "'RPL_SEMI_SYNC_MASTER_STATUS') AS semi_sync");
  auto replication = state ? client->Execute("SHOW SLAVE STATUS") : state;
  if (!replication) {
    spdlog::debug("probing {}: {}", plans_[i].name, replication.error().message);
    client.reset();
    return view;
  }
  view.answers = true;
  view.read_only = state->First("read_only") != "0";
  view.semi_sync = state->First("semi_sync") == "ON";
  view.position = mysql::ParseGtidPosition(state->First("position").value_or(""))
                      .value_or(mysql::GtidPosition{});
  if (!replication->rows.empty()) {
    const auto io = replication->First("Slave_IO_Running");
    const auto sql = replication->First("Slave_SQL_Running");
    view.source = replication->First("Master_Host").value_or("") + ":" +
                  replication->First("Master_Port").value_or("");
    view.fetching = io == "Yes" || io == "Connecting";
    view.applying = sql == "Yes";
    if (const auto lag = replication->First("Seconds_Behind_Master")) {
      view.lag_seconds = std::strtoull(lag->c_str(), nullptr, 10);
    }
    if (io == "No") {
      view.replication_error = replication->First("Last_IO_Error").value_or("");
    }
    if (sql == "No" && view.replication_error.empty()) {
      view.replication_error = replication->First("Last_SQL_Error").value_or("");
    }
    if (auto received = mysql::ParseGtidPosition(replication->First("Gtid_IO_Pos").value_or(""))) {
      view.position.Merge(*received);
    }
  }
  return view;
}

base::Result<SqlClient> DbManager::ConnectFor(size_t i, std::chrono::milliseconds timeout) const {
  TRELLIS_TRY(SqlClient client,
              SqlClient::Connect(plans_[i].listen, {kManagerUser, password_, ""}, timeout));
  // Making a server read-only waits for the writes in flight: not forever.
  TRELLIS_TRY(const SqlResult limited, client.Execute("SET SESSION lock_wait_timeout = 10"));
  return client;
}

base::Status DbManager::Act(const Action& action, size_t primary) {
  return action.kind == ActionKind::kPromote ? Promote(action.instance)
                                             : Follow(action.instance, primary);
}

base::Status DbManager::Promote(size_t i) {
  TRELLIS_TRY(SqlClient client, ConnectFor(i, kActionTimeout));
  // What it received from the old primary is applied first: nothing acknowledged is
  // left behind in its relay log.
  TRELLIS_TRY(const SqlResult stopped_io, client.Query("STOP SLAVE IO_THREAD"));
  TRELLIS_TRY(const SqlResult replication, client.Execute("SHOW SLAVE STATUS"));
  const std::string received = replication.First("Gtid_IO_Pos").value_or("");
  if (!received.empty()) {
    TRELLIS_TRY(const SqlResult waited,
                client.Execute(fmt::format("SELECT MASTER_GTID_WAIT({}, {}) AS waited",
                                           Quoted(received), kApplyWaitSeconds)));
    if (waited.First("waited") != "0") {
      return base::Unavailable(fmt::format("it did not apply what it received ({}) within {} s",
                                           received, kApplyWaitSeconds));
    }
  }
  // (STOP SLAVE on a server that never replicated is an error to ignore.)
  TRELLIS_TRY(const SqlResult stopped, client.Query("STOP SLAVE"));
  for (const char* statement :
       {"RESET SLAVE ALL", "SET GLOBAL rpl_semi_sync_master_enabled = ON"}) {
    TRELLIS_TRY(const SqlResult done, client.Execute(statement));
  }
  // Where the archive's era of this primary begins (nothing after it is anyone else's),
  // recorded before it takes a write. A backup directory that cannot be written does not
  // hold the failover up: the log says so, and the archive has a gap.
  TRELLIS_TRY(const SqlResult written, client.Execute("SELECT @@gtid_binlog_pos AS position"));
  if (const base::Status begun =
          archiver_->BeginEra(plans_[i], client, written.First("position").value_or(""));
      !begun) {
    spdlog::error("archiving {}'s binary log: {}", plans_[i].name, begun.error().message);
  }
  TRELLIS_TRY(const SqlResult writable, client.Execute("SET GLOBAL read_only = OFF"));
  return {};
}

void DbManager::Archive() {
  if (archived_ == primary_ || !primary_) {
    return;
  }
  const size_t i = *primary_;
  auto followed = [&]() -> base::Status {
    // Quick statements: the probes and failovers wait on this thread meanwhile.
    TRELLIS_TRY(SqlClient client, ConnectFor(i, kProbeTimeout));
    // Its era was begun at its promotion; if that failed, it begins after what it has now.
    TRELLIS_TRY(const SqlResult written, client.Execute("SELECT @@gtid_binlog_pos AS position"));
    return archiver_->Follow(plans_[i], client, written.First("position").value_or(""));
  }();
  if (!followed) {
    spdlog::error("archiving {}'s binary log: {}", plans_[i].name, followed.error().message);
    return;  // Tried again after the next probe.
  }
  archived_ = i;
}

base::Status DbManager::Switchover(size_t from, size_t to) {
  TRELLIS_TRY(SqlClient old_primary, ConnectFor(from, kActionTimeout));
  // No write is acknowledged by the old primary from here on.
  TRELLIS_TRY(const SqlResult fenced, old_primary.Execute("SET GLOBAL read_only = ON"));
  auto switched = [&]() -> base::Status {
    TRELLIS_TRY(const SqlResult written,
                old_primary.Execute("SELECT @@gtid_binlog_pos AS position"));
    const std::string position = written.First("position").value_or("");
    TRELLIS_TRY(SqlClient target, ConnectFor(to, kActionTimeout));
    if (!position.empty()) {
      TRELLIS_TRY(const SqlResult waited,
                  target.Execute(fmt::format("SELECT MASTER_GTID_WAIT({}, {}) AS waited",
                                             Quoted(position), kApplyWaitSeconds)));
      if (waited.First("waited") != "0") {
        return base::Unavailable(
            fmt::format("it did not apply {} within {} s", position, kApplyWaitSeconds));
      }
    }
    return Promote(to);
  }();
  if (!switched) {
    (void)old_primary.Query("SET GLOBAL read_only = OFF");  // It serves on.
    return switched;
  }
  return Follow(from, to);
}

base::Status DbManager::MakeUsers(size_t primary) {
  TRELLIS_TRY(SqlClient client, ConnectFor(primary, kActionTimeout));
  for (const ProxyUser& user : options_.config.users) {
    const std::string account = Quoted(user.name) + "@'%'";
    const std::string hash = Quoted(mysql::FormatStoredHash(user.stored_hash));
    for (const std::string& statement :
         {fmt::format("CREATE USER IF NOT EXISTS {} IDENTIFIED BY PASSWORD {}", account, hash),
          fmt::format("ALTER USER {} IDENTIFIED BY PASSWORD {}", account, hash),
          fmt::format("GRANT ALL PRIVILEGES ON `%`.* TO {}", account)}) {
      TRELLIS_TRY(const SqlResult done, client.Execute(statement));
    }
  }
  return {};
}

base::Status DbManager::Follow(size_t i, size_t primary) {
  TRELLIS_TRY(SqlClient client, ConnectFor(i, kActionTimeout));
  const InstancePlan& source = plans_[primary];
  TRELLIS_TRY(const SqlResult fenced, client.Execute("SET GLOBAL read_only = ON"));
  TRELLIS_TRY(const SqlResult replica_side,
              client.Execute("SET GLOBAL rpl_semi_sync_master_enabled = OFF"));
  TRELLIS_TRY(const SqlResult stopped, client.Query("STOP SLAVE"));
  for (const std::string& statement :
       {fmt::format("CHANGE MASTER TO MASTER_HOST = {}, MASTER_PORT = {}, MASTER_USER = {}, "
                    "MASTER_PASSWORD = {}, MASTER_USE_GTID = current_pos, "
                    "MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = 1",
                    Quoted(source.listen.address().to_string()), source.listen.port(),
                    Quoted(kManagerUser), Quoted(password_)),
        std::string("START SLAVE")}) {
    TRELLIS_TRY(const SqlResult done, client.Execute(statement));
  }
  spdlog::info("{} follows {}", plans_[i].name, source.name);
  return {};
}

admin::ApiHandler DbManager::Api() {
  return [this](const admin::ApiRequest& request)
             -> boost::asio::awaitable<std::optional<admin::ApiResponse>> {
    if (request.path == "/v1/db/switchover") {
      if (request.method != "POST") {
        co_return admin::ApiResponse{405, R"({"error": "POST only", "code": "invalid_argument"})"};
      }
      const base::Status asked = AskSwitchover(nlohmann::json::parse(request.body, nullptr, false));
      if (!asked) {
        const http::Response error = http::Response::Error(asked.error());
        co_return admin::ApiResponse{error.status, error.body};
      }
      co_return admin::ApiResponse{202, request.body};
    }
    if (request.path == "/v1/db/backups") {
      co_return co_await BackupsApi(request);
    }
    if (request.path != "/v1/db/topology") {
      co_return std::nullopt;
    }
    if (request.method != "GET") {
      co_return admin::ApiResponse{405, R"({"error": "GET only", "code": "invalid_argument"})"};
    }
    co_return admin::ApiResponse{200, ToJson(topology()).dump()};
  };
}

boost::asio::awaitable<admin::ApiResponse> DbManager::BackupsApi(const admin::ApiRequest& request) {
  if (request.method == "GET") {
    const base::Result<std::vector<BackupRecord>> records = ReadBackups(backup_dir_);
    if (!records) {
      const http::Response error = http::Response::Error(records.error());
      co_return admin::ApiResponse{error.status, error.body};
    }
    nlohmann::json list = nlohmann::json::array();
    for (const BackupRecord& record : *records) {
      list.push_back(ToJson(record));
    }
    co_return admin::ApiResponse{200, nlohmann::json{{"backups", list}}.dump()};
  }
  if (request.method != "POST") {
    co_return admin::ApiResponse{405,
                                 R"({"error": "GET or POST only", "code": "invalid_argument"})"};
  }
  const base::Result<BackupRequest> asked =
      ParseBackupRequest(nlohmann::json::parse(request.body, nullptr, false));
  if (!asked) {
    const http::Response error = http::Response::Error(asked.error());
    co_return admin::ApiResponse{error.status, error.body};
  }
  // The backup runs on the scheduler's thread; this endpoint's thread serves on meanwhile.
  std::future<base::Result<BackupRecord>> taking = backups_->Ask(asked->kind);
  boost::asio::steady_timer pause(co_await boost::asio::this_coro::executor);
  for (;;) {
    if (taking.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      break;
    }
    pause.expires_after(kBackupPoll);
    co_await pause.async_wait(boost::asio::use_awaitable);
  }
  const base::Result<BackupRecord> taken = taking.get();
  if (!taken) {
    const http::Response error = http::Response::Error(taken.error());
    co_return admin::ApiResponse{error.status, error.body};
  }
  co_return admin::ApiResponse{200, ToJson(*taken).dump()};
}

base::Status DbManager::AskSwitchover(const nlohmann::json& body) {
  TRELLIS_TRY(const SwitchoverRequest request, ParseSwitchoverRequest(body));
  for (size_t i = 0; i < plans_.size(); ++i) {
    if (plans_[i].name != request.to) {
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (topology_.primary == net::FormatEndpoint(plans_[i].listen)) {
        return base::Conflict(request.to + " is the primary already");
      }
      switchover_to_ = i;
    }
    wake_.notify_all();
    return {};
  }
  return base::NotFound("switchover: no server named " + request.to);
}

DbTopology DbManager::topology() const {
  std::lock_guard lock(mu_);
  return topology_;
}

std::vector<daemon::Listener> DbManager::listeners() const { return servers_->listeners(); }

void DbManager::ReportStatus(nlohmann::json& status) const {
  nlohmann::json backups;
  backups_->ReportStatus(backups);  // Before mu_ is held: the scheduler asks for it.
  nlohmann::json archive;
  if (const base::Result<ArchiveTip> tip = ReadArchiveTip(backup_dir_)) {
    archive = {{"server", tip->era.server},
               {"era", tip->era.dir},
               {"file", tip->file},
               {"bytes", tip->bytes}};
  } else {
    archive = {{"error", tip.error().message}};
  }
  const std::vector<daemon::ChildStatus> children = servers_->children();
  std::lock_guard lock(mu_);
  nlohmann::json servers = nlohmann::json::array();
  for (size_t i = 0; i < plans_.size(); ++i) {
    const InstanceView& view = views_[i];
    const std::string address = net::FormatEndpoint(plans_[i].listen);
    servers.push_back({{"name", plans_[i].name},
                       {"address", address},
                       {"role", RoleOf(topology_, address, view)},
                       {"position", FormatGtidPosition(view.position)},
                       {"source", view.source},
                       {"replication_error", view.replication_error},
                       {"semi_sync", view.semi_sync},
                       {"pid", children[i].pid},
                       {"restarts", children[i].restarts}});
  }
  status["db"] = {{"epoch", topology_.epoch},      {"primary", topology_.primary},
                  {"refusal", refusal_},           {"switchover_refusal", switchover_refusal_},
                  {"servers", std::move(servers)}, {"backups", std::move(backups["backups"])},
                  {"archive", std::move(archive)}};
}

void DbManager::Drain(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  probes_.clear();
  if (backups_) {
    backups_->Stop();  // A backup under way is stopped: the servers go next.
  }
  if (servers_) {
    servers_->Drain(timeout);
  }
}

}  // namespace trellis::db
