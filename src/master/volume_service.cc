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

base::Status VolumeService::Save(VolumeTable before) {
  if (base::Status saved = store_.SaveDocument(kVolumesDocument, table_.ToJson()); !saved) {
    spdlog::error("the volumes were not saved, and the change is undone: {}",
                  saved.error().message);
    table_ = std::move(before);
    return saved;
  }
  return {};
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
  VolumeTable before = table_;
  base::Result<VolumeState> created = table_.Create(*asked, storage_nodes_());
  if (!created) {
    co_return Response::Error(created.error());
  }
  if (base::Status saved = Save(std::move(before)); !saved) {
    co_return Response::Error(saved.error());
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
  VolumeTable before = table_;
  if (base::Status deleted = table_.Delete(name); !deleted) {
    co_return Response::Error(deleted.error());
  }
  if (base::Status saved = Save(std::move(before)); !saved) {
    co_return Response::Error(saved.error());
  }
  spdlog::info("volume {} deleted by {}", name, request.grant ? request.grant->token_id : "");
  Response response;
  response.status = 204;
  co_return response;
}

asio::awaitable<Response> VolumeService::Open(const Request& request) {
  VolumeTable before = table_;
  base::Result<VolumeState> opened = table_.Open(request.Param("name"));
  if (!opened) {
    co_return Response::Error(opened.error());
  }
  if (base::Status saved = Save(std::move(before)); !saved) {
    co_return Response::Error(saved.error());
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
  VolumeTable before = table_;
  base::Result<VolumeState> marked = table_.MarkStale(request.Param("name"), *report);
  if (!marked) {
    co_return Response::Error(marked.error());
  }
  if (base::Status saved = Save(std::move(before)); !saved) {
    co_return Response::Error(saved.error());
  }
  spdlog::warn("volume {}: the piece of chunk {} on {} missed a write; stale until repaired",
               marked->name, report->chunk, report->node);
  co_return Response::Json(ToJson(*marked));
}

}  // namespace trellis::master
