// `trellis db` (docs/db.md) with real processes: the manager starts two real MariaDB
// 10.11 servers, makes one the primary and the other its semi-synchronous replica, and
// `trellis dbproxy` follows it. Under load (sysbench, and writers that log every commit
// the server acknowledged), the primary's mariadbd is killed with SIGKILL: writes resume
// through the same proxy address on the promoted replica within 10 s, every logged
// commit is there, and the old primary comes back as a replica of the new one with all
// of them too; a switchover on request under the same writers loses none either. And reads on the
// replica: a client's plain reads go there, yet always see the client's own writes, while the
// replica's applying is held back by a lock and while its SQL thread is stopped.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "db/backup_catalog.h"
#include "db/topology.h"
#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"
#include "testing/mariadb_server.h"
#include "testing/mysql_client.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using testing::MysqlClient;

// One server as the manager's /v1/status shows it.
struct ServerStatus {
  std::string name;
  std::string address;
  std::string role;
  std::string position;
  pid_t pid = -1;
};

class DbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The servers bind without SO_REUSEPORT: their ports are let go before they start.
    for (testing::HeldPort& port : server_ports_) {
      port.Release();
    }
    const std::string config = (dir_.path() / "db.toml").string();
    std::ofstream file(config);
    for (size_t i = 0; i < server_ports_.size(); ++i) {
      file << "[[instance]]\nname = \"db" << i + 1 << "\"\nlisten = \""
           << server_ports_[i].address() << "\"\n";
    }
    file << "[[user]]\nname = \"app\"\npassword = \"secret\"\n";
    // Backups only when a test asks for them.
    file << "[backup]\nfull_every = \"0\"\nincremental_every = \"0\"\n";
    file.close();
    manager_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "db", "run", "--config", config, "--data", (dir_.path() / "data").string(), "--admin",
        "127.0.0.1:0", "--failover-after", "2s", "--probe-interval", "250ms"});
    manager_port_ = manager_->WaitForListening("admin", 180s);
    ASSERT_TRUE(Eventually([&] { return Topology().replicas.size() == 1; }, 60s))
        << manager_->Log();

    proxy_ = StartProxy("");
    port_ = proxy_->WaitForListening("dbproxy");
  }

  // A dbproxy following the manager; `more`: lines for its file.
  std::unique_ptr<DaemonProcess> StartProxy(const std::string& more) {
    const std::string proxy_config =
        (dir_.path() / ("dbproxy-" + std::to_string(++proxies_) + ".toml")).string();
    std::ofstream(proxy_config) << "manager = \"http://127.0.0.1:" << manager_port_ << "\"\n"
                                << "max_backend_connections = 32\n"
                                << more << "[[user]]\nname = \"app\"\npassword = \"secret\"\n";
    return std::make_unique<DaemonProcess>(
        std::vector<std::string>{"dbproxy", "--config", proxy_config, "--listen", "127.0.0.1:0",
                                 "--admin", "127.0.0.1:0", "--connect-timeout", "500ms"});
  }

  db::DbTopology Topology() {
    const auto parsed = db::ParseDbTopology(
        nlohmann::json::parse(testing::HttpGet(manager_port_, "/v1/db/topology").body));
    return parsed ? *parsed : db::DbTopology{};
  }

  std::vector<ServerStatus> Servers() {
    const nlohmann::json status =
        nlohmann::json::parse(testing::HttpGet(manager_port_, "/v1/status").body);
    std::vector<ServerStatus> servers;
    for (const nlohmann::json& server : status.at("db").at("servers")) {
      servers.push_back({server.at("name"), server.at("address"), server.at("role"),
                         server.at("position"), server.at("pid")});
    }
    return servers;
  }

  // The server whose role is `role`; throws when there is none.
  ServerStatus ServerWithRole(const std::string& role) {
    for (const ServerStatus& server : Servers()) {
      if (server.role == role) {
        return server;
      }
    }
    throw std::runtime_error("no server is " + role + ": " + manager_->Log());
  }

  // The role of the server named `name` in the manager's status.
  std::string RoleOf(const std::string& name) {
    for (const ServerStatus& server : Servers()) {
      if (server.name == name) {
        return server.role;
      }
    }
    return "";
  }

  static uint16_t PortOf(const std::string& address) {
    return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  }

  testing::TempDir dir_;
  std::vector<testing::HeldPort> server_ports_ = std::vector<testing::HeldPort>(2);
  std::unique_ptr<DaemonProcess> manager_;
  uint16_t manager_port_ = 0;
  int proxies_ = 0;
  std::unique_ptr<DaemonProcess> proxy_;
  uint16_t port_ = 0;
};

