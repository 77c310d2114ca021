// TlsServerContext: what a TLS listener answers handshakes with: one certificate (and
// its key) per domain, chosen by the server name the client sends (SNI, RFC 6066); a
// client that names no server, or one no certificate is for, gets the first. A domain
// "*.example.com" is for every name one label under example.com (RFC 6125's wildcard),
// after the names written out in full.
//
// With a client CA the server asks every client for a certificate and completes no
// handshake without one that CA issued (mutual TLS): the client's certificate is its
// credential.
//
// TLS 1.2 and 1.3 only, OpenSSL's default cipher suites and session tickets (so a
// returning client resumes without a full handshake). Connection::StartTls runs a
// server handshake with context().
//
// Thread safety: immutable once created; OpenSSL's contexts may be shared by the
// connections of every thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "base/result.h"

namespace trellis::net {

struct TlsIdentity {
  std::string domain;                 // A host name, or "*." and a domain.
  std::filesystem::path certificate;  // PEM: the certificate, then its chain.
  std::filesystem::path key;          // PEM: its private key.
};

// The files of a daemon's own TLS listener (its --tls-cert, --tls-key and
// --tls-client-ca flags, daemon/flags.h).
struct TlsServerFiles {
  std::filesystem::path certificate;  // PEM: the certificate, then its chain.
  std::filesystem::path key;
  std::filesystem::path client_ca;  // Empty: clients show no certificate.
};

// The files of a client that speaks TLS to its cluster's daemons (daemon/flags.h's
// --cluster-ca, --cluster-cert and --cluster-key).
struct TlsClientFiles {
  std::filesystem::path ca;           // PEM: the authority the servers' certificates are from.
  std::filesystem::path certificate;  // PEM: this client's certificate; empty: none.
  std::filesystem::path key;
};

// TlsClientContext: what a client connects with: it takes only a server whose
// certificate the CA issued for the address or name it connects to (the caller sets
// the name, as http::Client does), and shows its own certificate if it has one (mutual
// TLS). TLS 1.2 and 1.3.
//
// Thread safety: immutable once created; shared by every connection.
class TlsClientContext {
 public:
  // Errors: a file that cannot be read or is not PEM, a key that is not the
  // certificate's (kInvalidArgument naming the file).
  static base::Result<std::shared_ptr<TlsClientContext>> Create(const TlsClientFiles& files);
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  boost::asio::ssl::context& context() { return context_; }

 private:
  TlsClientContext() = default;
  boost::asio::ssl::context context_{boost::asio::ssl::context::tls_client};
};

class TlsServerContext {
 public:
  // `client_ca`: the PEM file of the authority whose certificates clients must show,
  // or empty to ask for none. Errors: no identity; a file that cannot be read or is not
  // PEM, or a key that is not the certificate's (kInvalidArgument naming the file and
  // OpenSSL's reason).
  static base::Result<std::shared_ptr<TlsServerContext>> Create(
      const std::vector<TlsIdentity>& identities, const std::filesystem::path& client_ca);
  // One identity for every server name.
  static base::Result<std::shared_ptr<TlsServerContext>> Create(const TlsServerFiles& files);
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // The first identity's context, which every handshake starts with.
  boost::asio::ssl::context& context() { return identities_.front().context; }

 private:
  struct Served {
    std::string domain;  // Compared without case.
    boost::asio::ssl::context context;
  };
  TlsServerContext() = default;
  static int OnServerName(SSL* ssl, int* alert, void* self);
  // The context for a server name, or nullptr for the default.
  Served* Find(std::string_view server_name);

  std::vector<Served> identities_;  // Invariant: not empty once created.
};

}  // namespace trellis::net
