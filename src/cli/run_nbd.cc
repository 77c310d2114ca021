// `trellis nbd`: the block store's NBD server (docs/block.md): every volume of the master
// is an export of its name, read and written through the storage nodes.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "block/nbd_server.h"
#include "cli/command.h"
#include "daemon/daemon.h"

namespace trellis::cli {
namespace {

struct NbdFlags {
  daemon::DaemonFlags daemon;
  std::string listen = "127.0.0.1:10809";
  daemon::ServiceMasterFlags master;
  int threads = 4;
  std::chrono::milliseconds node_timeout{10000};
};

base::Status RunNbd(daemon::Daemon& daemon, const NbdFlags& flags) {
  block::NbdServerOptions options;
  TRELLIS_TRY(options.listen, daemon::ResolveFlag("--listen", flags.listen));
  options.threads = flags.threads;
  options.links.timeout = flags.node_timeout;
  TRELLIS_TRY(options.master, daemon::MasterAccessOf(flags.master));
  TRELLIS_TRY(auto server, block::NbdServer::Start(options, daemon.metrics()));
  daemon.Add(std::move(server));
  return {};
}

}  // namespace

Command AddNbdCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "nbd",
      "run the NBD server of the block store: each volume is an export of its name "
      "(nbd://HOST:PORT/NAME), replicated by this server to its storage nodes");
  auto flags = std::make_shared<NbdFlags>();
  daemon::AddDaemonFlags(*app, flags->daemon, "127.0.0.1:0");
  app->add_option("--listen", flags->listen, "HOST:PORT of the NBD protocol")
      ->capture_default_str();
  daemon::AddServiceMasterFlags(*app, flags->master);
  app->add_option("--threads", flags->threads, "threads serving connections")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  daemon::AddDurationFlag(*app,
                          {"--node-timeout",
                           "the longest a storage node may take to answer a read or write before "
                           "the copy it holds counts as missing (a flush or FUA write: 30 s); a "
                           "node that is down is known at once, by its connection",
                           std::chrono::milliseconds(10), std::chrono::minutes(1)},
                          flags->node_timeout);
  return {app, [app, flags] {
            return daemon::RunDaemon(
                *app, flags->daemon,
                {"nbd", false, [&flags](daemon::Daemon& d) { return RunNbd(d, *flags); }});
          }};
}

}  // namespace trellis::cli
