#include "daemon/flags.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>
#include <boost/algorithm/string/trim.hpp>

#include "base/duration.h"
#include "base/file.h"
#include "net/address.h"
#include "security/certificate_authority.h"

namespace trellis::daemon {

void AddDaemonFlags(CLI::App& app, DaemonFlags& flags, std::string default_admin) {
  flags.admin = std::move(default_admin);
  app.add_option("--config", flags.config,
                 "TOML file of flag values, one top-level key per long flag name "
                 "(threads = 4); flags on the command line win")
      ->configurable(false)
      ->check(CLI::ExistingFile);
  app.add_option("--admin", flags.admin,
                 "HOST:PORT of the admin HTTP endpoint (/healthz, /metrics, /v1/status); "
                 "port 0 picks a free port")
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  AddDurationFlag(app,
                  {"--drain-timeout",
                   "how long in-flight requests get to finish after SIGTERM or SIGINT; the "
                   "process exits within it",
                   std::chrono::milliseconds(0), std::chrono::hours(1)},
                  flags.drain_timeout);
}

void AddTlsFlags(CLI::App& app, const std::string& what, net::TlsServerFiles& files) {
  CLI::Option* certificate = app.add_option(
      "--tls-cert", files.certificate,
      "PEM certificate (then its chain) for TLS on the " + what +
          " port; reread with the other files on SIGHUP (`trellis ca issue` makes one)");
  CLI::Option* key = app.add_option("--tls-key", files.key, "PEM private key of --tls-cert");
  CLI::Option* client_ca = app.add_option(
      "--tls-client-ca", files.client_ca,
      "PEM certificate authority: clients must show a certificate it issued (mutual TLS)");
  certificate->needs(key);
  key->needs(certificate);
  client_ca->needs(certificate);
}

void AddClusterTlsFlags(CLI::App& app, net::TlsClientFiles& files) {
  CLI::Option* ca = app.add_option(
      "--cluster-ca", files.ca,
      "PEM certificate of the cluster's authority (`trellis ca init`): an https:// master "
      "and every cache node this process reaches must show a certificate from it (TLS "
      "on every connection to cache nodes), and so must clients of a process given "
      "--cluster-cert");
  CLI::Option* certificate = app.add_option(
      "--cluster-cert", files.certificate,
      "PEM certificate (`trellis ca issue`) this process shows inside the cluster: the "
      "master serves its API and a cache node its port over mutual TLS with it");
  CLI::Option* key =
      app.add_option("--cluster-key", files.key, "PEM private key of --cluster-cert");
  certificate->needs(key);
  key->needs(certificate);
  certificate->needs(ca);
}

std::vector<std::string> ClusterTlsArgs(const net::TlsClientFiles& files) {
  return {"--cluster-ca",  files.ca.string(), "--cluster-cert", files.certificate.string(),
          "--cluster-key", files.key.string()};
}

base::Result<std::shared_ptr<net::TlsClientContext>> ClusterClientTls(
    const net::TlsClientFiles& files) {
  if (files.ca.empty()) {
    return std::shared_ptr<net::TlsClientContext>();
  }
  base::Result<std::shared_ptr<net::TlsClientContext>> context =
      net::TlsClientContext::Create(files);
  if (!context) {
    return base::WithContext("--cluster-ca/--cluster-cert", context.error());
  }
  return context;
}

base::Result<std::shared_ptr<net::ReloadableTlsContext>> ClusterServerTls(
    const net::TlsClientFiles& files) {
  if (files.certificate.empty()) {
    return std::shared_ptr<net::ReloadableTlsContext>();
  }
  base::Result<std::shared_ptr<net::ReloadableTlsContext>> context =
      net::ReloadableTlsContext::Load({files.certificate, files.key, files.ca});
  if (!context) {
    return base::WithContext("--cluster-cert", context.error());
  }
  return context;
}

base::Result<master::MasterAccess> MasterAccessOf(const std::string& url,
                                                  const std::string& token_file,
                                                  const net::TlsClientFiles& tls) {
  master::MasterAccess access{url, "", nullptr};
  TRELLIS_TRY(access.token, ReadTokenFile(token_file));
  TRELLIS_TRY(access.tls, ClusterClientTls(tls));
  return access;
}

void AddServiceMasterFlags(CLI::App& app, ServiceMasterFlags& flags) {
  app.add_option("--master", flags.url,
                 "http://HOST:PORT of the master (or of each master, comma-separated)")
      ->capture_default_str();
  AddTokenFileFlag(app, flags.token_file);
  AddClusterTlsFlags(app, flags.cluster_tls);
}

base::Result<master::MasterAccess> MasterAccessOf(const ServiceMasterFlags& flags) {
  return MasterAccessOf(flags.url, flags.token_file, flags.cluster_tls);
}

CLI::Option* AddTokenFileFlag(CLI::App& app, std::string& path) {
  return app.add_option("--token-file", path,
                        "file of the token to show the master (docs/security.md); needed when "
                        "the master requires tokens");
}

base::Result<std::string> ReadTokenFile(const std::string& path) {
  if (path.empty()) {
    return std::string();
  }
  base::Result<std::string> text = base::ReadFile(path);
  if (!text) {
    return base::WithContext("--token-file", text.error());
  }
  boost::algorithm::trim(*text);
  if (text->empty()) {
    return base::InvalidArgument("--token-file " + path + ": the file is empty");
  }
  return text;
}

CLI::Option* AddOperatorTokenFlag(CLI::App& app, std::string& path) {
  return app.add_option("--token-file", path,
                        "file of the token to show (default: the admin token `trellis up` wrote "
                        "to DATA/admin.token, if any)");
}

void AddOperatorFlags(CLI::App& app, OperatorFlags& flags) {
  app.add_option("--master", flags.master,
                 "http://HOST:PORT of the master, or of each master comma-separated (default: the "
                 "one `trellis up` started from "
                 "this directory)");
  app.add_option("--data", flags.data, "the data directory of `trellis up`")->capture_default_str();
  AddOperatorTokenFlag(app, flags.token_file);
  AddClusterTlsFlags(app, flags.tls);
}

base::Result<std::string> UrlOfUp(const std::string& data, const std::string& file) {
  std::string url;
  std::ifstream in(data + "/" + file);
  if (!std::getline(in, url)) {
    return base::InvalidArgument("no " + data + "/" + file + " (is `trellis up` running here?)");
  }
  return url;
}

base::Result<master::MasterAccess> OperatorMaster(const OperatorFlags& flags) {
  master::MasterAccess access{flags.master, "", nullptr};
  if (access.url.empty()) {
    TRELLIS_TRY(access.url, UrlOfUp(flags.data, "master.url"));
  }
  TRELLIS_TRY(access.token, OperatorToken(flags.token_file, flags.data));
  net::TlsClientFiles tls = flags.tls;
  const std::filesystem::path up_ca = std::filesystem::path(flags.data) / "ca";
  const security::IssuedFiles up_operator =
      security::CertificateAuthority::IssuedIn(up_ca, "operator");
  std::error_code error;
  if (tls.ca.empty() && std::filesystem::exists(up_operator.key, error)) {
    tls = {security::CertificateAuthority::CertificateIn(up_ca), up_operator.certificate,
           up_operator.key};
  }
  TRELLIS_TRY(access.tls, ClusterClientTls(tls));
  return access;
}

base::Result<std::string> OperatorToken(const std::string& token_file,
                                        const std::string& data_dir) {
  if (!token_file.empty()) {
    return ReadTokenFile(token_file);
  }
  const std::string up_token = data_dir + "/admin.token";
  std::error_code error;
  if (!std::filesystem::exists(up_token, error)) {
    return std::string();
  }
  return ReadTokenFile(up_token);
}

CLI::Option* AddDurationFlag(CLI::App& app, const DurationFlag& flag,
                             std::chrono::milliseconds& value) {
  const auto format = [](std::chrono::milliseconds duration) {
    return duration.count() % 1000 == 0 ? fmt::format("{}s", duration.count() / 1000)
                                        : fmt::format("{}ms", duration.count());
  };
  CLI::Option* option = app.add_option_function<std::string>(
      flag.name, [&value](const std::string& text) { value = *base::ParseDuration(text); },
      flag.help + " (seconds, or with a unit: 250ms, 2s, 1m)");
  option->check(CLI::Validator(
      [flag, format](std::string& text) -> std::string {
        auto parsed = base::ParseDuration(text);
        if (!parsed) {
          return parsed.error().message;
        }
        if (*parsed < flag.at_least || *parsed > flag.at_most) {
          return fmt::format("{} is not between {} and {}", text, format(flag.at_least),
                             format(flag.at_most));
        }
        return "";
      },
      "DURATION"));
  option->default_str(format(value));
  return option;
}

base::Result<boost::asio::ip::tcp::endpoint> ResolveFlag(const std::string& flag,
                                                         const std::string& value) {
  auto address = net::ParseHostPort(value);
  if (!address) {
    return base::InvalidArgument(flag + ": " + address.error().message);
  }
  auto endpoint = net::Resolve(*address);
  if (!endpoint) {
    return base::InvalidArgument(flag + ": " + endpoint.error().message);
  }
  return endpoint;
}

int ExitCodeFor(const base::Error& error) {
  switch (error.code) {
    case base::ErrorCode::kInvalidArgument:
      return 2;
    case base::ErrorCode::kUnavailable:
      return 69;  // EX_UNAVAILABLE
    case base::ErrorCode::kNotFound:
      return 66;  // EX_NOINPUT
    case base::ErrorCode::kConflict:
      return 65;  // EX_DATAERR
    case base::ErrorCode::kResourceExhausted:
      return 75;  // EX_TEMPFAIL
    case base::ErrorCode::kUnauthenticated:
    case base::ErrorCode::kPermissionDenied:
      return 77;  // EX_NOPERM
    case base::ErrorCode::kInternal:
      break;
  }
  return 1;
}

int Fail(const CLI::App& app, const base::Error& error) {
  fmt::print(stderr, "trellis {}: {}\n", app.get_name(), error.message);
  return ExitCodeFor(error);
}

int ActOnMaster(const CLI::App& app, const OperatorFlags& flags,
                std::function<boost::asio::awaitable<base::Status>(master::MasterClient&)> act) {
  const base::Result<master::MasterAccess> access = OperatorMaster(flags);
  if (!access) {
    return Fail(app, access.error());
  }
  const base::Status done = master::CallMaster<base::Status>(*access, std::move(act));
  return done ? 0 : Fail(app, done.error());
}

}  // namespace trellis::daemon
