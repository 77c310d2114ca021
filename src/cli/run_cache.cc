// `trellis cache`: one memcached-compatible cache node. Takes memcached's own short flags
// too (-l -p -t -m -c -I -M -U 0 -u -v), so it drops into existing memcached setups.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>

#include <CLI/CLI.hpp>

#include "cache/cache_node.h"
#include "cache/cluster_member.h"
#include "cli/command.h"
#include "daemon/daemon.h"
#include "master/client/master_authenticator.h"
#include "net/address.h"

namespace trellis::cli {
namespace {

struct CacheFlags {
  daemon::DaemonFlags daemon;
  std::string listen = "127.0.0.1:11211";
  std::string host;  // -l: memcached's listen address without the port.
  int port = -1;     // -p
  int threads = 4;
  size_t memory_mb = 64;
  std::string max_item_size = "1m";
  bool no_evict = false;
  size_t max_connections = 1024;
  std::chrono::milliseconds idle_timeout{0};
  int udp_port = 0;
  std::string user;
  int verbosity = 0;
  std::string replica_of;
  std::string master;
  std::string token_file;
  net::TlsClientFiles cluster_tls;
  std::string group;
  std::string advertise;
  bool sync_replication = false;
  bool sync_refuse = false;
  std::chrono::milliseconds sync_timeout{1000};
  size_t replication_log_mb = 64;
  net::TlsServerFiles tls;
};

// "1048576", "1024k", "1m" -> bytes; memcached's -I syntax.
base::Result<size_t> ParseSize(const std::string& text) {
  size_t multiplier = 1;
  std::string digits = text;
  if (!digits.empty() && (digits.back() == 'k' || digits.back() == 'K')) {
    multiplier = 1024;
    digits.pop_back();
  } else if (!digits.empty() && (digits.back() == 'm' || digits.back() == 'M')) {
    multiplier = 1024 * 1024;
    digits.pop_back();
  }
  char* end = nullptr;
  const unsigned long long value = std::strtoull(digits.c_str(), &end, 10);
  if (digits.empty() || *end != '\0' || value == 0) {
    return base::InvalidArgument("--max-item-size: '" + text +
                                 "' is not a size (e.g. 1048576, 512k, 1m)");
  }
  return static_cast<size_t>(value * multiplier);
}

base::Status RunCache(daemon::Daemon& daemon, const CacheFlags& flags) {
  auto listen = net::ParseHostPort(flags.listen);
  if (!listen) {
    return base::InvalidArgument("--listen: " + listen.error().message);
  }
  if (!flags.host.empty()) {
    listen->host = flags.host;
  }
  if (flags.port >= 0) {
    listen->port = static_cast<uint16_t>(flags.port);
  }
  auto endpoint = net::Resolve(*listen);
  if (!endpoint) {
    return base::InvalidArgument("--listen: " + endpoint.error().message);
  }
  TRELLIS_TRY(const size_t max_item_size, ParseSize(flags.max_item_size));
  if (max_item_size > flags.memory_mb * 1024 * 1024 / 2) {
    return base::InvalidArgument("--max-item-size must be at most half of --memory");
  }
  if (flags.udp_port != 0) {
    return base::InvalidArgument("-U: UDP is not supported; only -U 0 is accepted");
  }
  if (flags.verbosity > 0 && flags.daemon.log_level == "info") {
    spdlog::set_level(spdlog::level::debug);
  }
  if (flags.master.empty() != flags.group.empty()) {
    return base::InvalidArgument("--master and --group go together");
  }
  if (!flags.advertise.empty() && flags.master.empty()) {
    return base::InvalidArgument("--advertise: only with --master");
  }
  if (!flags.advertise.empty() && !net::ParseHostPort(flags.advertise)) {
    return base::InvalidArgument("--advertise: '" + flags.advertise + "' is not HOST:PORT");
  }
  if (!flags.master.empty() && !flags.replica_of.empty()) {
    return base::InvalidArgument("--replica-of: with --master, the master says whom to follow");
  }

  cache::CacheNodeOptions options;
  options.listen = *endpoint;
  options.threads = flags.threads;
  options.memory_bytes = flags.memory_mb * 1024 * 1024;
  options.max_item_size = max_item_size;
  options.evict = !flags.no_evict;
  options.max_connections = flags.max_connections;
  options.idle_timeout = flags.idle_timeout;
  if (!flags.replica_of.empty()) {
    TRELLIS_TRY(options.replica_of, daemon::ResolveFlag("--replica-of", flags.replica_of));
  }
  options.follows_master = !flags.master.empty();
  options.sync_replication = flags.sync_replication;
  options.refuse_unreplicated_writes = flags.sync_refuse;
  options.sync_timeout = flags.sync_timeout;
  options.replication_log_bytes = flags.replication_log_mb << 20;
  if (!flags.tls.certificate.empty()) {
    if (!flags.master.empty() || !flags.replica_of.empty() ||
        !flags.cluster_tls.certificate.empty()) {
      // Backups, access nodes and the master reach a cluster's nodes with the cluster's
      // certificates, or in plaintext.
      return base::InvalidArgument(
          "--tls-cert: a node of a cluster (--master, --replica-of, --cluster-cert) serves "
          "its port with --cluster-cert (mutual TLS) or in plaintext");
    }
    options.tls = flags.tls;
  }
  if (!flags.cluster_tls.certificate.empty()) {
    options.tls = {flags.cluster_tls.certificate, flags.cluster_tls.key, flags.cluster_tls.ca};
  }
  TRELLIS_TRY(options.cluster_tls, daemon::ClusterClientTls(flags.cluster_tls));
  TRELLIS_TRY(auto node, cache::CacheNode::Start(options, daemon.metrics()));
  cache::CacheNode& cache = *node;
  daemon.Add(std::move(node));
  if (!flags.master.empty()) {
    const std::string address =
        flags.advertise.empty() ? net::FormatEndpoint(cache.local_endpoint()) : flags.advertise;
    TRELLIS_TRY(master::MasterAccess master,
                daemon::MasterAccessOf(flags.master, flags.token_file, flags.cluster_tls));
    TRELLIS_TRY(auto member, cache::ClusterMember::Start({master, flags.group, address}, cache,
                                                         daemon.metrics()));
    daemon.set_authenticator(std::make_shared<master::MasterAuthenticator>(master));
    daemon.Add(std::move(member));
  }
  daemon.set_user(flags.user);
  return {};
}

}  // namespace

Command AddCacheCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "cache",
      "run a memcached-compatible cache node (text and meta protocol); accepts memcached's "
      "own flags -l -p -t -m -c -I -M -U 0 -u -v");
  auto flags = std::make_shared<CacheFlags>();
  daemon::AddDaemonFlags(*app, flags->daemon, "127.0.0.1:0");
  app->add_option("--listen", flags->listen, "HOST:PORT for memcached clients")
      ->capture_default_str();
  app->add_option("-l", flags->host, "memcached -l: the address to listen on (port from -p)");
  app->add_option("-p", flags->port, "memcached -p: the TCP port to listen on")
      ->check(CLI::Range(0, 65535));
  app->add_option("-t,--threads", flags->threads, "worker threads (memcached -t)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app->add_option("-m,--memory", flags->memory_mb,
                  "megabytes of item memory, a hard limit (memcached -m)")
      ->check(CLI::Range(size_t{1}, size_t{65535}))
      ->capture_default_str();
  app->add_option("-I,--max-item-size", flags->max_item_size,
                  "largest item, bytes or with a k/m suffix (memcached -I)")
      ->capture_default_str();
  app->add_flag("-M,--no-evict", flags->no_evict,
                "refuse stores when memory is full instead of evicting (memcached -M)");
  app->add_option("--replica-of", flags->replica_of,
                  "HOST:PORT of a main cache node: follow it as its backup (a snapshot, then "
                  "every change, in order) and refuse writes from clients");
  app->add_option("--master", flags->master,
                  "http://HOST:PORT of the master (or of each, comma-separated): register in "
                  "--group and take the role it "
                  "gives (main, or backup of the group's main); writes are refused until then, "
                  "and as a main taken only while the master or a backup renews its lease");
  daemon::AddTokenFileFlag(*app, flags->token_file);
  daemon::AddClusterTlsFlags(*app, flags->cluster_tls);
  app->add_option("--group", flags->group, "the group this node belongs to (with --master)");
  app->add_option("--advertise", flags->advertise,
                  "HOST:PORT the master, backups and access nodes reach this node at, when "
                  "not its --listen address (NAT, containers); with --master");
  app->add_flag("--sync-replication", flags->sync_replication,
                "answer a write only once a backup has it (or after --sync-timeout)");
  app->add_flag("--sync-refuse", flags->sync_refuse,
                "in sync mode, answer a write no backup took within --sync-timeout with "
                "SERVER_ERROR (it may still be on the main) instead of its reply: no "
                "acknowledged write can then be lost, at the price of errors while alone");
  daemon::AddDurationFlag(*app,
                          {"--sync-timeout",
                           "how long a sync write waits for a backup before it is answered "
                           "anyway and counted in trellis_replication_sync_degraded_total",
                           std::chrono::milliseconds(1), std::chrono::hours(1)},
                          flags->sync_timeout);
  app->add_option("--replication-log", flags->replication_log_mb,
                  "megabytes of recent changes kept for backups that reconnect; one further "
                  "behind gets a full snapshot")
      ->check(CLI::Range(size_t{1}, size_t{65535}))
      ->capture_default_str();
  app->add_option("-c,--max-connections", flags->max_connections,
                  "most simultaneous client connections (memcached -c)")
      ->check(CLI::Range(size_t{1}, size_t{65535}))
      ->capture_default_str();
  daemon::AddDurationFlag(*app,
                          {"--idle-timeout",
                           "close client connections idle this long; 0 never (memcached -o "
                           "idle_timeout)",
                           std::chrono::milliseconds(0), std::chrono::hours(24)},
                          flags->idle_timeout);
  app->add_option("-U", flags->udp_port, "memcached -U: UDP port; only 0 (off) is supported");
  app->add_option("-u", flags->user,
                  "memcached -u: when started as root, become this user once the ports are "
                  "bound; ignored otherwise");
  app->add_flag("-v", flags->verbosity, "memcached -v: more logging (repeatable)");
  daemon::AddTlsFlags(*app, "memcached", flags->tls);
  return {app, [app, flags] {
            return daemon::RunDaemon(
                *app, flags->daemon,
                {"cache", false, [&flags](daemon::Daemon& d) { return RunCache(d, *flags); }});
          }};
}

}  // namespace trellis::cli
