#include "master/client/master_client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <optional>

#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/split.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <nlohmann/json.hpp>

namespace trellis::master {

namespace asio = boost::asio;
using boost::beast::http::verb;
using nlohmann::json;

namespace {

// Operations answer at once; a switchover may wait for a backup to catch up (at most
// 5 s) and for the old main's lease to run out.
constexpr std::chrono::milliseconds kCallTimeout{15000};
// A long-poll's answer may come this long after the wait it asked for.
constexpr std::chrono::milliseconds kWatchMargin{2000};

// The reply of `call` parsed by `parse`, with the master's address on errors.
template <typename T, typename Parse>
base::Result<T> Parsed(const std::string& address, base::Result<json> reply, Parse parse) {
  if (!reply) {
    return reply.error();
  }
  auto value = parse(*reply);
  if (!value) {
    return base::WithContext("master " + address + " answered an unexpected body", value.error());
  }
  return value;
}

base::Status StatusOf(base::Result<json> reply) {
  if (!reply) {
    return reply.error();
  }
  return {};
}

// describe()'s registration, or what it threw as an error.
base::Result<ServiceRegistration> Describe(const std::function<ServiceRegistration()>& describe) {
  try {
    return describe();
  } catch (const std::exception& e) {
    return base::Error{std::string("describing the service threw: ") + e.what()};
  }
}

}  // namespace

base::Result<MasterClient> MasterClient::ForUrl(asio::any_io_executor executor,
                                                const MasterAccess& access) {
  std::vector<http::Client> masters;
  std::vector<std::string> urls;
  boost::algorithm::split(urls, access.url, boost::algorithm::is_any_of(","));
  for (std::string& url : urls) {
    boost::algorithm::trim(url);
    if (url.empty()) {
      continue;
    }
    auto http = http::Client::ForUrl(executor, url);
    if (!http) {
      return base::InvalidArgument("master URL '" + url + "': expected http://HOST:PORT");
    }
    http->set_token(access.token);
    http->set_tls(access.tls);
    masters.push_back(std::move(http).value());
  }
  if (masters.empty()) {
    return base::InvalidArgument("no master URL");
  }
  return MasterClient(std::move(executor), access, std::move(masters));
}

std::optional<size_t> MasterClient::MasterAt(std::string_view location) {
  const size_t scheme = location.find("://");
  if (scheme == std::string_view::npos) {
    return std::nullopt;
  }
  const size_t path = location.find('/', scheme + 3);
  const std::string_view origin = location.substr(0, path);
  const std::string_view address = origin.substr(scheme + 3);
  for (size_t i = 0; i < masters_.size(); ++i) {
    if (masters_[i].address() == address) {
      return i;
    }
  }
  auto http = http::Client::ForUrl(executor_, origin);
  if (!http) {
    return std::nullopt;
  }
  http->set_token(access_.token);
  http->set_tls(access_.tls);
  masters_.push_back(std::move(http).value());
  return masters_.size() - 1;
}

asio::awaitable<base::Result<http::Response>> MasterClient::Send(
    verb method, std::string target, std::string body, std::chrono::milliseconds timeout) {
  base::Error last{"no master answered"};
  for (size_t tries = 0; tries < 2 * masters_.size(); ++tries) {
    base::Result<http::Response> response =
        co_await masters_[current_].Call(method, target, body, timeout);
    if (response && response->status == 307) {
      if (const std::optional<size_t> leader = MasterAt(response->Header("Location"))) {
        current_ = *leader;
        continue;
      }
    }
    if (response && response->status != 421) {
      co_return response;
    }
    last = response
               ? base::Error{http::JsonOf(*response, masters_[current_].address()).error().message,
                             base::ErrorCode::kUnavailable}
               : response.error();
    current_ = (current_ + 1) % masters_.size();
  }
  co_return last;
}

asio::awaitable<base::Result<json>> MasterClient::CallJson(verb method, std::string target,
                                                           const json& body) {
  const std::string what = fmt::format("{} {}", boost::beast::http::to_string(method), target);
  std::string payload = body.is_null() ? std::string() : body.dump();
  base::Result<http::Response> response =
      co_await Send(method, std::move(target), std::move(payload), kCallTimeout);
  if (!response) {
    co_return response.error();
  }
  co_return http::JsonOf(*response, what + " to " + address());
}

asio::awaitable<base::Result<ClusterState>> MasterClient::GetCluster() {
  auto reply = co_await CallJson(verb::get, "/v1/cluster", json());
  co_return Parsed<ClusterState>(address(), std::move(reply), ParseClusterState);
}

asio::awaitable<base::Result<std::optional<ClusterState>>> MasterClient::WatchCluster(
    std::optional<uint64_t> after, std::chrono::milliseconds wait, std::string_view node) {
  std::string target = "/v1/cluster?wait=" + std::to_string(wait.count() / 1000.0);
  if (after) {
    target += "&after=" + std::to_string(*after);
  }
  if (!node.empty()) {
    target += "&node=" + std::string(node);
  }
  const std::string what = "GET " + target;
  auto response = co_await Send(verb::get, std::move(target), "", wait + kWatchMargin);
  if (!response) {
    co_return response.error();
  }
  if (response->status == 304) {
    co_return std::optional<ClusterState>();
  }
  auto map = Parsed<ClusterState>(address(), http::JsonOf(*response, what + " to " + address()),
                                  ParseClusterState);
  if (!map) {
    co_return map.error();
  }
  co_return std::optional<ClusterState>(std::move(map).value());
}

asio::awaitable<base::Result<RegistrationReply>> MasterClient::Register(
    const NodeRegistration& registration) {
  auto reply = co_await CallJson(verb::post, "/v1/nodes", ToJson(registration));
  co_return Parsed<RegistrationReply>(address(), std::move(reply), ParseRegistrationReply);
}

asio::awaitable<base::Status> MasterClient::AddGroup(const NewGroup& group) {
  co_return StatusOf(co_await CallJson(verb::post, "/v1/groups", ToJson(group)));
}

asio::awaitable<base::Status> MasterClient::RemoveNode(std::string_view address) {
  co_return StatusOf(co_await CallJson(verb::delete_, "/v1/nodes/" + std::string(address), json()));
}

asio::awaitable<base::Result<FailoverReply>> MasterClient::Failover(
    std::string_view group, const FailoverRequest& request) {
  auto reply = co_await CallJson(verb::post, "/v1/groups/" + std::string(group) + "/failover",
                                 ToJson(request));
  co_return Parsed<FailoverReply>(address(), std::move(reply), ParseFailoverReply);
}

asio::awaitable<base::Status> MasterClient::SetMode(std::string_view group,
                                                    const ModeChange& change) {
  co_return StatusOf(
      co_await CallJson(verb::post, "/v1/groups/" + std::string(group) + "/mode", ToJson(change)));
}

asio::awaitable<base::Result<RebalanceReply>> MasterClient::Rebalance(
    const RebalanceRequest& request) {
  auto reply = co_await CallJson(verb::post, "/v1/rebalance", ToJson(request));
  co_return Parsed<RebalanceReply>(address(), std::move(reply), ParseRebalanceReply);
}

asio::awaitable<base::Result<RebalanceReply>> MasterClient::Drain(std::string_view group,
                                                                  const RebalanceRequest& request) {
  auto reply =
      co_await CallJson(verb::post, "/v1/groups/" + std::string(group) + "/drain", ToJson(request));
  co_return Parsed<RebalanceReply>(address(), std::move(reply), ParseRebalanceReply);
}

asio::awaitable<base::Status> MasterClient::RemoveGroup(std::string_view group) {
  co_return StatusOf(co_await CallJson(verb::delete_, "/v1/groups/" + std::string(group), json()));
}

asio::awaitable<base::Result<MigrationStatus>> MasterClient::GetMigrations() {
  auto reply = co_await CallJson(verb::get, "/v1/migrations", json());
  co_return Parsed<MigrationStatus>(address(), std::move(reply), ParseMigrationStatus);
}

asio::awaitable<base::Result<ServiceStatus>> MasterClient::RegisterService(
    const ServiceRegistration& registration) {
  auto reply =
      co_await CallJson(verb::put, "/v1/services/" + registration.name, ToJson(registration));
  co_return Parsed<ServiceStatus>(address(), std::move(reply), ParseServiceStatus);
}

asio::awaitable<base::Result<std::vector<ServiceStatus>>> MasterClient::ListServices() {
  auto reply = co_await CallJson(verb::get, "/v1/services", json());
  TRELLIS_CO_TRY(ServiceList list,
                 Parsed<ServiceList>(address(), std::move(reply), ParseServiceList));
  co_return std::move(list.services);
}

asio::awaitable<base::Status> MasterClient::DeregisterService(std::string_view name) {
  co_return StatusOf(co_await CallJson(verb::delete_, "/v1/services/" + std::string(name), json()));
}

asio::awaitable<base::Result<IssuedToken>> MasterClient::CreateToken(const TokenRequest& request) {
  auto reply = co_await CallJson(verb::post, "/v1/tokens", ToJson(request));
  co_return Parsed<IssuedToken>(address(), std::move(reply), ParseIssuedToken);
}

asio::awaitable<base::Result<std::vector<TokenInfo>>> MasterClient::ListTokens() {
  auto reply = co_await CallJson(verb::get, "/v1/tokens", json());
  TRELLIS_CO_TRY(TokenList list, Parsed<TokenList>(address(), std::move(reply), ParseTokenList));
  co_return std::move(list.tokens);
}

asio::awaitable<base::Status> MasterClient::RevokeToken(std::string_view id) {
  co_return StatusOf(co_await CallJson(verb::delete_, "/v1/tokens/" + std::string(id), json()));
}

asio::awaitable<base::Result<CallerGrant>> MasterClient::Whoami() {
  auto reply = co_await CallJson(verb::get, "/v1/tokens/self", json());
  co_return Parsed<CallerGrant>(address(), std::move(reply), ParseCallerGrant);
}

asio::awaitable<base::Result<IssuedTenant>> MasterClient::CreateTenant(
    const TenantRequest& request) {
  auto reply = co_await CallJson(verb::post, "/v1/tenants", ToJson(request));
  co_return Parsed<IssuedTenant>(address(), std::move(reply), ParseIssuedTenant);
}

asio::awaitable<base::Result<TenantList>> MasterClient::ListTenants() {
  auto reply = co_await CallJson(verb::get, "/v1/tenants", json());
  co_return Parsed<TenantList>(address(), std::move(reply), ParseTenantList);
}

asio::awaitable<base::Status> MasterClient::DeleteTenant(std::string_view name) {
  co_return StatusOf(co_await CallJson(verb::delete_, "/v1/tenants/" + std::string(name), json()));
}

asio::awaitable<base::Result<TenantFlushed>> MasterClient::FlushTenant(std::string_view name) {
  auto reply = co_await CallJson(verb::post, "/v1/tenants/" + std::string(name) + "/flush", json());
  co_return Parsed<TenantFlushed>(address(), std::move(reply), ParseTenantFlushed);
}

asio::awaitable<base::Result<VolumeState>> MasterClient::CreateVolume(
    const VolumeRequest& request) {
  auto reply = co_await CallJson(verb::post, "/v1/volumes", ToJson(request));
  co_return Parsed<VolumeState>(address(), std::move(reply), ParseVolumeState);
}

asio::awaitable<base::Result<VolumeList>> MasterClient::ListVolumes() {
  auto reply = co_await CallJson(verb::get, "/v1/volumes", json());
  co_return Parsed<VolumeList>(address(), std::move(reply), ParseVolumeList);
}

asio::awaitable<base::Result<VolumeState>> MasterClient::GetVolume(std::string_view name) {
  auto reply = co_await CallJson(verb::get, "/v1/volumes/" + std::string(name), json());
  co_return Parsed<VolumeState>(address(), std::move(reply), ParseVolumeState);
}

asio::awaitable<base::Status> MasterClient::DeleteVolume(std::string_view name) {
  co_return StatusOf(co_await CallJson(verb::delete_, "/v1/volumes/" + std::string(name), json()));
}

asio::awaitable<base::Result<VolumeState>> MasterClient::OpenVolume(std::string_view name) {
  auto reply = co_await CallJson(verb::post, "/v1/volumes/" + std::string(name) + "/open", json());
  co_return Parsed<VolumeState>(address(), std::move(reply), ParseVolumeState);
}

asio::awaitable<base::Result<VolumeState>> MasterClient::MarkStale(std::string_view volume,
                                                                   const StaleReport& report) {
  auto reply = co_await CallJson(verb::post, "/v1/volumes/" + std::string(volume) + "/stale",
                                 ToJson(report));
  co_return Parsed<VolumeState>(address(), std::move(reply), ParseVolumeState);
}

asio::awaitable<void> FollowCluster(MasterClient& client, std::string node, MapObserver on_map) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  std::optional<ClusterState> map;  // The last one answered.
  // How long the master may hold a request: each answer renews a main's lease, so a
  // node asks at least six times per lease, and at least four times a second.
  std::chrono::milliseconds wait{0};
  for (;;) {
    const auto asked = std::chrono::steady_clock::now();
    std::optional<uint64_t> version;
    if (map) {
      version = map->version;
    }
    auto answer = co_await client.WatchCluster(version, wait, node);
    if (!answer) {
      if (answer.error().code == base::ErrorCode::kUnavailable) {
        spdlog::debug("{}", answer.error().message);
      } else {
        spdlog::warn("{}; keeping the map of version {}", answer.error().message,
                     version ? std::to_string(*version) : "(none)");
      }
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    const bool changed = answer->has_value();
    if (changed) {
      map = std::move(**answer);
    }
    wait = std::clamp<std::chrono::milliseconds>(map->lease / 6, std::chrono::milliseconds(10),
                                                 std::chrono::milliseconds(250));
    co_await on_map(*map, changed, asked);
  }
}

asio::awaitable<void> KeepRegistered(MasterClient& client,
                                     std::function<ServiceRegistration()> describe,
                                     std::chrono::milliseconds every) {
  asio::steady_timer tick(co_await asio::this_coro::executor);
  std::optional<bool> renewing;  // Whether the last renewal went through; none before it.
  std::string name;              // As last described, for the log.
  try {
    for (;;) {
      // Renewals start every `every`, however long one takes to be answered.
      tick.expires_after(every);
      base::Status renewed = base::Status();
      if (auto registration = Describe(describe); !registration) {
        renewed = registration.error();
      } else {
        name = registration->name;
        auto status = co_await client.RegisterService(*registration);
        if (!status) {
          renewed = status.error();
        }
      }
      // Logged when it changes: once per outage, once when it ends.
      if (!renewed && renewing != false) {
        spdlog::warn("service {}: cannot register with the master at {}: {}; retrying every {} ms",
                     name, client.address(), renewed.error().message, every.count());
      } else if (renewed && renewing != true) {
        spdlog::info("service {}: registered with the master at {}", name, client.address());
      }
      renewing = renewed.ok();
      if (auto [ec] = co_await tick.async_wait(asio::as_tuple(asio::use_awaitable)); ec) {
        co_return;  // Cancelled.
      }
    }
  } catch (const std::exception& e) {
    // Cancelled mid-renewal: the next co_await throws operation_aborted
    // (this_coro::throw_if_cancelled), which ends the loop as intended. Anything else is
    // a bug, reported here rather than to a co_spawn that may ignore it.
    if (const auto* error = dynamic_cast<const boost::system::system_error*>(&e);
        error == nullptr || error->code() != asio::error::operation_aborted) {
      spdlog::error("service {}: no longer renewing its registration: {}", name, e.what());
    }
  }
}

}  // namespace trellis::master
