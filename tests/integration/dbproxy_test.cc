// The dbproxy (docs/db.md) with real processes: `trellis dbproxy` in front of a real
// MariaDB 10.11 that the test starts, reached by the real `mariadb` client, by sysbench,
// and by MysqlClient sessions the test interleaves. Logins (and their refusals in
// MariaDB's words), statements lent per statement, a transaction and session state
// keeping their connection, the reasons counted, session variables and the schema
// following a client to any connection, messages past 16 MiB, and 10,000 clients
// sharing at most the configured number of server connections, read from the server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "testing/daemon_process.h"
#include "testing/loopback_client.h"
#include "testing/mariadb_server.h"
#include "testing/mysql_client.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::MysqlClient;

constexpr int kServerConnections = 4;

// A metric's value in the text of /metrics; -1 if absent.
double MetricValue(const std::string& metrics, const std::string& name) {
  const std::regex line("(^|\n)" + std::regex_replace(name, std::regex(R"([{}"])"), R"(\$&)") +
                        " ([0-9.e+]+)");
  std::smatch match;
  return std::regex_search(metrics, match, line) ? std::stod(match[2]) : -1;
}

class DbProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_.CreateUser("app", "secret");
    db_.Query("CREATE DATABASE shop");
    proxy_ = StartProxy(kServerConnections);
    port_ = proxy_->WaitForListening("dbproxy");
    admin_port_ = proxy_->WaitForListening("admin");
  }

  // A dbproxy in front of db_ that opens at most `server_connections`.
  std::unique_ptr<DaemonProcess> StartProxy(int server_connections) {
    const std::string config =
        (dir_.path() / ("dbproxy-" + std::to_string(server_connections) + ".toml")).string();
    std::ofstream(config) << "primary = \"" << db_.address() << "\"\n"
                          << "max_backend_connections = " << server_connections << "\n"
                          << "[[user]]\nname = \"app\"\npassword = \"secret\"\n";
    return std::make_unique<DaemonProcess>(
        std::vector<std::string>{"dbproxy", "--config", config, "--listen", "127.0.0.1:0",
                                 "--admin", "127.0.0.1:0", "--lend-timeout", "30s"});
  }

  // Runs the real mariadb client through the proxy; its exit status and output.
  std::pair<int, std::string> Mariadb(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--no-defaults", "-h127.0.0.1", "-P" + std::to_string(port_),
                                    "--batch"};
    all.insert(all.end(), args.begin(), args.end());
    DaemonProcess client(all, "/usr/bin/mariadb");
    const std::optional<int> status = client.WaitExit(30s);
    return {status ? WEXITSTATUS(*status) : -1, client.Log()};
  }

  std::string Metrics() { return testing::HttpGet(admin_port_, "/metrics").body; }

  testing::TempDir dir_;
  testing::MariaDbServer db_;
  std::unique_ptr<DaemonProcess> proxy_;
  uint16_t port_ = 0;
  uint16_t admin_port_ = 0;
};

TEST_F(DbProxyTest, TheMariadbClientRunsStatementsThroughTheProxy) {
  const auto [status, output] =
      Mariadb({"-uapp", "-psecret", "shop", "-e",
               "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), b MEDIUMBLOB); "
               "INSERT INTO t VALUES (1, 'one', NULL), (2, 'two', REPEAT('x', 100000)); "
               "SELECT id, v, LENGTH(b) FROM t ORDER BY id; SELECT DATABASE();"});
  ASSERT_EQ(status, 0) << output;
  EXPECT_THAT(output, HasSubstr("1\tone\tNULL\n2\ttwo\t100000\n"));
  EXPECT_THAT(output, HasSubstr("DATABASE()\nshop\n"));
  EXPECT_EQ(db_.Query("SELECT COUNT(*) FROM shop.t"), "2\n");
}

