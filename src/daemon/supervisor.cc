#include "daemon/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include "daemon/program.h"

namespace trellis::daemon {

Supervisor::Supervisor(std::string program, std::string log_dir)
    : program_(std::move(program)), log_dir_(std::move(log_dir)) {}

Supervisor::~Supervisor() { Stop(std::chrono::milliseconds(0)); }

base::Result<pid_t> Supervisor::Spawn(const ChildSpec& spec) {
  const std::string log = log_dir_ + "/" + spec.name + ".log";
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return base::Error{log + ": " + std::strerror(errno)};
  }
  const std::string& program = spec.program.empty() ? program_ : spec.program;
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& arg : spec.args) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(fd);
    return base::Error{std::string("fork: ") + std::strerror(errno)};
  }
  if (pid == 0) {
    // The child: die with the supervisor, take the signals back, write to the log.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) {
      _exit(1);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  close(fd);
  return pid;
}

namespace {

// True once something accepts connections at `endpoint`, polling until `deadline`.
bool WaitForListener(const boost::asio::ip::tcp::endpoint& endpoint,
                     std::chrono::steady_clock::time_point deadline) {
  boost::asio::io_context io;
  while (std::chrono::steady_clock::now() < deadline) {
    boost::asio::ip::tcp::socket socket(io);
    boost::system::error_code error;
    socket.connect(endpoint, error);
    if (!error) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

base::Status Supervisor::Add(std::vector<ChildSpec> children, std::chrono::milliseconds patience) {
  std::vector<Listener> started;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      return base::Unavailable("shutting down: no child is started");
    }
    for (ChildSpec& spec : children) {
      auto pid = Spawn(spec);
      if (!pid) {
        return pid.error();
      }
      started.insert(started.end(), spec.listeners.begin(), spec.listeners.end());
      Child& child = children_.emplace_back();
      child.spec = std::move(spec);
      child.pid = *pid;
    }
    if (!reaper_.joinable()) {
      reaper_ = std::thread([this] { Reap(); });
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (const Listener& listener : started) {
    if (!WaitForListener(listener.address, deadline)) {
      return base::Unavailable(listener.name + " did not start; see " + log_dir_);
    }
  }
  return {};
}

boost::asio::ip::tcp::endpoint Supervisor::Hold(net::ReservedPort port) {
  std::lock_guard lock(mu_);
  ports_.push_back(std::move(port));
  return ports_.back().endpoint();
}

std::vector<Listener> Supervisor::listeners() const {
  std::lock_guard lock(mu_);
  std::vector<Listener> result;
  for (const Child& child : children_) {
    result.insert(result.end(), child.spec.listeners.begin(), child.spec.listeners.end());
  }
  return result;
}

void Supervisor::ReportStatus(nlohmann::json& status) const {
  nlohmann::json children = nlohmann::json::array();
  for (const ChildStatus& child : this->children()) {
    children.push_back({{"name", child.name}, {"pid", child.pid}, {"restarts", child.restarts}});
  }
  status["children"] = std::move(children);
}

void Supervisor::Drain(std::chrono::milliseconds timeout) {
  // Each child drains within the same timeout; the second is for its process to exit.
  Stop(timeout + std::chrono::seconds(1));
}

base::Result<std::string> SelfProgram() {
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) {
    return base::Error{std::string("cannot find this binary (/proc/self/exe): ") +
                       std::strerror(errno)};
  }
  return std::string(self, length);
}

void Supervisor::Reap() {
  // Each child is waited for by its pid, never waitpid(-1): the process runs other
  // programs of its own (daemon/program.h) whose exit is theirs to collect.
  std::unique_lock lock(mu_);
  for (;;) {
    bool running = false;
    const auto now = std::chrono::steady_clock::now();
    for (Child& child : children_) {
      int status = 0;
      if (child.pid > 0 && waitpid(child.pid, &status, WNOHANG) == child.pid) {
        if (!stopping_ && !child.removing) {
          spdlog::warn("{} (pid {}) {}; starting it again", child.spec.name, child.pid,
                       DescribeExit(status));
          child.restart_at = now + kRestartPause;
        }
        child.pid = -1;
        changed_.notify_all();
      }
      if (child.pid < 0 && child.restart_at && now >= *child.restart_at && !stopping_) {
        child.restart_at.reset();
        if (auto restarted = Spawn(child.spec)) {
          child.pid = *restarted;
          ++child.restarts;
        } else {
          spdlog::error("{}: {}", child.spec.name, restarted.error().message);
        }
      }
      running = running || child.pid > 0;
    }
    if (stopping_ && !running) {
      return;
    }
    changed_.wait_for(lock, kReapInterval);
  }
}

void Supervisor::Remove(const std::string& name, std::chrono::milliseconds grace) {
  std::unique_lock lock(mu_);
  auto named = [&] {
    return std::find_if(children_.begin(), children_.end(),
                        [&](const Child& child) { return child.spec.name == name; });
  };
  if (named() == children_.end()) {
    return;
  }
  named()->removing = true;
  if (named()->pid > 0) {
    kill(named()->pid, SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (named()->pid > 0 && reaper_.joinable()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(named()->pid, SIGKILL);
    }
    changed_.wait_for(lock, kReapInterval);
  }
  children_.erase(named());
}

void Supervisor::Stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
    changed_.notify_all();
    for (const Child& child : children_) {
      if (child.pid > 0) {
        kill(child.pid, SIGTERM);
      }
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (!reaper_.joinable()) {  // Add() failed part way: reap here.
        for (Child& child : children_) {
          if (child.pid > 0 && waitpid(child.pid, nullptr, WNOHANG) == child.pid) {
            child.pid = -1;
          }
        }
      }
      bool running = false;
      for (const Child& child : children_) {
        running = running || child.pid > 0;
      }
      if (!running) {
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        for (const Child& child : children_) {
          if (child.pid > 0) {
            kill(child.pid, SIGKILL);
          }
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (reaper_.joinable()) {
    reaper_.join();
  }
}

std::vector<ChildStatus> Supervisor::children() const {
  std::lock_guard lock(mu_);
  std::vector<ChildStatus> result;
  for (const Child& child : children_) {
    result.push_back({child.spec.name, child.pid, child.restarts});
  }
  return result;
}

}  // namespace trellis::daemon
