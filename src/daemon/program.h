// Running another program to completion, or starting one to stop later: what CDB does
// with MariaDB's tools (mariadb-install-db, mariadb-backup, mariadb-binlog, the mariadb
// client) and the server a restore runs for a while. A long-lived child that must be
// kept running belongs to daemon::Supervisor instead.
//
// Thread safety: free functions; a StartedProgram is owned by one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace trellis::daemon {

struct ProgramRun {
  std::string program;  // An absolute path.
  std::vector<std::string> args;
  std::filesystem::path log;  // Standard output and error are appended here.
  // Standard input is read from this file; none: /dev/null.
  std::optional<std::filesystem::path> input;
  // NAME=VALUE, added to (or replacing) this process's environment.
  std::vector<std::string> environment;
};

// "exited 1", "killed by signal 9": a wait status in words.
std::string DescribeExit(int wait_status);

// Runs it and waits; an error, naming the log, unless it exits 0.
base::Status RunProgram(const ProgramRun& run);

// A program started and not waited for; its destructor kills it (SIGKILL) and reaps it.
class StartedProgram {
 public:
  static base::Result<StartedProgram> Start(const ProgramRun& run);
  StartedProgram(StartedProgram&& other) noexcept;
  StartedProgram& operator=(StartedProgram&&) = delete;
  StartedProgram(const StartedProgram&) = delete;
  ~StartedProgram();

  // SIGTERM, then its exit awaited for up to `grace`, then SIGKILL. Returns whether it
  // exited 0 by itself in time.
  bool Stop(std::chrono::milliseconds grace);
  // Its wait status (0: it exited 0) once it has exited, reaping it.
  std::optional<int> Exited();

 private:
  explicit StartedProgram(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;                  // -1 once reaped.
  std::optional<int> exit_status_;  // Once reaped by Exited or Stop.
};

}  // namespace trellis::daemon
