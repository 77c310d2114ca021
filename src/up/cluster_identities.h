// ClusterIdentities: the certificates `trellis up` gives the daemons of its cluster
// (docs/daemons.md, docs/security.md). Its CA lives in <data>/ca, made on the first start
// and kept after; every start issues each kind of daemon ("master", "cache", "access",
// "gateway", "backup-center", "up" itself, and "operator" for the operator's tools) a
// certificate for the host they all run on, with a fresh key, so they speak mutual TLS
// to each other.
//
// Thread safety: none; `trellis up`'s start-up only.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "base/result.h"
#include "net/tls_context.h"
#include "security/certificate_authority.h"

namespace trellis::up {

class ClusterIdentities {
 public:
  // The CA in `dir` (made if there is none), issuing for `host` (and 127.0.0.1).
  static base::Result<ClusterIdentities> Prepare(const std::filesystem::path& dir,
                                                 const boost::asio::ip::address& host);

  // A new certificate and key for `name`: the CA's file and NAME's two.
  base::Result<net::TlsClientFiles> Issue(const std::string& name) const;
  // `args` followed by the --cluster-ca, --cluster-cert and --cluster-key of a new
  // certificate for `name`.
  base::Result<std::vector<std::string>> WithIdentity(const std::string& name,
                                                      std::vector<std::string> args) const;

 private:
  ClusterIdentities(security::CertificateAuthority ca, std::vector<std::string> ips)
      : ca_(std::move(ca)), ips_(std::move(ips)) {}

  security::CertificateAuthority ca_;
  std::vector<std::string> ips_;  // What every certificate is for.
};

}  // namespace trellis::up
