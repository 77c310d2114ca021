#include "admin/admin_server.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/version.h"
#include "net/address.h"

namespace trellis::admin {

namespace asio = boost::asio;
using http::beast_http::verb;

AdminServer::AdminServer(AdminOptions options, base::Registry& metrics)
    : options_(std::move(options)), metrics_(metrics), started_(std::chrono::steady_clock::now()) {}

AdminServer::~AdminServer() { Stop(std::chrono::milliseconds(0)); }

base::Result<std::unique_ptr<AdminServer>> AdminServer::Start(AdminOptions options,
                                                              base::Registry& metrics) {
  std::unique_ptr<AdminServer> admin(new AdminServer(std::move(options), metrics));
  AdminServer* self = admin.get();

  auto router = std::make_shared<http::Router>();
  router->Add(verb::get, "/healthz", http::kOpen,
              [](const http::Request&) -> asio::awaitable<http::Response> {
                co_return http::Response::Text("ok\n");
              });
  // Metrics and status stay open to scrapers and operators on this machine when the
  // endpoint listens on loopback only (docs/security.md): a node's status must answer
  // while its master, which checks tokens, is down. Anywhere else they need a read token.
  const std::optional<http::Scope> local_reads = admin->options_.listen.address().is_loopback()
                                                     ? http::kOpen
                                                     : std::optional(http::Scope::kRead);
  router->Add(verb::get, "/metrics", local_reads,
              [self](const http::Request&) -> asio::awaitable<http::Response> {
                co_return http::Response::Text(self->metrics_.Render(),
                                               "text/plain; version=0.0.4; charset=utf-8");
              });
  router->Add(verb::get, "/v1/status", local_reads,
              [self](const http::Request&) -> asio::awaitable<http::Response> {
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
                co_return http::Response::Json(status);
              });
  if (admin->options_.api) {
    router->SetFallback(
        [self](const http::Request& request) -> asio::awaitable<std::optional<http::Response>> {
          const std::string_view target = request.target;
          const size_t question = target.find('?');
          ApiRequest api{std::string(http::beast_http::to_string(request.method)),
                         std::string(target.substr(0, question)),
                         question == std::string_view::npos
                             ? std::string()
                             : std::string(target.substr(question + 1)),
                         request.body};
          std::optional<ApiResponse> answer = co_await self->options_.api(api);
          if (!answer) {
            co_return std::nullopt;
          }
          http::Response response;
          response.status = answer->status;
          response.body = std::move(answer->body);
          co_return response;
        });
  }

  if (admin->options_.authenticator) {
    router->RequireTokens(admin->options_.authenticator);
  }

  http::ServerOptions server_options;
  server_options.name = "admin";
  server_options.listen = admin->options_.listen;
  server_options.max_connections = 64;
  server_options.idle_timeout = std::chrono::seconds(60);
  server_options.body_limit = 64 * 1024;
  auto server =
      http::Server::Start(admin->pool_, std::move(server_options), std::move(router), metrics);
  if (!server) {
    return base::WithContext("admin", server.error());
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
