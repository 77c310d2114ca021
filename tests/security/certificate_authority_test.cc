#include "security/certificate_authority.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "base/file.h"
#include "testing/daemon_process.h"
#include "testing/temp_dir.h"

namespace trellis::security {
namespace {

namespace fs = std::filesystem;
using testing::DaemonProcess;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Runs Debian's openssl with `args`: its exit code and what it printed.
std::pair<int, std::string> Openssl(std::vector<std::string> args) {
  DaemonProcess openssl(std::move(args), "/usr/bin/openssl");
  const std::optional<int> status = openssl.WaitExit(30s);
  EXPECT_TRUE(status.has_value()) << openssl.Log();
  return {status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, openssl.Log()};
}

// Whether openssl takes `certificate` as issued by the CA in `ca` for `purpose`, with
// the extra checks in `more` ("-verify_hostname", "localhost").
bool Verifies(const fs::path& ca, const fs::path& certificate, const std::string& purpose,
              std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"verify", "-CAfile", (ca / "ca.crt").string(), "-purpose",
                                   purpose};
  args.insert(args.end(), more.begin(), more.end());
  args.push_back(certificate.string());
  const auto [exit_code, output] = Openssl(args);
  return exit_code == 0 && output.find(": OK") != std::string::npos;
}

fs::perms PermissionsOf(const fs::path& path) {
  return fs::status(path).permissions() & fs::perms::mask;
}

class CertificateAuthorityTest : public ::testing::Test {
 protected:
  CertificateAuthority Init(const fs::path& dir) {
    auto authority = CertificateAuthority::Init(dir, "test cluster");
    EXPECT_TRUE(authority.ok()) << authority.error().message;
    return std::move(authority).value();
  }

