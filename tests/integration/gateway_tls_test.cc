// The gateway's tls listeners (docs/gateway.md, "TLS") with real processes and real
// clients: one listener terminates TLS with a certificate per domain chosen by SNI
// (checked by curl and openssl s_client trusting exactly that domain's certificate) and
// routes by Host to plain nginx pools; another routes by SNI without terminating, to
// nginx servers that hold the certificates themselves. A reload reads renewed
// certificates.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "testing/daemon_process.h"
#include "testing/loopback_client.h"
#include "testing/nginx.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using testing::Nginx;

struct CurlRun {
  int exit_code = -1;
  std::string output;  // Its stdout and stderr.
};

CurlRun Curl(const std::string& domain, uint16_t port, const testing::Certificate& trusted,
             const std::string& path) {
  const std::string port_text = std::to_string(port);
  DaemonProcess curl(
      {"-sS", "--max-time", "10", "--cacert", trusted.cert.string(), "--resolve",
       domain + ":" + port_text + ":127.0.0.1", "https://" + domain + ":" + port_text + path},
      "/usr/bin/curl");
  const std::optional<int> status = curl.WaitExit(20s);
  return {status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, curl.Log()};
}

class GatewayTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string config = (dir_.path() / "gateway.toml").string();
    // Certificates by paths relative to the config file's directory.
    std::ofstream(config) << R"([[listener]]
name = "secure"
bind = "127.0.0.1:0"
kind = "tls"
tls = "terminate"
limits = { first_byte_timeout = "1s" }
[[listener.route]]
host = "a.example"
pool = "a"
[[listener.route]]
host = "b.example"
pool = "b"
[[listener.certificate]]
domain = "a.example"
cert = "a.example.crt"
key = "a.example.key"
[[listener.certificate]]
domain = "b.example"
cert = "b.example.crt"
key = "b.example.key"

[[listener]]
name = "sni"
bind = "127.0.0.1:0"
kind = "tls"
tls = "passthrough"
limits = { first_byte_timeout = "1s" }
[[listener.route]]
host = "a.example"
pool = "tls-a"
[[listener.route]]
host = "b.example"
pool = "tls-b"

[[pool]]
name = "a"
servers = [")" << a_.address()
                          << R"("]
[[pool]]
name = "b"
servers = [")" << b_.address()
                          << R"("]
[[pool]]
name = "tls-a"
servers = [")" << tls_a_.address()
                          << R"("]
[[pool]]
name = "tls-b"
servers = [")" << tls_b_.address()
                          << R"("]
)";
    gateway_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"gateway", "--config", config, "--threads", "2"});
    secure_port_ = gateway_->WaitForListening("secure");
    sni_port_ = gateway_->WaitForListening("sni");
  }

  testing::TempDir dir_;
  testing::Certificate a_cert_ = testing::SelfSignedCertificate(dir_.path(), "a.example");
  testing::Certificate b_cert_ = testing::SelfSignedCertificate(dir_.path(), "b.example");
  Nginx a_{"a"};
  Nginx b_{"b"};
  Nginx tls_a_{"tls-a", a_cert_};
  Nginx tls_b_{"tls-b", b_cert_};
  std::unique_ptr<DaemonProcess> gateway_;
  uint16_t secure_port_ = 0;
  uint16_t sni_port_ = 0;
};

TEST_F(GatewayTlsTest, TerminationAnswersEachDomainWithItsCertificateAndRoutesByHost) {
  const CurlRun a = Curl("a.example", secure_port_, a_cert_, "/x?y=1");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_THAT(a.output, ::testing::StartsWith("a /x?y=1 xff=127.0.0.1 via=1.1 trellis"));
  EXPECT_THAT(a.output, HasSubstr("proto=https"));
  const CurlRun b = Curl("b.example", secure_port_, b_cert_, "/");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_THAT(b.output, ::testing::StartsWith("b / "));
  // b.example's certificate is not a.example's: a client trusting only a's refuses it.
  EXPECT_NE(Curl("b.example", secure_port_, a_cert_, "/").exit_code, 0);
}

TEST_F(GatewayTlsTest, OpensslSeesTheCertificateOfTheServerNameItSends) {
  for (const std::string domain : {"a.example", "b.example"}) {
    DaemonProcess s_client(
        {"s_client", "-connect", "127.0.0.1:" + std::to_string(secure_port_), "-servername", domain,
         "-verify_return_error", "-CAfile", (dir_.path() / (domain + ".crt")).string()},
        "/usr/bin/openssl");
    const std::optional<int> status = s_client.WaitExit(20s);
    ASSERT_TRUE(status && WIFEXITED(*status)) << s_client.Log();
    EXPECT_EQ(WEXITSTATUS(*status), 0) << s_client.Log();
    EXPECT_THAT(s_client.Log(), HasSubstr("subject=CN = " + domain));
    EXPECT_THAT(s_client.Log(), HasSubstr("Verify return code: 0 (ok)"));
  }
}

TEST_F(GatewayTlsTest, PassthroughRoutesByServerNameToServersThatHoldTheCertificates) {
  const CurlRun a = Curl("a.example", sni_port_, a_cert_, "/p");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  // nginx terminated it: it saw no forwarding fields, the gateway only relayed bytes.
  EXPECT_THAT(a.output, ::testing::StartsWith("tls-a /p xff= via= proto="));
  const CurlRun b = Curl("b.example", sni_port_, b_cert_, "/");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_THAT(b.output, ::testing::StartsWith("tls-b / "));
  // A server name no route has: the connection is closed.
  EXPECT_NE(Curl("c.example", sni_port_, a_cert_, "/").exit_code, 0);
}

// Certificates renewed in place (same files) are served from the next reload on.
TEST_F(GatewayTlsTest, AReloadReadsRenewedCertificates) {
  const testing::Certificate old{"a.example", dir_.path() / "old.crt", a_cert_.key};
  std::filesystem::copy_file(a_cert_.cert, old.cert);
  testing::TempDir renewed_dir;
  const testing::Certificate renewed =
      testing::SelfSignedCertificate(renewed_dir.path(), "a.example");
  std::filesystem::copy_file(renewed.cert, a_cert_.cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(renewed.key, a_cert_.key,
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(Curl("a.example", secure_port_, old, "/").exit_code, 0) << "before the reload";
  gateway_->Signal(SIGHUP);
  EXPECT_TRUE(testing::Eventually(
      [&] { return Curl("a.example", secure_port_, renewed, "/").exit_code == 0; }, 10s));
  EXPECT_NE(Curl("a.example", secure_port_, old, "/").exit_code, 0);
}

TEST_F(GatewayTlsTest, ConnectionsThatDoNotSpeakTlsOrSayNothingAreClosed) {
  for (const uint16_t port : {secure_port_, sni_port_}) {
    testing::LoopbackClient plain(port);
    ASSERT_TRUE(plain.Send("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"));
    EXPECT_TRUE(plain.WaitClosed(5s)) << "plain http on a tls listener";
    testing::LoopbackClient silent(port);
    EXPECT_TRUE(silent.WaitClosed(5s)) << "no byte within the first-byte timeout";
  }
  // The listeners still serve.
  EXPECT_EQ(Curl("a.example", secure_port_, a_cert_, "/").exit_code, 0);
  EXPECT_EQ(Curl("a.example", sni_port_, a_cert_, "/").exit_code, 0);
}

}  // namespace
}  // namespace trellis