TEST_F(DbTest, TheManagerMakesAPrimaryAndAReplicaThatHasItsWrites) {
  const ServerStatus primary = ServerWithRole("primary");
  const ServerStatus replica = ServerWithRole("replica");
  EXPECT_EQ(Topology().primary, primary.address);
  MysqlClient client(port_, "app", "secret");
  ASSERT_TRUE(client.Query("CREATE DATABASE shop").ok());
  ASSERT_TRUE(client.Query("CREATE TABLE shop.t (id INT PRIMARY KEY)").ok());
  ASSERT_TRUE(client.Query("INSERT INTO shop.t VALUES (1), (2)").ok());
  EXPECT_EQ(client.Scalar("SELECT @@port"), std::to_string(PortOf(primary.address)));
  // Semi-synchronous: the commit was acknowledged once the replica had it.
  MysqlClient direct(PortOf(replica.address), "app", "secret");
  EXPECT_TRUE(Eventually([&] { return direct.Scalar("SELECT COUNT(*) FROM shop.t") == "2"; }, 10s));
  // The replica is fenced: the application cannot write there.
  const testing::SqlResult refused = direct.Query("INSERT INTO shop.t VALUES (3)");
  EXPECT_EQ(refused.error_code, 1290) << refused.error;  // --read-only
}

// Writers through a proxy, each logging every commit the server acknowledged, with when
// it was acknowledged; a write that fails is tried again on a new connection, paced.
class CommitLog {
 public:
  CommitLog(uint16_t port, int writers) {
    for (int w = 0; w < writers; ++w) {
      writers_.emplace_back([this, port] { Write(port); });
    }
  }
  ~CommitLog() { Stop(); }

  void Stop() {
    stop_ = true;
    for (std::thread& writer : writers_) {
      if (writer.joinable()) {
        writer.join();
      }
    }
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return committed_.size();
  }
  // When the first commit acknowledged after `at` was.
  std::optional<std::chrono::steady_clock::time_point> FirstAfter(
      std::chrono::steady_clock::time_point at) const {
    std::lock_guard lock(mu_);
    for (const auto& [id, when] : committed_) {
      if (when > at) {
        return when;
      }
    }
    return std::nullopt;
  }
  // The logged commits the server at `port` does not have.
  std::vector<int64_t> MissingOn(uint16_t port) const {
    MysqlClient reader(port, "app", "secret");
    const testing::SqlResult rows = reader.Query("SELECT id FROM shop.commits");
    std::set<int64_t> present;
    for (const auto& row : rows.rows) {
      present.insert(std::stoll(row[0].value_or("0")));
    }
    std::lock_guard lock(mu_);
    std::vector<int64_t> missing;
    for (const auto& [id, when] : committed_) {
      if (present.count(id) == 0) {
        missing.push_back(id);
      }
    }
    return missing;
  }

