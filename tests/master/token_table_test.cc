// Access tokens without sockets: minting and checking (security/access_token.h), the
// master's TokenTable, and a Router that asks it before its handlers run.
#include "master/token_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http/client.h"
#include "http/router.h"
#include "security/access_token.h"

namespace trellis::master {
namespace {

namespace asio = boost::asio;
using http::Scope;
using http::beast_http::verb;
using ::testing::HasSubstr;

security::MintedToken Mint(Scope scope) {
  base::Result<security::MintedToken> minted = security::MintToken("test", scope);
  EXPECT_TRUE(minted.ok());
  return std::move(minted).value();
}

TEST(AccessTokenTest, AMintedTokenSplitsIntoItsIdAndMatchesOnlyItsOwnSecret) {
  const security::MintedToken token = Mint(Scope::kRead);
  EXPECT_THAT(token.token, ::testing::MatchesRegex("trellis_[0-9a-f]{16}_[0-9a-f]{64}"));
  const base::Result<security::TokenParts> parts = security::SplitToken(token.token);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->id, token.record.id);
  EXPECT_TRUE(security::SecretMatches(token.record, parts->secret));
  EXPECT_EQ(token.record.secret_sha256.find(parts->secret), std::string::npos);
  std::string wrong(parts->secret);
  wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(security::SecretMatches(token.record, wrong));
  EXPECT_FALSE(security::SecretMatches(token.record, ""));
  EXPECT_NE(Mint(Scope::kRead).record.id, token.record.id);
}

TEST(AccessTokenTest, OnlyWellFormedTokensSplitOrAreAdopted) {
  for (const std::string& bad :
       std::vector<std::string>{"", "trellis_", "trellis_0123456789abcdef_",
                                "trellis_0123456789ABCDEF_" + std::string(64, '0'),
                                "trellis-0123456789abcdef_" + std::string(64, '0'),
                                "trellis_0123456789abcdef_" + std::string(63, '0'),
                                "trellis_0123456789abcdef_" + std::string(65, '0'),
                                "trellis_0123456789abcdef_" + std::string(63, '0') + "g"}) {
    const auto parts = security::SplitToken(bad);
    EXPECT_FALSE(parts.ok()) << bad;
    if (!parts.ok()) {
      EXPECT_EQ(parts.error().code, base::ErrorCode::kUnauthenticated);
    }
  }
  const std::string chosen = "trellis_0123456789abcdef_" + std::string(64, '7');
  const auto adopted = security::AdoptToken(chosen, "bootstrap", Scope::kAdmin);
  ASSERT_TRUE(adopted.ok());
  EXPECT_EQ(adopted->record.id, "0123456789abcdef");
  EXPECT_TRUE(security::SecretMatches(adopted->record, std::string(64, '7')));
  EXPECT_EQ(security::AdoptToken("hunter2", "x", Scope::kAdmin).error().code,
            base::ErrorCode::kInvalidArgument);
}

TEST(TokenTableTest, ChecksTheBearerHeaderAndCountsEachKindOfFailure) {
  base::Registry metrics;
  TokenTable table(metrics);
  const security::MintedToken operate = Mint(Scope::kOperate);
  table.Put(operate.record);

  const auto granted = table.Check("Bearer " + operate.token);
  ASSERT_TRUE(granted.ok());
  EXPECT_EQ(granted->scope, Scope::kOperate);
  EXPECT_EQ(granted->token_id, operate.record.id);
  EXPECT_TRUE(table.Check("bearer  " + operate.token + " ").ok()) << "the scheme is caseless";

  EXPECT_EQ(table.Check("").error().code, base::ErrorCode::kUnauthenticated);
  EXPECT_EQ(table.Check("Basic dXNlcjpwdw==").error().code, base::ErrorCode::kUnauthenticated);
  EXPECT_EQ(table.Check("Bearer nonsense").error().code, base::ErrorCode::kUnauthenticated);
  const security::MintedToken stranger = Mint(Scope::kAdmin);
  EXPECT_THAT(table.Check("Bearer " + stranger.token).error().message,
              HasSubstr(stranger.record.id));
  EXPECT_TRUE(table.Remove(operate.record.id));
  EXPECT_FALSE(table.Check("Bearer " + operate.token).ok()) << "revoked";
  EXPECT_FALSE(table.Remove(operate.record.id));

  const std::string rendered = metrics.Render();
  EXPECT_THAT(rendered, HasSubstr("trellis_auth_failures_total{reason=\"missing\"} 1"));
  EXPECT_THAT(rendered, HasSubstr("trellis_auth_failures_total{reason=\"malformed\"} 2"));
  EXPECT_THAT(rendered, HasSubstr("trellis_auth_failures_total{reason=\"unknown\"} 2"));
}

class RouterTokensTest : public ::testing::Test {
 protected:
  RouterTokensTest() {
    auto echo = [](const http::Request& request) -> asio::awaitable<http::Response> {
      co_return http::Response::Json({{"token", request.grant ? request.grant->token_id : "none"}});
    };
    router_.Add(verb::get, "/open", http::kOpen, echo);
    router_.Add(verb::get, "/state", Scope::kRead, echo);
    router_.Add(verb::post, "/state", Scope::kOperate, echo);
    router_.Add(verb::post, "/tokens", Scope::kAdmin, echo);
    router_.SetFallback([](const http::Request&) -> asio::awaitable<std::optional<http::Response>> {
      co_return http::Response::Text("fallback\n");
    });
    table_->Put(read_.record);
    table_->Put(admin_.record);
  }

