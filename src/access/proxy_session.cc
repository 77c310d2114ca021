#include "access/proxy_session.h"

#include <fmt/format.h>
#include <unistd.h>

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "access/multiget.h"
#include "access/reply_slot.h"
#include "access/routed_request.h"
#include "base/clock.h"
#include "proto/memcache/base64.h"
#include "proto/memcache/key_namespace.h"
#include "proto/memcache/parser.h"
#include "proto/memcache/request_reader.h"
#include "proto/memcache/version.h"

namespace trellis::access {

namespace asio = boost::asio;
using proto::memcache::ChangesItems;
using proto::memcache::Command;
using proto::memcache::ParseStatus;
using proto::memcache::Request;

namespace {

constexpr std::string_view kNoop = "mn\r\n";
constexpr std::chrono::milliseconds kMaxPenalty{100};

// `merge`, then the tenant's key prefix taken off the keys its reply names; counts the
// request's and the reply's bytes.
ReplySlot::Merge ForTenant(ReplySlot::Merge merge, const Tenant& tenant, size_t request_bytes) {
  return [merge = std::move(merge), prefix = tenant.key_prefix, usage = tenant.usage,
          request_bytes](std::vector<std::string>& parts) {
    std::string reply =
        proto::memcache::StripKeyPrefix(merge ? merge(parts) : std::move(parts[0]), prefix);
    usage->CountBytes(request_bytes, reply.size());
    return reply;
  };
}

// One client connection's requests in flight, in order.
class ProxySession {
 public:
  ProxySession(AccessShard& shard, const ProxyOptions& options, asio::any_io_executor executor,
               asio::ip::address peer)
      : shard_(shard),
        options_(options),
        waker_(std::make_shared<Waker>(executor)),
        peer_(std::move(peer)) {}

  // Handles one parsed request whose bytes are `raw`. False: the client said quit.
  bool Handle(const Request& request, std::string_view raw) {
    return options_.require_login ? HandleForTenant(request, raw) : Dispatch(request, raw);
  }
  void AddLocal(std::string reply) {
    pending_.push_back(std::make_shared<ReplySlot>(std::move(reply)));
  }

  // Moves the replies that are ready, in order, to `out`; true if none is left.
  bool TakeReady(std::string* out) {
    while (!pending_.empty() && pending_.front()->done()) {
      out->append(pending_.front()->reply());
      pending_.pop_front();
    }
    return pending_.empty();
  }
  asio::awaitable<void> WaitForReplies() { return waker_->Wait(); }
  // Whether the requests after the last one handled must wait for every reply before
  // they are handled (a tenant's flush_all); cleared by the asking.
  bool TakeBarrier() { return std::exchange(barrier_, false); }
  // How long not to read from the client, for the requests refused for its tenant's rate
  // since the last asking.
  std::chrono::nanoseconds TakePenalty() { return std::exchange(penalty_, {}); }

  // Like the node: a set refused as too large removes the key's old value.
  void EraseAfterRefusedSet(const Request& request);

 private:
  bool Dispatch(const Request& request, std::string_view raw);
  // With require_login: the login, then each request within the tenant's rate, its keys
  // under the tenant's prefix.
  bool HandleForTenant(const Request& request, std::string_view raw);
  void Login(const Request& request);
  void FlushTenant(const Tenant& tenant, const Request& request);
  // The tenant the client logged in as; null before, or once it is deleted.
  const Tenant* LoggedIn();

  // Sends a single-key request on its way (routed_request.h) for a new slot of its own.
  // `quiet` requests go with a trailing mn (backend.h).
  void Forward(const Request& request, std::string_view raw, bool quiet, bool silent_failure);
  // A new reply slot for a request of `parts` parts, merged by `merge`.
  std::shared_ptr<ReplySlot> AddSlot(size_t parts, ReplySlot::Merge merge = nullptr) {
    if (dispatching_for_ != nullptr) {
      merge = ForTenant(std::move(merge), *dispatching_for_, client_bytes_);
    }
    auto slot = std::make_shared<ReplySlot>(waker_, parts, std::move(merge));
    pending_.push_back(slot);
    return slot;
  }
  void ForwardGets(const Request& request, std::string_view raw);
  void FlushAll(const Request& request, std::string_view raw);
  std::string Stats() const;

