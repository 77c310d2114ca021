#include "net/tls_context.h"

#include <openssl/ssl.h>

#include <boost/beast/core/string.hpp>

namespace trellis::net {

namespace ssl = boost::asio::ssl;

namespace {

// Asks every client for a certificate and takes only one that `client_ca` issued.
base::Status VerifyClients(ssl::context& context, const std::filesystem::path& client_ca) {
  boost::system::error_code error;
  context.load_verify_file(client_ca.string(), error);
  if (error) {
    return base::InvalidArgument(client_ca.string() + ": " + error.message());
  }
  // The authorities the server names in its request, so a client picks the right one.
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca.c_str());
  if (names == nullptr) {
    return base::InvalidArgument(client_ca.string() + ": no certificate in it");
  }
  SSL_CTX_set_client_CA_list(context.native_handle(), names);
  context.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  // A session resumed with a ticket must come from a client verified the same way.
  static constexpr unsigned char kSessionContext[] = "trellis";
  SSL_CTX_set_session_id_context(context.native_handle(), kSessionContext,
                                 sizeof(kSessionContext) - 1);
  return {};
}

// Loads a certificate (then its chain) and its key into `context`.
base::Status UseIdentity(ssl::context& context, const std::filesystem::path& certificate,
                         const std::filesystem::path& key) {
  boost::system::error_code error;
  context.use_certificate_chain_file(certificate.string(), error);
  if (error) {
    return base::InvalidArgument(certificate.string() + ": " + error.message());
  }
  context.use_private_key_file(key.string(), ssl::context::pem, error);
  if (error) {
    return base::InvalidArgument(key.string() + ": " + error.message());
  }
  if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
    return base::InvalidArgument(key.string() + ": not the key of " + certificate.string());
  }
  return {};
}

base::Result<ssl::context> ContextFor(const TlsIdentity& identity,
                                      const std::filesystem::path& client_ca) {
  ssl::context context(ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  context.set_options(ssl::context::default_workarounds | ssl::context::single_dh_use);
  TRELLIS_TRY_STATUS(UseIdentity(context, identity.certificate, identity.key));
  if (!client_ca.empty()) {
    TRELLIS_TRY_STATUS(VerifyClients(context, client_ca));
  }
  return context;
}

}  // namespace

base::Result<std::shared_ptr<TlsServerContext>> TlsServerContext::Create(
    const std::vector<TlsIdentity>& identities, const std::filesystem::path& client_ca) {
  if (identities.empty()) {
    return base::InvalidArgument("a TLS listener needs a certificate");
  }
  std::shared_ptr<TlsServerContext> created(new TlsServerContext());
  created->identities_.reserve(identities.size());
  for (const TlsIdentity& identity : identities) {
    TRELLIS_TRY(ssl::context context, ContextFor(identity, client_ca));
    created->identities_.push_back({identity.domain, std::move(context)});
  }
  SSL_CTX* first = created->context().native_handle();
  SSL_CTX_set_tlsext_servername_callback(first, &TlsServerContext::OnServerName);
  SSL_CTX_set_tlsext_servername_arg(first, created.get());
  return created;
}

base::Result<std::shared_ptr<TlsServerContext>> TlsServerContext::Create(
    const TlsServerFiles& files) {
  return Create({{"", files.certificate, files.key}}, files.client_ca);
}

base::Result<std::shared_ptr<TlsClientContext>> TlsClientContext::Create(
    const TlsClientFiles& files) {
  std::shared_ptr<TlsClientContext> created(new TlsClientContext());
  ssl::context& context = created->context_;
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  boost::system::error_code error;
  context.load_verify_file(files.ca.string(), error);
  if (error) {
    return base::InvalidArgument(files.ca.string() + ": " + error.message());
  }
  context.set_verify_mode(ssl::verify_peer);
  if (!files.certificate.empty()) {
    TRELLIS_TRY_STATUS(UseIdentity(context, files.certificate, files.key));
  }
  return created;
}

TlsServerContext::Served* TlsServerContext::Find(std::string_view server_name) {
  for (Served& served : identities_) {
    if (boost::beast::iequals(served.domain, server_name)) {
      return &served;
    }
  }
  const size_t dot = server_name.find('.');
  if (dot == std::string_view::npos) {
    return nullptr;
  }
  const std::string wildcard = "*" + std::string(server_name.substr(dot));
  for (Served& served : identities_) {
    if (boost::beast::iequals(served.domain, wildcard)) {
      return &served;
    }
  }
  return nullptr;
}

int TlsServerContext::OnServerName(SSL* ssl, int* /*alert*/, void* self) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  Served* served = static_cast<TlsServerContext*>(self)->Find(name);
  if (served != nullptr) {
    SSL_set_SSL_CTX(ssl, served->context.native_handle());
  }
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace trellis::net