// A statement and a row of more than 16 MiB each travel in several packets.
TEST_F(DbProxyTest, MessagesPastSixteenMebibytesPassBothWays) {
  db_.Query("CREATE TABLE shop.blobs (id INT PRIMARY KEY, b LONGBLOB)");
  MysqlClient client(port_, "app", "secret", "shop");
  const std::string value(17 << 20, 'v');
  ASSERT_TRUE(client.Query("INSERT INTO blobs VALUES (1, '" + value + "')").ok());
  ASSERT_TRUE(client.Query("INSERT INTO blobs VALUES (2, REPEAT('w', 20000000))").ok());
  const testing::SqlResult rows = client.Query("SELECT id, b FROM blobs ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.error;
  ASSERT_EQ(rows.rows.size(), 2u);
  EXPECT_TRUE(rows.rows[0][1] == value);
  EXPECT_TRUE(rows.rows[1][1] == std::string(20000000, 'w'));
  EXPECT_EQ(client.Scalar("SELECT 1"), "1");  // And the session goes on.
}

TEST_F(DbProxyTest, AWrongPasswordAndAnUnknownSchemaAreRefusedInMariadbsWords) {
  const auto [denied_status, denied] = Mariadb({"-uapp", "-pwrong", "-e", "SELECT 1"});
  EXPECT_NE(denied_status, 0);
  EXPECT_THAT(denied, HasSubstr("ERROR 1045 (28000): Access denied for user 'app'@'127.0.0.1' "
                                "(using password: YES)"));
  const auto [stranger_status, stranger] = Mariadb({"-ustranger", "-psecret", "-e", "SELECT 1"});
  EXPECT_NE(stranger_status, 0);
  EXPECT_THAT(stranger, HasSubstr("ERROR 1045 (28000)"));
  const auto [unknown_status, unknown] = Mariadb({"-uapp", "-psecret", "nosuch", "-e", "SELECT 1"});
  EXPECT_NE(unknown_status, 0);
  EXPECT_THAT(unknown, HasSubstr("ERROR 1049 (42000): Unknown database 'nosuch'"));
  EXPECT_EQ(MetricValue(Metrics(), "trellis_dbproxy_refused_logins_total"), 2);
}

TEST_F(DbProxyTest, ATransactionKeepsItsConnectionAndIsInvisibleToOthersUntilItCommits) {
  db_.Query("CREATE TABLE shop.orders (id INT PRIMARY KEY) ENGINE=InnoDB");
  MysqlClient writer(port_, "app", "secret", "shop");
  MysqlClient reader(port_, "app", "secret", "shop");
  ASSERT_TRUE(writer.Query("BEGIN").ok());
  ASSERT_TRUE(writer.Query("INSERT INTO orders VALUES (1)").ok());
  const std::string writers_connection = writer.Scalar("SELECT CONNECTION_ID()");
  for (int i = 0; i < 10; ++i) {
    // Other statements meanwhile take the other connections, never the writer's.
    EXPECT_EQ(reader.Scalar("SELECT COUNT(*) FROM orders"), "0");
    EXPECT_NE(reader.Scalar("SELECT CONNECTION_ID()"), writers_connection);
    ASSERT_TRUE(writer.Query("INSERT INTO orders VALUES (" + std::to_string(i + 2) + ")").ok());
    EXPECT_EQ(writer.Scalar("SELECT CONNECTION_ID()"), writers_connection);
  }
  ASSERT_TRUE(writer.Query("COMMIT").ok());
  EXPECT_EQ(reader.Scalar("SELECT COUNT(*) FROM orders"), "11");
  EXPECT_GE(MetricValue(Metrics(), "trellis_dbproxy_pinned_total{reason=\"transaction\"}"), 1);
}

TEST_F(DbProxyTest, SessionStateKeepsItsConnectionAndEachReasonIsCounted) {
  MysqlClient variables(port_, "app", "secret", "shop");
  MysqlClient temporary(port_, "app", "secret", "shop");
  MysqlClient others(port_, "app", "secret", "shop");
  ASSERT_TRUE(variables.Query("SET @answer = 42").ok());
  ASSERT_TRUE(temporary.Query("CREATE TEMPORARY TABLE scratch (x INT)").ok());
  ASSERT_TRUE(temporary.Query("INSERT INTO scratch VALUES (7)").ok());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(others.Scalar("SELECT @answer"), "NULL");  // Another session's variable.
    EXPECT_EQ(variables.Scalar("SELECT @answer"), "42");
    EXPECT_EQ(temporary.Scalar("SELECT x FROM scratch"), "7");
  }
  const std::string metrics = Metrics();
  // `others` read @answer too: a user variable pins whoever uses it.
  EXPECT_EQ(MetricValue(metrics, "trellis_dbproxy_pinned_total{reason=\"user_variable\"}"), 2);
  EXPECT_EQ(MetricValue(metrics, "trellis_dbproxy_pinned_total{reason=\"temporary_table\"}"), 1);
}