  AccessShard& shard_;
  const ProxyOptions& options_;
  std::shared_ptr<Waker> waker_;
  const asio::ip::address peer_;  // The client's, whose failed logins count together.
  std::deque<std::shared_ptr<ReplySlot>> pending_;
  std::string tenant_name_;  // Empty until the client logs in.
  // The tenant as the directory held here has it (LoggedIn looks it up again when the
  // shard has a new one; held, so that a pointer into it cannot outlive it).
  std::shared_ptr<const TenantDirectory> directory_;
  const Tenant* tenant_ = nullptr;
  bool barrier_ = false;
  std::chrono::nanoseconds penalty_{0};
  // While a tenant's request is dispatched: the tenant, whose key prefix AddSlot takes
  // off the replies; and the request rewritten under it.
  const Tenant* dispatching_for_ = nullptr;
  size_t client_bytes_ = 0;  // Of the request as the client sent it.
  std::string tenant_raw_;
  Request tenant_request_;
};

const Tenant* ProxySession::LoggedIn() {
  if (tenant_name_.empty()) {
    return nullptr;
  }
  if (directory_ != shard_.tenants()) {
    // A new map: look the tenant up again (it may have a new generation, or be gone).
    directory_ = shard_.tenants();
    tenant_ = directory_ == nullptr ? nullptr : directory_->Find(tenant_name_);
    if (tenant_ == nullptr) {
      tenant_name_.clear();
    }
  }
  return tenant_;
}

void ProxySession::Login(const Request& request) {
  const auto now = net::FailureLimiter::Clock::now();
  net::FailureLimiter& failures = options_.logins->failures();
  if (const auto wait = failures.Refusal(peer_, now); wait.count() > 0) {
    options_.logins->throttled().Increment();
    AddLocal(
        fmt::format("CLIENT_ERROR too many failed logins from this address; try again in {} s\r\n",
                    std::chrono::ceil<std::chrono::seconds>(wait).count()));
    return;
  }
  const size_t space = request.value.find(' ');
  if (space == std::string_view::npos) {
    failures.Failed(peer_, now);
    AddLocal("CLIENT_ERROR bad authentication token format\r\n");
    return;
  }
  const TenantDirectory* directory = shard_.tenants().get();
  const Tenant* tenant = directory == nullptr ? nullptr
                                              : directory->Login(request.value.substr(0, space),
                                                                 request.value.substr(space + 1));
  options_.logins->logins(tenant != nullptr).Increment();
  if (tenant == nullptr) {
    failures.Failed(peer_, now);
    AddLocal("CLIENT_ERROR authentication failure\r\n");
    return;
  }
  tenant_name_ = tenant->state.name;
  directory_ = shard_.tenants();
  tenant_ = tenant;
  if (!request.noreply) {
    AddLocal("STORED\r\n");
  }
}

// Asks the master to move `tenant` to its next generation, then completes `slot` once
// every shard of the node keys the tenant by it (or names the failure).
asio::awaitable<void> FlushThroughMaster(AccessShard& shard, master::MasterAccess master,
                                         std::string tenant, std::shared_ptr<ReplySlot> slot,
                                         bool noreply) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto client = master::MasterClient::ForUrl(executor, master);
  if (!client) {
    slot->Complete(0, noreply ? "" : "SERVER_ERROR " + client.error().message + "\r\n");
    co_return;
  }
  const base::Result<master::TenantFlushed> flushed = co_await client->FlushTenant(tenant);
  if (!flushed) {
    slot->Complete(0, noreply ? "" : "SERVER_ERROR flush_all: " + flushed.error().message + "\r\n");
    co_return;
  }
  auto waker = std::make_shared<Waker>(executor);
  for (;;) {
    const TenantDirectory* directory = shard.tenants().get();
    const Tenant* now = directory == nullptr ? nullptr : directory->Find(tenant);
    if (now == nullptr ||
        (now->state.generation >= flushed->generation && shard.tenants_everywhere())) {
      break;
    }
    shard.OnNextChange([waker] { waker->Wake(); });
    co_await waker->Wait();
  }
  slot->Complete(0, noreply ? "" : "OK\r\n");
}

void ProxySession::FlushTenant(const Tenant& tenant, const Request& request) {
  if (request.delay != 0) {
    if (!request.noreply) {
      AddLocal("CLIENT_ERROR a tenant's flush_all takes no delay\r\n");
    }
    return;
  }
  barrier_ = true;
  asio::co_spawn(
      shard_.executor(),
      FlushThroughMaster(shard_, *options_.master, tenant.state.name, AddSlot(1), request.noreply),
      asio::detached);
}

bool ProxySession::HandleForTenant(const Request& request, std::string_view raw) {
  const Tenant* tenant = LoggedIn();
  if (tenant == nullptr) {
    if (request.command == Command::kSet) {
      Login(request);
    } else if (request.command == Command::kQuit) {
      return false;
    } else {
      AddLocal("CLIENT_ERROR unauthenticated\r\n");
    }
    return true;
  }
  // The rate counts what reaches the cache nodes (mn, version and the like cost nothing).
  const bool reaches_nodes =
      proto::memcache::NamesKeys(request.command) || request.command == Command::kFlushAll;
  if (reaches_nodes &&
      !tenant->usage->Admit(tenant->state.ops_per_second, std::chrono::steady_clock::now())) {
    penalty_ += TenantUsage::Penalty(tenant->state.ops_per_second, 1);
    if (!request.noreply) {
      AddLocal(fmt::format("SERVER_ERROR tenant {} is over its limit of {} requests per second\r\n",
                           tenant->state.name, tenant->state.ops_per_second));
    }
    return true;
  }
  if (request.command == Command::kFlushAll) {
    FlushTenant(*tenant, request);
    return true;
  }
  if (!proto::memcache::NamesKeys(request.command)) {
    return Dispatch(request, raw);
  }
  tenant_raw_ = proto::memcache::PrefixKeys(raw, request, tenant->key_prefix);
  tenant_request_.Clear();
  const proto::memcache::ParseResult parsed =
      proto::memcache::ParseRequest(tenant_raw_, options_.max_item_size, &tenant_request_);
  if (parsed.status != ParseStatus::kOk) {
    // A key the prefix made longer than memcached takes.
    std::string reply;
    proto::memcache::AppendParseError(request, parsed.error, &reply);
    if (!reply.empty()) {
      AddLocal(std::move(reply));
    }
    return true;
  }
  dispatching_for_ = tenant;
  client_bytes_ = raw.size();
  const bool open = Dispatch(tenant_request_, tenant_raw_);
  dispatching_for_ = nullptr;
  return open;
}

bool ProxySession::Dispatch(const Request& request, std::string_view raw) {
  switch (request.command) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      ForwardGets(request, raw);
      return true;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
    case Command::kDelete:
    case Command::kIncr:
    case Command::kDecr:
    case Command::kTouch:
      // Text noreply hides errors too, a failed backend's included.
      Forward(request, raw, request.noreply, request.noreply);
      return true;
    case Command::kMetaGet:
    case Command::kMetaSet:
    case Command::kMetaDelete:
    case Command::kMetaArithmetic:
    case Command::kMetaDebug:
      // Meta commands report errors even in quiet mode.
      Forward(request, raw, request.meta.Has('q'), false);
      return true;
    case Command::kMetaNoop:
      AddLocal("MN\r\n");
      return true;
    case Command::kFlushAll:
      FlushAll(request, raw);
      return true;
    case Command::kVersion:
      AddLocal(std::string(proto::memcache::kVersionReply));
      return true;
    case Command::kVerbosity:
      if (!request.noreply) {
        AddLocal("OK\r\n");
      }
      return true;
    case Command::kStats:
      // The proxy's own figures; the nodes' are on their own ports and /metrics.
      if (request.stats_group.empty()) {
        AddLocal(Stats());
      } else if (request.stats_group == "reset") {
        AddLocal("RESET\r\n");
      } else {
        AddLocal("ERROR\r\n");
      }
      return true;
    case Command::kQuit:
      return false;
  }
  return true;
}

