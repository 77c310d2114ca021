// DaemonProcess: a real `trellis` (or peer) process that a test starts and owns. Its
// stdout and stderr go to a log file the test can wait on ("admin listening on
// 127.0.0.1:PORT"), and the destructor kills it and every process it started (they share
// its process group), pass or fail, and reaps them all, so no test leaves a process
// behind or one still writing into a directory the test removes. A daemon given a fixed
// port listens on a HeldPort the test keeps.
//
// Thread safety: none; one test thread owns it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "testing/held_port.h"
#include "testing/temp_dir.h"

namespace trellis::testing {

using namespace std::chrono_literals;

// The trellis binary the tests start: $TRELLIS_BINARY when set (`make asan` runs the
// integration tests built with the plain build against its instrumented binary), else
// the one built beside the tests.
std::string TrellisBinary();

class DaemonProcess {
 public:
  // Starts `program` (default: TrellisBinary()) with `args`.
  explicit DaemonProcess(std::vector<std::string> args, std::string program = TrellisBinary());
  // Starts a peer that binds `port` without SO_REUSEPORT (Debian's memcached), so cannot
  // share it with the hold: the hold is released after the fork and the child execs only
  // then, which leaves the port free just for the time the peer takes to bind it.
  DaemonProcess(std::vector<std::string> args, std::string program, HeldPort& port);
  // The same for a peer that binds several ports (etcd: its client and peer ports).
  DaemonProcess(std::vector<std::string> args, std::string program,
                const std::vector<HeldPort*>& ports);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Waits for a log line "<name> listening on HOST:PORT" and returns PORT; throws
  // std::runtime_error with the log when it does not appear in time or the process exits.
  uint16_t WaitForListening(const std::string& name, std::chrono::milliseconds timeout = 10s);

  void Signal(int signal_number);
  // SIGSTOP, then waits until the kernel reports the process stopped (kill() returns
  // before it is); false if it did not stop within a second. Resume with SIGCONT.
  bool Pause();
  // Waits for the process to exit; returns its wait status, or nullopt on timeout. The
  // exited process stays a zombie until the destructor, which holds its group's number.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);

  std::string Log() const;
  pid_t pid() const { return pid_; }

 private:
  // Forks and execs, releasing `release` in between (see above).
  void Start(std::vector<std::string> args, std::string program,
             const std::vector<HeldPort*>& release);

  TempDir dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_status_ = 0;  // Valid once exited_.
};

}  // namespace trellis::testing
