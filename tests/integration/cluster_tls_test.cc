// A cluster with a CA, real processes (docs/security.md): the master's API and the cache
// nodes' ports over mutual TLS, the master, cache nodes, access nodes and operators with
// the cluster's certificates; a node whose certificate is from another authority, or
// that shows none, can neither join, nor stream replication, nor reach a cache node.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <memory>
#include <string>
#include <vector>

#include "security/certificate_authority.h"
#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"
#include "testing/tls_client.h"

namespace trellis {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;
using ::testing::HasSubstr;

class ClusterTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = security::CertificateAuthority::Init(dir_.path() / "ca", "trellis");
    ASSERT_TRUE(ca.ok()) << ca.error().message;
    auto other = security::CertificateAuthority::Init(dir_.path() / "other", "other");
    ASSERT_TRUE(other.ok()) << other.error().message;
    ca_ = std::make_unique<security::CertificateAuthority>(std::move(ca).value());
    other_ = std::make_unique<security::CertificateAuthority>(std::move(other).value());
    std::vector<std::string> args = {"master", "--listen", master_hold_.address(), "--data",
                                     (dir_.path() / "master").string()};
    const std::vector<std::string> identity = Identity(*ca_, "master");
    args.insert(args.end(), identity.begin(), identity.end());
    master_ = std::make_unique<DaemonProcess>(args);
    master_port_ = master_->WaitForListening("master");
    url_ = "https://127.0.0.1:" + std::to_string(master_port_);
  }

  // --cluster-ca (ours), --cluster-cert and --cluster-key for a certificate `authority`
  // issues to `name` (for 127.0.0.1).
  std::vector<std::string> Identity(const security::CertificateAuthority& authority,
                                    const std::string& name) {
    const auto issued = authority.Issue({name, {"127.0.0.1"}, {}});
    EXPECT_TRUE(issued.ok()) << issued.error().message;
    if (!issued.ok()) {
      return {};
    }
    return {"--cluster-ca",   ca_->certificate().string(),
            "--cluster-cert", issued->certificate.string(),
            "--cluster-key",  issued->key.string()};
  }

  // `trellis cluster ACTION... --master URL` with `identity`: exit code and output.
  std::pair<int, std::string> Cluster(std::vector<std::string> args,
                                      const std::vector<std::string>& identity) {
    args.insert(args.begin(), "cluster");
    args.insert(args.end(), {"--master", url_});
    args.insert(args.end(), identity.begin(), identity.end());
    DaemonProcess command(args);
    const std::optional<int> status = command.WaitExit(30s);
    EXPECT_TRUE(status.has_value()) << command.Log();
    return {status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, command.Log()};
  }

  std::unique_ptr<DaemonProcess> Node(const testing::HeldPort& port,
                                      const std::vector<std::string>& identity) {
    std::vector<std::string> args = {"cache",    "--listen", port.address(), "--threads", "1",
                                     "--master", url_,       "--group",      "g1"};
    args.insert(args.end(), identity.begin(), identity.end());
    auto node = std::make_unique<DaemonProcess>(args);
    node->WaitForListening("cache");
    return node;
  }

  // An access node on `port` with `args` (routes, identity); its port.
  std::unique_ptr<DaemonProcess> Access(const testing::HeldPort& port,
                                        std::vector<std::string> args) {
    args.insert(args.begin(), {"access", "--listen", port.address()});
    auto access = std::make_unique<DaemonProcess>(args);
    access->WaitForListening("access");
    return access;
  }

  testing::TempDir dir_;
  std::unique_ptr<security::CertificateAuthority> ca_;
  std::unique_ptr<security::CertificateAuthority> other_;
  testing::HeldPort master_hold_;
  std::unique_ptr<DaemonProcess> master_;
  uint16_t master_port_ = 0;
  std::string url_;
};

TEST_F(ClusterTlsTest, OnlyNodesWithTheClustersCertificatesJoin) {
  const std::vector<std::string> operator_identity = Identity(*ca_, "operator");
  ASSERT_EQ(Cluster({"add-group", "g1"}, operator_identity).first, 0);

  testing::HeldPort member_port;
  testing::HeldPort stranger_port;
  testing::HeldPort anonymous_port;
  const auto member = Node(member_port, Identity(*ca_, "node-1"));
  // Trusts the master, but its own certificate is from another authority.
  const auto stranger = Node(stranger_port, Identity(*other_, "node-2"));
  // Trusts the master, but shows no certificate of its own.
  const auto anonymous = Node(anonymous_port, {"--cluster-ca", ca_->certificate().string()});

  EXPECT_TRUE(Eventually(
      [&] {
        return Cluster({"status"}, operator_identity).second.find(member_port.address()) !=
               std::string::npos;
      },
      10s));
  EXPECT_TRUE(
      Eventually([&] { return stranger->Log().find("unknown ca") != std::string::npos; }, 10s))
      << stranger->Log();
  EXPECT_TRUE(Eventually(
      [&] { return anonymous->Log().find("certificate required") != std::string::npos; }, 10s))
      << anonymous->Log();
  const std::string status = Cluster({"status"}, operator_identity).second;
  EXPECT_EQ(status.find(stranger_port.address()), std::string::npos) << status;
  EXPECT_EQ(status.find(anonymous_port.address()), std::string::npos) << status;

  // Tools are held to the same: no certificate, no answer.
  EXPECT_EQ(Cluster({"status"}, {"--cluster-ca", ca_->certificate().string()}).first, 69);
  const std::string metrics = testing::HttpGet(master_->WaitForListening("admin"), "/metrics").body;
  EXPECT_THAT(metrics, ::testing::ContainsRegex(
                           "trellis_tls_handshakes_failed_total\\{server=\"master\"\\} [1-9]"));
}

