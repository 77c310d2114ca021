// Command: one `trellis <name>` subcommand as main() sees it. Each run_<name>.cc defines an
// Add<Name>Command() that registers its flags on the parent CLI11 app and returns the
// function that runs it once the command line has been parsed.
//
// Thread safety: none; start-up only.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace trellis::cli {

struct Command {
  CLI::App* app;             // The subcommand's parser; parsed() says whether it was chosen.
  std::function<int()> run;  // Returns the process exit code.
};

Command AddVersionCommand(CLI::App& parent);
Command AddUpCommand(CLI::App& parent);
Command AddCacheCommand(CLI::App& parent);
Command AddAccessCommand(CLI::App& parent);
Command AddMasterCommand(CLI::App& parent);
Command AddClusterCommand(CLI::App& parent);
Command AddBenchCommand(CLI::App& parent);
Command AddBackupCenterCommand(CLI::App& parent);
Command AddBackupCommand(CLI::App& parent);
Command AddGatewayCommand(CLI::App& parent);
Command AddDbProxyCommand(CLI::App& parent);
Command AddDbCommand(CLI::App& parent);
Command AddCaCommand(CLI::App& parent);
Command AddTokenCommand(CLI::App& parent);
Command AddTenantCommand(CLI::App& parent);
Command AddBlockdCommand(CLI::App& parent);
Command AddVolumeCommand(CLI::App& parent);
Command AddNbdCommand(CLI::App& parent);

}  // namespace trellis::cli