 private:
  void Write(uint16_t port) {
    std::unique_ptr<MysqlClient> client;
    while (!stop_) {
      const int64_t id = next_id_++;
      try {
        if (!client) {
          client = std::make_unique<MysqlClient>(port, "app", "secret");
        }
        const testing::SqlResult result =
            client->Query("INSERT INTO shop.commits VALUES (" + std::to_string(id) + ")");
        if (result.ok()) {
          std::lock_guard lock(mu_);
          committed_.emplace_back(id, std::chrono::steady_clock::now());
          continue;
        }
      } catch (const std::runtime_error&) {
        client.reset();  // The connection broke: a new one for the next write.
      }
      // Refused or broken: paced, not spun, until the primary is back.
      std::this_thread::sleep_for(20ms);
    }
  }

  mutable std::mutex mu_;
  std::vector<std::pair<int64_t, std::chrono::steady_clock::time_point>> committed_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> next_id_{1};
  std::vector<std::thread> writers_;
};

TEST_F(DbTest, KillingThePrimaryUnderLoadLosesNoCommitAndWritesResumeOnTheReplica) {
  const ServerStatus old_primary = ServerWithRole("primary");
  {
    MysqlClient setup(port_, "app", "secret");
    ASSERT_TRUE(setup.Query("CREATE DATABASE shop").ok());
    ASSERT_TRUE(setup.Query("CREATE TABLE shop.commits (id BIGINT PRIMARY KEY)").ok());
  }
  const std::vector<std::string> sysbench = {
      "--db-driver=mysql", "--mysql-host=127.0.0.1",  "--mysql-port=" + std::to_string(port_),
      "--mysql-user=app",  "--mysql-password=secret", "--mysql-db=shop",
      "--tables=2",        "--table-size=1000"};
  std::vector<std::string> prepare = sysbench;
  prepare.insert(prepare.end(), {"oltp_read_write", "prepare"});
  DaemonProcess prepared(prepare, "/usr/bin/sysbench");
  ASSERT_EQ(prepared.WaitExit(60s), std::optional<int>(0)) << prepared.Log();
  std::vector<std::string> run = sysbench;
  run.insert(run.end(),
             {"--threads=8", "--time=20", "--mysql-ignore-errors=all", "oltp_read_write", "run"});
  DaemonProcess load(run, "/usr/bin/sysbench");

  CommitLog commits(port_, 4);
  ASSERT_TRUE(Eventually([&] { return commits.size() > 200; }, 30s));
  ASSERT_EQ(kill(old_primary.pid, SIGKILL), 0);
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(Eventually([&] { return commits.FirstAfter(killed).has_value(); }, 30s))
      << manager_->Log();
  const auto resumed = *commits.FirstAfter(killed) - killed;
  EXPECT_LT(resumed, 10s);
  const size_t at_resume = commits.size();
  ASSERT_TRUE(Eventually([&] { return commits.size() > at_resume + 200; }, 30s));
  commits.Stop();
  load.Signal(SIGTERM);
  load.WaitExit(30s);

  const ServerStatus new_primary = ServerWithRole("primary");
  EXPECT_NE(new_primary.name, old_primary.name);
  EXPECT_EQ(Topology().primary, new_primary.address);
  EXPECT_THAT(commits.MissingOn(PortOf(new_primary.address)), ::testing::IsEmpty());
  // The old primary came back (its supervisor started it again, read-only) and follows
  // the new one, with every commit.
  ASSERT_TRUE(Eventually([&] { return RoleOf(old_primary.name) == "replica"; }, 60s))
      << manager_->Log();
  EXPECT_TRUE(
      Eventually([&] { return commits.MissingOn(PortOf(old_primary.address)).empty(); }, 30s));
  RecordProperty(
      "writes_resumed_ms",
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(resumed).count()));
}

