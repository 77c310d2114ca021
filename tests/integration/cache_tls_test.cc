// TLS on the memcached ports of a cache node and of an access node (docs/security.md),
// with certificates from the cluster's own authority (`trellis ca`) and real clients:
// openssl s_client sees the chain, a verifying TLS client is served, mutual TLS lets in
// only holders of the authority's certificates, SIGHUP serves a renewed certificate, and
// what is not a TLS handshake is closed (and counted) while everyone else is served.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "base/file.h"
#include "security/certificate_authority.h"
#include "testing/daemon_process.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"
#include "testing/tls_client.h"

namespace trellis {
namespace {

using testing::DaemonProcess;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::TlsClient;
using namespace std::chrono_literals;

class CacheTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = security::CertificateAuthority::Init(dir_.path() / "ca", "trellis");
    ASSERT_TRUE(ca.ok()) << ca.error().message;
    ca_ = std::make_unique<security::CertificateAuthority>(std::move(ca).value());
    node_cert_ = Issue(*ca_, "cache");
    client_cert_ = Issue(*ca_, "access");
  }

  static testing::Certificate Issue(const security::CertificateAuthority& ca,
                                    const std::string& name) {
    const auto issued = ca.Issue({name, {"127.0.0.1"}, {}});
    EXPECT_TRUE(issued.ok()) << issued.error().message;
    return issued.ok() ? testing::Certificate{name, issued->certificate, issued->key}
                       : testing::Certificate{};
  }

  // A node with TLS on its port; with mutual TLS, clients need our authority's
  // certificates.
  void StartNode(bool mutual) {
    std::vector<std::string> args = {"cache",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--threads",
                                     "2",
                                     "--tls-cert",
                                     node_cert_.cert.string(),
                                     "--tls-key",
                                     node_cert_.key.string()};
    if (mutual) {
      args.insert(args.end(), {"--tls-client-ca", ca_->certificate().string()});
    }
    node_ = std::make_unique<DaemonProcess>(args);
    port_ = node_->WaitForListening("cache");
    admin_port_ = node_->WaitForListening("admin");
  }

  // The count of failed handshakes of the node's `server`.
  uint64_t FailedHandshakes(const std::string& server) {
    const std::string page = testing::HttpGet(admin_port_, "/metrics").body;
    std::smatch match;
    const std::regex counter(R"(\ntrellis_tls_handshakes_failed_total\{server=")" + server +
                             R"("\} ([0-9]+)\n)");
    return std::regex_search(page, match, counter) ? std::stoull(match[1].str()) : 0;
  }

  std::string Version(const std::optional<testing::Certificate>& identity) {
    TlsClient client(port_, ca_->certificate(), identity);
    return client.Exchange("version\r\n", "\r\n");
  }

  // What `openssl s_client` prints about the node's certificates, verifying them
  // against our authority and 127.0.0.1.
  std::string SClient() {
    DaemonProcess s_client({"s_client", "-connect", "127.0.0.1:" + std::to_string(port_), "-CAfile",
                            ca_->certificate().string(), "-verify_return_error", "-verify_ip",
                            "127.0.0.1", "-showcerts"},
                           "/usr/bin/openssl");
    const std::optional<int> status = s_client.WaitExit(20s);
    EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << s_client.Log();
    return s_client.Log();
  }

  testing::TempDir dir_;
  std::unique_ptr<security::CertificateAuthority> ca_;
  testing::Certificate node_cert_;
  testing::Certificate client_cert_;
  std::unique_ptr<DaemonProcess> node_;
  uint16_t port_ = 0;
  uint16_t admin_port_ = 0;
};

TEST_F(CacheTlsTest, OpensslSeesTheNodesChainAndAVerifyingClientIsServed) {
  StartNode(false);
  const std::string seen = SClient();
  EXPECT_THAT(seen, HasSubstr("0 s:CN = cache"));
  EXPECT_THAT(seen, HasSubstr("i:CN = trellis"));
  EXPECT_THAT(seen, HasSubstr("1 s:CN = trellis"));
  EXPECT_THAT(seen, HasSubstr("Verify return code: 0 (ok)"));

  TlsClient client(port_, ca_->certificate(), std::nullopt);
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.Exchange("set k 7 0 5\r\nhello\r\n", "\r\n"), "STORED\r\n");
  EXPECT_EQ(client.Exchange("get k\r\n", "END\r\n"), "VALUE k 7 5\r\nhello\r\nEND\r\n");
  // A client that trusts another authority refuses the node.
  auto other = security::CertificateAuthority::Init(dir_.path() / "other", "other");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(TlsClient(port_, other->certificate(), std::nullopt).connected());
}

TEST_F(CacheTlsTest, MutualTlsLetsInOnlyHoldersOfTheAuthoritysCertificates) {
  StartNode(true);
  EXPECT_THAT(Version(client_cert_), ::testing::StartsWith("VERSION "));
  EXPECT_EQ(Version(std::nullopt), "") << "no client certificate";
  auto other = security::CertificateAuthority::Init(dir_.path() / "other", "trellis");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(Version(Issue(*other, "access")), "") << "a certificate of another authority";
  EXPECT_THAT(Version(client_cert_), ::testing::StartsWith("VERSION "));
}

