#include "testing/nginx.h"

#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "testing/loopback_client.h"

namespace trellis::testing {

using namespace std::chrono_literals;

Certificate SelfSignedCertificate(const std::filesystem::path& dir, const std::string& domain) {
  Certificate made{domain, dir / (domain + ".crt"), dir / (domain + ".key")};
  DaemonProcess openssl(
      {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-days", "2", "-subj", "/CN=" + domain, "-addext", "subjectAltName=DNS:" + domain, "-keyout",
       made.key.string(), "-out", made.cert.string()},
      "/usr/bin/openssl");
  const std::optional<int> status = openssl.WaitExit(30s);
  if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    throw std::runtime_error("openssl req failed: " + openssl.Log());
  }
  return made;
}

Nginx::Nginx(std::string name, std::optional<Certificate> tls)
    : name_(std::move(name)), tls_(std::move(tls)) {
  Start();
}

void Nginx::Start() {
  const std::string conf = (dir_.path() / "nginx.conf").string();
  std::ofstream file(conf);
  file << "daemon off; master_process off; worker_processes 1;\n"
       << "pid " << (dir_.path() / "nginx.pid").string() << ";\n"
       << "error_log stderr warn;\n"
       << "events { worker_connections 1024; }\n"
       << "http { access_log off; keepalive_timeout 75s 75s;\n"
       << "  server { listen " << port_.address() << " reuseport" << (tls_ ? " ssl" : "") << ";\n";
  if (tls_) {
    file << "    ssl_certificate " << tls_->cert.string() << ";\n"
         << "    ssl_certificate_key " << tls_->key.string() << ";\n";
  }
  file << "    location = /healthz { return 200 \"ok\\n\"; }\n"
       << "    location / { return 200 \"" << name_
       << " $request_uri xff=$http_x_forwarded_for via=$http_via"
       << " proto=$http_x_forwarded_proto\\n\"; } } }\n";
  file.close();
  process_ = std::make_unique<DaemonProcess>(
      std::vector<std::string>{"-c", conf, "-p", dir_.path().string(), "-e", "stderr"},
      "/usr/sbin/nginx");
  if (!Eventually([&] { return Answers(); }, 10s)) {
    throw std::runtime_error("nginx did not start: " + process_->Log());
  }
}

bool Nginx::Answers() const {
  if (tls_) {
    return WaitForPort(port_.port());
  }
  try {
    return HttpGet(port_.port(), "/healthz").status == 200;
  } catch (const std::exception&) {
    return false;  // Not listening yet.
  }
}

void Nginx::Kill() {
  process_->Signal(SIGKILL);
  process_->WaitExit(5s);
}

}  // namespace trellis::testing