// Through a proxy of one server connection, every client's statements share it: each
// still sees its own session variables and schema (reset and given again as the
// connection changes hands), and nothing of it pins.
TEST_F(DbProxyTest, SessionVariablesAndTheSchemaFollowTheClientToWhicheverConnectionItGets) {
  const auto narrow = StartProxy(1);
  const uint16_t port = narrow->WaitForListening("dbproxy");
  const uint16_t admin = narrow->WaitForListening("admin");
  db_.Query("CREATE TABLE shop.items (id INT)");
  db_.Query("CREATE DATABASE other");
  db_.Query("CREATE TABLE other.items (id INT)");
  db_.Query("INSERT INTO other.items VALUES (1), (2)");
  MysqlClient ansi(port, "app", "secret");
  MysqlClient plain(port, "app", "secret", "shop");
  const std::string default_mode = plain.Scalar("SELECT @@sql_mode");
  ASSERT_TRUE(ansi.Query("SET SESSION sql_mode = 'ANSI'").ok());
  ASSERT_TRUE(ansi.Query("SET NAMES latin1").ok());
  ASSERT_TRUE(ansi.Query("USE other").ok());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(plain.Scalar("SELECT @@sql_mode"), default_mode);
    EXPECT_EQ(plain.Scalar("SELECT COUNT(*) FROM items"), "0");  // shop.items.
    EXPECT_EQ(ansi.Scalar("SELECT @@sql_mode"),
              "REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI");
    EXPECT_EQ(ansi.Scalar("SELECT @@character_set_client"), "latin1");
    EXPECT_EQ(ansi.Scalar("SELECT COUNT(*) FROM items"), "2");  // other.items.
  }
  EXPECT_EQ(plain.Scalar("SELECT CONNECTION_ID()"), ansi.Scalar("SELECT CONNECTION_ID()"));
  const std::string metrics = testing::HttpGet(admin, "/metrics").body;
  EXPECT_EQ(MetricValue(metrics, "trellis_dbproxy_pinned_total{reason=\"session_variable\"}"), 0);
  EXPECT_EQ(MetricValue(metrics, "trellis_dbproxy_backend_connections"), 1);
}

TEST_F(DbProxyTest, TenThousandClientsShareAtMostTheConfiguredServerConnections) {
  rlimit files{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  files.rlim_cur = std::max<rlim_t>(files.rlim_cur, std::min<rlim_t>(files.rlim_max, 12000));
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
  const std::vector<std::string> sysbench = {"--db-driver=mysql", "--mysql-host=127.0.0.1",
                                             "--mysql-user=app",  "--mysql-password=secret",
                                             "--mysql-db=shop",   "--tables=2",
                                             "--table-size=2000"};
  std::vector<std::string> prepare = sysbench;
  prepare.insert(prepare.end(),
                 {"--mysql-port=" + std::to_string(db_.port()), "oltp_read_write", "prepare"});
  DaemonProcess prepared(prepare, "/usr/bin/sysbench");
  ASSERT_EQ(prepared.WaitExit(60s), std::optional<int>(0)) << prepared.Log();

  // 10,000 clients logged in and idle, and 64 sysbench threads running transactions.
  std::vector<std::unique_ptr<MysqlClient>> idle;
  for (int i = 0; i < 10000; ++i) {
    idle.push_back(std::make_unique<MysqlClient>(port_, "app", "secret"));
  }
  db_.Query("FLUSH STATUS");  // Max_used_connections starts again from those open now.
  std::vector<std::string> run = sysbench;
  // sysbench's prepared statements: the proxy's own, prepared on whichever connection.
  run.insert(run.end(), {"--mysql-port=" + std::to_string(port_), "--threads=64", "--time=3",
                         "oltp_read_write", "run"});
  DaemonProcess load(run, "/usr/bin/sysbench");
  // Exit 0: no error but the deadlocks sysbench takes as part of the load and retries.
  const std::optional<int> status = load.WaitExit(60s);
  ASSERT_EQ(status, std::optional<int>(0)) << load.Log();
  // The server saw the proxy's connections and the test's own (the one querying).
  const int most = std::stoi(db_.Query("SHOW GLOBAL STATUS LIKE 'Max_used_connections'")
                                 .substr(std::string("Max_used_connections\t").size()));
  EXPECT_LE(most, kServerConnections + 1);
  for (const auto& client : idle) {
    ASSERT_EQ(client->Scalar("SELECT 1"), "1");
  }
  const std::string metrics = Metrics();
  EXPECT_LE(MetricValue(metrics, "trellis_dbproxy_backend_connections"), kServerConnections);
  EXPECT_GT(MetricValue(metrics, "trellis_dbproxy_lend_waits_total"), 0);
  EXPECT_GT(MetricValue(metrics, "trellis_dbproxy_pinned_total{reason=\"transaction\"}"), 100);
  EXPECT_EQ(MetricValue(metrics, "trellis_dbproxy_pinned_total{reason=\"prepared_statement\"}"), 0);
}

}  // namespace
}  // namespace trellis
