#include "access/routed_request.h"

#include <algorithm>
#include <charconv>

#include <boost/asio/as_tuple.hpp>

#include "access/multiget.h"
#include "proto/memcache/base64.h"

namespace trellis::access {

namespace asio = boost::asio;
using proto::memcache::Command;
using proto::memcache::Request;

namespace {

using Kind = RoutedRequest::Kind;

constexpr std::string_view kStaleMap = "SERVER_ERROR stale map";
// memcached reads a relative expiry time above 30 days as a unix time.
constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;

bool IsMiss(std::string_view reply) {
  return reply.empty() || reply == "END\r\n" || reply == "EN\r\n";
}

bool Deleted(std::string_view reply, bool quiet) {
  return reply.starts_with("DELETED") || reply.starts_with("HD") || (quiet && reply.empty());
}

// Joins the replies of a multi-key part's keys, asked one by one, into the part's reply:
// every VALUE block, then END; an error reply of any key is the part's reply.
class JoinedGets : public ReplySink {
 public:
  JoinedGets(size_t parts, ReplyTarget target) : parts_(parts), left_(parts), target_(target) {}

  void Complete(size_t part, std::string reply) override {
    parts_[part] = std::move(reply);
    if (--left_ > 0) {
      return;
    }
    std::string joined;
    for (const std::string& reply_of_key : parts_) {
      if (!reply_of_key.ends_with("END\r\n")) {
        target_.slot->Complete(target_.part, reply_of_key);
        return;
      }
      joined.append(reply_of_key, 0, reply_of_key.size() - 5);
    }
    joined.append("END\r\n");
    target_.slot->Complete(target_.part, std::move(joined));
  }

