#include "net/tls_context.h"

#include <openssl/ssl.h>

#include <boost/beast/core/string.hpp>

namespace trellis::net {

namespace ssl = boost::asio::ssl;

namespace {

base::Result<ssl::context> ContextFor(const TlsIdentity& identity) {
  ssl::context context(ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  context.set_options(ssl::context::default_workarounds | ssl::context::single_dh_use);
  boost::system::error_code error;
  context.use_certificate_chain_file(identity.certificate.string(), error);
  if (error) {
    return base::InvalidArgument(identity.certificate.string() + ": " + error.message());
  }
  context.use_private_key_file(identity.key.string(), ssl::context::pem, error);
  if (error) {
    return base::InvalidArgument(identity.key.string() + ": " + error.message());
  }
  if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
    return base::InvalidArgument(identity.key.string() + ": not the key of " +
                                 identity.certificate.string());
  }
  return context;
}

}  // namespace

base::Result<std::shared_ptr<TlsServerContext>> TlsServerContext::Create(
    const std::vector<TlsIdentity>& identities) {
  if (identities.empty()) {
    return base::InvalidArgument("a TLS listener needs a certificate");
  }
  std::shared_ptr<TlsServerContext> created(new TlsServerContext());
  created->identities_.reserve(identities.size());
  for (const TlsIdentity& identity : identities) {
    TRELLIS_TRY(ssl::context context, ContextFor(identity));
    created->identities_.push_back({identity.domain, std::move(context)});
  }
  SSL_CTX* first = created->context().native_handle();
  SSL_CTX_set_tlsext_servername_callback(first, &TlsServerContext::OnServerName);
  SSL_CTX_set_tlsext_servername_arg(first, created.get());
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
