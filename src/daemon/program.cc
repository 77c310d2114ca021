#include "daemon/program.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "base/file.h"

extern char** environ;

namespace trellis::daemon {
namespace {

// This process's environment with `changes` (NAME=VALUE) applied.
std::vector<std::string> EnvironmentWith(const std::vector<std::string>& changes) {
  std::vector<std::string> result;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view current(*entry);
    const std::string_view name = current.substr(0, current.find('='));
    bool replaced = false;
    for (const std::string& change : changes) {
      replaced = replaced || std::string_view(change).substr(0, change.find('=')) == name;
    }
    if (!replaced) {
      result.emplace_back(current);
    }
  }
  result.insert(result.end(), changes.begin(), changes.end());
  return result;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& text : strings) {
    pointers.push_back(text.data());
  }
  pointers.push_back(nullptr);
  return pointers;
}

base::Result<pid_t> Spawn(const ProgramRun& run) {
  const int log = ::open(run.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) {
    return base::SystemError(run.log.string());
  }
  const std::string input = run.input ? run.input->string() : "/dev/null";
  const int in = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    const base::Error error = base::SystemError(input);
    ::close(log);
    return error;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, log, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, log, STDERR_FILENO);
  std::vector<std::string> argv_strings = {run.program};
  argv_strings.insert(argv_strings.end(), run.args.begin(), run.args.end());
  std::vector<std::string> env_strings = EnvironmentWith(run.environment);
  std::vector<char*> argv = Pointers(argv_strings);
  std::vector<char*> env = Pointers(env_strings);
  // The daemon blocks and ignores signals it handles itself (SIGTERM, SIGPIPE): the
  // program gets them back, so that it stops when told and dies of a broken pipe.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigfillset(&defaults);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int spawned =
      posix_spawn(&pid, run.program.c_str(), &actions, &attributes, argv.data(), env.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in);
  ::close(log);
  if (spawned != 0) {
    return base::Unavailable(run.program + ": " + std::strerror(spawned));
  }
  return pid;
}

int Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return fmt::format("exited {}", WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    return fmt::format("killed by signal {}", WTERMSIG(wait_status));
  }
  return fmt::format("ended with wait status {}", wait_status);
}

base::Status RunProgram(const ProgramRun& run) {
  TRELLIS_TRY(const pid_t pid, Spawn(run));
  const int status = Reap(pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return base::Unavailable(
        fmt::format("{} {}; see {}", run.program, DescribeExit(status), run.log.string()));
  }
  return {};
}

base::Result<StartedProgram> StartedProgram::Start(const ProgramRun& run) {
  TRELLIS_TRY(const pid_t pid, Spawn(run));
  return StartedProgram(pid);
}

StartedProgram::StartedProgram(StartedProgram&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_status_(other.exit_status_) {}

StartedProgram::~StartedProgram() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    Reap(pid_);
  }
}

std::optional<int> StartedProgram::Exited() {
  int status = 0;
  if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    exit_status_ = status;
  }
  return exit_status_;
}

bool StartedProgram::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) {
    return exit_status_ == 0;
  }
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  for (;;) {
    const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) {
      pid_ = -1;
      exit_status_ = status;
      return status == 0;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  Reap(pid_);
  pid_ = -1;
  return false;
}

}  // namespace trellis::daemon
