// `trellis blockd`: a storage node of the block store (docs/block.md): keeps pieces of
// volumes under --data, serves them on --listen, and registers with the master.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "block/block_node.h"
#include "cli/command.h"
#include "daemon/daemon.h"

namespace trellis::cli {
namespace {

struct BlockdFlags {
  daemon::DaemonFlags daemon;
  std::string listen = "127.0.0.1:7100";
  std::string data = "trellis-data/blockd";
  daemon::ServiceMasterFlags master;
  int threads = 4;
};

base::Status RunBlockd(daemon::Daemon& daemon, const BlockdFlags& flags) {
  block::BlockNodeOptions options;
  TRELLIS_TRY(options.listen, daemon::ResolveFlag("--listen", flags.listen));
  options.data = flags.data;
  options.threads = flags.threads;
  TRELLIS_TRY(options.master, daemon::MasterAccessOf(flags.master));
  TRELLIS_TRY(auto node, block::BlockNode::Start(options, daemon.metrics()));
  daemon.Add(std::move(node));
  return {};
}

}  // namespace

Command AddBlockdCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "blockd",
      "run a storage node of the block store: keeps pieces of volumes under --data (a CRC32C "
      "per block, checked on every read) and registers with the master");
  auto flags = std::make_shared<BlockdFlags>();
  daemon::AddDaemonFlags(*app, flags->daemon, "127.0.0.1:0");
  app->add_option("--listen", flags->listen, "HOST:PORT of the storage protocol")
      ->capture_default_str();
  app->add_option("--data", flags->data, "directory of the pieces (and of the node's name)")
      ->capture_default_str();
  daemon::AddServiceMasterFlags(*app, flags->master);
  app->add_option("--threads", flags->threads, "I/O threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  return {app, [app, flags] {
            return daemon::RunDaemon(
                *app, flags->daemon,
                {"blockd", false, [&flags](daemon::Daemon& d) { return RunBlockd(d, *flags); }});
          }};
}

}  // namespace trellis::cli
