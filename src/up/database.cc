#include "up/database.h"

#include <fmt/format.h>

#include "base/file.h"
#include "db/instance_setup.h"
#include "net/address.h"
#include "net/reserved_port.h"
#include "proto/mysql/auth.h"

namespace trellis::up {

namespace {

// A port free on `host` now, for a server that binds without SO_REUSEPORT and so cannot
// share a held one (`trellis up` holds its own children's).
base::Result<boost::asio::ip::tcp::endpoint> FreePort(const boost::asio::ip::address& host) {
  TRELLIS_TRY(const net::ReservedPort port, net::ReservedPort::Reserve({host, 0}));
  return port.endpoint();
}

}  // namespace

std::optional<std::string> DatabaseUnavailable() {
  for (const char* program : {db::kMariadbd, db::kMariadbInstallDb}) {
    if (!std::filesystem::exists(program)) {
      return fmt::format("{} is not installed (Debian's mariadb-server)", program);
    }
  }
  return std::nullopt;
}

base::Result<DatabasePlan> PlanDatabase(const DatabaseOptions& options) {
  DatabasePlan plan;
  const std::filesystem::path data = options.data / "db";
  std::error_code made;
  std::filesystem::create_directories(data, made);
  if (made) {
    return base::InvalidArgument(data.string() + ": " + made.message());
  }
  plan.password_file = data / "app.password";
  TRELLIS_TRY(plan.password, db::SecretInFile(plan.password_file));
  const std::string hash = proto::mysql::FormatStoredHash(
      proto::mysql::StoredHash(proto::mysql::PasswordSha1(plan.password)));
  const std::string user = fmt::format("[[user]]\nname = \"app\"\npassword = \"{}\"\n", hash);

  std::string servers;
  for (const char* name : {"db1", "db2"}) {
    TRELLIS_TRY(const boost::asio::ip::tcp::endpoint port, FreePort(options.mysql.address()));
    servers += fmt::format("[[instance]]\nname = \"{}\"\nlisten = \"{}\"\n", name,
                           net::FormatEndpoint(port));
  }
  const std::filesystem::path manager_file = options.data / "db.toml";
  TRELLIS_TRY_STATUS(base::ReplaceFile(manager_file, servers + user));
  const std::filesystem::path proxy_file = options.data / "dbproxy.toml";
  TRELLIS_TRY_STATUS(
      base::ReplaceFile(proxy_file, fmt::format("manager = \"http://{}\"\nreplica_reads = true\n{}",
                                                net::FormatEndpoint(options.manager), user)));

  auto with_common = [&options](std::vector<std::string> args,
                                const boost::asio::ip::tcp::endpoint& admin) {
    args.insert(args.end(), {"--admin", net::FormatEndpoint(admin)});
    args.insert(args.end(), options.common.begin(), options.common.end());
    return args;
  };
  plan.manager = {
      "db",
      with_common({"db", "run", "--config", manager_file.string(), "--data", data.string()},
                  options.manager),
      {{"db", "trellis db: which MariaDB server is the primary (GET /v1/db/topology)",
        options.manager}},
      ""};
  plan.proxy = {"dbproxy",
                with_common({"dbproxy", "--config", proxy_file.string(), "--listen",
                             net::FormatEndpoint(options.mysql), "--threads", "2"},
                            {options.mysql.address(), 0}),
                {{"mysql", "MySQL protocol (CDB: dbproxy, primary and replica)", options.mysql}},
                ""};
  return plan;
}

}  // namespace trellis::up
