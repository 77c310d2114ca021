#include "testing/tls_client.h"

#include <chrono>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

namespace trellis::testing {

namespace asio = boost::asio;
namespace ssl = asio::ssl;

namespace {

constexpr std::chrono::seconds kDeadline{5};

}  // namespace

struct TlsClient::Stream {
  asio::io_context io;
  ssl::context context{ssl::context::tls_client};
  // Made once the context holds its certificate: a stream copies the context's then.
  std::optional<ssl::stream<asio::ip::tcp::socket>> stream;

  // Runs the operations started on `io` until done or the deadline; false on timeout
  // (the socket is closed then) or if `ok` did not become true.
  bool Run(const bool& ok) {
    io.restart();
    io.run_for(kDeadline);
    if (!io.stopped()) {
      boost::system::error_code ignored;
      stream->lowest_layer().close(ignored);
      io.run();
      return false;
    }
    return ok;
  }
};

TlsClient::TlsClient(uint16_t port, const std::filesystem::path& ca,
                     const std::optional<Certificate>& identity)
    : stream_(std::make_unique<Stream>()) {
  Stream& s = *stream_;
  s.context.load_verify_file(ca.string());
  if (identity) {
    s.context.use_certificate_chain_file(identity->cert.string());
    s.context.use_private_key_file(identity->key.string(), ssl::context::pem);
  }
  s.stream.emplace(s.io, s.context);
  s.stream->set_verify_mode(ssl::verify_peer);
  s.stream->set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  bool ok = false;
  s.stream->lowest_layer().async_connect(
      {asio::ip::make_address("127.0.0.1"), port}, [&](boost::system::error_code error) {
        if (!error) {
          s.stream->async_handshake(ssl::stream_base::client,
                                    [&](boost::system::error_code handshake) { ok = !handshake; });
        }
      });
  connected_ = s.Run(ok);
}

TlsClient::~TlsClient() = default;

std::string TlsClient::Exchange(const std::string& request, const std::string& terminator) {
  if (!connected_) {
    return "";
  }
  Stream& s = *stream_;
  std::string received;
  bool ok = false;
  asio::async_write(*s.stream, asio::buffer(request), [&](boost::system::error_code error, size_t) {
    if (!error) {
      asio::async_read_until(*s.stream, asio::dynamic_buffer(received), terminator,
                             [&](boost::system::error_code read, size_t) { ok = !read; });
    }
  });
  if (!s.Run(ok)) {
    connected_ = false;
    return "";
  }
  return received;
}

}  // namespace trellis::testing
