// Supervisor: child processes that a daemon runs and keeps running (`trellis up` runs the
// whole platform this way, `trellis db` its MariaDB servers). Each child is this same
// binary (or another program) with its own arguments, its output appended to a log file,
// and a parent-death signal so it never outlives the supervisor. A child that exits
// while the supervisor runs is started again after a pause. As a service, it lists the addresses
// its children serve, reports them in /v1/status, and drains by sending SIGTERM to all, waiting,
// and killing what is left.
//
// Thread safety: Stop/Drain from the main thread; Add, Hold, children() and ReportStatus
// from any thread (`trellis up` adds children when asked on its admin endpoint); a
// reaper thread restarts children.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "daemon/service.h"
#include "net/reserved_port.h"

namespace trellis::daemon {

struct ChildSpec {
  std::string name;               // "g1-main", "access-1": its log is <logs>/<name>.log.
  std::vector<std::string> args;  // After the program name.
  // What the child serves, where it is the one to list for it (children may share one).
  std::vector<Listener> listeners;
  std::string program;  // What to run; "": the supervisor's own binary.
};

struct ChildStatus {
  std::string name;
  pid_t pid = -1;
  int restarts = 0;
};

class Supervisor : public Service {
 public:
  // `program`: the binary children run unless their spec names another (this one:
  // SelfProgram()).
  Supervisor(std::string program, std::string log_dir);
  ~Supervisor() override;

  // Starts `children` (more may be added later) and waits until each one's listener
  // accepts connections, for up to `patience`.
  base::Status Add(std::vector<ChildSpec> children, std::chrono::milliseconds patience);
  // Keeps `port` reserved for as long as the supervisor lives, so that a child restarted
  // later binds it again; returns its address.
  boost::asio::ip::tcp::endpoint Hold(net::ReservedPort port);
  // SIGTERM to every child; after `grace`, SIGKILL. Returns when all have exited.
  void Stop(std::chrono::milliseconds grace);
  std::vector<ChildStatus> children() const;
  // Stops the child named `name` (SIGTERM; after `grace`, SIGKILL) and forgets it.
  void Remove(const std::string& name, std::chrono::milliseconds grace);

  std::vector<Listener> listeners() const override;
  // {"children": [{"name", "pid", "restarts"}, ...]}
  void ReportStatus(nlohmann::json& status) const override;
  // Stop(), giving the children `timeout` to drain (they are given the same drain
  // timeout) and one second more to exit.
  void Drain(std::chrono::milliseconds timeout) override;

 private:
  static constexpr std::chrono::milliseconds kRestartPause{500};
  // How often the reaper looks for children that exited.
  static constexpr std::chrono::milliseconds kReapInterval{50};

  struct Child {
    ChildSpec spec;
    pid_t pid = -1;  // -1: exited (and reaped).
    int restarts = 0;
    std::optional<std::chrono::steady_clock::time_point> restart_at;  // After it exited.
    bool removing = false;  // Remove() stops it: not started again.
  };
  base::Result<pid_t> Spawn(const ChildSpec& spec);
  void Reap();

  const std::string program_;
  const std::string log_dir_;
  mutable std::mutex mu_;
  std::condition_variable changed_;       // A child exited, or stopping_ was set.
  std::vector<Child> children_;           // Guarded by mu_.
  std::vector<net::ReservedPort> ports_;  // Guarded by mu_.
  bool stopping_ = false;                 // Guarded by mu_.
  std::thread reaper_;
};

// The path of the running binary (/proc/self/exe).
base::Result<std::string> SelfProgram();

}  // namespace trellis::daemon
