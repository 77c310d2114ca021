#include "admin/admin_server.h"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

#include "base/version.h"
#include "net/address.h"

namespace trellis::admin {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr size_t kHeaderLimit = 8 * 1024;
constexpr size_t kBodyLimit = 64 * 1024;

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 201:
      return "Created";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 422:
      return "Unprocessable Entity";
    case 503:
      return "Service Unavailable";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Internal Server Error";
  }
}

std::string Serialize(const Response& response, bool keep_alive) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nServer: trellis/{}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
      response.status, Reason(response.status), base::kVersion, response.content_type,
      response.body.size());
  if (response.status == 405) {
    out += "Allow: GET\r\n";
  }
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  out += response.body;
  return out;
}

Response Error(int status) {
  return {status, "text/plain; charset=utf-8", fmt::format("{}\n", Reason(status))};
}

}  // namespace

AdminServer::AdminServer(AdminOptions options, base::Registry& metrics)
    : options_(std::move(options)), metrics_(metrics), started_(std::chrono::steady_clock::now()) {}

AdminServer::~AdminServer() { Stop(std::chrono::milliseconds(0)); }

base::Result<std::unique_ptr<AdminServer>> AdminServer::Start(AdminOptions options,
                                                              base::Registry& metrics) {
  std::unique_ptr<AdminServer> admin(new AdminServer(std::move(options), metrics));
  AdminServer* self = admin.get();

  auto route = [self](const http::request<http::string_body>& request) -> Response {
    const std::string_view target(request.target().data(), request.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/healthz" && path != "/metrics" && path != "/v1/status") {
      return Error(404);
    }
    if (request.method() != http::verb::get) {
      return Error(405);
    }
    if (path == "/healthz") {
      return {200, "text/plain; charset=utf-8", "ok\n"};
    }
    if (path == "/metrics") {
      return {200, "text/plain; version=0.0.4; charset=utf-8", self->metrics_.Render()};
    }
    nlohmann::json listen = self->options_.listen_addresses;
    listen["admin"] = net::FormatEndpoint(self->local_endpoint());
    const auto uptime = std::chrono::steady_clock::now() - self->started_;
    nlohmann::json status = {
        {"kind", self->options_.kind},
        {"version", base::kVersion},
        {"pid", ::getpid()},
        {"uptime_seconds", std::chrono::duration<double>(uptime).count()},
        {"listen", listen},
    };
    if (self->options_.add_status) {
      self->options_.add_status(status);
    }
    return {200, "application/json", status.dump() + "\n"};
  };

  auto handler = [route, self](net::Connection& connection) -> asio::awaitable<void> {
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(kBodyLimit);
      parser.eager(true);
      boost::beast::error_code ec;
      while (!parser.is_done()) {
        if (!connection.input().empty()) {
          const std::string_view input = connection.input();
          const size_t used = parser.put(asio::buffer(input.data(), input.size()), ec);
          connection.Consume(used);
          if (ec == http::error::need_more) {
            ec = {};
          } else if (ec) {
            break;
          }
          if (parser.is_done() || used > 0) {
            continue;
          }
        }
        // An oversized header is refused as soon as the buffer holds more than the limit.
        if (!parser.is_header_done() && connection.input().size() > kHeaderLimit) {
          ec = http::error::header_limit;
          break;
        }
        if (!co_await connection.ReadMore()) {
          co_return;
        }
      }
      if (ec) {
        const int status = ec == http::error::header_limit ? 431
                           : ec == http::error::body_limit ? 413
                                                           : 400;
        co_await connection.Write(Serialize(Error(status), /*keep_alive=*/false));
        co_return;
      }
      const auto& request = parser.get();
      const bool keep_alive = request.keep_alive();
      Response response = route(request);
      if (response.status == 404 && self->options_.api) {
        const std::string_view target(request.target().data(), request.target().size());
        const size_t question = target.find('?');
        ApiRequest api{std::string(request.method_string()), std::string(target.substr(0, question)),
                       question == std::string_view::npos ? std::string()
                                                          : std::string(target.substr(question + 1)),
                       request.body()};
        if (std::optional<ApiResponse> answer = co_await self->options_.api(api)) {
          response = {answer->status, "application/json", answer->body};
        }
      }
      if (!co_await connection.Write(Serialize(response, keep_alive)) || !keep_alive) {
        co_return;
      }
    }
  };

  net::ServerOptions server_options;
  server_options.name = "admin";
  server_options.listen = admin->options_.listen;
  server_options.max_connections = 64;
  server_options.idle_timeout = std::chrono::seconds(60);
  server_options.overload_reply =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  auto server = net::Server::Start(admin->pool_, std::move(server_options), handler, metrics);
  if (!server) {
    return base::Error{"admin: " + server.error().message};
  }
  admin->server_ = std::move(server).value();
  admin->local_endpoint_ = admin->server_->local_endpoint();
  admin->pool_.Start();
  return admin;
}

void AdminServer::Stop(std::chrono::milliseconds timeout) {
  if (server_) {
    server_->Drain(timeout);
    server_.reset();
  }
  pool_.Stop();
}

}  // namespace trellis::admin
