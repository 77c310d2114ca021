#include "testing/etcd_cluster.h"

#include <signal.h>

#include <stdexcept>

#include "testing/loopback_client.h"

namespace trellis::testing {

using namespace std::chrono_literals;

namespace {

constexpr const char* kEtcd = "/usr/bin/etcd";

}  // namespace

EtcdCluster::EtcdCluster(int members)
    : EtcdCluster(std::vector<std::string>(members, "127.0.0.1")) {}

EtcdCluster::EtcdCluster(const std::vector<std::string>& hosts) {
  const int members = static_cast<int>(hosts.size());
  members_.resize(members);
  for (int i = 0; i < members; ++i) {
    members_[i].name = "m" + std::to_string(i);
    members_[i].host = hosts[i];
    initial_cluster_ += (i == 0 ? "" : ",") + members_[i].name + "=" + peer_url(i);
  }
  for (int i = 0; i < members; ++i) {
    Start(i);
  }
  for (int i = 0; i < members; ++i) {
    WaitHealthy(i);
  }
}

EtcdCluster::~EtcdCluster() = default;  // Each DaemonProcess kills its member.

std::vector<std::string> EtcdCluster::client_urls() const {
  std::vector<std::string> urls;
  for (size_t i = 0; i < members_.size(); ++i) {
    urls.push_back(client_url(static_cast<int>(i)));
  }
  return urls;
}

std::string EtcdCluster::client_url(int member) const {
  return "http://" + members_[member].host + ":" +
         std::to_string(members_[member].client_port.port());
}

std::string EtcdCluster::peer_url(int member) const {
  return "http://" + members_[member].host + ":" +
         std::to_string(members_[member].peer_port.port());
}

void EtcdCluster::Start(int member) {
  Member& m = members_[member];
  const std::string client = client_url(member);
  const std::string peer = peer_url(member);
  m.process = std::make_unique<DaemonProcess>(
      std::vector<std::string>{"--name", m.name, "--data-dir", (data_.path() / m.name).string(),
                               "--listen-client-urls", client, "--advertise-client-urls", client,
                               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                               "--initial-cluster", initial_cluster_, "--initial-cluster-state",
                               "new", "--initial-cluster-token", "trellis-test"},
      kEtcd, std::vector<HeldPort*>{&m.client_port, &m.peer_port});
}

void EtcdCluster::WaitHealthy(int member) {
  const bool healthy = Eventually(
      [&] {
        try {
          const HttpResponse health =
              HttpGetAt(members_[member].host, members_[member].client_port.port(), "/health");
          return health.status == 200 && health.body.find("\"true\"") != std::string::npos;
        } catch (const std::exception&) {
          return false;  // Not listening yet.
        }
      },
      30s, 50ms);
  if (!healthy) {
    throw std::runtime_error("etcd member " + members_[member].name + " not healthy:\n" +
                             members_[member].process->Log());
  }
}

void EtcdCluster::Kill(int member) {
  members_[member].process->Signal(SIGKILL);
  members_[member].process->WaitExit(10s);
  members_[member].process.reset();
}

void EtcdCluster::Restart(int member) {
  Start(member);
  WaitHealthy(member);
}

bool EtcdCluster::Pause(int member) { return members_[member].process->Pause(); }

void EtcdCluster::Resume(int member) { members_[member].process->Signal(SIGCONT); }

}  // namespace trellis::testing
