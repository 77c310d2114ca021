#include "testing/daemon_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace trellis::testing {

namespace {

// The status waitpid() would have given for what waitid() saw.
int WaitStatus(const siginfo_t& info) {
  switch (info.si_code) {
    case CLD_EXITED:
      return (info.si_status & 0xff) << 8;
    case CLD_DUMPED:
      return info.si_status | 0x80;
    default:
      return info.si_status;
  }
}

}  // namespace

std::string TrellisBinary() {
  const char* chosen = std::getenv("TRELLIS_BINARY");
  return chosen != nullptr ? chosen : TRELLIS_BINARY;
}

DaemonProcess::DaemonProcess(std::vector<std::string> args, std::string program)
    : log_path_((dir_.path() / "daemon.log").string()) {
  Start(std::move(args), std::move(program), {});
}

DaemonProcess::DaemonProcess(std::vector<std::string> args, std::string program, HeldPort& port)
    : log_path_((dir_.path() / "daemon.log").string()) {
  Start(std::move(args), std::move(program), {&port});
}

DaemonProcess::DaemonProcess(std::vector<std::string> args, std::string program,
                             const std::vector<HeldPort*>& ports)
    : log_path_((dir_.path() / "daemon.log").string()) {
  Start(std::move(args), std::move(program), ports);
}

void DaemonProcess::Start(std::vector<std::string> args, std::string program,
                          const std::vector<HeldPort*>& release) {
  std::vector<char*> argv;
  argv.push_back(program.data());
  for (std::string& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  // The child waits on `go` until the parent has released the port: its own copy of the
  // held socket is close-on-exec, so the port is free from the exec on.
  int go[2] = {-1, -1};
  if (!release.empty() && ::pipe2(go, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  // What the daemon leaves behind when it dies (its children, their children) comes to
  // this process, which can then reap it.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    if (!release.empty()) {
      ::close(go[1]);
      char byte;
      while (::read(go[0], &byte, 1) < 0 && errno == EINTR) {
      }
    }
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (pid_ > 0) {
    ::setpgid(pid_, pid_);  // Both sides set it: whichever runs first, it holds from here.
  }
  if (!release.empty()) {
    ::close(go[0]);
    for (HeldPort* port : release) {
      port->Release();
    }
    ::close(go[1]);  // The child reads end-of-file and execs.
  }
  if (pid_ < 0) {
    throw std::runtime_error("fork failed");
  }
}

DaemonProcess::~DaemonProcess() {
  if (pid_ <= 0) {
    return;
  }
  // The whole group at once: a supervisor killed alone would leave its children running
  // (or shutting down, still writing into the test's directory as it is removed). The
  // leader is never reaped before this (WaitExit looks without reaping), so the group's
  // number cannot have passed to another process. Each orphan is reparented to this
  // process before its parent can be reaped, so when nothing in the group is left to
  // reap, nothing in it is left running.
  ::kill(-pid_, SIGKILL);
  while (::waitpid(-pid_, nullptr, 0) > 0 || errno == EINTR) {
  }
}

std::string DaemonProcess::Log() const {
  std::ifstream file(log_path_);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

uint16_t DaemonProcess::WaitForListening(const std::string& name,
                                         std::chrono::milliseconds timeout) {
  // The newline matters: the log may be read while the line is half written.
  const std::regex line(name + " listening on \\[?[^ \\]]*\\]?:([0-9]+)\n");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch match;
    const std::string log = Log();
    if (std::regex_search(log, match, line)) {
      return static_cast<uint16_t>(std::stoi(match[1].str()));
    }
    if (WaitExit(0ms)) {
      throw std::runtime_error("daemon exited before listening:\n" + Log());
    }
    std::this_thread::sleep_for(10ms);  // Polling a log file; nothing to wait on.
  }
  throw std::runtime_error("no '" + name + " listening on' line in time:\n" + Log());
}

void DaemonProcess::Signal(int signal_number) {
  if (!exited_) {
    ::kill(pid_, signal_number);
  }
}

bool DaemonProcess::Pause() {
  // The state letter of /proc/<pid>/stat, after the command name: 'T' when stopped.
  auto state = [this] {
    std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t paren = line.rfind(')');
    return paren != std::string::npos && paren + 2 < line.size() ? line[paren + 2] : '?';
  };
  Signal(SIGSTOP);
  for (int i = 0; i < 1000 && state() != 'T'; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  return state() == 'T';
}

std::optional<int> DaemonProcess::WaitExit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (exited_) {
      return exit_status_;
    }
    siginfo_t info{};
    if (::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_) {
      exited_ = true;
      exit_status_ = WaitStatus(info);
      continue;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(5ms);
  }
}

}  // namespace trellis::testing
