#include "db/instance_setup.h"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <unistd.h>

#include "base/file.h"
#include "daemon/program.h"

namespace trellis::db {
namespace {

std::filesystem::path InitFile(const InstancePlan& plan) {
  return plan.data / (plan.name + ".init.sql");
}

}  // namespace

base::Result<std::string> RandomSecret() {
  unsigned char random[16];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return base::Error{"no random bytes for a secret"};
  }
  std::string secret;
  for (const unsigned char byte : random) {
    secret += fmt::format("{:02x}", byte);
  }
  return secret;
}

base::Result<std::string> SecretInFile(const std::filesystem::path& path) {
  if (std::filesystem::exists(path)) {
    TRELLIS_TRY(std::string secret, base::ReadFile(path));
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == ' ')) {
      secret.pop_back();
    }
    if (secret.empty()) {
      return base::InvalidArgument(path.string() + ": empty");
    }
    return secret;
  }
  TRELLIS_TRY(const std::string secret, RandomSecret());
  TRELLIS_TRY_STATUS(base::ReplaceSecretFile(path, secret + "\n"));
  return secret;
}

base::Status PrepareInstance(const InstancePlan& plan, const std::string& manager_password) {
  const std::filesystem::path dir = plan.data / plan.name;
  const std::filesystem::path logs = plan.data / "logs";
  std::error_code made;
  std::filesystem::create_directories(logs, made);
  if (made) {
    return base::InvalidArgument(logs.string() + ": " + made.message());
  }
  if (!std::filesystem::exists(dir / "mysql")) {
    // A half-made directory from an interrupted install is made again.
    std::filesystem::remove_all(dir, made);
    std::vector<std::string> args = {"--no-defaults", "--datadir=" + dir.string(),
                                     "--tmpdir=" + plan.data.string(), "--skip-test-db"};
    if (::geteuid() == 0) {
      args.push_back("--user=root");
    }
    TRELLIS_TRY_STATUS(daemon::RunProgram(
        {kMariadbInstallDb, std::move(args), logs / (plan.name + ".install.log"), {}, {}}));
  }
  // Not binary-logged: every server makes the account for itself, and a replica never
  // holds a transaction of its own that its primary lacks.
  const std::string account = fmt::format("'{}'@'127.0.0.1'", kManagerUser);
  return base::ReplaceSecretFile(
      InitFile(plan), fmt::format("SET SQL_LOG_BIN=0;\n"
                                  "CREATE USER IF NOT EXISTS {0} IDENTIFIED BY '{1}';\n"
                                  "ALTER USER {0} IDENTIFIED BY '{1}';\n"
                                  "GRANT ALL PRIVILEGES ON *.* TO {0} WITH GRANT OPTION;\n",
                                  account, manager_password));
}

std::filesystem::path ToolOptionsPath(const std::filesystem::path& data) {
  return data / "tools.cnf";
}

base::Status WriteToolOptions(const std::filesystem::path& data,
                              const std::string& manager_password) {
  return base::ReplaceSecretFile(
      ToolOptionsPath(data),
      fmt::format("[client]\nuser={}\npassword={}\n", kManagerUser, manager_password));
}

std::vector<std::string> MariadbdArgs(const InstancePlan& plan) {
  const std::string dir = (plan.data / plan.name).string();
  std::vector<std::string> args = {
      "--no-defaults",
      "--datadir=" + dir,
      "--socket=" + (plan.data / (plan.name + ".sock")).string(),
      "--pid-file=" + (plan.data / (plan.name + ".pid")).string(),
      "--tmpdir=" + plan.data.string(),
      "--init-file=" + InitFile(plan).string(),
      "--bind-address=" + plan.listen.address().to_string(),
      "--port=" + std::to_string(plan.listen.port()),
      "--server-id=" + std::to_string(plan.server_id),
      "--skip-name-resolve",
      "--performance-schema=OFF",
      "--innodb-buffer-pool-size=64M",
      "--max-connections=2000",
      "--max-allowed-packet=64M",
      // Replication by GTID, every commit durable before it is acknowledged.
      "--log-bin=" + dir + "/binlog",
      "--relay-log=" + dir + "/relay",
      "--binlog-format=ROW",
      "--log-slave-updates=ON",
      "--gtid-strict-mode=ON",
      "--sync-binlog=1",
      "--innodb-flush-log-at-trx-commit=1",
      // The primary's side is turned on when it is promoted: on a replica it would hold
      // every replicated commit until a replica of its own acknowledged it.
      "--rpl-semi-sync-master-enabled=OFF",
      "--rpl-semi-sync-slave-enabled=ON",
      "--rpl-semi-sync-master-wait-point=AFTER_SYNC",
      "--rpl-semi-sync-master-timeout=" + std::to_string(plan.semi_sync_timeout.count()),
      // Fenced until the manager says otherwise.
      "--read-only=ON",
      "--skip-slave-start",
  };
  if (::geteuid() == 0) {
    args.push_back("--user=root");
  }
  return args;
}

}  // namespace trellis::db
