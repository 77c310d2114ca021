#include "testing/etcd_cluster.h"

#include <signal.h>

#include <set>
#include <stdexcept>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "http/client.h"
#include "security/certificate_authority.h"
#include "testing/loopback_client.h"

namespace trellis::testing {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr const char* kEtcd = "/usr/bin/etcd";

// Whether the member at `url` says it is healthy: it answers, and knows a leader.
bool Healthy(const std::string& url, const std::shared_ptr<net::TlsClientContext>& tls) {
  return http::RunBlocking([&](asio::any_io_executor executor) -> asio::awaitable<bool> {
    auto client = http::Client::ForUrl(executor, url);
    if (!client) {
      co_return false;
    }
    client->set_tls(tls);
    std::string target = "/health";
    std::string body;
    base::Result<http::Response> health =
        co_await client->Call(http::beast_http::verb::get, std::move(target), std::move(body), 2s);
    co_return health.ok() && health->status == 200 &&
        health->body.find("\"true\"") != std::string::npos;
  });
}

template <typename T>
T OrThrow(base::Result<T> result, const std::string& what) {
  if (!result) {
    throw std::runtime_error(what + ": " + result.error().message);
  }
  return std::move(result).value();
}

}  // namespace

EtcdCluster::EtcdCluster(int members, ClientTls tls)
    : EtcdCluster(std::vector<std::string>(members, "127.0.0.1"), tls) {}

EtcdCluster::EtcdCluster(const std::vector<std::string>& hosts, ClientTls tls)
    : tls_(tls == ClientTls::kMutual) {
  const int members = static_cast<int>(hosts.size());
  members_.resize(members);
  for (int i = 0; i < members; ++i) {
    members_[i].name = "m" + std::to_string(i);
    members_[i].host = hosts[i];
    initial_cluster_ += (i == 0 ? "" : ",") + members_[i].name + "=" + peer_url(i);
  }
  if (tls_) {
    const auto ca = OrThrow(security::CertificateAuthority::Init(data_.path() / "ca", "etcd-test"),
                            "the etcd cluster's CA");
    security::CertificateRequest member;
    member.name = "member";
    const std::set<std::string> addresses(hosts.begin(), hosts.end());
    member.ips.assign(addresses.begin(), addresses.end());
    const security::IssuedFiles member_files =
        OrThrow(ca.Issue(member), "the members' certificate");
    security::CertificateRequest client;
    client.name = "client";
    const security::IssuedFiles client_files = OrThrow(ca.Issue(client), "a client certificate");
    member_tls_ = {member_files.certificate, member_files.key, ca.certificate()};
    client_tls_ = {ca.certificate(), client_files.certificate, client_files.key};
    health_tls_ = OrThrow(net::TlsClientContext::Create(client_tls_), "the client's TLS");
  }
  for (int i = 0; i < members; ++i) {
    Start(i);
  }
  WaitHealthy();
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
  return (tls_ ? "https://" : "http://") + members_[member].host + ":" +
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
  // The token keeps apart clusters of tests run side by side, should one reach another's
  // port.
  std::vector<std::string> args({"--name", m.name, "--data-dir", (data_.path() / m.name).string(),
                                 "--listen-client-urls", client, "--advertise-client-urls", client,
                                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                 "--initial-cluster", initial_cluster_, "--initial-cluster-state",
                                 "new", "--initial-cluster-token",
                                 data_.path().filename().string()});
  if (tls_) {
    args.insert(args.end(), {"--cert-file", member_tls_.certificate.string(), "--key-file",
                             member_tls_.key.string(), "--client-cert-auth", "--trusted-ca-file",
                             member_tls_.client_ca.string()});
  }
  m.process = std::make_unique<DaemonProcess>(std::move(args), kEtcd,
                                              std::vector<HeldPort*>{&m.client_port, &m.peer_port});
}

void EtcdCluster::WaitHealthy() {
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].process && !members_[i].paused) {
      WaitHealthy(static_cast<int>(i));
    }
  }
}

void EtcdCluster::WaitHealthy(int member) {
  const std::string url = client_url(member);
  if (!Eventually([&] { return Healthy(url, health_tls_); }, 30s, 50ms)) {
    throw std::runtime_error("etcd member " + members_[member].name + " not healthy:\n" +
                             members_[member].process->Log());
  }
}

void EtcdCluster::Kill(int member) {
  members_[member].process->Signal(SIGKILL);
  members_[member].process->WaitExit(10s);
  members_[member].process.reset();
  members_[member].paused = false;
}

void EtcdCluster::Restart(int member) {
  Start(member);
  WaitHealthy(member);
}

bool EtcdCluster::Pause(int member) {
  members_[member].paused = true;
  return members_[member].process->Pause();
}

void EtcdCluster::Resume(int member) {
  members_[member].process->Signal(SIGCONT);
  members_[member].paused = false;
}

}  // namespace trellis::testing
