// `trellis up`: the CMEM cluster on one machine with the embedded defaults, as supervised
// child processes: a master (its map under <data>/master), groups of two cache nodes
// that take their roles from it (a main and a backup, async replication), and access
// nodes that route by its map and share the client port (SO_REUSEPORT), so that a client
// of 127.0.0.1:11211 sees one memcached. Ctrl-C stops everything; logs go to
// <data>/logs/, the master's URL to <data>/master.url and up's admin URL to <data>/up.url
// (for `trellis cluster`, which asks up to start more groups: up/group_spawner.h). A
// backup center archives every group under <data>/backup; its URL goes to
// <data>/backup.url (for `trellis backup`). Clients reach the access nodes through a
// gateway (its file: <data>/gateway.toml): a tcp listener on --listen in front of the
// access nodes, which share an address of their own, and an http listener on --http
// routing by Host to the backup center's API. The cluster has a CA (<data>/ca, made on
// the first start): every daemon gets a certificate from it, issued afresh at each
// start, and they speak mutual TLS to each other (the master's API, the cache nodes'
// ports); `trellis cluster` and the other operator tools use its "operator" certificate.
// Last comes CDB (up/database.h): `trellis db` running a MariaDB primary and replica, and
// `trellis dbproxy` in front of them on --mysql, as the application user "app" whose
// password is in <data>/db/app.password.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/file.h"
#include "cli/command.h"
#include "daemon/daemon.h"
#include "daemon/supervisor.h"
#include "gateway/gateway_config.h"
#include "master/client/cluster_setup.h"
#include "master/client/master_authenticator.h"
#include "net/address.h"
#include "net/reserved_port.h"
#include "up/cluster_identities.h"
#include "up/daemon_token.h"
#include "up/database.h"
#include "up/group_spawner.h"

