// Supervisor: the child processes of `trellis up`. Each child is this same binary with
// its own arguments, its output appended to a log file, and a parent-death signal so it
// never outlives the supervisor. A child that exits while the supervisor runs is started
// again after a pause; Stop() sends SIGTERM to all, waits, and kills what is left.
//
// Thread safety: Add/Stop/children from the main thread; a reaper thread restarts.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"

namespace trellis::cli {

struct ChildSpec {
  std::string name;               // "g1-main", "access-1": its log is <logs>/<name>.log.
  std::vector<std::string> args;  // After the program name.
};

struct ChildStatus {
  std::string name;
  pid_t pid = -1;
  int restarts = 0;
};

class Supervisor {
 public:
  Supervisor(std::string program, std::string log_dir);
  ~Supervisor();

  // Starts `children` (more may be added later).
  base::Status Add(std::vector<ChildSpec> children);
  // SIGTERM to every child; after `grace`, SIGKILL. Returns when all have exited.
  void Stop(std::chrono::milliseconds grace);
  std::vector<ChildStatus> children() const;

 private:
  struct Child {
    ChildSpec spec;
    pid_t pid = -1;
    int restarts = 0;
  };
  base::Result<pid_t> Spawn(const ChildSpec& spec);
  void Reap();

  const std::string program_;
  const std::string log_dir_;
  mutable std::mutex mu_;
  std::vector<Child> children_;  // Guarded by mu_.
  bool stopping_ = false;        // Guarded by mu_.
  std::thread reaper_;
};

}  // namespace trellis::cli
