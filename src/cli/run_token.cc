// `trellis token`: the access tokens of the master's API (docs/security.md): create one
// with a scope, list them, revoke one. Needs an admin token (by default the one `trellis
// up` wrote to ./trellis-data/admin.token).
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "daemon/flags.h"
#include "http/client.h"
#include "master/client/master_client.h"

namespace trellis::cli {
namespace {

namespace asio = boost::asio;

struct TokenFlags {
  daemon::OperatorFlags master;
  bool json = false;
  std::string name;  // create: the new token's name; revoke: the id.
  std::string scope = "read";
};

std::string When(int64_t unix_seconds) {
  return base::FormatUtc(unix_seconds, "%Y-%m-%dT%H:%M:%SZ");
}

asio::awaitable<base::Status> ActOnTokens(master::MasterClient& client, const std::string& action,
                                          const TokenFlags& flags) {
  if (action == "create") {
    TRELLIS_CO_TRY(const http::Scope scope, http::ParseScope(flags.scope));
    const master::TokenRequest request{flags.name, scope};  // Named: g++ 12 and co_await.
    TRELLIS_CO_TRY(master::IssuedToken issued, co_await client.CreateToken(request));
    if (flags.json) {
      fmt::print("{}\n", master::ToJson(issued).dump());
    } else {
      fmt::print("{}\n", issued.token);  // Alone on stdout: `trellis token create > file`.
    }
    co_return base::Status();
  }
  if (action == "list") {
    TRELLIS_CO_TRY(std::vector<master::TokenInfo> tokens, co_await client.ListTokens());
    if (flags.json) {
      fmt::print("{}\n", master::ToJson(master::TokenList{tokens}).dump());
      co_return base::Status();
    }
    fmt::print("{:<18} {:<8} {:<21} {}\n", "ID", "SCOPE", "CREATED", "NAME");
    for (const master::TokenInfo& token : tokens) {
      fmt::print("{:<18} {:<8} {:<21} {}\n", token.id, http::ScopeName(token.scope),
                 When(token.created_unix), token.name);
    }
    co_return base::Status();
  }
  co_return co_await client.RevokeToken(flags.name);
}

}  // namespace

Command AddTokenCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "token",
      "create, list and revoke the access tokens of the master's API and of every daemon "
      "that has a master (docs/security.md); needs an admin token");
  app->require_subcommand(1);
  app->fallthrough();
  auto flags = std::make_shared<TokenFlags>();
  daemon::AddOperatorFlags(*app, flags->master);
  app->add_flag("--json", flags->json, "print JSON");
  auto action = std::make_shared<std::string>();
  CLI::App* create = app->add_subcommand(
      "create", "mint a token and print it (shown this once; the master keeps only its hash)");
  create
      ->add_option("--scope", flags->scope,
                   "read (GET of state), operate (changes of the cluster's state) or admin "
                   "(tokens too)")
      ->capture_default_str();
  create->add_option("--name", flags->name, "what it is for (\"grafana\", \"ci\")")->required();
  create->callback([action] { *action = "create"; });
  app->add_subcommand("list", "the tokens: id, scope, when created, name (never the secret)")
      ->callback([action] { *action = "list"; });
  CLI::App* revoke =
      app->add_subcommand("revoke", "revoke a token at once (every daemon within 5 s)");
  revoke->add_option("ID", flags->name, "the token's id (`trellis token list`)")->required();
  revoke->callback([action] { *action = "revoke"; });
  return {app, [app, flags, action] {
            return daemon::ActOnMaster(*app, flags->master, [&](master::MasterClient& client) {
              return ActOnTokens(client, *action, *flags);
            });
          }};
}

}  // namespace trellis::cli
