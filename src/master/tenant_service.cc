#include "master/tenant_service.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "master/client/cluster_state.h"
#include "security/access_token.h"

namespace trellis::master {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using http::Scope;
using http::beast_http::verb;

namespace {

TenantInfo InfoOf(const TenantState& tenant) {
  return {tenant.name, tenant.id, tenant.generation, tenant.memory_bytes, tenant.ops_per_second};
}

}  // namespace

void TenantService::AddRoutes(http::Router& router) {
  router.Add(verb::post, "/v1/tenants", Scope::kAdmin,
             http::MethodHandler(this, &TenantService::Create));
  router.Add(verb::get, "/v1/tenants", Scope::kRead,
             http::MethodHandler(this, &TenantService::List));
  router.Add(verb::delete_, "/v1/tenants/{name}", Scope::kAdmin,
             http::MethodHandler(this, &TenantService::Delete));
  router.Add(verb::post, "/v1/tenants/{name}/flush", Scope::kOperate,
             http::MethodHandler(this, &TenantService::Flush));
}

asio::awaitable<Response> TenantService::Create(const Request& request) {
  base::Result<nlohmann::json> body = request.JsonBody();
  if (!body) {
    co_return Response::Error(body.error());
  }
  base::Result<TenantRequest> asked = ParseTenantRequest(*body);
  if (!asked) {
    co_return Response::Error(asked.error());
  }
  base::Result<security::MintedSecret> password = security::MintSecret();
  if (!password) {
    co_return Response::Error(password.error());
  }
  base::Result<TenantState> added = map_.AddTenant(*asked, password->sha256_hex);
  if (!added) {
    co_return Response::Error(added.error());
  }
  if (base::Status published = publish_(); !published) {
    co_return Response::Error(published.error());
  }
  spdlog::info("tenant {} (id {}) created by {}", added->name, added->id,
               request.grant ? request.grant->token_id : "");
  const IssuedTenant issued{InfoOf(*added), std::move(password->secret)};
  co_return Response::Json(ToJson(issued), 201);
}

asio::awaitable<Response> TenantService::List(const Request&) {
  TenantList list;
  for (const TenantState& tenant : map_.tenants()) {
    list.tenants.push_back(InfoOf(tenant));
  }
  co_return Response::Json(ToJson(list));
}

asio::awaitable<Response> TenantService::Delete(const Request& request) {
  const std::string name(request.Param("name"));
  if (base::Status removed = map_.RemoveTenant(name); !removed) {
    co_return Response::Error(removed.error());
  }
  if (base::Status published = publish_(); !published) {
    co_return Response::Error(published.error());
  }
  spdlog::info("tenant {} deleted by {}", name, request.grant ? request.grant->token_id : "");
  Response response;
  response.status = 204;
  co_return response;
}

asio::awaitable<Response> TenantService::Flush(const Request& request) {
  const std::string name(request.Param("name"));
  base::Result<uint64_t> generation = map_.FlushTenant(name);
  if (!generation) {
    co_return Response::Error(generation.error());
  }
  if (base::Status published = publish_(); !published) {
    co_return Response::Error(published.error());
  }
  const TenantFlushed flushed{*generation, map_.version()};
  co_return Response::Json(ToJson(flushed));
}

}  // namespace trellis::master