  int Status(verb method, std::string target, const std::string& token) {
    base::Result<http::Request> request = http::Request::Make(method, std::move(target));
    EXPECT_TRUE(request.ok());
    if (!token.empty()) {
      request->headers.set(http::beast_http::field::authorization, "Bearer " + token);
    }
    return http::RunBlocking([&](asio::any_io_executor) -> asio::awaitable<http::Response> {
             co_return co_await router_.Dispatch(*request);
           })
        .status;
  }

  base::Registry metrics_;
  std::shared_ptr<TokenTable> table_ = std::make_shared<TokenTable>(metrics_);
  const security::MintedToken read_ = Mint(Scope::kRead);
  const security::MintedToken admin_ = Mint(Scope::kAdmin);
  http::Router router_;
};

TEST_F(RouterTokensTest, WithoutAnAuthenticatorEveryRouteIsOpen) {
  EXPECT_EQ(Status(verb::post, "/tokens", ""), 200);
  EXPECT_EQ(Status(verb::delete_, "/elsewhere", ""), 200);
}

TEST_F(RouterTokensTest, EachRouteNeedsItsScopeAndTheFallbackOneByMethod) {
  router_.RequireTokens(table_);
  EXPECT_EQ(Status(verb::get, "/open", ""), 200);
  EXPECT_EQ(Status(verb::get, "/state", ""), 401);
  EXPECT_EQ(Status(verb::get, "/state", read_.token), 200);
  EXPECT_EQ(Status(verb::post, "/state", read_.token), 403);
  EXPECT_EQ(Status(verb::post, "/state", admin_.token), 200);
  EXPECT_EQ(Status(verb::post, "/tokens", read_.token), 403);
  EXPECT_EQ(Status(verb::post, "/tokens", admin_.token), 200);
  EXPECT_EQ(Status(verb::get, "/elsewhere", read_.token), 200);
  EXPECT_EQ(Status(verb::delete_, "/elsewhere", read_.token), 403);
  EXPECT_EQ(Status(verb::delete_, "/elsewhere", ""), 401);
  EXPECT_EQ(Status(verb::put, "/open", ""), 405) << "a wrong method says so, token or not";
}

}  // namespace
}  // namespace trellis::master