TEST_F(DbTest, ASwitchoverUnderWritesLosesNoCommitAndTheOldPrimaryFollows) {
  const ServerStatus old_primary = ServerWithRole("primary");
  const ServerStatus replica = ServerWithRole("replica");
  {
    MysqlClient setup(port_, "app", "secret");
    ASSERT_TRUE(setup.Query("CREATE DATABASE shop").ok());
    ASSERT_TRUE(setup.Query("CREATE TABLE shop.commits (id BIGINT PRIMARY KEY)").ok());
  }
  CommitLog commits(port_, 4);
  ASSERT_TRUE(Eventually([&] { return commits.size() > 200; }, 30s));
  // Asking for the primary, or a server not in the file, is refused.
  DaemonProcess same({"db", "switchover", "--manager",
                      "http://127.0.0.1:" + std::to_string(manager_port_), "--to",
                      old_primary.name});
  EXPECT_EQ(same.WaitExit(30s), std::optional<int>(1 << 8));
  EXPECT_THAT(same.Log(), ::testing::HasSubstr("is the primary already"));
  DaemonProcess switchover({"db", "switchover", "--manager",
                            "http://127.0.0.1:" + std::to_string(manager_port_), "--to",
                            replica.name});
  ASSERT_EQ(switchover.WaitExit(60s), std::optional<int>(0)) << switchover.Log() << manager_->Log();
  EXPECT_THAT(switchover.Log(),
              ::testing::HasSubstr(replica.name + " (" + replica.address + ") is the primary"));
  const size_t at_switch = commits.size();
  ASSERT_TRUE(Eventually([&] { return commits.size() > at_switch + 200; }, 30s));
  commits.Stop();
  EXPECT_EQ(RoleOf(replica.name), "primary");
  EXPECT_THAT(commits.MissingOn(PortOf(replica.address)), ::testing::IsEmpty());
  ASSERT_TRUE(Eventually([&] { return RoleOf(old_primary.name) == "replica"; }, 30s))
      << manager_->Log();
  EXPECT_TRUE(
      Eventually([&] { return commits.MissingOn(PortOf(old_primary.address)).empty(); }, 30s));
}

// A metric's value in the text of /metrics; -1 if absent.
double MetricValue(const std::string& metrics, const std::string& line_start) {
  const size_t at = metrics.find("\n" + line_start + " ");
  return at == std::string::npos ? -1 : std::stod(metrics.substr(at + line_start.size() + 2));
}

