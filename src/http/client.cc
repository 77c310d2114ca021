#include "http/client.h"

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "base/version.h"
#include "net/address.h"
#include "net/client_stream.h"

namespace trellis::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// A few connections cover a node's long-poll plus its occasional other calls.
constexpr size_t kMaxIdleConnections = 4;
// The biggest answer is the cluster map: 64 MiB is far above any real one.
constexpr uint64_t kResponseBodyLimit = 64 * 1024 * 1024;

}  // namespace

struct Client::State {
  asio::any_io_executor executor;
  std::string address;  // HOST:PORT as given.
  net::HostPort host_port;
  bool https = false;                          // The URL said https://.
  std::shared_ptr<net::TlsClientContext> tls;  // Needed when https.
  std::vector<net::ClientStream> idle;  // Kept-alive connections, the most recently used last.
  std::string token;                    // Sent as "Authorization: Bearer" when not empty.
};

base::Result<Client> Client::ForUrl(asio::any_io_executor executor, std::string_view url) {
  std::string_view address = url;
  const bool https = address.starts_with("https://");
  if (https) {
    address.remove_prefix(8);
  } else if (address.starts_with("http://")) {
    address.remove_prefix(7);
  }
  while (address.ends_with('/')) {
    address.remove_suffix(1);
  }
  base::Result<net::HostPort> host_port = net::ParseHostPort(address);
  if (address.find_first_of("/?#@") != std::string_view::npos || !host_port) {
    return base::InvalidArgument(
        fmt::format("'{}' is not an HTTP address (http://HOST:PORT, https://HOST:PORT or "
                    "HOST:PORT)",
                    url));
  }
  auto state = std::make_shared<State>();
  state->https = https;
  state->executor = std::move(executor);
  state->address = std::string(address);
  state->host_port = std::move(host_port).value();
  return Client(std::move(state));
}

const std::string& Client::address() const { return state_->address; }

namespace {

// The endpoints of `host_port`, resolved by `deadline`. An IP address needs no lookup.
asio::awaitable<base::Result<std::vector<tcp::endpoint>>> Resolve(
    const asio::any_io_executor& executor, const net::HostPort& host_port,
    Clock::time_point deadline) {
  boost::system::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(host_port.host, ec);
  if (!ec) {
    co_return std::vector<tcp::endpoint>{tcp::endpoint(ip, host_port.port)};
  }
  // Shared with the timer's handler, which may run after this coroutine returned.
  auto resolver = std::make_shared<tcp::resolver>(executor);
  asio::steady_timer timer(executor, deadline);
  timer.async_wait([resolver](boost::system::error_code timer_ec) {
    if (!timer_ec) {
      resolver->cancel();
    }
  });
  const std::string port = std::to_string(host_port.port);
  auto [resolve_ec, results] =
      co_await resolver->async_resolve(host_port.host, port, asio::as_tuple(asio::use_awaitable));
  timer.cancel();
  if (resolve_ec || results.empty()) {
    co_return base::Unavailable(fmt::format("cannot resolve '{}': {}", host_port.host,
                                            resolve_ec ? resolve_ec.message() : "no address"));
  }
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) {
    endpoints.push_back(entry.endpoint());
  }
  co_return endpoints;
}

// What one exchange on a connection gave.
struct Exchanged {
  boost::system::error_code ec;
  bool got_some = false;  // Some of an answer arrived.
  bool reusable = false;  // The connection may carry the next request.
  Response response;
};

// Writes `request` on `stream` and reads the answer, by the stream's deadline.
asio::awaitable<Exchanged> Exchange(net::ClientStream& stream,
                                    const beast_http::request<beast_http::string_body>& request) {
  Exchanged result;
  auto [write_ec, written] =
      co_await beast_http::async_write(stream, request, asio::as_tuple(asio::use_awaitable));
  if (write_ec) {
    result.ec = write_ec;
    co_return result;
  }
  beast::flat_buffer buffer;
  beast_http::response_parser<beast_http::string_body> parser;
  parser.body_limit(kResponseBodyLimit);
  auto [read_ec, read] =
      co_await beast_http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  result.ec = read_ec;
  result.got_some = parser.got_some();
  if (read_ec) {
    co_return result;
  }
  beast_http::response<beast_http::string_body>& message = parser.get();
  result.response.status = static_cast<int>(message.result_int());
  result.response.content_type = std::string(message[beast_http::field::content_type]);
  for (const auto& field : message) {
    result.response.headers.emplace_back(std::string(field.name_string()),
                                         std::string(field.value()));
  }
  result.response.body = std::move(message.body());
  result.reusable = message.keep_alive() && buffer.size() == 0;
  co_return result;
}

}  // namespace

