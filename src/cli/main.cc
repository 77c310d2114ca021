// trellis: the single executable. Each subcommand is a daemon or an operator command;
// main() only dispatches to the one named on the command line.
#include <fmt/format.h>

#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Trellis: a self-hostable cloud platform. One binary; each subcommand below is a "
      "daemon or an operator command. `trellis COMMAND --help` explains each one's flags."};
  app.name("trellis");
  app.require_subcommand(1);
  // One line per usage error, like every other error the binary prints.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("trellis: ") + e.what() + " (see --help)\n";
  });
  const std::vector<trellis::cli::Command> commands = {
      trellis::cli::AddUpCommand(app),           trellis::cli::AddCacheCommand(app),
      trellis::cli::AddAccessCommand(app),       trellis::cli::AddMasterCommand(app),
      trellis::cli::AddClusterCommand(app),      trellis::cli::AddBenchCommand(app),
      trellis::cli::AddBackupCenterCommand(app), trellis::cli::AddBackupCommand(app),
      trellis::cli::AddGatewayCommand(app),      trellis::cli::AddDbProxyCommand(app),
      trellis::cli::AddDbCommand(app),           trellis::cli::AddCaCommand(app),
      trellis::cli::AddTokenCommand(app),        trellis::cli::AddTenantCommand(app),
      trellis::cli::AddBlockdCommand(app),       trellis::cli::AddVolumeCommand(app),
      trellis::cli::AddNbdCommand(app),          trellis::cli::AddVersionCommand(app),
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2 (daemon/flags.h).
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (const trellis::cli::Command& command : commands) {
    if (command.app->parsed()) {
      return command.run();
    }
  }
  return 2;
}
