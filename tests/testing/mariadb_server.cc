#include "testing/mariadb_server.h"

#include <sys/wait.h>

#include <stdexcept>
#include <vector>

#include "testing/loopback_client.h"
#include "testing/mysql_client.h"

namespace trellis::testing {

namespace {

// The data directory every server of this process starts as a copy of.
const std::filesystem::path& TemplateDataDir() {
  static TempDir holder;  // Removed when the process exits.
  static const std::filesystem::path data = [] {
    const std::filesystem::path path = holder.path() / "data";
    // Its bootstrap server's temporary tables in a directory of its own: in the shared
    // /tmp, two tests' installs at once collide on their names.
    DaemonProcess install(
        {"--no-defaults", "--datadir=" + path.string(), "--tmpdir=" + holder.path().string(),
         "--auth-root-authentication-method=normal", "--skip-test-db", "--user=root"},
        "/usr/bin/mariadb-install-db");
    const std::optional<int> status = install.WaitExit(120s);
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      throw std::runtime_error("mariadb-install-db failed: " + install.Log());
    }
    return path;
  }();
  return data;
}

}  // namespace

MariaDbServer::MariaDbServer(int server_id) : data_(dir_.path() / "data"), server_id_(server_id) {
  std::filesystem::copy(TemplateDataDir(), data_, std::filesystem::copy_options::recursive);
  Start();
}

MariaDbServer::MariaDbServer(std::filesystem::path data, std::string user, std::string password)
    : data_(std::move(data)),
      server_id_(1),
      user_(std::move(user)),
      password_(std::move(password)) {
  Start();
}

MariaDbServer::~MariaDbServer() = default;

void MariaDbServer::Start() {
  const std::string dir = dir_.path().string();
  std::vector<std::string> args = {
      "--no-defaults",
      "--datadir=" + data_.string(),
      "--socket=" + dir + "/mariadbd.sock",
      "--pid-file=" + dir + "/mariadbd.pid",
      "--tmpdir=" + dir,
      "--port=" + std::to_string(port_.port()),
      "--bind-address=127.0.0.1",
      "--user=root",
      "--skip-name-resolve",
      "--performance-schema=OFF",
      "--innodb-buffer-pool-size=32M",
      "--max-connections=20000",
      "--max-allowed-packet=64M",  // Room for messages past 16 MiB (several packets).
      "--server-id=" + std::to_string(server_id_),
      "--log-bin=" + dir + "/binlog",
      "--binlog-format=ROW",
      "--log-slave-updates=ON",
      "--gtid-strict-mode=ON",
  };
  process_ = std::make_unique<DaemonProcess>(args, "/usr/sbin/mariadbd", port_);
  const bool answers = Eventually(
      [&] {
        try {
          MysqlClient probe(port_.port(), user_, password_);
          return true;
        } catch (const std::runtime_error&) {
          return false;
        }
      },
      60s);
  if (!answers) {
    throw std::runtime_error("mariadbd did not start: " + process_->Log());
  }
}

void MariaDbServer::CreateUser(const std::string& user, const std::string& password) {
  Query("CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + password + "'");
  Query("GRANT ALL PRIVILEGES ON *.* TO '" + user + "'@'%'");
}

std::string MariaDbServer::Query(const std::string& sql) {
  MysqlClient client(port_.port(), user_, password_);
  const SqlResult result = client.Query(sql);
  if (!result.ok()) {
    throw std::runtime_error(sql + ": " + std::to_string(result.error_code) + " " + result.error);
  }
  std::string rows;
  for (const auto& row : result.rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      rows.append(i == 0 ? "" : "\t").append(row[i].value_or("NULL"));
    }
    rows.push_back('\n');
  }
  return rows;
}

}  // namespace trellis::testing