TEST_F(CacheTlsTest, SighupServesARenewedCertificateAndABrokenOneChangesNothing) {
  StartNode(false);
  const std::string first = *base::ReadFile(node_cert_.cert);
  const std::string first_leaf = first.substr(0, first.find("-----END CERTIFICATE-----"));
  EXPECT_THAT(SClient(), HasSubstr(first_leaf));

  Issue(*ca_, "cache");  // Rotation: a new key and certificate in the same files.
  const std::string renewed = *base::ReadFile(node_cert_.cert);
  const std::string renewed_leaf = renewed.substr(0, renewed.find("-----END CERTIFICATE-----"));
  ASSERT_NE(renewed_leaf, first_leaf);
  node_->Signal(SIGHUP);
  EXPECT_TRUE(Eventually([&] { return SClient().find(renewed_leaf) != std::string::npos; }, 10s));

  // A key that is not the certificate's: the reload is refused, the node keeps serving
  // the renewed certificate.
  ASSERT_TRUE(base::ReplaceSecretFile(node_cert_.key, *base::ReadFile(client_cert_.key)).ok());
  node_->Signal(SIGHUP);
  EXPECT_TRUE(Eventually(
      [&] { return node_->Log().find("is refused, the running one stays") != std::string::npos; },
      10s))
      << node_->Log();
  EXPECT_THAT(SClient(), HasSubstr(renewed_leaf));
  EXPECT_THAT(Version(std::nullopt), ::testing::StartsWith("VERSION "));
}

TEST_F(CacheTlsTest, WhatIsNotATlsHandshakeIsClosedAndEveryoneElseIsServed) {
  StartNode(true);
  TlsClient before(port_, ca_->certificate(), client_cert_);
  ASSERT_TRUE(before.connected());
  {
    testing::LoopbackClient plaintext(port_);
    plaintext.Send("version\r\n");
    EXPECT_TRUE(plaintext.WaitClosed()) << "plaintext on a TLS port";
  }
  // A ClientHello cut short, over and over, and connections that say nothing and go.
  const std::string hello_start("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  for (int i = 0; i < 200; ++i) {
    testing::LoopbackClient cut(port_);
    cut.Send(i % 2 == 0 ? hello_start : std::string());
  }
  EXPECT_THAT(before.Exchange("version\r\n", "\r\n"), ::testing::StartsWith("VERSION "));
  EXPECT_THAT(Version(client_cert_), ::testing::StartsWith("VERSION "));
  EXPECT_EQ(Version(std::nullopt), "");
  // The plaintext client, the 200 cut or silent ones, the one without a certificate.
  EXPECT_TRUE(Eventually([&] { return FailedHandshakes("cache") == 202; }, 10s))
      << FailedHandshakes("cache");
}

// The access node's port, the one a cluster's clients use, takes the same flags.
TEST_F(CacheTlsTest, AnAccessNodeTakesMutualTlsClientsForItsGroups) {
  DaemonProcess cache({"cache", "--listen", "127.0.0.1:0", "--threads", "1"});
  const uint16_t cache_port = cache.WaitForListening("cache");
  node_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
      "access", "--listen", "127.0.0.1:0", "--threads", "1", "--group",
      "a=127.0.0.1:" + std::to_string(cache_port), "--tls-cert", node_cert_.cert.string(),
      "--tls-key", node_cert_.key.string(), "--tls-client-ca", ca_->certificate().string()});
  port_ = node_->WaitForListening("access");
  admin_port_ = node_->WaitForListening("admin");

  TlsClient client(port_, ca_->certificate(), client_cert_);
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.Exchange("set k 3 0 2\r\nhi\r\n", "\r\n"), "STORED\r\n");
  EXPECT_EQ(client.Exchange("get k\r\n", "END\r\n"), "VALUE k 3 2\r\nhi\r\nEND\r\n");
  EXPECT_EQ(Version(std::nullopt), "") << "no client certificate";
  testing::LoopbackClient plaintext(port_);
  plaintext.Send("get k\r\n");
  EXPECT_TRUE(plaintext.WaitClosed());
  EXPECT_TRUE(Eventually([&] { return FailedHandshakes("access") == 2; }, 10s));
  // What the access node wrote went to the cache node behind it.
  testing::LoopbackClient direct(cache_port);
  direct.Send("get k\r\n");
  EXPECT_EQ(direct.ReadUntil("END\r\n"), "VALUE k 3 2\r\nhi\r\nEND\r\n");
}

TEST_F(CacheTlsTest, TlsFlagsThatDoNotGoTogetherAreRefused) {
  const std::vector<std::vector<std::string>> refused = {
      {"cache", "--listen", "127.0.0.1:0", "--tls-key", node_cert_.key.string()},
      {"cache", "--listen", "127.0.0.1:0", "--tls-cert", node_cert_.cert.string()},
      {"cache", "--listen", "127.0.0.1:0", "--tls-cert", node_cert_.cert.string(), "--tls-key",
       client_cert_.key.string()},
      {"cache", "--listen", "127.0.0.1:0", "--tls-cert", node_cert_.cert.string(), "--tls-key",
       node_cert_.key.string(), "--master", "http://127.0.0.1:1", "--group", "g1"},
  };
  for (const std::vector<std::string>& args : refused) {
    DaemonProcess cache(args);
    const std::optional<int> status = cache.WaitExit(10s);
    ASSERT_TRUE(status.has_value()) << cache.Log();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << cache.Log();
  }
}

}  // namespace
}  // namespace trellis
