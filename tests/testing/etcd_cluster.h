// EtcdCluster: real etcd members (Debian's etcd-server) that a test starts on loopback
// ports of its own and owns: one member, or three that form one cluster. The destructor
// stops them all, pass or fail. A member killed and restarted comes back on the same
// ports with the same data directory, so it rejoins its cluster. With ClientTls::kMutual
// the members serve clients over TLS only and take only a client that shows a
// certificate, both from a CA of the cluster's own (peers still talk in plaintext).
//
// Thread safety: none; one test thread owns it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "net/tls_context.h"
#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/temp_dir.h"

namespace trellis::testing {

class EtcdCluster {
 public:
  enum class ClientTls { kNone, kMutual };

  // Starts `members` members on 127.0.0.1 and waits until every one answers and the
  // cluster has a leader; throws std::runtime_error, with the members' logs, when it does
  // not.
  explicit EtcdCluster(int members, ClientTls tls = ClientTls::kNone);
  // The same with member i on loopback address hosts[i] (127.0.0.11, ...), for tests that
  // lay a cluster out as several hosts.
  explicit EtcdCluster(const std::vector<std::string>& hosts, ClientTls tls = ClientTls::kNone);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // "http://127.0.0.1:PORT" of each member, in order ("https://" with kMutual).
  std::vector<std::string> client_urls() const;
  std::string client_url(int member) const;
  // What a client of a kMutual cluster connects with: the CA and a certificate it issued.
  const net::TlsClientFiles& client_tls() const { return client_tls_; }

  // SIGKILL, and waits until it is gone.
  void Kill(int member);
  // Starts a killed member again and waits until it answers as part of a cluster with a
  // leader.
  void Restart(int member);
  // Waits until every member that runs and is not paused answers and knows a leader:
  // after a Kill or a Pause, until the others have elected one. Throws
  // std::runtime_error when they do not.
  void WaitHealthy();
  // SIGSTOP (false if it did not stop) and SIGCONT: a member cut off, and back.
  bool Pause(int member);
  void Resume(int member);

 private:
  struct Member {
    std::string name;
    std::string host;
    HeldPort client_port;
    HeldPort peer_port;
    std::unique_ptr<DaemonProcess> process;  // Null while killed.
    bool paused = false;
  };
  void Start(int member);
  // Waits until `member` reports itself healthy (a leader is known); throws if not.
  void WaitHealthy(int member);
  std::string peer_url(int member) const;

  TempDir data_;
  std::vector<Member> members_;
  std::string initial_cluster_;  // name=http://127.0.0.1:PEER,...
  bool tls_ = false;
  net::TlsServerFiles member_tls_;  // The members' certificate (for every host) and the CA.
  net::TlsClientFiles client_tls_;
  std::shared_ptr<net::TlsClientContext> health_tls_;  // Null without TLS.
};

}  // namespace trellis::testing