 private:
  std::vector<std::string> parts_;
  size_t left_;
  const ReplyTarget target_;
};

}  // namespace

RoutedRequest::Kind KindOf(const Request& request) {
  const auto& meta = request.meta;
  switch (request.command) {
    case Command::kGet:
    case Command::kGets:
      return Kind::kRead;
    case Command::kMetaGet:
      return meta.Has('N') || meta.Has('T') ? Kind::kModify : Kind::kRead;
    case Command::kSet:
      return Kind::kStore;
    case Command::kMetaSet: {
      const bool plain_set =
          !meta.Has('M') || meta.Token('M')[0] == 'S' || meta.Token('M')[0] == 's';
      return plain_set && !meta.Has('C') && !meta.Has('I') ? Kind::kStore : Kind::kModify;
    }
    case Command::kDelete:
      return Kind::kDelete;
    case Command::kMetaDelete:
      return meta.Has('C') || meta.Has('I') ? Kind::kConditionalDelete : Kind::kDelete;
    default:
      return Kind::kModify;
  }
}

RoutedRequest::RoutedRequest(AccessShard& shard, Spec spec, ReplyTarget target)
    : shard_(shard), spec_(std::move(spec)), target_(std::move(target)), timer_(shard.executor()) {}

void RoutedRequest::Start(AccessShard& shard, Spec spec, ReplyTarget target) {
  std::shared_ptr<RoutedRequest> request(
      new RoutedRequest(shard, std::move(spec), std::move(target)));
  request->Route();
}

void RoutedRequest::Route() {
  const RouteTable& table = *shard_.table();
  const size_t group = table.GroupIndexOf(spec_.keys.front());
  const uint16_t source = table.DualSourceOf(spec_.keys.front());
  if (spec_.keys.size() > 1) {
    const bool together = std::all_of(spec_.keys.begin(), spec_.keys.end(), [&](const auto& key) {
      return table.GroupIndexOf(key) == group && table.DualSourceOf(key) == RouteTable::kNotMoving;
    });
    if (!together) {
      Split();
      return;
    }
  }
  if (source == RouteTable::kNotMoving) {
    SendStep(Step::kOnly, group, spec_.bytes, spec_.quiet, spec_.read_from_backup);
    return;
  }
  source_ = source;
  target_group_ = group;
  switch (spec_.kind) {
    case Kind::kStore:
    case Kind::kRead:
      SendStep(Step::kTarget, target_group_, spec_.bytes, spec_.quiet, false);
      return;
    case Kind::kDelete:
      // The source's copy first: while the target's is still there, a read finds it
      // first; the other way round, a read between the two deletes missed on the target
      // and found the source's copy, which may be older than the target's.
      SendStep(Step::kSource, source_, spec_.bytes, spec_.quiet, false);
      return;
    case Kind::kModify:
    case Kind::kConditionalDelete: {
      const std::string pull =
          "mg " + KeyOnTheWire() + " s v f t c" + (spec_.binary_key ? " b" : "") + "\r\n";
      SendStep(Step::kPull, source_, pull, false, false);
      return;
    }
  }
}

void RoutedRequest::SendStep(Step step, size_t group_index, std::string_view bytes, bool quiet,
                             bool read) {
  step_ = step;
  const RouteTable& table = *shard_.table();
  const GroupRoute& group = table.group(group_index);
  const boost::asio::ip::tcp::endpoint* node = shard_.NodeFor(group, read);
  if (node == nullptr) {
    Deliver(spec_.silent_failure ? "" : "SERVER_ERROR group " + group.name + " has no main\r\n");
    return;
  }
  Backend& backend = shard_.BackendFor(*node, group.name);
  // The silent failure of a quiet request is its own, not that of the other steps.
  const bool silent = spec_.silent_failure && (step == Step::kOnly || bytes == spec_.bytes);
  backend.Send(bytes, {shared_from_this(), 0},
               {quiet, silent, table.versioned() ? table.version() : 0});
}

void RoutedRequest::Complete(size_t, std::string reply) {
  if (done_) {
    return;
  }
  if (reply.starts_with(kStaleMap)) {
    shard_.stale_map_retries().Increment();
    Retry();
    return;
  }
  const bool error = reply.starts_with("SERVER_ERROR") || reply.starts_with("CLIENT_ERROR");
  switch (step_) {
    case Step::kOnly:
      Deliver(std::move(reply));
      return;
    case Step::kTarget:
      if (spec_.kind == Kind::kRead && IsMiss(reply)) {
        SendStep(Step::kSource, source_, spec_.bytes, spec_.quiet, false);
      } else if (spec_.kind == Kind::kDelete && !error) {
        Deliver(Deleted(reply, spec_.quiet) || !Deleted(first_reply_, spec_.quiet)
                    ? std::move(reply)
                    : std::move(first_reply_));
      } else {
        Deliver(std::move(reply));
      }
      return;
    case Step::kSource:
      if (spec_.kind == Kind::kDelete && error) {
        // The source's copy must go, or a read that misses on the target would find it
        // there: the whole delete again (both halves are idempotent).
        Retry();
      } else if (spec_.kind == Kind::kDelete) {
        first_reply_ = std::move(reply);
        SendStep(Step::kTarget, target_group_, spec_.bytes, spec_.quiet, false);
      } else if (IsMiss(reply)) {
        SendStep(Step::kTargetAgain, target_group_, spec_.bytes, spec_.quiet, false);
      } else {
        Deliver(std::move(reply));
      }
      return;
    case Step::kTargetAgain:
      Deliver(std::move(reply));
      return;
    case Step::kPull: {
      if (error) {
        Deliver(std::move(reply));
        return;
      }
      const std::string move_in = MoveInFor(reply);
      if (move_in.empty()) {
        SendStep(Step::kTarget, target_group_, spec_.bytes, spec_.quiet, false);
      } else {
        SendStep(Step::kPullStore, target_group_, move_in, false, false);
      }
      return;
    }
    case Step::kPullStore:
      if (error) {
        Deliver(std::move(reply));
      } else if (spec_.kind == Kind::kConditionalDelete) {
        // The target holds the key now (or a newer value, or its tombstone): the source's
        // copy goes before the delete runs, as for a plain delete.
        const std::string remove = "md " + KeyOnTheWire() + (spec_.binary_key ? " b" : "") + "\r\n";
        SendStep(Step::kRemoveSource, source_, remove, false, false);
      } else {
        SendStep(Step::kTarget, target_group_, spec_.bytes, spec_.quiet, false);
      }
      return;
    case Step::kRemoveSource:
      if (error) {
        Retry();  // As for a delete: the source's copy must go.
      } else {
        SendStep(Step::kTarget, target_group_, spec_.bytes, spec_.quiet, false);
      }
      return;
  }
}

void RoutedRequest::Retry() {
  if (std::chrono::steady_clock::now() - started_ > kGiveUpAfter) {
    Deliver(spec_.silent_failure ? "" : "SERVER_ERROR no route after 5 s (a move is stalled)\r\n");
    return;
  }
  timer_.expires_after(back_off_);
  back_off_ = std::min(back_off_ * 2, kLongestBackOff);
  if (!waiting_for_table_) {
    waiting_for_table_ = true;
    shard_.OnNextChange([weak = weak_from_this()] {
      if (auto self = weak.lock()) {
        self->waiting_for_table_ = false;
        self->timer_.cancel();  // Cut the back-off short.
      }
    });
  }
  timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (!error || error == boost::asio::error::operation_aborted) {
      self->Route();
    }
  });
}

