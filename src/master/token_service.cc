#include "master/token_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <boost/algorithm/string/trim.hpp>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "master/client/cluster_state.h"

namespace trellis::master {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using http::Scope;
using http::beast_http::verb;

namespace {

TokenInfo InfoOf(const security::TokenRecord& record) {
  return {record.id, record.name, record.scope, record.created_unix};
}

}  // namespace

base::Result<std::unique_ptr<TokenService>> TokenService::Open(MapStore& store,
                                                               const std::string& admin_token_file,
                                                               base::Registry& metrics) {
  std::unique_ptr<TokenService> service(
      new TokenService(store, !admin_token_file.empty(), metrics));
  if (!admin_token_file.empty()) {
    if (base::Status made = service->Bootstrap(admin_token_file); !made) {
      return base::WithContext("--admin-token-file " + admin_token_file, made.error());
    }
  }
  TRELLIS_TRY_STATUS(service->Reload());
  return service;
}

base::Status TokenService::Reload() {
  TRELLIS_TRY(std::vector<security::TokenRecord> records, store_.LoadTokens());
  for (const security::TokenRecord& held : table_->List()) {
    if (std::none_of(records.begin(), records.end(),
                     [&](const security::TokenRecord& record) { return record.id == held.id; })) {
      table_->Remove(held.id);
    }
  }
  for (security::TokenRecord& record : records) {
    table_->Put(std::move(record));
  }
  return {};
}

base::Status TokenService::Bootstrap(const std::string& admin_token_file) {
  std::error_code error;
  if (std::filesystem::exists(admin_token_file, error)) {
    TRELLIS_TRY(std::string text, base::ReadFile(admin_token_file));
    boost::algorithm::trim(text);
    TRELLIS_TRY(security::MintedToken adopted,
                security::AdoptToken(std::move(text), "bootstrap", Scope::kAdmin));
    return store_.SaveToken(adopted.record);
  }
  TRELLIS_TRY(security::MintedToken minted, security::MintToken("bootstrap", Scope::kAdmin));
  TRELLIS_TRY_STATUS(store_.SaveToken(minted.record));
  TRELLIS_TRY_STATUS(base::ReplaceSecretFile(admin_token_file, minted.token + "\n"));
  spdlog::info("wrote a new admin token ({}) to {}", minted.record.id, admin_token_file);
  return {};
}

void TokenService::AddRoutes(http::Router& router) {
  router.Add(verb::post, "/v1/tokens", Scope::kAdmin,
             http::MethodHandler(this, &TokenService::Create));
  router.Add(verb::get, "/v1/tokens", Scope::kAdmin,
             http::MethodHandler(this, &TokenService::List));
  router.Add(verb::get, "/v1/tokens/self", Scope::kRead,
             http::MethodHandler(this, &TokenService::Self));
  router.Add(verb::delete_, "/v1/tokens/{id}", Scope::kAdmin,
             http::MethodHandler(this, &TokenService::Revoke));
}

asio::awaitable<Response> TokenService::Create(const Request& request) {
  if (!required_) {
    co_return Response::Error(base::Conflict(
        "this master takes no tokens: start it with --admin-token-file to require them"));
  }
  base::Result<nlohmann::json> body = request.JsonBody();
  if (!body) {
    co_return Response::Error(body.error());
  }
  base::Result<TokenRequest> asked = ParseTokenRequest(*body);
  if (!asked) {
    co_return Response::Error(asked.error());
  }
  if (asked->name.empty() || asked->name.size() > 64) {
    co_return Response::Error(base::InvalidArgument("name: 1 to 64 characters"));
  }
  base::Result<security::MintedToken> made = security::MintToken(asked->name, asked->scope);
  if (!made) {
    co_return Response::Error(made.error());
  }
  security::MintedToken& minted = *made;
  if (base::Status saved = store_.SaveToken(minted.record); !saved) {
    co_return Response::Error(saved.error());
  }
  const IssuedToken issued{InfoOf(minted.record), minted.token};
  spdlog::info("token {} ({}, scope {}) created by {}", minted.record.id, minted.record.name,
               http::ScopeName(minted.record.scope), request.grant ? request.grant->token_id : "");
  table_->Put(std::move(minted.record));
  co_return Response::Json(ToJson(issued), 201);
}

asio::awaitable<Response> TokenService::List(const Request&) {
  TokenList list;
  for (const security::TokenRecord& record : table_->List()) {
    list.tokens.push_back(InfoOf(record));
  }
  co_return Response::Json(ToJson(list));
}

asio::awaitable<Response> TokenService::Revoke(const Request& request) {
  const std::string id(request.Param("id"));
  if (base::Status deleted = store_.DeleteToken(id); !deleted) {
    co_return Response::Error(deleted.error());
  }
  if (!table_->Remove(id)) {
    co_return Response::Error(base::NotFound("no token " + id));
  }
  spdlog::info("token {} revoked by {}", id, request.grant ? request.grant->token_id : "");
  Response response;
  response.status = 204;
  co_return response;
}

asio::awaitable<Response> TokenService::Self(const Request& request) {
  CallerGrant grant;
  grant.required = required_;
  if (request.grant) {
    grant.token = {request.grant->token_id, request.grant->name, request.grant->scope, 0};
  } else {
    grant.token.scope = Scope::kAdmin;
  }
  co_return Response::Json(ToJson(grant));
}

}  // namespace trellis::master