void Client::set_token(std::string token) { state_->token = std::move(token); }

void Client::set_tls(std::shared_ptr<net::TlsClientContext> tls) { state_->tls = std::move(tls); }

asio::awaitable<base::Result<Response>> Client::Call(beast_http::verb method, std::string target,
                                                     std::string body,
                                                     std::chrono::milliseconds timeout) {
  const std::shared_ptr<State> state = state_;  // Outlives this Client if need be.
  const Clock::time_point deadline = Clock::now() + timeout;
  const auto failed = [&](std::string_view what) {
    return base::Unavailable(fmt::format("{} {} to {}: {}", beast_http::to_string(method), target,
                                         state->address, what));
  };

  beast_http::request<beast_http::string_body> request(method, target, 11);
  request.set(beast_http::field::host, state->address);
  request.set(beast_http::field::user_agent, fmt::format("trellis/{}", base::kVersion));
  if (!body.empty()) {
    request.set(beast_http::field::content_type, "application/json");
  }
  if (!state->token.empty()) {
    request.set(beast_http::field::authorization, "Bearer " + state->token);
  }
  request.body() = std::move(body);
  request.prepare_payload();

  for (;;) {
    const bool reused = !state->idle.empty();
    std::optional<net::ClientStream> stream;
    if (reused) {
      stream.emplace(std::move(state->idle.back()));
      state->idle.pop_back();
    } else {
      auto endpoints = co_await Resolve(state->executor, state->host_port, deadline);
      if (!endpoints) {
        co_return failed(endpoints.error().message);
      }
      if (state->https && !state->tls) {
        co_return base::InvalidArgument(
            failed("an https:// address needs the cluster's CA (--cluster-ca)").message);
      }
      net::ClientStream::Peer peer{state->host_port.host, std::move(endpoints).value()};
      net::TlsClientContext* tls = state->https ? state->tls.get() : nullptr;
      base::Result<net::ClientStream> opened =
          co_await net::ClientStream::Open(std::move(peer), tls, deadline);
      if (!opened) {
        base::Error error = failed(opened.error().message);
        error.code = opened.error().code;
        co_return error;
      }
      stream.emplace(std::move(opened).value());
    }
    stream->tcp().expires_at(deadline);
    Exchanged exchanged = co_await Exchange(*stream, request);
    if (exchanged.ec == beast::error::timeout) {
      co_return failed(fmt::format("no answer within {} ms", timeout.count()));
    }
    if (exchanged.ec) {
      // A kept-alive connection the server closed while it sat idle fails before any
      // answer; the server did not see the request, so it goes again on a new one.
      if (reused && !exchanged.got_some && Clock::now() < deadline) {
        continue;
      }
      co_return failed(exchanged.ec.message());
    }
    if (exchanged.reusable && state->idle.size() < kMaxIdleConnections) {
      stream->tcp().expires_never();
      state->idle.push_back(std::move(*stream));
    }
    co_return std::move(exchanged.response);
  }
}

asio::awaitable<base::Result<nlohmann::json>> CallJson(Client& client, beast_http::verb method,
                                                       std::string target,
                                                       const nlohmann::json& body,
                                                       std::chrono::milliseconds timeout) {
  std::string payload = body.is_null() ? std::string() : body.dump();
  const std::string what =
      fmt::format("{} {} to {}", beast_http::to_string(method), target, client.address());
  base::Result<Response> response =
      co_await client.Call(method, std::move(target), std::move(payload), timeout);
  if (!response) {
    co_return response.error();
  }
  co_return JsonOf(*response, what);
}

base::Result<nlohmann::json> JsonOf(const Response& response, std::string_view what) {
  nlohmann::json reply = response.body.empty()
                             ? nlohmann::json()
                             : nlohmann::json::parse(response.body, nullptr, false);
  if (response.status >= 400) {
    const bool has_message =
        reply.is_object() && reply.contains("error") && reply["error"].is_string();
    return base::Error{has_message ? reply["error"].get<std::string>()
                                   : fmt::format("{}: status {}", what, response.status),
                       CodeForStatus(response.status)};
  }
  if (reply.is_discarded()) {
    return base::Error{fmt::format("{}: the answer is not JSON", what)};
  }
  return reply;
}

}  // namespace trellis::http