void RoutedRequest::Deliver(std::string reply) {
  done_ = true;
  target_.slot->Complete(target_.part, std::move(reply));
}

void RoutedRequest::Split() {
  done_ = true;  // The keys' own requests answer for it.
  auto joined = std::make_shared<JoinedGets>(spec_.keys.size(), target_);
  for (size_t i = 0; i < spec_.keys.size(); ++i) {
    Spec single = spec_;
    single.keys = {spec_.keys[i]};
    const std::string_view key = spec_.keys[i];
    single.bytes = BuildGetRequest(spec_.command, spec_.exptime, {key});
    Start(shard_, std::move(single), {joined, i});
  }
}

std::string RoutedRequest::KeyOnTheWire() const {
  return spec_.binary_key ? proto::memcache::Base64Encode(spec_.keys.front()) : spec_.keys.front();
}

std::string RoutedRequest::MoveInFor(const std::string& pulled) const {
  // "VA <length> s<size> f<flags> t<ttl> c<cas>\r\n<data>\r\n", or a miss.
  if (!pulled.starts_with("VA ")) {
    return "";
  }
  const size_t line_end = pulled.find("\r\n");
  if (line_end == std::string::npos) {
    return "";
  }
  std::string_view header(pulled.data() + 3, line_end - 3);
  size_t length = 0;
  uint64_t flags = 0;
  int64_t ttl = -1;
  uint64_t cas = 0;
  for (size_t at = 0; at <= header.size();) {
    const size_t space = std::min(header.find(' ', at), header.size());
    const std::string_view token = header.substr(at, space - at);
    const char* first = token.data() + 1;
    const char* last = token.data() + token.size();
    if (at == 0) {
      std::from_chars(token.data(), last, length);
    } else if (token.starts_with('f')) {
      std::from_chars(first, last, flags);
    } else if (token.starts_with('t')) {
      std::from_chars(first, last, ttl);
    } else if (token.starts_with('c')) {
      std::from_chars(first, last, cas);
    }
    at = space + 1;
  }
  if (pulled.size() < line_end + 2 + length) {
    return "";
  }
  // -1: no expiry (T0); past 30 days, an absolute time, as memcached reads T.
  const int64_t exptime = ttl < 0 ? 0
                                  : (ttl > kMaxRelativeExptime
                                         ? std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                                   .count() +
                                               ttl
                                         : std::max<int64_t>(ttl, 1));
  return "ms " + KeyOnTheWire() + " " + std::to_string(length) + " X F" + std::to_string(flags) +
         " T" + std::to_string(exptime) + " E" + std::to_string(cas) +
         (spec_.binary_key ? " b" : "") + "\r\n" + pulled.substr(line_end + 2, length) + "\r\n";
}

}  // namespace trellis::access