namespace trellis::cli {

namespace {

using boost::asio::ip::tcp;

struct UpFlags {
  daemon::DaemonFlags daemon;
  std::string listen = "127.0.0.1:11211";
  std::string http = "127.0.0.1:8080";
  std::string mysql = "127.0.0.1:3306";
  std::string nbd = "127.0.0.1:10809";
  std::string data = "trellis-data";
  int groups = 2;
  int access_nodes = 2;
  size_t memory_mb = 64;
};

// Storage nodes of the block store: three, so that replica:3 volumes can be made.
constexpr int kStorageNodes = 3;
// How long each child may take to start listening.
constexpr std::chrono::seconds kStartPatience{10};
// The database manager listens once its servers do; the first start installs them.
constexpr std::chrono::seconds kDatabasePatience{120};

// Where the gateway of `trellis up` listens and what it serves.
struct GatewayPlan {
  tcp::endpoint memcached;  // Clients of the cache...
  tcp::endpoint http;       // ... and of the HTTP services, by Host.
  tcp::endpoint access;     // The access nodes.
  tcp::endpoint backup_center;
};

// The gateway of `trellis up`: memcached clients relayed to the access nodes; HTTP by
// Host: backup.localhost to the backup center's API (*.localhost is the loopback
// address: curl http://backup.localhost:8080/v1/backup). The master's API takes only the
// cluster's certificates, so it is not behind the gateway's plaintext listener.
gateway::GatewayConfig GatewayInFront(const GatewayPlan& plan) {
  gateway::GatewayConfig config;
  gateway::ListenerConfig& memcached = config.listeners.emplace_back();
  memcached.name = "memcached";
  memcached.bind = net::FormatEndpoint(plan.memcached);
  memcached.kind = gateway::ListenerKind::kTcp;
  memcached.pool = "access";
  gateway::ListenerConfig& http = config.listeners.emplace_back();
  http.name = "http";
  http.bind = net::FormatEndpoint(plan.http);
  http.kind = gateway::ListenerKind::kHttp;
  for (const auto& [pool, server] :
       {std::pair{"access", plan.access}, std::pair{"backup", plan.backup_center}}) {
    gateway::PoolConfig& added = config.pools.emplace_back();
    added.name = pool;
    added.servers = {{net::FormatEndpoint(server)}};
    if (std::string_view(pool) != "access") {
      http.routes.push_back({std::string(pool) + ".localhost", "/", pool});
    }
  }
  return config;
}

base::Status RunUp(daemon::Daemon& daemon, const UpFlags& flags) {
  TRELLIS_TRY(const tcp::endpoint listen, daemon::ResolveFlag("--listen", flags.listen));
  TRELLIS_TRY(const tcp::endpoint http_listen, daemon::ResolveFlag("--http", flags.http));
  TRELLIS_TRY(const tcp::endpoint mysql_listen, daemon::ResolveFlag("--mysql", flags.mysql));
  TRELLIS_TRY(const tcp::endpoint nbd_listen, daemon::ResolveFlag("--nbd", flags.nbd));
  const std::string log_dir = flags.data + "/logs";
  std::error_code made;
  std::filesystem::create_directories(log_dir, made);
  if (made) {
    return base::InvalidArgument("--data: " + log_dir + ": " + made.message());
  }
  TRELLIS_TRY(const std::string program, daemon::SelfProgram());
  auto supervisor = std::make_unique<daemon::Supervisor>(program, log_dir);
  daemon::Supervisor& children = *supervisor;
  daemon.Add(std::move(supervisor));
  // Every address is held for as long as `up` runs, so that children restarted later get
  // it back.
  auto reserve = [&children](const tcp::endpoint& endpoint) -> base::Result<tcp::endpoint> {
    TRELLIS_TRY(auto port, net::ReservedPort::Reserve(endpoint));
    return children.Hold(std::move(port));
  };
  auto clients = reserve(listen);
  if (!clients) {
    return base::WithContext("--listen", clients.error());
  }
  auto http = reserve(http_listen);
  if (!http) {
    return base::WithContext("--http", http.error());
  }
  const std::vector<std::string> settings = {
      "--log-level", flags.daemon.log_level, "--drain-timeout",
      std::to_string(flags.daemon.drain_timeout.count()) + "ms"};
  std::vector<std::string> common = {"--admin", "127.0.0.1:0"};
  common.insert(common.end(), settings.begin(), settings.end());
  auto child = [&common](std::string name, std::vector<std::string> args,
                         std::vector<daemon::Listener> listeners) {
    args.insert(args.end(), common.begin(), common.end());
    return daemon::ChildSpec{std::move(name), std::move(args), std::move(listeners), ""};
  };

  // The cluster's CA, and a certificate for each kind of daemon.
  TRELLIS_TRY(const up::ClusterIdentities identities,
              up::ClusterIdentities::Prepare(flags.data + "/ca", listen.address()));
  // For `trellis cluster` and the other operator tools (daemon::OperatorMaster).
  TRELLIS_TRY(const net::TlsClientFiles operator_identity, identities.Issue("operator"));

  // First the master, and the groups in its map.
  TRELLIS_TRY(const tcp::endpoint master_address, reserve(tcp::endpoint(listen.address(), 0)));
  const std::string master_url = "https://" + net::FormatEndpoint(master_address);
  // The master requires tokens; the admin token it writes is the operator's (`trellis
  // cluster` reads it from there), and its children get one of scope operate.
  const std::string token_file = flags.data + "/admin.token";
  TRELLIS_TRY(std::vector<std::string> master_args,
              identities.WithIdentity(
                  "master", {"master", "--listen", net::FormatEndpoint(master_address), "--data",
                             flags.data + "/master", "--admin-token-file", token_file}));
  TRELLIS_TRY_STATUS(children.Add(
      {child("master", std::move(master_args),
             {{"master", "HTTP/JSON API of the cluster map (mutual TLS)", master_address}})},
      kStartPatience));
  std::ofstream(flags.data + "/master.url") << master_url << "\n";
  TRELLIS_TRY(const std::string token, daemon::ReadTokenFile(token_file));
  TRELLIS_TRY(const net::TlsClientFiles up_identity, identities.Issue("up"));
  TRELLIS_TRY(std::shared_ptr<net::TlsClientContext> up_tls, daemon::ClusterClientTls(up_identity));
  const master::MasterAccess master{master_url, token, up_tls};
  daemon.set_authenticator(std::make_shared<master::MasterAuthenticator>(master));
  const std::string daemons_token_file = flags.data + "/daemons.token";
  TRELLIS_TRY_STATUS(up::RenewDaemonToken(master, daemons_token_file));

  // Then two cache nodes per group (the master says which is the main) and the access
  // nodes. Nodes of an earlier run (other addresses) leave the map. Groups added later
  // come from the spawner (`trellis cluster add-group NAME --spawn`).
  TRELLIS_TRY(const std::vector<std::string> node_common, identities.WithIdentity("cache", common));
  auto spawner = std::make_shared<up::GroupSpawner>(
      children, up::GroupSpawnerOptions{master, daemons_token_file, listen.address(),
                                        flags.memory_mb, node_common, kStartPatience});
  std::vector<daemon::ChildSpec> specs;
  std::vector<master::GroupPlan> plan;
  for (int g = 1; g <= flags.groups; ++g) {
    TRELLIS_TRY(auto group, spawner->Plan("g" + std::to_string(g)));
    plan.push_back(std::move(group.first));
    std::move(group.second.begin(), group.second.end(), std::back_inserter(specs));
  }
  TRELLIS_TRY_STATUS(master::ApplyGroupPlan(master, plan, kStartPatience));
  const std::string up_url_file = flags.data + "/up.url";
  daemon.set_api(up::GroupSpawner::Api(spawner), [up_url_file](const std::string& address) {
    std::ofstream(up_url_file) << "http://" << address << "\n";
  });
  TRELLIS_TRY(const tcp::endpoint access_address, reserve(tcp::endpoint(listen.address(), 0)));
  TRELLIS_TRY(const net::TlsClientFiles access_identity, identities.Issue("access"));
  const std::vector<std::string> access_tls = daemon::ClusterTlsArgs(access_identity);
  for (int a = 1; a <= flags.access_nodes; ++a) {
    std::vector<daemon::Listener> listener;
    if (a == 1) {
      listener = {{"access", "memcached protocol, behind the gateway", access_address}};
    }
    std::vector<std::string> access_args = {"access",
                                            "--listen",
                                            net::FormatEndpoint(access_address),
                                            "--threads",
                                            "2",
                                            "--master",
                                            master_url,
                                            "--token-file",
                                            daemons_token_file};
    access_args.insert(access_args.end(), access_tls.begin(), access_tls.end());
    specs.push_back(
        child("access-" + std::to_string(a), std::move(access_args), std::move(listener)));
  }
  TRELLIS_TRY_STATUS(children.Add(std::move(specs), kStartPatience));

  // The gateway in front of them: the addresses clients know.
  TRELLIS_TRY(const tcp::endpoint center_address, reserve(tcp::endpoint(listen.address(), 0)));
  const std::string gateway_file = flags.data + "/gateway.toml";
  TRELLIS_TRY_STATUS(base::ReplaceFile(
      gateway_file,
      gateway::ToToml(GatewayInFront({*clients, *http, access_address, center_address}))));
  TRELLIS_TRY(std::vector<std::string> gateway_args,
              identities.WithIdentity("gateway", {"gateway", "--config", gateway_file, "--threads",
                                                  "2", "--master", master_url}));
  TRELLIS_TRY_STATUS(
      children.Add({child("gateway", std::move(gateway_args),
                          {{"memcached", "memcached protocol, through the gateway", *clients},
                           {"http", "HTTP, through the gateway: backup.localhost", *http}})},
                   kStartPatience));

  // Last the backup center: every group's changes archived under <data>/backup, so that
  // `trellis backup restore --to TIME` works out of the box.
  TRELLIS_TRY(std::vector<std::string> center_args,
              identities.WithIdentity(
                  "backup-center",
                  {"backup-center", "--listen", net::FormatEndpoint(center_address), "--data",
                   flags.data + "/backup", "--master", master_url, "--token-file",
                   daemons_token_file, "--access", net::FormatEndpoint(access_address)}));
  TRELLIS_TRY_STATUS(children.Add(
      {child("backup-center", std::move(center_args),
             {{"backup-center", "HTTP/JSON API of the backup archive", center_address}})},
      kStartPatience));
  std::ofstream(flags.data + "/backup.url")
      << "http://" << net::FormatEndpoint(center_address) << "\n";

  // TSSD: three storage nodes and the NBD server in front of them.
  if (auto nbd = reserve(nbd_listen); !nbd) {
    spdlog::warn("TSSD (block storage) skipped: --nbd: {}", nbd.error().message);
  } else {
    std::vector<daemon::ChildSpec> storage;
    for (int n = 1; n <= kStorageNodes; ++n) {
      TRELLIS_TRY(const tcp::endpoint node_address, reserve(tcp::endpoint(listen.address(), 0)));
      TRELLIS_TRY(std::vector<std::string> node_args,
                  identities.WithIdentity(
                      "blockd", {"blockd", "--listen", net::FormatEndpoint(node_address), "--data",
                                 flags.data + "/blockd" + std::to_string(n), "--master", master_url,
                                 "--token-file", daemons_token_file, "--threads", "2"}));
      storage.push_back(child("blockd-" + std::to_string(n), std::move(node_args), {}));
    }
    TRELLIS_TRY_STATUS(children.Add(std::move(storage), kStartPatience));
    TRELLIS_TRY(std::vector<std::string> nbd_args,
                identities.WithIdentity(
                    "nbd", {"nbd", "--listen", net::FormatEndpoint(*nbd), "--master", master_url,
                            "--token-file", daemons_token_file, "--threads", "2"}));
    TRELLIS_TRY_STATUS(children.Add(
        {child("nbd", std::move(nbd_args), {{"nbd", "NBD: the block store's volumes", *nbd}})},
        kStartPatience));
    spdlog::info(
        "TSSD: trellis volume create v1 --size 1G --redundancy replica:3; nbdinfo "
        "nbd://{}/v1",
        net::FormatEndpoint(*nbd));
  }

  // And CDB, where MariaDB is installed: a primary and a replica behind the dbproxy.
  if (const std::optional<std::string> reason = up::DatabaseUnavailable()) {
    spdlog::warn("CDB (MySQL) skipped: {}", *reason);
    return {};
  }
  auto mysql = reserve(mysql_listen);
  if (!mysql) {
    spdlog::warn("CDB (MySQL) skipped: --mysql: {}", mysql.error().message);
    return {};
  }
  TRELLIS_TRY(const tcp::endpoint manager_address, reserve(tcp::endpoint(listen.address(), 0)));
  TRELLIS_TRY(const up::DatabasePlan database,
              up::PlanDatabase({flags.data, *mysql, manager_address, settings}));
  TRELLIS_TRY_STATUS(children.Add({database.manager}, kDatabasePatience));
  TRELLIS_TRY_STATUS(children.Add({database.proxy}, kStartPatience));
  spdlog::info("CDB: mariadb -h {} -P {} -u app -p{} (the password is in {})",
               mysql->address().to_string(), mysql->port(), database.password,
               database.password_file.string());
  spdlog::info(
      "CDB backups: {} (daily full, hourly incremental, the binary log archived); now: trellis "
      "db backup --manager http://{}; restore: trellis db restore --backups {} --to TIME --into "
      "DIR",
      (database.password_file.parent_path() / "backups").string(),
      net::FormatEndpoint(manager_address),
      (database.password_file.parent_path() / "backups").string());
  return {};
}

}  // namespace

Command AddUpCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "up",
      "start the Trellis platform on this machine with the embedded defaults (a CMEM "
      "cluster: groups of a main and a backup behind access nodes and a gateway, and a "
      "backup center; TSSD: three storage nodes behind an NBD server; CDB: a MariaDB primary "
      "and replica behind the MySQL proxy) and print "
      "its endpoints; Ctrl-C stops it");
  auto flags = std::make_shared<UpFlags>();
  daemon::AddDaemonFlags(*app, flags->daemon, "127.0.0.1:9180");
  app->add_option("--listen", flags->listen,
                  "HOST:PORT where memcached clients connect (the gateway, in front of the "
                  "access nodes); the access and cache "
                  "nodes take free ports on the same host")
      ->capture_default_str();
  app->add_option("--http", flags->http,
                  "HOST:PORT of the gateway's HTTP listener (routes by Host: "
                  "backup.localhost)")
      ->capture_default_str();
  app->add_option("--mysql", flags->mysql,
                  "HOST:PORT where MySQL clients connect (CDB's dbproxy, in front of a MariaDB "
                  "primary and replica on free ports; skipped, saying why, where MariaDB is not "
                  "installed or the address is taken)")
      ->capture_default_str();
  app->add_option("--nbd", flags->nbd,
                  "HOST:PORT of the block store's NBD server (volumes replicated over three "
                  "storage nodes on free ports; skipped, saying why, where the address is taken)")
      ->capture_default_str();
  app->add_option("--data", flags->data,
                  "directory for the children's logs (<data>/logs), data, the cluster's CA "
                  "(<data>/ca) and the admin token (<data>/admin.token)")
      ->capture_default_str();
  app->add_option("--groups", flags->groups,
                  "cache groups, each of two nodes (a main and a backup)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app->add_option("--access-nodes", flags->access_nodes, "access nodes sharing --listen")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app->add_option("--memory", flags->memory_mb, "megabytes of item memory per cache node")
      ->check(CLI::Range(size_t{1}, size_t{65535}))
      ->capture_default_str();
  return {app, [app, flags] {
            return daemon::RunDaemon(*app, flags->daemon, {"up", true, [&flags](daemon::Daemon& d) {
                                                             return RunUp(d, *flags);
                                                           }});
          }};
}

}  // namespace trellis::cli
