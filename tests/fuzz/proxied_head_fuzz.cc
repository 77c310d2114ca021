// libFuzzer target for the proxy's response head rewrite: any head Beast's response
// parser accepts, rewritten, must still be a head it accepts, with the same status and
// framing, and without a Connection or Keep-Alive field unless the proxy added it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "proto/http/proxied_head.h"

namespace {

namespace bhttp = boost::beast::http;

using Parser = bhttp::response_parser<bhttp::empty_body>;

// Parses the head at the start of `bytes`; its length, or 0 if it is not a whole head.
size_t ParseHead(std::string_view bytes, Parser& parser) {
  parser.skip(true);  // The head only.
  boost::beast::error_code error;
  const size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), error);
  return !error && parser.is_header_done() ? used : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trellis::proto::http::ClientConnection;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Parser original;
  const size_t head = ParseHead(input, original);
  if (head == 0) {
    return 0;
  }
  for (const ClientConnection connection :
       {ClientConnection::kAsDefault, ClientConnection::kKeepAlive, ClientConnection::kClose}) {
    std::string out;
    trellis::proto::http::AppendProxiedHead(input.substr(0, head), connection, out);
    Parser proxied;
    if (ParseHead(out, proxied) != out.size()) std::abort();
    const auto& before = original.get();
    const auto& after = proxied.get();
    if (before.result_int() != after.result_int()) std::abort();
    if (before.count(bhttp::field::keep_alive) != 0 && after.count(bhttp::field::keep_alive) != 0) {
      std::abort();
    }
    const size_t connections = after.count(bhttp::field::connection);
    if (connections != (connection == ClientConnection::kAsDefault ? 0u : 1u)) std::abort();
    if (before[bhttp::field::content_length] != after[bhttp::field::content_length]) std::abort();
    if (before[bhttp::field::transfer_encoding] != after[bhttp::field::transfer_encoding]) {
      std::abort();
    }
  }
  return 0;
}
