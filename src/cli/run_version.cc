// `trellis version`: prints the version.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "base/version.h"
#include "cli/command.h"

namespace trellis::cli {

Command AddVersionCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand("version", "print the Trellis version and exit");
  return {app, [] {
            fmt::print("trellis {}\n", base::kVersion);
            return 0;
          }};
}

}  // namespace trellis::cli
