#include "http/server.h"

#include <fmt/format.h>

#include <sstream>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "base/version.h"

namespace trellis::http {

namespace asio = boost::asio;

namespace {

// What a parser's error answers: 431, 413 or 400, and the connection closes.
Response BadInput(const boost::beast::error_code& ec, const ServerOptions& options) {
  Response response;
  if (ec == beast_http::error::header_limit) {
    response = Response::Error(base::ResourceExhausted(
        fmt::format("the request's headers are over {} bytes", options.header_limit)));
    response.status = 431;
  } else if (ec == beast_http::error::body_limit) {
    response = Response::Error(base::ResourceExhausted(
        fmt::format("the request's body is over {} bytes", options.body_limit)));
    response.status = 413;
  } else {
    response = Response::Error(base::InvalidArgument("malformed HTTP request: " + ec.message()));
  }
  return response;
}

// The response on the wire. `version` is the request's (11 for HTTP/1.1).
std::string Serialize(Response response, unsigned version, bool keep_alive) {
  beast_http::response<beast_http::string_body> message(
      static_cast<beast_http::status>(response.status), version);
  message.set(beast_http::field::server, fmt::format("trellis/{}", base::kVersion));
  message.set(beast_http::field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) {
    message.insert(name, value);
  }
  message.body() = std::move(response.body);
  message.prepare_payload();
  // Last, so that it is the last header line (after Content-Length).
  message.keep_alive(keep_alive);
  std::ostringstream out;
  out << message;
  return std::move(out).str();
}

bool AsksToClose(const Response& response) {
  return boost::beast::iequals(response.Header("Connection"), "close");
}

// Reads one request into `parser`. Returns false when the connection ended first;
// *ec is set when the input is not a request the limits allow.
asio::awaitable<bool> ReadRequest(net::Connection& connection,
                                  beast_http::request_parser<beast_http::string_body>& parser,
                                  size_t header_limit, boost::beast::error_code* ec) {
  while (!parser.is_done()) {
    if (!connection.input().empty()) {
      const std::string_view input = connection.input();
      const size_t used = parser.put(asio::buffer(input.data(), input.size()), *ec);
      connection.Consume(used);
      if (*ec == beast_http::error::need_more) {
        *ec = {};
      } else if (*ec) {
        co_return true;
      }
      if (parser.is_done() || used > 0) {
        continue;
      }
    }
    // An oversized header is refused as soon as the buffer holds more than the limit.
    if (!parser.is_header_done() && connection.input().size() > header_limit) {
      *ec = beast_http::error::header_limit;
      co_return true;
    }
    if (!co_await connection.ReadMore()) {
      co_return false;
    }
  }
  co_return true;
}

// Answers requests on `connection` until it closes.
asio::awaitable<void> Serve(net::Connection& connection, const ServerOptions& options,
                            const std::shared_ptr<const Router>& router) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  for (;;) {
    beast_http::request_parser<beast_http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(options.header_limit));
    parser.body_limit(options.body_limit);
    parser.eager(true);
    boost::beast::error_code ec;
    if (!co_await ReadRequest(connection, parser, options.header_limit, &ec)) {
      co_return;
    }
    if (ec) {
      const std::string reply = Serialize(BadInput(ec, options), 11, /*keep_alive=*/false);
      co_await connection.Write(reply);
      co_return;
    }
    beast_http::request<beast_http::string_body> message = parser.release();
    const unsigned version = message.version();
    const bool client_keeps_alive = message.keep_alive();
    base::Result<Request> request =
        Request::Make(message.method(), std::string(message.target()), std::move(message.body()));
    if (!request) {
      const std::string reply =
          Serialize(Response::Error(request.error()), version, /*keep_alive=*/false);
      co_await connection.Write(reply);
      co_return;
    }
    request->headers = std::move(message.base());

    // The handler runs as a coroutine of its own, bound to the connection's abort slot:
    // when the drain deadline aborts the connection, what the handler waits on is
    // cancelled, so it ends and this connection with it.
    Response response;
    std::exception_ptr failure;
    try {
      response = co_await asio::co_spawn(
          executor, router->Dispatch(*request),
          asio::bind_cancellation_slot(connection.abort_slot(), asio::use_awaitable));
    } catch (...) {
      failure = std::current_exception();
    }
    connection.abort_slot().clear();
    if (connection.closed()) {
      co_return;  // Aborted: nobody is waiting for the answer any more.
    }
    if (failure) {
      const std::string reply =
          Serialize(Response::Error(base::Error{"internal error"}), version, /*keep_alive=*/false);
      co_await connection.Write(reply);
      std::rethrow_exception(failure);  // The runtime logs and counts it.
    }
    const bool keep_alive = client_keeps_alive && !AsksToClose(response);
    const std::string reply = Serialize(std::move(response), version, keep_alive);
    if (!co_await connection.Write(reply) || !keep_alive) {
      co_return;
    }
  }
}

}  // namespace

base::Result<std::unique_ptr<Server>> Server::Start(net::ShardPool& pool, ServerOptions options,
                                                    std::shared_ptr<const Router> router,
                                                    base::Registry& metrics) {
  net::ServerOptions server_options;
  server_options.name = options.name;
  server_options.listen = options.listen;
  server_options.max_connections = options.max_connections;
  server_options.idle_timeout = options.idle_timeout;
  server_options.tls = options.tls;
  server_options.overload_reply =
      Serialize(Response::Error(base::Unavailable("too many open connections")), 11,
                /*keep_alive=*/false);
  auto handler = [options = std::move(options), router = std::move(router)](
                     net::Connection& connection) { return Serve(connection, options, router); };
  base::Result<std::unique_ptr<net::Server>> server =
      net::Server::Start(pool, std::move(server_options), std::move(handler), metrics);
  if (!server) {
    return server.error();
  }
  return std::unique_ptr<Server>(new Server(std::move(server).value()));
}

}  // namespace trellis::http
