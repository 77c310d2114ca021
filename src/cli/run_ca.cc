// `trellis ca init|issue`: the cluster's certificate authority (docs/security.md).
#include <fmt/core.h>

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "daemon/flags.h"
#include "security/certificate_authority.h"

namespace trellis::cli {
namespace {

struct CaFlags {
  std::string data = "trellis-data/ca";
  std::string name = "trellis";
  security::CertificateRequest request;
  int days = 365;
};

int RunCa(const CLI::App& app, const std::string& action, CaFlags& flags) {
  if (action == "init") {
    const auto authority = security::CertificateAuthority::Init(flags.data, flags.name);
    if (!authority) {
      return daemon::Fail(app, authority.error());
    }
    fmt::print("certificate authority '{}' in {}: every daemon trusts {}\n", flags.name, flags.data,
               authority->certificate().string());
    return 0;
  }
  const auto authority = security::CertificateAuthority::Open(flags.data);
  if (!authority) {
    return daemon::Fail(app, authority.error());
  }
  flags.request.valid_for = std::chrono::days(flags.days);
  const auto issued = authority->Issue(flags.request);
  if (!issued) {
    return daemon::Fail(app, issued.error());
  }
  fmt::print("issued {} for {} days: certificate {}, key {}\n", flags.request.name, flags.days,
             issued->certificate.string(), issued->key.string());
  return 0;
}

}  // namespace

Command AddCaCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "ca", "the cluster's certificate authority: the certificates daemons prove themselves with");
  app->require_subcommand(1);
  app->fallthrough();
  auto flags = std::make_shared<CaFlags>();
  app->add_option("--data", flags->data, "the authority's directory")->capture_default_str();
  auto action = std::make_shared<std::string>();
  CLI::App* init = app->add_subcommand(
      "init", "create the authority in --data: ca.crt (public) and ca.key (mode 0600), ten years");
  init->add_option("--name", flags->name, "the authority's common name")->capture_default_str();
  init->callback([action] { *action = "init"; });
  CLI::App* issue = app->add_subcommand(
      "issue",
      "issue a certificate and key to NAME: --data/issued/NAME.crt (with the authority's) and "
      "NAME.key (mode 0600); issuing a name again rotates its key");
  issue->add_option("name", flags->request.name, "who it is for (a daemon, a client)")->required();
  issue->add_option("--ip", flags->request.ips, "an IP address it is valid for (repeatable)");
  issue->add_option("--dns", flags->request.dns,
                    "a host name it is valid for, or *.DOMAIN (repeatable)");
  issue->add_option("--days", flags->days, "how long it is valid")->capture_default_str();
  issue->callback([action] { *action = "issue"; });
  return {app, [app, flags, action] { return RunCa(*app, *action, *flags); }};
}

}  // namespace trellis::cli