TEST_F(DbTest, ReadsGoToTheReplicaYetEveryClientReadsItsOwnWritesWhileReplicationLags) {
  std::unique_ptr<DaemonProcess> proxy = StartProxy("replica_reads = true\nmax_replica_lag = 60\n");
  const uint16_t port = proxy->WaitForListening("dbproxy");
  const uint16_t proxy_admin = proxy->WaitForListening("admin");
  const ServerStatus primary = ServerWithRole("primary");
  const ServerStatus replica = ServerWithRole("replica");
  const std::string replica_port = std::to_string(PortOf(replica.address));
  const std::string primary_port = std::to_string(PortOf(primary.address));
  MysqlClient writer(port, "app", "secret");
  ASSERT_TRUE(writer.Query("CREATE DATABASE shop").ok());
  ASSERT_TRUE(writer.Query("CREATE TABLE shop.t (id INT PRIMARY KEY)").ok());
  // A client that wrote nothing reads from the replica once the proxy knows it.
  ASSERT_TRUE(Eventually(
      [&] { return MysqlClient(port, "app", "secret").Scalar("SELECT @@port") == replica_port; },
      10s))
      << proxy->Log();

  std::string manager_password;
  std::ifstream(dir_.path() / "data" / "admin.password") >> manager_password;
  MysqlClient on_replica(PortOf(replica.address), "trellis", manager_password);
  // Every write is read back at once by the client that made it, through the proxy.
  int next = 1;
  auto writes_read_back = [&](int count) {
    for (int i = 0; i < count; ++i, ++next) {
      const std::string id = std::to_string(next);
      EXPECT_TRUE(writer.Query("INSERT INTO shop.t VALUES (" + id + ")").ok());
      EXPECT_EQ(writer.Scalar("SELECT COUNT(*) FROM shop.t WHERE id = " + id), "1")
          << "write " << id << " not read back";
    }
  };
  writes_read_back(5);

  // Held back by a lock: the replica's SQL thread runs, waits for the table, and the
  // replica stays fit for reads; the writer's reads wait for it in vain and go to the
  // primary, while a client that wrote nothing still reads the replica, stale.
  ASSERT_TRUE(on_replica.Query("LOCK TABLES shop.t READ").ok());
  writes_read_back(20);
  const std::string metrics = testing::HttpGet(proxy_admin, "/metrics").body;
  EXPECT_GT(MetricValue(metrics, "trellis_dbproxy_replica_waits_total{outcome=\"primary\"}"), 0)
      << metrics;
  EXPECT_GT(MetricValue(metrics, "trellis_dbproxy_replica_reads_total"), 0) << metrics;
  {
    MysqlClient stranger(port, "app", "secret");
    EXPECT_EQ(stranger.Scalar("SELECT @@port"), replica_port);
    EXPECT_EQ(stranger.Scalar("SELECT COUNT(*) FROM shop.t"), "5");  // Stale, as asked.
  }
  ASSERT_TRUE(on_replica.Query("UNLOCK TABLES").ok());
  EXPECT_TRUE(Eventually(
      [&] { return on_replica.Scalar("SELECT COUNT(*) FROM shop.t") == std::to_string(next - 1); },
      10s));

  // The SQL thread stopped: its lag is unknown, so no reads go to it at all (the manager
  // leaves a replica stopped on purpose alone).
  ASSERT_TRUE(on_replica.Query("STOP SLAVE SQL_THREAD").ok());
  ASSERT_TRUE(Eventually(
      [&] {
        const db::DbTopology topology = Topology();
        return topology.replicas.size() == 1 && !topology.replicas[0].lag_seconds;
      },
      10s));
  EXPECT_TRUE(Eventually(
      [&] { return MysqlClient(port, "app", "secret").Scalar("SELECT @@port") == primary_port; },
      10s));
  writes_read_back(20);
  EXPECT_EQ(ServerWithRole("stopped").name, replica.name);

  // Started again, it catches up and takes the reads again, the writer's among them.
  ASSERT_TRUE(on_replica.Query("START SLAVE SQL_THREAD").ok());
  EXPECT_TRUE(Eventually(
      [&] { return MysqlClient(port, "app", "secret").Scalar("SELECT @@port") == replica_port; },
      10s));
  EXPECT_TRUE(Eventually([&] { return writer.Scalar("SELECT @@port") == replica_port; }, 10s));
  writes_read_back(5);
}

// The rows of shop.items as "id:v" lines, in order.
std::string Contents(const testing::SqlResult& rows) {
  std::string text;
  for (const auto& row : rows.rows) {
    text += row[0].value_or("NULL") + ":" + row[1].value_or("NULL") + "\n";
  }
  return text;
}

constexpr const char* kItems = "SELECT id, v FROM shop.items ORDER BY id";

// Phase `n` of the writes: rows added, earlier ones changed and one removed, in a
// transaction and in single statements.
void WritePhase(uint16_t port, int n) {
  MysqlClient client(port, "app", "secret");
  const std::string phase = std::to_string(n);
  for (int k = 0; k < 10; ++k) {
    const testing::SqlResult inserted =
        client.Query("INSERT INTO shop.items VALUES (" + std::to_string(n * 100 + k) + ", 'phase " +
                     phase + "')");
    ASSERT_TRUE(inserted.ok()) << inserted.error_code << " " << inserted.error;
  }
  for (const std::string& statement :
       {std::string("BEGIN"),
        "UPDATE shop.items SET v = CONCAT(v, ' +" + phase + "') WHERE id % 3 = 0",
        "DELETE FROM shop.items WHERE id = " + std::to_string((n - 1) * 100 + 1),
        std::string("COMMIT")}) {
    ASSERT_TRUE(client.Query(statement).ok()) << statement;
  }
}

