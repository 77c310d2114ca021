#include "security/certificate_authority.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <system_error>
#include <utility>

#include <boost/asio/ip/address.hpp>

#include "base/file.h"

namespace trellis::security {
namespace {

namespace fs = std::filesystem;

struct OpenSslFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  void operator()(X509* certificate) const { X509_free(certificate); }
  void operator()(BIO* bio) const { BIO_free(bio); }
  void operator()(X509_EXTENSION* extension) const { X509_EXTENSION_free(extension); }
  void operator()(BIGNUM* number) const { BN_free(number); }
};
template <typename T>
using Owned = std::unique_ptr<T, OpenSslFree>;

constexpr std::chrono::days kCaValidity{3650};

// `what` and OpenSSL's reason for the last failure.
base::Error OpenSslError(const std::string& what) {
  char reason[256] = "no reason given";
  if (const unsigned long code = ERR_get_error(); code != 0) {
    ERR_error_string_n(code, reason, sizeof(reason));
  }
  ERR_clear_error();
  return base::Error{what + ": " + reason};
}

base::Result<Owned<EVP_PKEY>> NewKey() {
  Owned<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) {
    return OpenSslError("generating a key");
  }
  return key;
}

// The PEM text that `write` puts into a memory BIO.
template <typename Write>
base::Result<std::string> Pem(const std::string& what, Write write) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) {
    return OpenSslError("writing " + what);
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

base::Result<std::string> PemOf(X509* certificate) {
  return Pem("a certificate", [&](BIO* bio) { return PEM_write_bio_X509(bio, certificate); });
}

base::Result<std::string> PemOf(EVP_PKEY* key) {
  return Pem("a key", [&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

// The first PEM object `read` finds in the file at `path`.
template <typename T, typename Read>
base::Result<Owned<T>> ReadPem(const fs::path& path, Read read) {
  TRELLIS_TRY(const std::string text, base::ReadFile(path));
  Owned<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  Owned<T> object(bio ? read(bio.get()) : nullptr);
  if (!object) {
    return base::InvalidArgument(OpenSslError(path.string()).message);
  }
  return object;
}

base::Result<Owned<X509>> ReadCertificate(const fs::path& path) {
  return ReadPem<X509>(path,
                       [](BIO* bio) { return PEM_read_bio_X509(bio, nullptr, nullptr, nullptr); });
}

base::Result<Owned<EVP_PKEY>> ReadKey(const fs::path& path) {
  return ReadPem<EVP_PKEY>(
      path, [](BIO* bio) { return PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr); });
}

struct Extension {
  int nid;
  std::string value;  // As in openssl.cnf: "critical,CA:TRUE".
};

// A certificate for `subject_key`, signed by `issuer_key`; `issuer` is null for a
// self-signed one. Extensions are added in order (a subject key identifier before the
// authority key identifier that a self-signed certificate takes from it).
base::Result<Owned<X509>> Sign(const std::string& common_name, EVP_PKEY* subject_key, X509* issuer,
                               EVP_PKEY* issuer_key, std::chrono::days valid_for,
                               const std::vector<Extension>& extensions) {
  Owned<X509> certificate(X509_new());
  unsigned char serial[20];
  if (!certificate || RAND_bytes(serial, sizeof(serial)) != 1) {
    return OpenSslError("making a certificate");
  }
  serial[0] &= 0x7f;  // Positive, at most 20 octets (RFC 5280 4.1.2.2).
  Owned<BIGNUM> number(BN_bin2bn(serial, sizeof(serial), nullptr));
  X509_NAME* subject = X509_get_subject_name(certificate.get());
  // An hour back: a peer whose clock is a little behind accepts it at once.
  const bool filled =
      number && X509_set_version(certificate.get(), X509_VERSION_3) == 1 &&
      BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(certificate.get())) != nullptr &&
      X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -3600) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(certificate.get()),
                      std::chrono::duration_cast<std::chrono::seconds>(valid_for).count()) !=
          nullptr &&
      X509_set_pubkey(certificate.get(), subject_key) == 1 &&
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) == 1 &&
      X509_set_issuer_name(certificate.get(),
                           issuer != nullptr ? X509_get_subject_name(issuer) : subject) == 1;
  if (!filled) {
    return OpenSslError("making a certificate for " + common_name);
  }
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer != nullptr ? issuer : certificate.get(), certificate.get(),
                 nullptr, nullptr, 0);
  for (const Extension& wanted : extensions) {
    Owned<X509_EXTENSION> extension(
        X509V3_EXT_conf_nid(nullptr, &context, wanted.nid, wanted.value.c_str()));
    if (!extension || X509_add_ext(certificate.get(), extension.get(), -1) != 1) {
      return OpenSslError("the extension " + wanted.value);
    }
  }
  if (X509_sign(certificate.get(), issuer_key, EVP_sha256()) == 0) {
    return OpenSslError("signing the certificate of " + common_name);
  }
  return certificate;
}

bool IsFileName(const std::string& name) {
  return !name.empty() && name.size() <= 64 && name.front() != '.' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
         });
}

// A host name (RFC 1123 labels), or "*." and one.
bool IsHostName(std::string_view name) {
  if (name.starts_with("*.")) {
    name.remove_prefix(2);
  }
  if (name.empty() || name.size() > 253) {
    return false;
  }
  size_t label = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0 || label > 63 || name[i - 1] == '-' || name[i - label] == '-') {
        return false;
      }
      label = 0;
    } else if (std::isalnum(static_cast<unsigned char>(name[i])) || name[i] == '-') {
      ++label;
    } else {
      return false;
    }
  }
  return true;
}

