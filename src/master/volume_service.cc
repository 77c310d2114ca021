#include "master/volume_service.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace trellis::master {

namespace asio = boost::asio;
using http::Request;
using http::Response;
using http::Scope;
using http::beast_http::verb;

base::Status VolumeService::Load() {
  TRELLIS_TRY(const nlohmann::json document, store_.LoadDocument(kVolumesDocument));
  TRELLIS_TRY(table_, VolumeTable::FromJson(document));
  return {};
}

void VolumeService::AddRoutes(http::Router& router) {
  router.Add(verb::post, "/v1/volumes", Scope::kAdmin,
             http::MethodHandler(this, &VolumeService::Create));
  router.Add(verb::get, "/v1/volumes", Scope::kRead,
             http::MethodHandler(this, &VolumeService::List));
  router.Add(verb::get, "/v1/volumes/{name}", Scope::kRead,
             http::MethodHandler(this, &VolumeService::Get));
  router.Add(verb::delete_, "/v1/volumes/{name}", Scope::kAdmin,
             http::MethodHandler(this, &VolumeService::Delete));
  router.Add(verb::post, "/v1/volumes/{name}/open", Scope::kOperate,
             http::MethodHandler(this, &VolumeService::Open));
  router.Add(verb::post, "/v1/volumes/{name}/stale", Scope::kOperate,
             http::MethodHandler(this, &VolumeService::MarkStale));
}

asio::awaitable<Response> VolumeService::Create(const Request& request) {
  base::Result<nlohmann::json> body = request.JsonBody();
  if (!body) {
    co_return Response::Error(body.error());
  }
  base::Result<VolumeRequest> asked = ParseVolumeRequest(*body);
  if (!asked) {
    co_return Response::Error(asked.error());
  }
  base::Result<VolumeState> created =
      Change([&](VolumeTable& table) { return table.Create(*asked, storage_nodes_()); });
  if (!created) {
    co_return Response::Error(created.error());
  }
  spdlog::info("volume {} (id {}, {} bytes, {}) created by {}", created->name, created->id,
               created->size, FormatRedundancy(created->redundancy),
               request.grant ? request.grant->token_id : "");
  co_return Response::Json(ToJson(*created), 201);
}

asio::awaitable<Response> VolumeService::List(const Request&) {
  co_return Response::Json(ToJson(VolumeList{table_.volumes()}));
}

asio::awaitable<Response> VolumeService::Get(const Request& request) {
  const VolumeState* volume = table_.Find(request.Param("name"));
  if (volume == nullptr) {
    co_return Response::Error(base::NotFound("no volume " + std::string(request.Param("name"))));
  }
  co_return Response::Json(ToJson(*volume));
}

asio::awaitable<Response> VolumeService::Delete(const Request& request) {
  const std::string name(request.Param("name"));
  if (base::Status deleted = Change([&](VolumeTable& table) { return table.Delete(name); });
      !deleted) {
    co_return Response::Error(deleted.error());
  }
  spdlog::info("volume {} deleted by {}", name, request.grant ? request.grant->token_id : "");
  Response response;
  response.status = 204;
  co_return response;
}

asio::awaitable<Response> VolumeService::Open(const Request& request) {
  base::Result<VolumeState> opened =
      Change([&](VolumeTable& table) { return table.Open(request.Param("name")); });
  if (!opened) {
    co_return Response::Error(opened.error());
  }
  spdlog::info("volume {} opened for writing, generation {}", opened->name, opened->generation);
  co_return Response::Json(ToJson(*opened));
}

asio::awaitable<Response> VolumeService::MarkStale(const Request& request) {
  base::Result<nlohmann::json> body = request.JsonBody();
  if (!body) {
    co_return Response::Error(body.error());
  }
  base::Result<StaleReport> report = ParseStaleReport(*body);
  if (!report) {
    co_return Response::Error(report.error());
  }
  base::Result<VolumeState> marked =
      Change([&](VolumeTable& table) { return table.MarkStale(request.Param("name"), *report); });
  if (!marked) {
    co_return Response::Error(marked.error());
  }
  spdlog::warn("volume {}: the piece of chunk {} on {} missed a write; stale until repaired",
               marked->name, report->chunk, report->node);
  co_return Response::Json(ToJson(*marked));
}

}  // namespace trellis::master
