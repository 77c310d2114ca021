// The flags every daemon takes (--config, --admin, --log-level, --drain-timeout), and the
// start-up steps they drive: merging the config file under the command line, setting up
// logging, and resolving the admin address.
//
// Thread safety: none; start-up only.
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"

namespace CLI {
class App;
}

namespace trellis::cli {

struct DaemonFlags {
  std::string config;
  std::string admin;
  std::string log_level = "info";
  double drain_timeout_seconds = 1.0;
};

// Registers the common flags on `app`; `default_admin` is the admin address when unset.
void AddDaemonFlags(CLI::App& app, DaemonFlags& flags, std::string default_admin);

// After parsing: applies --config to the flags the command line left unset, starts logging
// and returns the admin endpoint. Fails with a message naming the bad flag or file line.
base::Result<boost::asio::ip::tcp::endpoint> FinishDaemonFlags(CLI::App& app,
                                                               const DaemonFlags& flags);

struct DaemonAddresses {
  boost::asio::ip::tcp::endpoint admin;
  boost::asio::ip::tcp::endpoint listen;
};
// FinishDaemonFlags, then resolves `listen` (the daemon's --listen, read after the config
// file had its say).
base::Result<DaemonAddresses> FinishDaemonFlags(CLI::App& app, const DaemonFlags& flags,
                                                const std::string& listen);

// Parses and resolves the HOST:PORT value of `flag`; errors start with the flag's name.
base::Result<boost::asio::ip::tcp::endpoint> ResolveFlag(const std::string& flag,
                                                         const std::string& value);

// Prints "trellis <command>: <message>" to stderr and returns the exit code for bad usage.
int UsageError(const CLI::App& app, const std::string& message);

}  // namespace trellis::cli