void ProxySession::Forward(const Request& request, std::string_view raw, bool quiet,
                           bool silent_failure) {
  RoutedRequest::Spec spec;
  spec.bytes.assign(raw);
  if (quiet) {
    spec.bytes.append(kNoop);
  }
  spec.keys = {std::string(request.key)};
  spec.binary_key = request.meta.Has('b');
  spec.kind = KindOf(request);
  spec.quiet = quiet;
  spec.silent_failure = silent_failure;
  spec.read_from_backup = options_.read_from_backup && !ChangesItems(request);
  RoutedRequest::Start(shard_, std::move(spec), {AddSlot(1), 0});
}

void ProxySession::EraseAfterRefusedSet(const Request& request) {
  if (request.command != Command::kSet && request.command != Command::kMetaSet) {
    return;
  }
  std::string key(request.key);
  if (options_.require_login) {
    const Tenant* tenant = LoggedIn();
    if (tenant == nullptr) {
      return;
    }
    key.insert(0, tenant->key_prefix);
  }
  RoutedRequest::Spec spec;
  spec.bytes = request.meta.Has('b') ? "md " + proto::memcache::Base64Encode(key) + " b q\r\nmn\r\n"
                                     : "md " + key + " q\r\nmn\r\n";
  spec.keys = {key};
  spec.binary_key = request.meta.Has('b');
  spec.kind = RoutedRequest::Kind::kDelete;
  spec.quiet = true;
  spec.silent_failure = true;
  // Whatever the node answers is not the client's business.
  RoutedRequest::Start(shard_, std::move(spec),
                       {AddSlot(1, [](std::vector<std::string>&) { return std::string(); }), 0});
}

