#include "daemon/daemon.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <map>

#include <nlohmann/json.hpp>

#include "admin/admin_server.h"
#include "base/config.h"
#include "base/logging.h"
#include "daemon/privileges.h"
#include "net/address.h"
#include "net/signals.h"

namespace trellis::daemon {

namespace {

// Long-polls and proxied connections each hold a descriptor: take what the hard limit
// allows, as memcached does for -c.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      spdlog::warn("cannot raise the open-file limit to {}", limit.rlim_max);
    }
  }
}

}  // namespace

Daemon::Daemon(const DaemonFlags& flags, std::string kind, boost::asio::ip::tcp::endpoint admin)
    : flags_(flags), kind_(std::move(kind)), admin_(std::move(admin)) {}

Daemon::~Daemon() { DrainAll(); }

base::Result<std::unique_ptr<Daemon>> Daemon::Prepare(CLI::App& app, const DaemonFlags& flags,
                                                      std::string kind) {
  if (!flags.config.empty()) {
    TRELLIS_TRY(auto entries, base::LoadConfigFile(flags.config, flags.config_sections));
    TRELLIS_TRY_STATUS(base::ApplyConfig(app, flags.config, entries));
  }
  if (base::Status logging = base::InitLogging(flags.log_level); !logging) {
    return base::WithContext("--log-level", logging.error());
  }
  TRELLIS_TRY(auto admin, ResolveFlag("--admin", flags.admin));
  net::BlockTerminationSignals();
  RaiseOpenFileLimit();
  return std::unique_ptr<Daemon>(new Daemon(flags, std::move(kind), admin));
}

void Daemon::Add(std::unique_ptr<Service> service) { services_.push_back(std::move(service)); }

void Daemon::DrainAll() {
  // Every service gets what is left of one drain timeout, so the whole drain fits in it.
  // The services stay alive until the daemon goes: the admin endpoint may still ask
  // them for their status meanwhile.
  const auto deadline = std::chrono::steady_clock::now() + flags_.drain_timeout;
  for (; drained_ < services_.size(); ++drained_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    services_[services_.size() - 1 - drained_]->Drain(std::max(left, std::chrono::milliseconds(0)));
  }
}

int Daemon::Run(CLI::App& app, bool banner) {
  std::vector<Listener> listeners;
  std::map<std::string, std::string> listen;
  for (const auto& service : services_) {
    for (Listener& listener : service->listeners()) {
      listen[listener.name] = net::FormatEndpoint(listener.address);
      listeners.push_back(std::move(listener));
    }
  }
  admin::AdminOptions admin_options;
  admin_options.listen = admin_;
  admin_options.kind = kind_;
  admin_options.listen_addresses = listen;
  admin_options.add_status = [this](nlohmann::json& status) {
    for (const auto& service : services_) {
      service->ReportStatus(status);
    }
  };
  admin_options.api = api_;
  admin_options.authenticator = authenticator_;
  auto admin = admin::AdminServer::Start(admin_options, metrics_);
  if (!admin) {
    DrainAll();
    return Fail(app, base::WithContext("--admin", admin.error()));
  }
  if (!user_.empty()) {
    if (base::Status dropped = DropPrivilegesTo(user_); !dropped) {
      DrainAll();
      return Fail(app, dropped.error());
    }
  }
  const std::string admin_at = net::FormatEndpoint((*admin)->local_endpoint());
  for (const Listener& listener : listeners) {
    spdlog::info("{} listening on {}", listener.name, listen[listener.name]);
  }
  spdlog::info("admin listening on {}", admin_at);
  for (const auto& service : services_) {
    service->AdminListening(admin_at);
  }
  if (admin_listening_) {
    admin_listening_(admin_at);
  }
  if (banner) {
    fmt::print("Trellis is up.\n");
    size_t width = std::string_view("metrics:").size();
    for (const Listener& listener : listeners) {
      width = std::max(width, listener.name.size() + 1);
    }
    for (const Listener& listener : listeners) {
      fmt::print("  {:<{}} {} ({})\n", listener.name + ":", width, listen[listener.name],
                 listener.protocol);
    }
    fmt::print("  {:<{}} http://{}/v1/status\n  {:<{}} http://{}/metrics\n", "admin:", width,
               admin_at, "metrics:", width, admin_at);
    std::fflush(stdout);
  }
  const int signal_number = net::WaitForTerminationSignal([this] {
    bool refused = false;
    for (const auto& service : services_) {
      if (base::Status reloaded = service->Reload(); !reloaded) {
        spdlog::error("SIGHUP: the configuration is refused, the running one stays: {}",
                      reloaded.error().message);
        refused = true;
      }
    }
    if (!refused) {
      spdlog::info("SIGHUP: configuration reloaded");
    }
  });
  spdlog::info("signal {}: draining", signal_number);
  DrainAll();
  (*admin)->Stop(std::chrono::milliseconds(0));
  spdlog::info("stopped");
  return 0;
}

int RunDaemon(CLI::App& app, const DaemonFlags& flags, const DaemonSpec& spec) {
  auto daemon = Daemon::Prepare(app, flags, spec.kind);
  if (!daemon) {
    return Fail(app, daemon.error());
  }
  if (base::Status started = spec.start(**daemon); !started) {
    return Fail(app, started.error());
  }
  return (*daemon)->Run(app, spec.banner);
}

}  // namespace trellis::daemon