  testing::TempDir dir_;
};

TEST_F(CertificateAuthorityTest, AnIssuedCertificateIsValidForItsNamesAsServerAndClient) {
  const CertificateAuthority authority = Init(dir_.path() / "ca");
  const auto issued = authority.Issue({"cache-1", {"127.0.0.1", "::1"}, {"localhost"}});
  ASSERT_TRUE(issued.ok()) << issued.error().message;
  const fs::path ca = dir_.path() / "ca";
  EXPECT_TRUE(Verifies(ca, issued->certificate, "sslserver"));
  EXPECT_TRUE(Verifies(ca, issued->certificate, "sslclient"));
  EXPECT_TRUE(Verifies(ca, issued->certificate, "sslserver", {"-verify_hostname", "localhost"}));
  EXPECT_TRUE(Verifies(ca, issued->certificate, "sslserver", {"-verify_ip", "127.0.0.1"}));
  EXPECT_TRUE(Verifies(ca, issued->certificate, "sslserver", {"-verify_ip", "::1"}));
  EXPECT_FALSE(Verifies(ca, issued->certificate, "sslserver", {"-verify_hostname", "other"}));
  EXPECT_FALSE(Verifies(ca, issued->certificate, "sslserver", {"-verify_ip", "127.0.0.2"}));

  const auto [exit_code, text] = Openssl({"x509", "-in", issued->certificate.string(), "-noout",
                                          "-subject", "-ext", "basicConstraints,subjectAltName"});
  EXPECT_EQ(exit_code, 0) << text;
  EXPECT_THAT(text, HasSubstr("CN = cache-1"));
  EXPECT_THAT(text, HasSubstr("CA:FALSE"));
  EXPECT_THAT(text, HasSubstr("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"));
  // The chain a server sends: its certificate, then the CA's.
  const std::string chain = *base::ReadFile(issued->certificate);
  EXPECT_FALSE(chain.starts_with(*base::ReadFile(authority.certificate())));
  EXPECT_TRUE(chain.ends_with(*base::ReadFile(authority.certificate())));
}

TEST_F(CertificateAuthorityTest, KeysAreReadableByTheirOwnerOnly) {
  const CertificateAuthority authority = Init(dir_.path() / "ca");
  const auto issued = authority.Issue({"node", {}, {"node.example"}});
  ASSERT_TRUE(issued.ok()) << issued.error().message;
  EXPECT_EQ(PermissionsOf(dir_.path() / "ca" / "ca.key"),
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(PermissionsOf(issued->key), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(PermissionsOf(dir_.path() / "ca"), fs::perms::owner_all);
  const auto [exit_code, text] = Openssl({"pkey", "-in", issued->key.string(), "-noout", "-text"});
  EXPECT_EQ(exit_code, 0) << text;
  EXPECT_THAT(text, HasSubstr("prime256v1"));
}

TEST_F(CertificateAuthorityTest, ACertificateOfAnotherAuthorityIsNotTakenForOneOfOurs) {
  const CertificateAuthority ours = Init(dir_.path() / "ours");
  const CertificateAuthority theirs = Init(dir_.path() / "theirs");
  const auto stranger = theirs.Issue({"cache-1", {"127.0.0.1"}, {}});
  ASSERT_TRUE(stranger.ok()) << stranger.error().message;
  EXPECT_TRUE(Verifies(dir_.path() / "theirs", stranger->certificate, "sslclient"));
  EXPECT_FALSE(Verifies(dir_.path() / "ours", stranger->certificate, "sslclient"));
}

TEST_F(CertificateAuthorityTest, IssuingAgainRotatesTheKeyAndTheOpenedAuthorityIssuesToo) {
  Init(dir_.path() / "ca");
  const auto authority = CertificateAuthority::Open(dir_.path() / "ca");
  ASSERT_TRUE(authority.ok()) << authority.error().message;
  const auto first = authority->Issue({"master", {"127.0.0.1"}, {}});
  ASSERT_TRUE(first.ok()) << first.error().message;
  const std::string first_key = *base::ReadFile(first->key);
  const auto second = authority->Issue({"master", {"127.0.0.1"}, {}, std::chrono::days(30)});
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_NE(*base::ReadFile(second->key), first_key);
  EXPECT_TRUE(Verifies(dir_.path() / "ca", second->certificate, "sslserver"));
  const auto [exit_code, text] = Openssl({"x509", "-in", second->certificate.string(), "-noout",
                                          "-checkend", std::to_string(29 * 24 * 3600)});
  EXPECT_EQ(exit_code, 0) << "valid for 29 days more: " << text;
  EXPECT_NE(Openssl({"x509", "-in", second->certificate.string(), "-noout", "-checkend",
                     std::to_string(31 * 24 * 3600)})
                .first,
            0)
      << "but not for 31";
}

TEST_F(CertificateAuthorityTest, WhatCannotBeDoneIsRefusedWithTheReason) {
  const CertificateAuthority authority = Init(dir_.path() / "ca");
  const auto again = CertificateAuthority::Init(dir_.path() / "ca", "other");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, base::ErrorCode::kConflict);
  const auto missing = CertificateAuthority::Open(dir_.path() / "none");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, base::ErrorCode::kNotFound);

  const std::vector<std::pair<CertificateRequest, std::string>> refused = {
      {{"../escape", {}, {}}, "a name is letters"},
      {{".hidden", {}, {}}, "a name is letters"},
      {{"", {}, {}}, "a name is letters"},
      {{"node", {"300.1.1.1"}, {}}, "--ip 300.1.1.1: not an IP address"},
      {{"node", {}, {"bad_host"}}, "--dns bad_host: not a host name"},
      {{"node", {}, {"-lead.example"}}, "not a host name"},
      {{"node", {}, {"a..b"}}, "not a host name"},
      {{"node", {}, {}, std::chrono::days(0)}, "at least a day"},
  };
  for (const auto& [request, reason] : refused) {
    const auto issued = authority.Issue(request);
    ASSERT_FALSE(issued.ok()) << request.name;
    EXPECT_EQ(issued.error().code, base::ErrorCode::kInvalidArgument);
    EXPECT_THAT(issued.error().message, HasSubstr(reason));
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "escape.key"));
  EXPECT_TRUE(authority.Issue({"wild", {}, {"*.apps.localhost"}}).ok());

  ASSERT_TRUE(base::ReplaceSecretFile(dir_.path() / "ca" / "ca.key",
                                      *base::ReadFile(dir_.path() / "ca" / "ca.crt"))
                  .ok());
  const auto broken = CertificateAuthority::Open(dir_.path() / "ca");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code, base::ErrorCode::kInvalidArgument);
  EXPECT_THAT(broken.error().message, HasSubstr("ca.key"));
}

}  // namespace
}  // namespace trellis::security
