// CertificateAuthority: the cluster's own certificate authority (docs/security.md). It
// issues the certificates by which daemons prove who they are to each other (mutual
// TLS) and to clients, so that a cluster needs no outside PKI.
//
// A CA is a directory:
//   ca.crt            the CA's certificate (public: every daemon trusts it);
//   ca.key            its private key, mode 0600;
//   issued/NAME.crt   a certificate issued to NAME, then the CA's (the chain a server
//                     sends);
//   issued/NAME.key   its private key, mode 0600.
// Keys are EC P-256 (a handshake signs with it in a tenth of the time of RSA-2048),
// signatures ECDSA with SHA-256, serial numbers 159 random bits. The CA's certificate
// is valid for ten years; an issued one for `valid_for` (a year unless asked). Issuing
// NAME again replaces its files with a new key and certificate: that is rotation (a
// daemon reads its files again on SIGHUP).
//
// Thread safety: none; an operator command's, or `trellis up`'s at start.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"

namespace trellis::security {

struct CertificateRequest {
  std::string name;              // The subject's common name and the files' name.
  std::vector<std::string> ips;  // Subject alternative names: IP addresses ...
  std::vector<std::string> dns;  // ... and host names ("*.example" allowed).
  std::chrono::days valid_for{365};
};

struct IssuedFiles {
  std::filesystem::path certificate;  // PEM: the certificate, then the CA's.
  std::filesystem::path key;          // PEM, mode 0600.
};

class CertificateAuthority {
 public:
  // Creates a CA in `dir` (made if missing) named `name`. Errors: kConflict if `dir`
  // holds one already (it is never overwritten), or a file that cannot be written.
  static base::Result<CertificateAuthority> Init(const std::filesystem::path& dir,
                                                 const std::string& name);
  // The CA in `dir`. Errors: kNotFound without one; kInvalidArgument if its files are
  // not a certificate and its key.
  static base::Result<CertificateAuthority> Open(const std::filesystem::path& dir);

  // Issues a certificate for `request` and writes it (see above). Errors:
  // kInvalidArgument for a name that is not a file name ([A-Za-z0-9._-], not starting
  // with a dot), an address that is not an IP, a host name that is not one, or a
  // validity that is not positive.
  base::Result<IssuedFiles> Issue(const CertificateRequest& request) const;

  std::filesystem::path certificate() const { return CertificateIn(dir_); }
  // The files of a CA in `dir`: its certificate, and what it issued (or would issue) to
  // `name`. For readers that need no key of the CA's.
  static std::filesystem::path CertificateIn(const std::filesystem::path& dir) {
    return dir / "ca.crt";
  }
  static IssuedFiles IssuedIn(const std::filesystem::path& dir, const std::string& name) {
    return {dir / "issued" / (name + ".crt"), dir / "issued" / (name + ".key")};
  }

 private:
  explicit CertificateAuthority(std::filesystem::path dir) : dir_(std::move(dir)) {}

  std::filesystem::path dir_;
};

}  // namespace trellis::security