TEST_F(DbTest, RestoresToFiveChosenSecondsHoldExactlyWhatWasCommittedBeforeEach) {
  {
    MysqlClient setup(port_, "app", "secret");
    ASSERT_TRUE(setup.Query("CREATE DATABASE shop").ok());
    ASSERT_TRUE(setup.Query("CREATE TABLE shop.items (id INT PRIMARY KEY, v VARCHAR(200))").ok());
  }
  const std::string manager = "http://127.0.0.1:" + std::to_string(manager_port_);
  auto backup = [&](bool incremental) {
    std::vector<std::string> args = {"db", "backup", "--manager", manager};
    if (incremental) {
      args.push_back("--incremental");
    }
    DaemonProcess taking(args);
    EXPECT_EQ(taking.WaitExit(120s), std::optional<int>(0)) << taking.Log() << manager_->Log();
    return taking.Log();
  };
  // A point to restore to: the next second, once it has begun; what the primary holds
  // then is what a restore to it must hold, no more and no less.
  std::vector<std::pair<std::string, std::string>> points;
  auto choose = [&] {
    const auto second =
        std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) + 1s;
    ASSERT_TRUE(Eventually([&] { return std::chrono::system_clock::now() >= second; }, 3s));
    MysqlClient reader(port_, "app", "secret");
    points.emplace_back(
        db::FormatUtcTime(
            std::chrono::duration_cast<std::chrono::seconds>(second.time_since_epoch()).count()),
        Contents(reader.Query(kItems)));
  };
  // The manager's account, for what the application's may not do.
  std::ifstream password_file(dir_.path() / "data" / "admin.password");
  std::string password;
  std::getline(password_file, password);
  // The primary starts a new binary log file: the archive compresses the one before.
  auto rotate = [&] {
    MysqlClient admin(PortOf(Topology().primary), "trellis", password);
    ASSERT_TRUE(admin.Query("FLUSH BINARY LOGS").ok());
  };
  WritePhase(port_, 1);
  EXPECT_THAT(backup(false), ::testing::HasSubstr("full backup"));
  rotate();
  WritePhase(port_, 2);
  rotate();
  choose();  // A full backup and the archive after it.
  WritePhase(port_, 3);
  EXPECT_THAT(backup(true), ::testing::HasSubstr("incremental backup"));
  choose();  // A full backup and an incremental one.
  WritePhase(port_, 4);
  const ServerStatus replica = ServerWithRole("replica");
  DaemonProcess switchover({"db", "switchover", "--manager", manager, "--to", replica.name});
  ASSERT_EQ(switchover.WaitExit(60s), std::optional<int>(0)) << switchover.Log();
  // The proxy follows the manager's topology at its next look (250 ms): until then a
  // write may still reach the old primary, read-only now.
  ASSERT_TRUE(Eventually(
      [&] {
        MysqlClient probe(port_, "app", "secret");
        return probe.Scalar("SELECT @@port") == std::to_string(PortOf(replica.address));
      },
      10s));
  WritePhase(port_, 5);
  rotate();
  choose();  // Across the switchover: two primaries' binary logs.
  // The primary changed: there is nothing of its own to build an incremental on.
  EXPECT_THAT(backup(true), ::testing::HasSubstr("full backup"));
  WritePhase(port_, 6);
  choose();
  EXPECT_THAT(backup(true), ::testing::HasSubstr("incremental backup"));
  WritePhase(port_, 7);
  choose();
  WritePhase(port_, 8);  // In none of the restores.
  // The archive has every write: it has copied the primary's binary log to its end.
  MysqlClient primary(PortOf(Topology().primary), "trellis", password);
  const testing::SqlResult written = primary.Query("SHOW MASTER STATUS");
  ASSERT_EQ(written.rows.size(), 1u);
  ASSERT_TRUE(Eventually(
      [&] {
        const nlohmann::json archive = nlohmann::json::parse(
            testing::HttpGet(manager_port_, "/v1/status").body)["db"]["archive"];
        return archive["file"] == written.rows[0][0].value_or("") &&
               archive["bytes"].get<uint64_t>() >= std::stoull(written.rows[0][1].value_or("0"));
      },
      10s));

  const std::string backups = (dir_.path() / "data" / "backups").string();
  // Two eras; the second's copy starts with its server's whole binary log (so the
  // restores read the switchover's transactions from it whatever the first copy missed).
  std::ifstream eras_file(backups + "/binlog/eras.json");
  const std::string eras_text((std::istreambuf_iterator<char>(eras_file)),
                              std::istreambuf_iterator<char>());
  const auto eras = db::ParseArchiveEras(nlohmann::json::parse(eras_text));
  ASSERT_TRUE(eras.ok()) << eras_text;
  ASSERT_EQ(eras->size(), 2u) << eras_text;
  EXPECT_EQ((*eras)[1].server, replica.name);
  EXPECT_EQ((*eras)[1].starts_at, "") << eras_text;
  EXPECT_NE((*eras)[1].since, "") << eras_text;
  // The complete files of both eras are compressed (the restores below read them so).
  ASSERT_TRUE(Eventually(
      [&] {
        size_t compressed = 0;
        for (const auto& era : std::filesystem::directory_iterator(backups + "/binlog")) {
          if (!era.is_directory()) {
            continue;  // eras.json
          }
          for (const auto& file : std::filesystem::directory_iterator(era.path())) {
            compressed += file.path().extension() == ".zst" ? 1 : 0;
          }
        }
        return compressed >= 4;
      },
      30s));
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& [time, contents] = points[i];
    const std::filesystem::path into = dir_.path() / ("restored-" + std::to_string(i + 1));
    DaemonProcess restore(
        {"db", "restore", "--backups", backups, "--to", time, "--into", into.string()});
    ASSERT_EQ(restore.WaitExit(120s), std::optional<int>(0)) << time << "\n" << restore.Log();
    testing::MariaDbServer restored(into, "app", "secret");
    MysqlClient reader(restored.port(), "app", "secret");
    EXPECT_EQ(Contents(reader.Query(kItems)), contents) << "restored to " << time;
  }
  // Before the first backup there is nothing to start from; a used directory is refused.
  DaemonProcess too_early({"db", "restore", "--backups", backups, "--to", "2020-01-01T00:00:00Z",
                           "--into", (dir_.path() / "early").string()});
  EXPECT_EQ(too_early.WaitExit(30s), std::optional<int>(1 << 8));
  EXPECT_THAT(too_early.Log(), ::testing::HasSubstr("the earliest time to restore to is"));
  DaemonProcess used({"db", "restore", "--backups", backups, "--to", points.back().first, "--into",
                      (dir_.path() / "restored-1").string()});
  EXPECT_EQ(used.WaitExit(30s), std::optional<int>(1 << 8));
  EXPECT_THAT(used.Log(), ::testing::HasSubstr("is not empty"));
  // A backup damaged on disk: the restore fails, and leaves nothing half made.
  for (const auto& entry : std::filesystem::directory_iterator(backups)) {
    if (entry.path().filename().string().ends_with("-full")) {
      std::filesystem::remove(entry.path() / "ibdata1");
    }
  }
  const std::filesystem::path damaged = dir_.path() / "damaged";
  DaemonProcess failed({"db", "restore", "--backups", backups, "--to", points.front().first,
                        "--into", damaged.string() + "/"});
  EXPECT_EQ(failed.WaitExit(120s), std::optional<int>(1 << 8));
  EXPECT_THAT(failed.Log(), ::testing::HasSubstr("what it had made is removed"));
  EXPECT_TRUE(std::filesystem::is_empty(damaged));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "damaged.restore"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "damaged.restore.log"));
}

}  // namespace
}  // namespace trellis