void ProxySession::ForwardGets(const Request& request, std::string_view raw) {
  const RouteTable& table = *shard_.table();
  if (request.keys.empty()) {
    AddLocal("END\r\n");  // "gat 0" and the like: memcached's answer.
    return;
  }
  // One part per group, in order of first key; a key whose slot moves is a part alone.
  std::vector<size_t> groups;
  std::vector<size_t> part_of_key;
  part_of_key.reserve(request.keys.size());
  constexpr size_t kAlone = SIZE_MAX;
  for (std::string_view key : request.keys) {
    const size_t group =
        table.DualSourceOf(key) == RouteTable::kNotMoving ? table.GroupIndexOf(key) : kAlone;
    size_t part = 0;
    while (part < groups.size() && (group == kAlone || groups[part] != group)) {
      ++part;
    }
    if (part == groups.size()) {
      groups.push_back(group);
    }
    part_of_key.push_back(part);
  }
  // gat and gats touch: only get and gets may read from a backup.
  RoutedRequest::Spec spec;
  spec.kind = KindOf(request);
  spec.read_from_backup = options_.read_from_backup && !ChangesItems(request);
  spec.command = request.command;
  spec.exptime = request.exptime;
  if (groups.size() == 1) {
    spec.bytes.assign(raw);
    spec.keys.assign(request.keys.begin(), request.keys.end());
    RoutedRequest::Start(shard_, std::move(spec), {AddSlot(1), 0});
    return;
  }
  std::vector<std::string> keys(request.keys.begin(), request.keys.end());
  auto slot = AddSlot(groups.size(), [keys, part_of_key](std::vector<std::string>& parts) {
    return MergeGetReplies(keys, part_of_key, parts);
  });
  for (size_t part = 0; part < groups.size(); ++part) {
    std::vector<std::string_view> part_keys;
    for (size_t i = 0; i < request.keys.size(); ++i) {
      if (part_of_key[i] == part) {
        part_keys.push_back(request.keys[i]);
      }
    }
    RoutedRequest::Spec part_spec = spec;
    part_spec.bytes = BuildGetRequest(request.command, request.exptime, part_keys);
    part_spec.keys.assign(part_keys.begin(), part_keys.end());
    RoutedRequest::Start(shard_, std::move(part_spec), {slot, part});
  }
}

void ProxySession::FlushAll(const Request& request, std::string_view raw) {
  const RouteTable& table = *shard_.table();
  // Every group's reply is the same when all went well; else the first that differs.
  auto slot = AddSlot(table.groups().size(), [](std::vector<std::string>& parts) -> std::string {
    for (std::string& part : parts) {
      if (part != parts[0]) {
        return part != "OK\r\n" && !part.empty() ? part : parts[0];
      }
    }
    return parts[0];
  });
  std::string bytes(raw);
  if (request.noreply) {
    bytes.append(kNoop);
  }
  const Backend::Mode mode{request.noreply, request.noreply,
                           table.versioned() ? table.version() : 0};
  for (size_t part = 0; part < table.groups().size(); ++part) {
    const GroupRoute& group = table.group(part);
    if (!group.main) {
      slot->Complete(
          part, request.noreply ? "" : "SERVER_ERROR group " + group.name + " has no main\r\n");
      continue;
    }
    shard_.BackendFor(*group.main, group.name).Send(bytes, {slot, part}, mode);
  }
}

