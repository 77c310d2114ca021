// Nginx: a real nginx (Debian's nginx-light) on a port the test holds, as a backend for
// the gateway's tests: it answers every request with its name, the request's URI and
// the forwarding fields it got ("a1 /x?y=1 xff=127.0.0.1 via=1.1 trellis proto=http"),
// and /healthz with 200; its responses say "Keep-Alive: timeout=75" of the connection.
// With a certificate it speaks TLS only (https).
//
// SelfSignedCertificate makes a certificate for one domain (the openssl command, an
// EC P-256 key), for a test's servers and for clients that trust exactly it.
//
// Thread safety: one test thread. The process is stopped by the destructor.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/temp_dir.h"

namespace trellis::testing {

struct Certificate {
  std::string domain;
  std::filesystem::path cert;  // PEM.
  std::filesystem::path key;   // PEM.
};

// Writes DOMAIN.crt and DOMAIN.key into `dir`. Throws if openssl fails.
Certificate SelfSignedCertificate(const std::filesystem::path& dir, const std::string& domain);

class Nginx {
 public:
  explicit Nginx(std::string name, std::optional<Certificate> tls = std::nullopt);

  // Starts it (again, after Kill) and waits until it answers.
  void Start();
  void Kill();
  std::string address() const { return port_.address(); }
  uint16_t port() const { return port_.port(); }

 private:
  bool Answers() const;

  std::string name_;
  std::optional<Certificate> tls_;
  TempDir dir_;
  HeldPort port_;
  std::unique_ptr<DaemonProcess> process_;
};

}  // namespace trellis::testing