TEST_F(ClusterTlsTest, OpensslSeesTheMastersChainAndMutualTls) {
  const auto issued = ca_->Issue({"operator", {"127.0.0.1"}, {}});
  ASSERT_TRUE(issued.ok());
  DaemonProcess s_client(
      {"s_client", "-connect", "127.0.0.1:" + std::to_string(master_port_), "-CAfile",
       ca_->certificate().string(), "-cert", issued->certificate.string(), "-key",
       issued->key.string(), "-verify_return_error", "-brief"},
      "/usr/bin/openssl");
  s_client.WaitExit(10s);
  const std::string log = s_client.Log();
  EXPECT_THAT(log, HasSubstr("Verification: OK")) << log;
  EXPECT_THAT(log, HasSubstr("CN = master")) << log;
}

TEST_F(ClusterTlsTest, CacheNodesServeOnlyTheClustersCertificates) {
  const std::vector<std::string> operator_identity = Identity(*ca_, "operator");
  ASSERT_EQ(Cluster({"add-group", "g1"}, operator_identity).first, 0);
  testing::HeldPort main_port;
  testing::HeldPort backup_port;
  const auto main = Node(main_port, Identity(*ca_, "node-1"));
  ASSERT_TRUE(Eventually(
      [&] {
        return Cluster({"status"}, operator_identity).second.find(main_port.address()) !=
               std::string::npos;
      },
      10s));
  const auto backup = Node(backup_port, Identity(*ca_, "node-2"));

  // An access node of the cluster reaches the main over mutual TLS, and the backup
  // follows the main's stream over mutual TLS.
  testing::HeldPort access_port;
  std::vector<std::string> member_args = {"--master", url_};
  const std::vector<std::string> access_identity = Identity(*ca_, "access");
  member_args.insert(member_args.end(), access_identity.begin(), access_identity.end());
  const auto access = Access(access_port, member_args);
  testing::LoopbackClient client(access_port.port());
  EXPECT_TRUE(Eventually(
      [&] {
        client.Send("set k 0 0 5\r\nvalue\r\n");
        return client.ReadUntil("\r\n") == "STORED\r\n";
      },
      10s));
  const auto issued = ca_->Issue({"reader", {"127.0.0.1"}, {}});
  ASSERT_TRUE(issued.ok());
  const testing::Certificate reader{"", issued->certificate, issued->key};
  EXPECT_TRUE(Eventually(
      [&] {
        testing::TlsClient direct(backup_port.port(), ca_->certificate(), reader);
        return direct.Exchange("get k\r\n", "END\r\n") == "VALUE k 0 5\r\nvalue\r\nEND\r\n";
      },
      10s))
      << backup->Log();

  // A node with another authority's certificate cannot stream the main's changes.
  testing::HeldPort stranger_port;
  std::vector<std::string> stranger_args = {"cache", "--listen", stranger_port.address(),
                                            "--replica-of", main_port.address()};
  const std::vector<std::string> stranger_identity = Identity(*other_, "node-3");
  stranger_args.insert(stranger_args.end(), stranger_identity.begin(), stranger_identity.end());
  DaemonProcess stranger(stranger_args);
  EXPECT_TRUE(
      Eventually([&] { return stranger.Log().find("unknown ca") != std::string::npos; }, 10s))
      << stranger.Log();

  // An access node that shows no certificate, or speaks plaintext, gets nothing from the
  // main.
  testing::HeldPort anonymous_port;
  const auto anonymous = Access(anonymous_port, {"--group", "g1=" + main_port.address(),
                                                 "--cluster-ca", ca_->certificate().string()});
  testing::LoopbackClient anonymous_client(anonymous_port.port());
  anonymous_client.Send("get k\r\n");
  EXPECT_THAT(
      anonymous_client.ReadUntil("\r\n"),
      ::testing::AllOf(HasSubstr("SERVER_ERROR backend"), HasSubstr("certificate required")));
  testing::HeldPort plain_port;
  const auto plain = Access(plain_port, {"--group", "g1=" + main_port.address()});
  testing::LoopbackClient plain_client(plain_port.port());
  plain_client.Send("get k\r\n");
  EXPECT_THAT(plain_client.ReadUntil("\r\n"), HasSubstr("SERVER_ERROR backend"));

  const std::string metrics = testing::HttpGet(main->WaitForListening("admin"), "/metrics").body;
  EXPECT_THAT(metrics, ::testing::ContainsRegex(
                           "trellis_tls_handshakes_failed_total\\{server=\"cache\"\\} [2-9]"));
}

TEST_F(ClusterTlsTest, OpensslSeesACacheNodesChain) {
  const std::vector<std::string> operator_identity = Identity(*ca_, "operator");
  ASSERT_EQ(Cluster({"add-group", "g1"}, operator_identity).first, 0);
  testing::HeldPort node_port;
  const auto node = Node(node_port, Identity(*ca_, "node-1"));
  const auto issued = ca_->Issue({"operator", {"127.0.0.1"}, {}});
  ASSERT_TRUE(issued.ok());
  DaemonProcess s_client({"s_client", "-connect", node_port.address(), "-CAfile",
                          ca_->certificate().string(), "-cert", issued->certificate.string(),
                          "-key", issued->key.string(), "-verify_return_error", "-brief"},
                         "/usr/bin/openssl");
  s_client.WaitExit(10s);
  const std::string log = s_client.Log();
  EXPECT_THAT(log, HasSubstr("Verification: OK")) << log;
  EXPECT_THAT(log, HasSubstr("CN = node-1")) << log;
}

}  // namespace
}  // namespace trellis
