#include "up/cluster_identities.h"

#include "daemon/flags.h"

namespace trellis::up {

base::Result<ClusterIdentities> ClusterIdentities::Prepare(const std::filesystem::path& dir,
                                                           const boost::asio::ip::address& host) {
  base::Result<security::CertificateAuthority> ca = security::CertificateAuthority::Open(dir);
  if (!ca && ca.error().code == base::ErrorCode::kNotFound) {
    ca = security::CertificateAuthority::Init(dir, "trellis up");
  }
  if (!ca) {
    return ca.error();
  }
  std::vector<std::string> ips = {host.to_string()};
  if (host != boost::asio::ip::address_v4::loopback()) {
    ips.push_back("127.0.0.1");
  }
  return ClusterIdentities(std::move(ca).value(), std::move(ips));
}

base::Result<net::TlsClientFiles> ClusterIdentities::Issue(const std::string& name) const {
  TRELLIS_TRY(const security::IssuedFiles issued, ca_.Issue({name, ips_, {}}));
  return net::TlsClientFiles{ca_.certificate(), issued.certificate, issued.key};
}

base::Result<std::vector<std::string>> ClusterIdentities::WithIdentity(
    const std::string& name, std::vector<std::string> args) const {
  TRELLIS_TRY(const net::TlsClientFiles files, Issue(name));
  const std::vector<std::string> tls = daemon::ClusterTlsArgs(files);
  args.insert(args.end(), tls.begin(), tls.end());
  return args;
}

}  // namespace trellis::up