// "DNS:a,IP:127.0.0.1", or an error naming what is not a name or an address.
base::Result<std::string> AlternativeNames(const CertificateRequest& request) {
  std::string names;
  for (const std::string& host : request.dns) {
    if (!IsHostName(host)) {
      return base::InvalidArgument("--dns " + host + ": not a host name");
    }
    names += (names.empty() ? "DNS:" : ",DNS:") + host;
  }
  for (const std::string& ip : request.ips) {
    boost::system::error_code error;
    const auto address = boost::asio::ip::make_address(ip, error);
    if (error) {
      return base::InvalidArgument("--ip " + ip + ": not an IP address");
    }
    names += (names.empty() ? "IP:" : ",IP:") + address.to_string();
  }
  return names;
}

}  // namespace

base::Result<CertificateAuthority> CertificateAuthority::Init(const fs::path& dir,
                                                              const std::string& name) {
  std::error_code error;
  if (fs::exists(dir / "ca.key", error) || fs::exists(dir / "ca.crt", error)) {
    return base::Conflict(dir.string() + " holds a certificate authority already");
  }
  fs::create_directories(dir / "issued", error);
  if (error) {
    return base::Error{dir.string() + ": " + error.message()};
  }
  fs::permissions(dir, fs::perms::owner_all, error);
  TRELLIS_TRY(Owned<EVP_PKEY> key, NewKey());
  TRELLIS_TRY(Owned<X509> certificate, Sign(name, key.get(), nullptr, key.get(), kCaValidity,
                                            {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                             {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                             {NID_subject_key_identifier, "hash"},
                                             {NID_authority_key_identifier, "keyid:always"}}));
  TRELLIS_TRY(const std::string key_pem, PemOf(key.get()));
  TRELLIS_TRY(const std::string certificate_pem, PemOf(certificate.get()));
  // The key first: a directory with ca.crt holds a whole CA.
  TRELLIS_TRY_STATUS(base::ReplaceSecretFile(dir / "ca.key", key_pem));
  TRELLIS_TRY_STATUS(base::ReplaceFile(dir / "ca.crt", certificate_pem));
  return CertificateAuthority(dir);
}

base::Result<CertificateAuthority> CertificateAuthority::Open(const fs::path& dir) {
  std::error_code error;
  if (!fs::exists(dir / "ca.crt", error) || !fs::exists(dir / "ca.key", error)) {
    return base::NotFound(dir.string() + ": no certificate authority (`trellis ca init`)");
  }
  CertificateAuthority authority(dir);
  TRELLIS_TRY(Owned<X509> certificate, ReadCertificate(authority.certificate()));
  TRELLIS_TRY(Owned<EVP_PKEY> key, ReadKey(dir / "ca.key"));
  if (X509_check_private_key(certificate.get(), key.get()) != 1) {
    ERR_clear_error();
    return base::InvalidArgument((dir / "ca.key").string() + ": not the key of ca.crt");
  }
  return authority;
}

base::Result<IssuedFiles> CertificateAuthority::Issue(const CertificateRequest& request) const {
  if (!IsFileName(request.name)) {
    return base::InvalidArgument(
        "'" + request.name +
        "': a name is letters, digits, '.', '_' and '-', not starting with '.'");
  }
  if (request.valid_for.count() <= 0) {
    return base::InvalidArgument("a certificate must be valid for at least a day");
  }
  TRELLIS_TRY(const std::string alternative_names, AlternativeNames(request));
  TRELLIS_TRY(Owned<X509> ca_certificate, ReadCertificate(certificate()));
  TRELLIS_TRY(Owned<EVP_PKEY> ca_key, ReadKey(dir_ / "ca.key"));
  std::vector<Extension> extensions = {{NID_basic_constraints, "critical,CA:FALSE"},
                                       {NID_key_usage, "critical,digitalSignature"},
                                       // A daemon is a server to some peers and a client of others.
                                       {NID_ext_key_usage, "serverAuth,clientAuth"},
                                       {NID_subject_key_identifier, "hash"},
                                       {NID_authority_key_identifier, "keyid:always"}};
  if (!alternative_names.empty()) {
    extensions.push_back({NID_subject_alt_name, alternative_names});
  }
  TRELLIS_TRY(Owned<EVP_PKEY> key, NewKey());
  TRELLIS_TRY(Owned<X509> issued, Sign(request.name, key.get(), ca_certificate.get(), ca_key.get(),
                                       request.valid_for, extensions));
  TRELLIS_TRY(const std::string key_pem, PemOf(key.get()));
  TRELLIS_TRY(const std::string issued_pem, PemOf(issued.get()));
  TRELLIS_TRY(const std::string ca_pem, PemOf(ca_certificate.get()));
  const IssuedFiles files = IssuedIn(dir_, request.name);
  // The key first: until the certificate is replaced too, the old pair still matches
  // nothing, and a daemon that reloads in between refuses the pair and keeps its own.
  TRELLIS_TRY_STATUS(base::ReplaceSecretFile(files.key, key_pem));
  TRELLIS_TRY_STATUS(base::ReplaceFile(files.certificate, issued_pem + ca_pem));
  return files;
}

}  // namespace trellis::security
