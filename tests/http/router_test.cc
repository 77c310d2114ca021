// Routing, target decoding and the error <-> status mapping, without sockets.
#include "http/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http/client.h"

namespace trellis::http {
namespace {

namespace asio = boost::asio;
using beast_http::verb;
using ::testing::HasSubstr;

Request MakeRequest(verb method, std::string target, std::string body = {}) {
  base::Result<Request> request = Request::Make(method, std::move(target), std::move(body));
  EXPECT_TRUE(request.ok()) << request.error().message;
  return std::move(request).value();
}

Response Dispatch(const Router& router, Request request) {
  return RunBlocking([&](asio::any_io_executor) -> asio::awaitable<Response> {
    co_return co_await router.Dispatch(request);
  });
}

// A handler that answers with the route's name and its parameters.
Handler Echo(std::string name) {
  return [name](const Request& request) -> asio::awaitable<Response> {
    co_return Response::Json({{"route", name},
                              {"address", request.Param("address")},
                              {"group", request.Param("group")}});
  };
}

nlohmann::json BodyOf(const Response& response) { return nlohmann::json::parse(response.body); }

TEST(RouterTest, MatchesLiteralsAndParameters) {
  Router router;
  router.Add(verb::get, "/v1/nodes", http::Scope::kRead, Echo("list"));
  router.Add(verb::get, "/v1/nodes/{address}", http::Scope::kRead, Echo("one"));
  router.Add(verb::post, "/v1/groups/{group}/nodes/{address}", http::Scope::kOperate, Echo("add"));
  router.Add(verb::get, "/", http::Scope::kRead, Echo("root"));

  EXPECT_EQ(BodyOf(Dispatch(router, MakeRequest(verb::get, "/v1/nodes")))["route"], "list");
  const Response one = Dispatch(router, MakeRequest(verb::get, "/v1/nodes/127.0.0.1:7001?x=1"));
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(BodyOf(one)["route"], "one");
  EXPECT_EQ(BodyOf(one)["address"], "127.0.0.1:7001");
  const Response add =
      Dispatch(router, MakeRequest(verb::post, "/v1/groups/g1/nodes/%5B%3A%3A1%5D:1"));
  EXPECT_EQ(BodyOf(add)["group"], "g1");
  EXPECT_EQ(BodyOf(add)["address"], "[::1]:1");
  EXPECT_EQ(BodyOf(Dispatch(router, MakeRequest(verb::get, "/")))["route"], "root");
}

TEST(RouterTest, AParameterIsOneNonEmptySegment) {
  Router router;
  router.Add(verb::get, "/v1/nodes/{address}", http::Scope::kRead, Echo("one"));
  // An escaped '/' stays inside its segment.
  const Response escaped = Dispatch(router, MakeRequest(verb::get, "/v1/nodes/a%2Fb"));
  EXPECT_EQ(BodyOf(escaped)["address"], "a/b");
  EXPECT_EQ(Dispatch(router, MakeRequest(verb::get, "/v1/nodes/")).status, 404);
  EXPECT_EQ(Dispatch(router, MakeRequest(verb::get, "/v1/nodes/a/b")).status, 404);
  EXPECT_EQ(Dispatch(router, MakeRequest(verb::get, "/v1/nodes")).status, 404);
}

TEST(RouterTest, TheFirstRouteAddedWins) {
  Router router;
  router.Add(verb::get, "/v1/nodes/self", http::Scope::kRead, Echo("self"));
  router.Add(verb::get, "/v1/nodes/{address}", http::Scope::kRead, Echo("one"));
  EXPECT_EQ(BodyOf(Dispatch(router, MakeRequest(verb::get, "/v1/nodes/self")))["route"], "self");
  EXPECT_EQ(BodyOf(Dispatch(router, MakeRequest(verb::get, "/v1/nodes/x")))["route"], "one");
}

TEST(RouterTest, UnknownPathIs404AsJsonAndClosesTheConnection) {
  Router router;
  router.Add(verb::get, "/v1/nodes", http::Scope::kRead, Echo("list"));
  const Response response = Dispatch(router, MakeRequest(verb::get, "/x%20y?a=b"));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(BodyOf(response),
            nlohmann::json({{"error", "no route for /x y"}, {"code", "not_found"}}));
  EXPECT_EQ(response.Header("connection"), "close");
}

TEST(RouterTest, KnownPathWithAnotherMethodIs405WithAllow) {
  Router router;
  router.Add(verb::get, "/v1/groups/{group}", http::Scope::kRead, Echo("get"));
  router.Add(verb::delete_, "/v1/groups/{group}", http::Scope::kOperate, Echo("delete"));
  router.Add(verb::get, "/v1/groups/{group}", http::Scope::kRead, Echo("again"));
  const Response response = Dispatch(router, MakeRequest(verb::post, "/v1/groups/g1", "{}"));
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.Header("Allow"), "GET, DELETE");
  EXPECT_THAT(BodyOf(response)["error"].get<std::string>(), HasSubstr("POST"));
}

TEST(RouterTest, FallbackAnswersUnknownPathsOnly) {
  Router router;
  router.Add(verb::get, "/healthz", http::Scope::kRead, Echo("health"));
  router.SetFallback([](const Request& request) -> asio::awaitable<std::optional<Response>> {
    if (request.path != "/api") {
      co_return std::nullopt;
    }
    co_return Response::Text("api\n");
  });
  EXPECT_EQ(Dispatch(router, MakeRequest(verb::post, "/api")).body, "api\n");
  EXPECT_EQ(Dispatch(router, MakeRequest(verb::post, "/healthz")).status, 405);
  EXPECT_EQ(Dispatch(router, MakeRequest(verb::get, "/other")).status, 404);
}

TEST(RequestTest, DecodesPathAndQuery) {
  const Request request = MakeRequest(verb::get, "/a%20b/c?a=1&b=x%20y&c=p+q&flag&a=2&&e=");
  EXPECT_EQ(request.target, "/a%20b/c?a=1&b=x%20y&c=p+q&flag&a=2&&e=");
  EXPECT_EQ(request.path, "/a b/c");
  EXPECT_EQ(request.Query("a"), "1");  // The first of two.
  EXPECT_EQ(request.Query("b"), "x y");
  EXPECT_EQ(request.Query("c"), "p q");
  EXPECT_EQ(request.Query("flag"), "");
  EXPECT_EQ(request.Query("e"), "");
  EXPECT_EQ(request.Query("missing"), std::nullopt);
  EXPECT_EQ(request.Param("anything"), "");
  EXPECT_EQ(request.Header("Host"), "");
}

TEST(RequestTest, RejectsMalformedTargets) {
  for (const char* target : {"/a%2", "/a%zz", "/a?b=%4", "*", "http://host/a", ""}) {
    const base::Result<Request> request = Request::Make(verb::get, target);
    ASSERT_FALSE(request.ok()) << target;
    EXPECT_EQ(request.error().code, base::ErrorCode::kInvalidArgument) << target;
  }
}

TEST(RequestTest, JsonBodyIsParsedOrAnInvalidArgument) {
  EXPECT_EQ(*MakeRequest(verb::post, "/", R"({"name": "g1"})").JsonBody(),
            nlohmann::json({{"name", "g1"}}));
  for (const char* body : {"{not json", "", "{\"a\": 1} trailing"}) {
    const base::Result<nlohmann::json> json = MakeRequest(verb::post, "/", body).JsonBody();
    ASSERT_FALSE(json.ok()) << body;
    EXPECT_EQ(json.error().code, base::ErrorCode::kInvalidArgument);
    EXPECT_THAT(json.error().message, ::testing::StartsWith("the body must be JSON: "));
    EXPECT_THAT(json.error().message, ::testing::Not(HasSubstr("[json.exception")));
  }
}

TEST(ResponseTest, ErrorsCarryTheirCodeAndStatus) {
  const struct {
    base::Error error;
    int status;
    const char* code;
  } cases[] = {
      {base::InvalidArgument("bad"), 400, "invalid_argument"},
      {base::NotFound("no group g"), 404, "not_found"},
      {base::Conflict("busy"), 409, "conflict"},
      {base::ResourceExhausted("full"), 429, "resource_exhausted"},
      {base::Unavailable("down"), 503, "unavailable"},
      {base::Error{"bug"}, 500, "internal"},
  };
  for (const auto& c : cases) {
    const Response response = Response::Error(c.error);
    EXPECT_EQ(response.status, c.status);
    EXPECT_EQ(response.content_type, "application/json");
    EXPECT_EQ(response.body,
              nlohmann::json({{"error", c.error.message}, {"code", c.code}}).dump() + "\n");
    EXPECT_EQ(StatusFor(c.error.code), c.status);
    EXPECT_EQ(CodeForStatus(c.status), c.error.code);
  }
  EXPECT_EQ(CodeForStatus(405), base::ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeForStatus(413), base::ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeForStatus(502), base::ErrorCode::kUnavailable);
  EXPECT_EQ(CodeForStatus(504), base::ErrorCode::kUnavailable);
  EXPECT_EQ(CodeForStatus(501), base::ErrorCode::kInternal);
}

}  // namespace
}  // namespace trellis::http
