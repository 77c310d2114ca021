// The dbproxy (docs/db.md) with real processes: `trellis dbproxy` in front of a real
// MariaDB 10.11 that the test starts, reached by the real `mariadb` client, by sysbench,
// and by MysqlClient sessions the test interleaves. Logins (and their refusals in
// MariaDB's words), statements lent per statement, a transaction and session state
// keeping their connection, the reasons counted, session variables and the schema
// following a client to any connection, messages past 16 MiB, 10,000 clients sharing at
// most the configured number of server connections (read from the server), and the same
// scripts answered byte for byte as the server answers them directly.
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

#include "db/sql_client.h"
#include "proto/mysql/messages.h"
#include "proto/mysql/packet.h"
#include "proto/mysql/wire.h"
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

// LAST_INSERT_ID() is the client's own even when its INSERT ran on a connection another
// client had next: the proxy tells the connection the client's id before the statement.
TEST_F(DbProxyTest, LastInsertIdIsTheClientsOwnWhicheverConnectionItsInsertRanOn) {
  db_.Query("CREATE TABLE shop.ids (id INT AUTO_INCREMENT PRIMARY KEY, who VARCHAR(8))");
  MysqlClient a(port_, "app", "secret", "shop");
  MysqlClient b(port_, "app", "secret", "shop");
  ASSERT_TRUE(a.Query("INSERT INTO ids (who) VALUES ('a')").ok());
  // b most likely takes the connection a just gave back, and generates an id there.
  ASSERT_TRUE(b.Query("INSERT INTO ids (who) VALUES ('b')").ok());
  EXPECT_EQ(a.Scalar("SELECT LAST_INSERT_ID()"), "1");
  EXPECT_EQ(b.Scalar("SELECT LAST_INSERT_ID()"), "2");
  ASSERT_TRUE(a.Query("INSERT INTO ids (who) VALUES ('a2')").ok());
  EXPECT_EQ(a.Scalar("SELECT who FROM ids WHERE id = LAST_INSERT_ID()"), "a2");
  // A statement that generates none leaves it as it was, as on the server.
  ASSERT_TRUE(b.Query("UPDATE ids SET who = 'b2' WHERE id = 2").ok());
  EXPECT_EQ(b.Scalar("SELECT LAST_INSERT_ID()"), "2");
  // A client pinned, after its INSERT, to a connection that never saw its id.
  MysqlClient c(port_, "app", "secret", "shop");
  MysqlClient d(port_, "app", "secret", "shop");
  ASSERT_TRUE(c.Query("INSERT INTO ids (who) VALUES ('c')").ok());
  ASSERT_TRUE(d.Query("BEGIN").ok());  // Most likely takes the connection c gave back.
  ASSERT_TRUE(c.Query("SET @pinned = 1").ok());
  EXPECT_EQ(c.Scalar("SELECT LAST_INSERT_ID()"), "4");
  ASSERT_TRUE(d.Query("COMMIT").ok());
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
  // A number of transactions, not a time: the counts below do not depend on the speed.
  run.insert(run.end(), {"--mysql-port=" + std::to_string(port_), "--threads=64", "--events=640",
                         "--time=0", "oltp_read_write", "run"});
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

// A parameter of COM_STMT_EXECUTE: its type (MYSQL_TYPE_*) and its value in the binary
// protocol, or NULL.
struct Parameter {
  uint8_t type;
  std::optional<std::string> value;
};

Parameter Number(int64_t n) {
  std::string bytes;
  proto::mysql::AppendU64(bytes, static_cast<uint64_t>(n));
  return {0x08, bytes};  // MYSQL_TYPE_LONGLONG
}

Parameter Text(std::string_view text) {
  std::string bytes;
  proto::mysql::AppendLenencString(bytes, text);
  return {0xFD, bytes};  // MYSQL_TYPE_VAR_STRING
}

Parameter Null() { return {0x06, std::nullopt}; }  // MYSQL_TYPE_NULL

std::string CommandWith(proto::mysql::Command command, std::string_view argument) {
  return std::string(1, static_cast<char>(command)) + std::string(argument);
}

std::string StatementId(uint32_t id) {
  std::string bytes;
  proto::mysql::AppendU32(bytes, id);
  return bytes;
}

std::string ExecuteCommand(uint32_t id, const std::vector<Parameter>& parameters) {
  std::string payload = CommandWith(proto::mysql::Command::kStmtExecute, StatementId(id));
  proto::mysql::AppendU8(payload, 0);   // No cursor.
  proto::mysql::AppendU32(payload, 1);  // One iteration.
  if (!parameters.empty()) {
    std::string nulls((parameters.size() + 7) / 8, '\0');
    for (size_t i = 0; i < parameters.size(); ++i) {
      if (!parameters[i].value) {
        nulls[i / 8] = static_cast<char>(nulls[i / 8] | (1 << (i % 8)));
      }
    }
    payload += nulls;
    proto::mysql::AppendU8(payload, 1);  // The types follow.
    for (const Parameter& parameter : parameters) {
      proto::mysql::AppendU16(payload, parameter.type);
    }
    for (const Parameter& parameter : parameters) {
      payload += parameter.value.value_or("");
    }
  }
  return payload;
}

// COM_STMT_EXECUTE of statement `id` without its parameters' types (the server uses
// those of the execute before): the NULL bitmap (one byte), then `values` in order.
std::string ExecuteWithoutTypes(uint32_t id, uint8_t nulls,
                                const std::vector<std::string>& values) {
  std::string payload = CommandWith(proto::mysql::Command::kStmtExecute, StatementId(id));
  proto::mysql::AppendU8(payload, 0);   // No cursor.
  proto::mysql::AppendU32(payload, 1);  // One iteration.
  proto::mysql::AppendU8(payload, nulls);
  proto::mysql::AppendU8(payload, 0);  // No types.
  for (const std::string& value : values) {
    payload += value;
  }
  return payload;
}

// Every command of a client's script, for the direct and the proxied run alike: text
// queries (with their result sets, errors and warnings), prepared statements of every
// column type, transactions, session variables, temporary tables, multi-statements and
// large values. Prepared statement ids are those the prepares answered: 1, 2, ... on
// both paths (the proxy numbers a client's statements as the server numbers a
// connection's).
std::vector<std::string> DifferentialScript() {
  using proto::mysql::Command;
  auto query = [](std::string_view sql) { return CommandWith(Command::kQuery, sql); };
  std::vector<std::string> script = {
      query("CREATE TABLE every_type (id INT PRIMARY KEY, ti TINYINT, si SMALLINT UNSIGNED, "
            "mi MEDIUMINT, bi BIGINT, f FLOAT, d DOUBLE, de DECIMAL(12,3), da DATE, "
            "dt DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2), y YEAR, c CHAR(5), "
            "vc VARCHAR(300), bn BINARY(4), vb VARBINARY(20), tb TINYBLOB, b BLOB, "
            "mb MEDIUMBLOB, tt TEXT, e ENUM('a','b'), st SET('x','y'), bt BIT(10), j JSON)"),
      query("INSERT INTO every_type VALUES (1, -128, 65535, -8388608, 9223372036854775807, "
            "1.5, -2.25e100, 123456789.123, '2026-12-05', '2026-12-05 12:34:56.789012', "
            "'2001-02-03 04:05:06.789', '-838:59:58.99', 2155, 'ab', REPEAT('v', 300), "
            "x'00FF0102', x'DEADBEEF', 'tiny', REPEAT('b', 70000), REPEAT('m', 100000), "
            "'text \\'quoted\\'', 'b', 'x,y', b'1010101010', '{\"k\": [1, 2]}')"),
      query("INSERT INTO every_type (id) VALUES (2)"),
      query("SELECT * FROM every_type ORDER BY id"),
      CommandWith(Command::kStmtPrepare, "SELECT * FROM every_type WHERE id >= ? ORDER BY id"),
      ExecuteCommand(1, {Number(1)}),
      ExecuteCommand(1, {Number(2)}),
      CommandWith(Command::kStmtPrepare,
                  "INSERT INTO every_type (id, vc, bi, b, d) VALUES (?, ?, ?, ?, ?)"),
      ExecuteCommand(
          2, {Number(3), Text("prepared"), Null(), Text(std::string(300000, 'p')), Text("3.25")}),
      ExecuteCommand(2, {Number(3), Text("again"), Null(), Null(), Null()}),  // 1062
      // Past 16 MiB: a parameter of 17 MiB; then one without its types, just short of a
      // packet boundary that the types (put in by the proxy) take it past. (Both too long
      // for the BLOB column: 1406, the same either way; the packets are what is tested.)
      ExecuteCommand(2, {Number(5), Text("big"), Null(), Text(std::string(17 << 20, 'P')), Null()}),
      ExecuteWithoutTypes(
          2, /*nulls=*/0x14,
          {Number(6).value.value(), Text("x").value.value(),
           Text(std::string(proto::mysql::kMaxPacketPayload - 3 - 26, 'Q')).value.value()}),
      query("SELECT id, LENGTH(b) FROM every_type WHERE id >= 5 ORDER BY id"),
      CommandWith(Command::kStmtReset, StatementId(2)),
      CommandWith(Command::kStmtClose, StatementId(2)),
      ExecuteCommand(1, {Number(3)}),
      ExecuteCommand(2, {Number(4), Null(), Null(), Null(), Null()}),  // Closed: 1243.
      CommandWith(Command::kStmtReset, StatementId(7)),                // Unknown: 1243.
      CommandWith(Command::kStmtFetch, StatementId(7) + StatementId(1)),
      CommandWith(Command::kStmtFetch, StatementId(1) + StatementId(1)),  // No cursor.
      // Transactions.
      query("BEGIN"),
      query("UPDATE every_type SET ti = 1 WHERE id = 1"),
      query("SELECT ti FROM every_type WHERE id = 1"),
      query("ROLLBACK"),
      query("SELECT ti FROM every_type WHERE id = 1"),
      query("START TRANSACTION"),
      query("DELETE FROM every_type WHERE id = 2"),
      query("COMMIT"),
      query("SELECT COUNT(*) FROM every_type"),
      // Session variables and temporary tables.
      query("SET SESSION sql_mode = 'STRICT_ALL_TABLES'"),
      query("SELECT @@sql_mode"),
      query("INSERT INTO every_type (id, ti) VALUES (9, 1000)"),  // 1264 in strict mode.
      query("SET NAMES latin1"),
      query("SELECT 'caf\xC3\xA9', @@character_set_client"),
      query("SET NAMES utf8mb4"),
      query("CREATE TEMPORARY TABLE scratch (k INT)"),
      query("INSERT INTO scratch VALUES (1), (2), (3)"),
      query("SELECT SUM(k) FROM scratch"),
      query("SET @counted = (SELECT COUNT(*) FROM scratch)"),
      query("SELECT @counted + 1"),
      // Multi-statements, with an error in the middle.
      query("SELECT 1 AS one; SELECT 'two' AS two; UPDATE every_type SET ti = 2 WHERE id = 1"),
      query("SELECT 1; SELECT * FROM nosuch; SELECT 3"),
      // Errors with their codes and SQLSTATE, and warnings.
      query("SELECT * FROM nosuch"),                    // 1146 42S02
      query("SELEKT 1"),                                // 1064 42000
      query("SELECT nosuch FROM every_type"),           // 1054 42S22
      query("INSERT INTO every_type (id) VALUES (1)"),  // 1062 23000
      query("SELECT 1 / 0"),                            // A warning.
      query("SHOW WARNINGS"),
      // Large values: a 5 MB row and a 17 MiB one (several packets).
      query("SELECT REPEAT('L', 5000000) AS large"),
      query("SELECT LENGTH(REPEAT('H', 17825792)), REPEAT('H', 17825792)"),
      CommandWith(Command::kPing, ""),
      CommandWith(Command::kInitDb, "mysql"),
      query("SELECT DATABASE()"),
  };
  return script;
}

// The script's answers in a fresh schema `diff`, on the server at `port`.
std::vector<std::vector<std::string>> RunScript(uint16_t port) {
  auto client = db::SqlClient::Connect(
      {boost::asio::ip::address_v4::loopback(), port},
      {.user = "app", .password = "secret", .database = "diff", .multi_statements = true}, 30s);
  EXPECT_TRUE(client.ok()) << client.error().message;
  std::vector<std::vector<std::string>> answers;
  if (!client.ok()) {
    return answers;
  }
  for (const std::string& command : DifferentialScript()) {
    auto answer = client->Exchange(command);
    EXPECT_TRUE(answer.ok()) << answer.error().message;
    answers.push_back(answer.ok() ? *answer : std::vector<std::string>{"broken"});
  }
  return answers;
}

std::string Printable(const std::string& bytes) {
  std::string text;
  for (const char c : bytes.substr(0, 200)) {
    text += std::isprint(static_cast<unsigned char>(c))
                ? std::string(1, c)
                : fmt::format("\\x{:02x}", static_cast<uint8_t>(c));
  }
  return text + (bytes.size() > 200 ? "..." : "");
}

TEST_F(DbProxyTest, TheSameScriptsAnswerByteForByteDirectAndThroughTheProxy) {
  db_.Query("CREATE DATABASE diff");
  const std::vector<std::vector<std::string>> direct = RunScript(db_.port());
  db_.Query("DROP DATABASE diff");
  db_.Query("CREATE DATABASE diff");
  const std::vector<std::vector<std::string>> proxied = RunScript(port_);
  const std::vector<std::string> script = DifferentialScript();
  ASSERT_EQ(direct.size(), script.size());
  ASSERT_EQ(proxied.size(), script.size());
  for (size_t i = 0; i < script.size(); ++i) {
    ASSERT_EQ(direct[i].size(), proxied[i].size())
        << "command " << i << ": " << Printable(script[i]);
    for (size_t m = 0; m < direct[i].size(); ++m) {
      EXPECT_TRUE(direct[i][m] == proxied[i][m])
          << "command " << i << " (" << Printable(script[i]) << "), message " << m
          << "\n direct:  " << Printable(direct[i][m])
          << "\n proxied: " << Printable(proxied[i][m]);
    }
  }
  // The script did reach the server: rows, errors and the large values among the answers.
  EXPECT_EQ(db_.Query("SELECT COUNT(*) FROM diff.every_type"), "2\n");
}

}  // namespace
}  // namespace trellis
