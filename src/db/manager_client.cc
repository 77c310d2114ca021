#include "db/manager_client.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

namespace trellis::db {

namespace {

constexpr std::chrono::milliseconds kCallTimeout{5000};
constexpr std::chrono::milliseconds kPollInterval{250};

}  // namespace

boost::asio::awaitable<base::Result<DbTopology>> FetchTopology(http::Client& manager,
                                                               std::chrono::milliseconds timeout) {
  const std::string target = "/v1/db/topology";
  const nlohmann::json no_body;
  base::Result<nlohmann::json> reply =
      co_await http::CallJson(manager, http::beast_http::verb::get, target, no_body, timeout);
  if (!reply) {
    co_return reply.error();
  }
  co_return ParseDbTopology(*reply);
}

boost::asio::awaitable<base::Result<DbTopology>> SwitchOver(http::Client& manager,
                                                            const std::string& to,
                                                            std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  base::Result<DbTopology> before = co_await FetchTopology(manager, kCallTimeout);
  if (!before) {
    co_return before.error();
  }
  const std::string target = "/v1/db/switchover";
  const nlohmann::json body = ToJson(SwitchoverRequest{to});
  base::Result<nlohmann::json> accepted =
      co_await http::CallJson(manager, http::beast_http::verb::post, target, body, kCallTimeout);
  if (!accepted) {
    co_return accepted.error();
  }
  boost::asio::steady_timer pause(co_await boost::asio::this_coro::executor);
  for (;;) {
    base::Result<DbTopology> now = co_await FetchTopology(manager, kCallTimeout);
    if (now && now->epoch > before->epoch && !now->primary.empty()) {
      co_return now;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return base::Unavailable("the switchover to " + to +
                                  " did not happen in time; the manager's /v1/status says why "
                                  "(db.switchover_refusal)");
    }
    pause.expires_after(kPollInterval);
    co_await pause.async_wait(boost::asio::use_awaitable);
  }
}

boost::asio::awaitable<base::Result<BackupRecord>> TakeBackup(http::Client& manager,
                                                              BackupKind kind,
                                                              std::chrono::milliseconds patience) {
  const std::string target = "/v1/db/backups";
  const nlohmann::json body = ToJson(BackupRequest{kind});
  base::Result<nlohmann::json> taken =
      co_await http::CallJson(manager, http::beast_http::verb::post, target, body, patience);
  if (!taken) {
    co_return taken.error();
  }
  co_return ParseBackupRecord(*taken);
}

}  // namespace trellis::db