std::string ProxySession::Stats() const {
  std::string out;
  auto stat = [&out](std::string_view name, const std::string& value) {
    out.append("STAT ").append(name).append(" ").append(value).append("\r\n");
  };
  const uint32_t now = base::CoarseUnixSeconds();
  stat("pid", std::to_string(getpid()));
  stat("uptime", std::to_string(now - options_.started));
  stat("time", std::to_string(now));
  stat("version", std::string(proto::memcache::kServerVersion));
  stat("pointer_size", std::to_string(sizeof(void*) * 8));
  stat("threads", std::to_string(options_.threads));
  if (options_.metrics != nullptr) {
    stat(
        "curr_connections",
        std::to_string(
            options_.metrics->GetGauge("trellis_connections", "", {{"server", "access"}}).Value()));
    stat("total_connections", std::to_string(options_.metrics
                                                 ->GetCounter("trellis_connections_accepted_total",
                                                              "", {{"server", "access"}})
                                                 .Value()));
  }
  stat("route_table_version", std::to_string(shard_.table()->version()));
  stat("groups", std::to_string(shard_.table()->groups().size()));
  out.append("END\r\n");
  return out;
}

}  // namespace

asio::awaitable<void> ServeAccess(net::Connection& connection, AccessShard& shard,
                                  const ProxyOptions& options) {
  ProxySession session(shard, options, co_await asio::this_coro::executor,
                       connection.peer().address());
  proto::memcache::RequestReader reader(options.max_item_size);
  const Request& request = reader.request();
  std::string out;
  bool open = true;
  // Not `while (open && co_await ...)`: g++ 12 evaluates a co_await on the right of &&
  // even when the left side is false.
  bool input_waits = false;  // Whole requests are still in the input, after a barrier.
  asio::steady_timer throttle(co_await asio::this_coro::executor);
  while (open) {
    if (!input_waits) {
      if (!co_await connection.ReadMore()) {
        break;
      }
    }
    input_waits = false;
    for (;;) {
      const auto result = reader.Next(connection);
      if (result.status == ParseStatus::kNeedMore) {
        break;
      }
      if (result.status == ParseStatus::kClose) {
        open = false;
        break;
      }
      if (result.status == ParseStatus::kError || result.status == ParseStatus::kTooLarge) {
        // As the node answers; a refused set also removes the old value there.
        std::string reply;
        if (result.status == ParseStatus::kError) {
          proto::memcache::AppendParseError(request, result.error, &reply);
        } else {
          session.EraseAfterRefusedSet(request);
          proto::memcache::AppendTooLarge(request, &reply);
        }
        if (!reply.empty()) {
          session.AddLocal(std::move(reply));
        }
      } else if (!session.Handle(request, connection.input().substr(0, result.consumed))) {
        open = false;
      }
      reader.Consume(connection);
      if (!open) {
        break;
      }
      if (session.TakeBarrier()) {
        input_waits = !connection.input().empty();
        break;
      }
    }
    // Replies go out in request order: what is ready now, then the rest as it arrives.
    while (!session.TakeReady(&out)) {
      if (!out.empty()) {
        if (!co_await connection.Write(out)) {
          co_return;
        }
        out.clear();
      }
      co_await session.WaitForReplies();
    }
    if (!out.empty()) {
      if (!co_await connection.Write(out)) {
        co_return;
      }
      out.clear();
    }
    // A client over its tenant's rate is read again only after as long as its refused
    // requests would have taken at that rate (at most kMaxPenalty, so a drain is never
    // held up): its refusals then cost the node about what its rate allows, not what the
    // client can send.
    if (const std::chrono::nanoseconds penalty = session.TakePenalty(); penalty.count() > 0) {
      throttle.expires_after(std::min<std::chrono::nanoseconds>(penalty, kMaxPenalty));
      co_await throttle.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
}

}  // namespace trellis::access
