#include "cache/executor.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "base/version.h"
#include "proto/memcache/base64.h"

namespace trellis::cache {

using proto::memcache::Command;
using proto::memcache::Request;

namespace {

// memcached's REALTIME_MAXDELTA: larger exptimes are absolute unix times.
constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;
// An opaque (meta O flag) longer than this is refused, as memcached does.
constexpr size_t kMaxOpaqueLength = 32;

void AppendNumber(std::string* out, uint64_t value) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, end);
}

void AppendSigned(std::string* out, int64_t value) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, end);
}

void Reply(const Request& request, std::string_view text, std::string* out) {
  if (!request.noreply) {
    out->append(text);
    out->append("\r\n");
  }
}

enum class StoreMode { kSet, kAdd, kReplace, kAppend, kPrepend, kCas };
enum class Outcome { kStored, kNotStored, kExists, kNotFound, kNoMemory };

struct StoreArgs {
  StoreMode mode;
  uint32_t client_flags;
  uint32_t exptime;
  std::string_view value;
  uint64_t compare_cas = 0;  // cas / meta C: store only over this version.
  uint64_t new_cas = 0;      // meta E: the CAS the new version gets.
};

// memcached's do_store_item() over one locked key. Sets *cas to the stored version's CAS.
Outcome StoreItem(Store::Slot& slot, const StoreArgs& args, uint64_t* cas) {
  Item* old = slot.Find();
  const bool concatenate = args.mode == StoreMode::kAppend || args.mode == StoreMode::kPrepend;
  switch (args.mode) {
    case StoreMode::kCas:
      if (old == nullptr) {
        return Outcome::kNotFound;
      }
      if (old->cas != args.compare_cas) {
        return Outcome::kExists;
      }
      break;
    case StoreMode::kAdd:
      if (old != nullptr) {
        slot.Bump(old);
        return Outcome::kNotStored;
      }
      break;
    case StoreMode::kReplace:
    case StoreMode::kAppend:
    case StoreMode::kPrepend:
      if (old == nullptr) {
        return Outcome::kNotStored;
      }
      if (concatenate && args.compare_cas != 0 && old->cas != args.compare_cas) {
        return Outcome::kExists;
      }
      break;
    case StoreMode::kSet:
      break;
  }
  const size_t length = args.value.size() + (concatenate ? old->value_length : 0);
  Item* item = slot.Allocate(static_cast<uint32_t>(length),
                             concatenate ? old->client_flags : args.client_flags,
                             concatenate ? old->exptime : args.exptime);
  if (item == nullptr) {
    return Outcome::kNoMemory;
  }
  char* value = item->mutable_value();
  if (args.mode == StoreMode::kAppend) {
    std::memcpy(value, old->value().data(), old->value_length);
    std::memcpy(value + old->value_length, args.value.data(), args.value.size());
  } else if (args.mode == StoreMode::kPrepend) {
    std::memcpy(value, args.value.data(), args.value.size());
    std::memcpy(value + args.value.size(), old->value().data(), old->value_length);
  } else {
    std::memcpy(value, args.value.data(), args.value.size());
  }
  slot.Commit(item, args.new_cas);
  *cas = item->cas;
  return Outcome::kStored;
}

enum class DeltaOutcome { kOk, kNonNumeric, kNotFound, kCasMismatch, kNoMemory };

// memcached's do_add_delta(): incr wraps at 2^64, decr stops at 0, and a result shorter
// than the old value is space-padded to the old length. *result gets the number.
DeltaOutcome AddDelta(Store::Slot& slot, bool incr, uint64_t delta, uint64_t compare_cas,
                      uint64_t new_cas, std::string* result, Item** stored) {
  Item* old = slot.Find();
  if (old == nullptr) {
    return DeltaOutcome::kNotFound;
  }
  if (compare_cas != 0 && old->cas != compare_cas) {
    return DeltaOutcome::kCasMismatch;
  }
  // The value must be a decimal number, optionally followed by whitespace (padding).
  const std::string_view text = old->value();
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const bool trailing_space_only = std::all_of(end, text.data() + text.size(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c));
  });
  if (text.empty() || ec != std::errc() || !trailing_space_only) {
    return DeltaOutcome::kNonNumeric;
  }
  value = incr ? value + delta : (delta > value ? 0 : value - delta);
  result->clear();
  AppendNumber(result, value);
  const size_t length = std::max(result->size(), text.size());
  Item* item = slot.Allocate(static_cast<uint32_t>(length), old->client_flags, old->exptime);
  if (item == nullptr) {
    return DeltaOutcome::kNoMemory;
  }
  std::memcpy(item->mutable_value(), result->data(), result->size());
  std::memset(item->mutable_value() + result->size(), ' ', length - result->size());
  slot.Commit(item, new_cas);
  *stored = item;
  return DeltaOutcome::kOk;
}

// The key as meta replies echo it: base64 again if it came with the b flag.
void AppendMetaKey(std::string* out, std::string_view key, bool binary) {
  out->append(" k");
  if (binary) {
    out->append(proto::memcache::Base64Encode(key));
    out->append(" b");
  } else {
    out->append(key);
  }
}

// The O (opaque) and k (key) flags, which every meta reply echoes, in request order.
void AppendOpaqueAndKey(const Request& request, std::string* out) {
  for (std::string_view flag : request.meta.raw()) {
    if (flag[0] == 'O') {
      out->push_back(' ');
      out->append(flag);
    } else if (flag[0] == 'k') {
      AppendMetaKey(out, request.key, request.meta.Has('b'));
    }
  }
}

bool OpaqueTooLong(const Request& request) {
  return request.meta.Has('O') && request.meta.Token('O').size() + 1 > kMaxOpaqueLength;
}

uint32_t MetaTtl(const Item& item, uint32_t now) {
  return item.exptime == 0 ? 0 : item.exptime - now;
}

void AppendTtl(std::string* out, const Item& item, uint32_t now) {
  out->append(" t");
  if (item.exptime == 0) {
    out->append("-1");
  } else {
    AppendNumber(out, MetaTtl(item, now));
  }
}

int32_t MetaNumber(const Request& request, char flag) {
  return static_cast<int32_t>(
      std::strtol(std::string(request.meta.Token(flag)).c_str(), nullptr, 10));
}

uint64_t MetaUnsigned(const Request& request, char flag) {
  return std::strtoull(std::string(request.meta.Token(flag)).c_str(), nullptr, 10);
}

}  // namespace

uint32_t ExpiryTime(int64_t exptime, uint32_t now) {
  if (exptime == 0) {
    return 0;
  }
  if (exptime < 0) {
    return 1;  // Long past: expired at once.
  }
  if (exptime > kMaxRelativeExptime) {
    return exptime <= now ? 1 : static_cast<uint32_t>(exptime);
  }
  return now + static_cast<uint32_t>(exptime);
}

CacheMetrics::CacheMetrics(base::Registry& r)
    : registry(r),
#define TRELLIS_CACHE_COUNTER(name, help) r.GetCounter("trellis_cache_" name "_total", help)
      get_hits(TRELLIS_CACHE_COUNTER("get_hits", "Keys found by get-family commands.")),
      get_misses(TRELLIS_CACHE_COUNTER("get_misses", "Keys not found by get-family commands.")),
      get_expired(TRELLIS_CACHE_COUNTER("get_expired", "Gets that found only an expired item.")),
      delete_hits(TRELLIS_CACHE_COUNTER("delete_hits", "Deletes of present keys.")),
      delete_misses(TRELLIS_CACHE_COUNTER("delete_misses", "Deletes of absent keys.")),
      incr_hits(TRELLIS_CACHE_COUNTER("incr_hits", "Increments of present keys.")),
      incr_misses(TRELLIS_CACHE_COUNTER("incr_misses", "Increments of absent keys.")),
      decr_hits(TRELLIS_CACHE_COUNTER("decr_hits", "Decrements of present keys.")),
      decr_misses(TRELLIS_CACHE_COUNTER("decr_misses", "Decrements of absent keys.")),
      cas_hits(TRELLIS_CACHE_COUNTER("cas_hits", "CAS stores that matched.")),
      cas_misses(TRELLIS_CACHE_COUNTER("cas_misses", "CAS stores of absent keys.")),
      cas_badval(TRELLIS_CACHE_COUNTER("cas_badval", "CAS stores refused: the value changed.")),
      touch_hits(TRELLIS_CACHE_COUNTER("touch_hits", "Touches of present keys.")),
      touch_misses(TRELLIS_CACHE_COUNTER("touch_misses", "Touches of absent keys.")),
      store_too_large(TRELLIS_CACHE_COUNTER("store_too_large", "Stores refused: value too large.")),
      store_no_memory(TRELLIS_CACHE_COUNTER("store_no_memory", "Stores refused: out of memory.")),
#undef TRELLIS_CACHE_COUNTER
      batch_seconds(r.GetHistogram(
          "trellis_cache_batch_seconds",
          "Time from a batch of pipelined requests arriving to its replies being written.",
          base::LatencyBuckets())) {
  static constexpr const char* kNames[26] = {
      "get",   "gets",   "gat",  "gats", "set",   "add",       "replace", "append",    "prepend",
      "cas",   "delete", "incr", "decr", "touch", "flush_all", "version", "verbosity", "quit",
      "stats", "mg",     "ms",   "md",   "ma",    "mn",        "me",      "other"};
  for (int i = 0; i < 26; ++i) {
    commands[i] = &r.GetCounter("trellis_cache_commands_total", "Commands executed, by command.",
                                {{"command", kNames[i]}});
  }
}

base::Counter& CacheMetrics::Command(proto::memcache::Command command) {
  return *commands[static_cast<int>(command)];
}

void CacheMetrics::Reset(const StoreStats& store_now) {
  std::lock_guard lock(reset_mu_);
  for (base::Counter* counter :
       {&get_hits, &get_misses, &get_expired, &delete_hits, &delete_misses, &incr_hits,
        &incr_misses, &decr_hits, &decr_misses, &cas_hits, &cas_misses, &cas_badval, &touch_hits,
        &touch_misses, &store_too_large, &store_no_memory}) {
    baseline_[counter] = counter->Value();
  }
  for (base::Counter* counter : commands) {
    baseline_[counter] = counter->Value();
  }
  store_baseline_ = store_now;
}

uint64_t CacheMetrics::SinceReset(const base::Counter& counter) const {
  std::lock_guard lock(reset_mu_);
  auto it = baseline_.find(&counter);
  return counter.Value() - (it == baseline_.end() ? 0 : it->second);
}

StoreStats CacheMetrics::StoreSinceReset(StoreStats now) const {
  std::lock_guard lock(reset_mu_);
  now.total_items -= store_baseline_.total_items;
  now.evictions -= store_baseline_.evictions;
  now.expired -= store_baseline_.expired;
  now.evicted_unfetched -= store_baseline_.evicted_unfetched;
  now.expired_unfetched -= store_baseline_.expired_unfetched;
  return now;
}

std::string Executor::VersionString() { return "1.6.18-trellis-" + std::string(base::kVersion); }

bool Executor::Execute(const Request& request, uint32_t now, std::string* out) {
  metrics_.Command(request.command).Increment();
  switch (request.command) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      Get(request, now, out);
      return true;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      Update(request, now, out);
      return true;
    case Command::kDelete: {
      Store::Slot slot = store_.Lock(request.key, now);
      if (slot.Find() != nullptr) {
        slot.Erase();
        metrics_.delete_hits.Increment();
        Reply(request, "DELETED", out);
      } else {
        metrics_.delete_misses.Increment();
        Reply(request, "NOT_FOUND", out);
      }
      return true;
    }
    case Command::kIncr:
    case Command::kDecr:
      Arithmetic(request, now, out);
      return true;
    case Command::kTouch: {
      Store::Slot slot = store_.Lock(request.key, now);
      if (Item* item = slot.Find()) {
        slot.SetExptime(ExpiryTime(request.exptime, now));
        slot.Bump(item);
        metrics_.touch_hits.Increment();
        Reply(request, "TOUCHED", out);
      } else {
        metrics_.touch_misses.Increment();
        Reply(request, "NOT_FOUND", out);
      }
      return true;
    }
    case Command::kFlushAll:
      store_.FlushAll(now, request.delay > 0 ? ExpiryTime(request.delay, now) - int64_t{now} : 0);
      Reply(request, "OK", out);
      return true;
    case Command::kVersion:
      out->append("VERSION " + VersionString() + "\r\n");
      return true;
    case Command::kVerbosity:
      Reply(request, "OK", out);
      return true;
    case Command::kQuit:
      return false;
    case Command::kStats:
      Stats(request, now, out);
      return true;
    case Command::kMetaGet:
      MetaGet(request, now, out);
      return true;
    case Command::kMetaSet:
      MetaSet(request, now, out);
      return true;
    case Command::kMetaDelete:
      MetaDelete(request, now, out);
      return true;
    case Command::kMetaArithmetic:
      MetaArithmetic(request, now, out);
      return true;
    case Command::kMetaNoop:
      out->append("MN\r\n");
      return true;
    case Command::kMetaDebug:
      MetaDebug(request, now, out);
      return true;
  }
  return true;
}

void Executor::Get(const Request& request, uint32_t now, std::string* out) {
  const bool with_cas = request.command == Command::kGets || request.command == Command::kGats;
  const bool touch = request.command == Command::kGat || request.command == Command::kGats;
  const uint32_t exptime = touch ? ExpiryTime(request.exptime, now) : 0;
  for (std::string_view key : request.keys) {
    Store::Slot slot = store_.Lock(key, now);
    Item* item = slot.Find();
    if (item == nullptr) {
      (touch ? metrics_.touch_misses : metrics_.get_misses).Increment();
      if (slot.found_expired()) {
        metrics_.get_expired.Increment();
      }
      continue;
    }
    (touch ? metrics_.touch_hits : metrics_.get_hits).Increment();
    if (touch) {
      slot.SetExptime(exptime);
    }
    slot.Bump(item);
    out->append("VALUE ");
    out->append(item->key());
    out->push_back(' ');
    AppendNumber(out, item->client_flags);
    out->push_back(' ');
    AppendNumber(out, item->value_length);
    if (with_cas) {
      out->push_back(' ');
      AppendNumber(out, item->cas);
    }
    out->append("\r\n");
    out->append(item->value());
    out->append("\r\n");
  }
  out->append("END\r\n");
}

void Executor::Update(const Request& request, uint32_t now, std::string* out) {
  StoreArgs args{StoreMode::kSet, request.client_flags, ExpiryTime(request.exptime, now),
                 request.value};
  switch (request.command) {
    case Command::kAdd:
      args.mode = StoreMode::kAdd;
      break;
    case Command::kReplace:
      args.mode = StoreMode::kReplace;
      break;
    case Command::kAppend:
      args.mode = StoreMode::kAppend;
      break;
    case Command::kPrepend:
      args.mode = StoreMode::kPrepend;
      break;
    case Command::kCas:
      args.mode = StoreMode::kCas;
      args.compare_cas = request.cas_unique;
      break;
    default:
      break;
  }
  Store::Slot slot = store_.Lock(request.key, now);
  uint64_t cas = 0;
  const Outcome outcome = StoreItem(slot, args, &cas);
  if (args.mode == StoreMode::kCas) {
    (outcome == Outcome::kStored     ? metrics_.cas_hits
     : outcome == Outcome::kNotFound ? metrics_.cas_misses
                                     : metrics_.cas_badval)
        .Increment();
  }
  switch (outcome) {
    case Outcome::kStored:
      Reply(request, "STORED", out);
      break;
    case Outcome::kNotStored:
      Reply(request, "NOT_STORED", out);
      break;
    case Outcome::kExists:
      Reply(request, "EXISTS", out);
      break;
    case Outcome::kNotFound:
      Reply(request, "NOT_FOUND", out);
      break;
    case Outcome::kNoMemory:
      metrics_.store_no_memory.Increment();
      if (args.mode == StoreMode::kSet) {
        slot.Erase();  // A failed set must not leave the old value readable.
      }
      Reply(request, "SERVER_ERROR out of memory storing object", out);
      break;
  }
}

void Executor::RejectTooLarge(const Request& request, uint32_t now, std::string* out) {
  metrics_.store_too_large.Increment();
  // Like memcached: a refused set (text or meta) removes the old value, so that no stale
  // value outlives a write the client believes it made; add, append and the rest keep it.
  if (request.command == Command::kSet || request.command == Command::kMetaSet) {
    Store::Slot slot = store_.Lock(request.key, now);
    slot.Erase();
  }
  if (request.command == Command::kMetaSet) {
    out->append("SERVER_ERROR object too large for cache\r\n");  // Meta errors ignore q.
  } else {
    Reply(request, "SERVER_ERROR object too large for cache", out);
  }
}

void Executor::Arithmetic(const Request& request, uint32_t now, std::string* out) {
  const bool incr = request.command == Command::kIncr;
  Store::Slot slot = store_.Lock(request.key, now);
  std::string result;
  Item* item = nullptr;
  switch (AddDelta(slot, incr, request.delta, 0, 0, &result, &item)) {
    case DeltaOutcome::kOk:
      (incr ? metrics_.incr_hits : metrics_.decr_hits).Increment();
      Reply(request, result, out);
      break;
    case DeltaOutcome::kNonNumeric:
      Reply(request, "CLIENT_ERROR cannot increment or decrement non-numeric value", out);
      break;
    case DeltaOutcome::kNotFound:
    case DeltaOutcome::kCasMismatch:
      (incr ? metrics_.incr_misses : metrics_.decr_misses).Increment();
      Reply(request, "NOT_FOUND", out);
      break;
    case DeltaOutcome::kNoMemory:
      Reply(request, "SERVER_ERROR out of memory", out);
      break;
  }
}

void Executor::MetaGet(const Request& request, uint32_t now, std::string* out) {
  if (OpaqueTooLong(request)) {
    out->append("CLIENT_ERROR opaque token too long\r\n");
    return;
  }
  const auto& meta = request.meta;
  Store::Slot slot = store_.Lock(request.key, now);
  Item* item = slot.Find();
  bool created = false;
  if (item == nullptr && meta.Has('N')) {
    item = slot.Allocate(0, 0, 0);
    if (item != nullptr) {
      item->key_binary = meta.Has('b');
      slot.Commit(item);
      created = true;
    }
  }
  const bool touch = meta.Has('T');
  if (item == nullptr) {
    (touch ? metrics_.touch_misses : metrics_.get_misses).Increment();
    if (!request.noreply) {
      out->append("EN");
      AppendOpaqueAndKey(request, out);
      out->append("\r\n");
    }
    return;
  }
  (touch ? metrics_.touch_hits : metrics_.get_hits).Increment();
  bool won = false;
  std::string line = meta.Has('v') ? "VA " + std::to_string(item->value_length) : "HD";
  for (std::string_view flag : meta.raw()) {
    switch (flag[0]) {
      case 'T':
        slot.SetExptime(ExpiryTime(MetaNumber(request, 'T'), now));
        break;
      case 'N':
        if (created) {
          slot.SetExptime(ExpiryTime(MetaNumber(request, 'N'), now));
          won = true;
        }
        break;
      case 'R':
        if (!item->token_sent && !created && item->exptime != 0 &&
            item->exptime < ExpiryTime(MetaNumber(request, 'R'), now)) {
          won = true;
        }
        break;
      case 's':
        line += " s";
        AppendNumber(&line, item->value_length);
        break;
      case 't':
        AppendTtl(&line, *item, now);
        break;
      case 'c':
        line += " c";
        AppendNumber(&line, item->cas);
        break;
      case 'f':
        line += " f";
        AppendNumber(&line, item->client_flags);
        break;
      case 'l':
        line += " l";
        AppendNumber(&line, now - item->time);
        break;
      case 'h':
        line += item->fetched ? " h1" : " h0";
        break;
      case 'O':
        line += ' ';
        line += flag;
        break;
      case 'k':
        AppendMetaKey(&line, item->key(), item->key_binary);
        break;
    }
  }
  if (item->token_sent) {
    line += " Z";
  }
  if (item->stale) {
    line += " X";
    won = won || !item->token_sent;
  }
  if (won) {
    line += " W";
    item->token_sent = 1;
  }
  out->append(line);
  out->append("\r\n");
  if (meta.Has('v')) {
    out->append(item->value());
    out->append("\r\n");
  }
  if (!meta.Has('u')) {
    slot.Bump(item);
  }
}

void Executor::MetaSet(const Request& request, uint32_t now, std::string* out) {
  const auto& meta = request.meta;
  StoreArgs args{StoreMode::kSet,
                 meta.Has('F') ? static_cast<uint32_t>(MetaUnsigned(request, 'F')) : 0,
                 meta.Has('T') ? ExpiryTime(MetaNumber(request, 'T'), now) : 0, request.value};
  switch (meta.Has('M') ? meta.Token('M')[0] : 'S') {
    case 'E':
      args.mode = StoreMode::kAdd;
      break;
    case 'A':
      args.mode = StoreMode::kAppend;
      break;
    case 'P':
      args.mode = StoreMode::kPrepend;
      break;
    case 'R':
      args.mode = StoreMode::kReplace;
      break;
    default:
      args.mode = StoreMode::kSet;
      break;
  }
  if (meta.Has('C')) {
    args.compare_cas = MetaUnsigned(request, 'C');
    if (args.mode == StoreMode::kSet || args.mode == StoreMode::kReplace) {
      args.mode = StoreMode::kCas;
    }
  }
  if (meta.Has('E')) {
    args.new_cas = MetaUnsigned(request, 'E');
  }
  Store::Slot slot = store_.Lock(request.key, now);
  uint64_t cas = 0;
  Outcome outcome = StoreItem(slot, args, &cas);
  if (outcome == Outcome::kStored && meta.Has('b')) {
    slot.Find()->key_binary = 1;
  }
  std::string_view code;
  switch (outcome) {
    case Outcome::kStored:
      code = "HD";
      break;
    case Outcome::kNotStored:
      code = "NS";
      break;
    case Outcome::kExists:
      code = "EX";
      break;
    case Outcome::kNotFound:
      code = "NF";
      break;
    case Outcome::kNoMemory:
      metrics_.store_no_memory.Increment();
      slot.Erase();
      out->append("SERVER_ERROR out of memory storing object\r\n");
      return;
  }
  if (outcome == Outcome::kStored && request.noreply) {
    return;
  }
  out->append(code);
  for (std::string_view flag : meta.raw()) {
    if (flag[0] == 'O') {
      out->push_back(' ');
      out->append(flag);
    } else if (flag[0] == 'k') {
      AppendMetaKey(out, request.key, meta.Has('b'));
    } else if (flag[0] == 'c') {
      out->append(" c");
      AppendNumber(out, cas);
    }
  }
  out->append("\r\n");
}

void Executor::MetaDelete(const Request& request, uint32_t now, std::string* out) {
  const auto& meta = request.meta;
  if (OpaqueTooLong(request)) {
    out->append("CLIENT_ERROR opaque token too long\r\n");
    return;
  }
  Store::Slot slot = store_.Lock(request.key, now);
  Item* item = slot.Find();
  std::string_view code;
  if (item == nullptr) {
    code = "NF";
    metrics_.delete_misses.Increment();
  } else if (meta.Has('C') && item->cas != MetaUnsigned(request, 'C')) {
    code = "EX";
  } else if (meta.Has('I')) {
    // Invalidate: keep the item, marked stale, with a new CAS so the next fetch wins.
    Item* copy =
        slot.Allocate(item->value_length, item->client_flags,
                      meta.Has('T') ? ExpiryTime(MetaNumber(request, 'T'), now) : item->exptime);
    if (copy == nullptr) {
      slot.Erase();
    } else {
      std::memcpy(copy->mutable_value(), item->value().data(), item->value_length);
      copy->stale = 1;
      copy->key_binary = item->key_binary;
      slot.Commit(copy);
    }
    code = "HD";
    metrics_.delete_hits.Increment();
  } else {
    slot.Erase();
    code = "HD";
    metrics_.delete_hits.Increment();
  }
  if (code == "HD" && request.noreply) {
    return;
  }
  out->append(code);
  AppendOpaqueAndKey(request, out);
  out->append("\r\n");
}

void Executor::MetaArithmetic(const Request& request, uint32_t now, std::string* out) {
  const auto& meta = request.meta;
  if (OpaqueTooLong(request)) {
    out->append("CLIENT_ERROR opaque token too long\r\n");
    return;
  }
  const bool incr = !meta.Has('M') || meta.Token('M')[0] == 'I' || meta.Token('M')[0] == '+';
  const uint64_t delta = meta.Has('D') ? MetaUnsigned(request, 'D') : 1;
  Store::Slot slot = store_.Lock(request.key, now);
  std::string result;
  Item* item = nullptr;
  bool created = false;
  std::string_view code;
  switch (AddDelta(slot, incr, delta, meta.Has('C') ? MetaUnsigned(request, 'C') : 0,
                   meta.Has('E') ? MetaUnsigned(request, 'E') : 0, &result, &item)) {
    case DeltaOutcome::kOk:
      (incr ? metrics_.incr_hits : metrics_.decr_hits).Increment();
      break;
    case DeltaOutcome::kNonNumeric:
      out->append("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
      return;
    case DeltaOutcome::kNoMemory:
      out->append("SERVER_ERROR out of memory\r\n");
      return;
    case DeltaOutcome::kCasMismatch:
      code = "EX";
      break;
    case DeltaOutcome::kNotFound:
      (incr ? metrics_.incr_misses : metrics_.decr_misses).Increment();
      if (!meta.Has('N')) {
        code = "NF";
        break;
      }
      result.clear();
      AppendNumber(&result, meta.Has('J') ? MetaUnsigned(request, 'J') : 0);
      item = slot.Allocate(static_cast<uint32_t>(result.size()), 0,
                           ExpiryTime(MetaNumber(request, 'N'), now));
      if (item == nullptr) {
        out->append("SERVER_ERROR Out of memory allocating new item\r\n");
        return;
      }
      std::memcpy(item->mutable_value(), result.data(), result.size());
      slot.Commit(item, meta.Has('E') ? MetaUnsigned(request, 'E') : 0);
      created = true;
      break;
  }
  if (item == nullptr) {
    out->append(code);
    AppendOpaqueAndKey(request, out);
    out->append("\r\n");
    return;
  }
  if (meta.Has('T') && !created) {
    slot.SetExptime(ExpiryTime(MetaNumber(request, 'T'), now));
  }
  if (request.noreply) {
    return;
  }
  std::string line = meta.Has('v') ? "VA " + std::to_string(result.size()) : "HD";
  for (std::string_view flag : meta.raw()) {
    switch (flag[0]) {
      case 'c':
        line += " c";
        AppendNumber(&line, item->cas);
        break;
      case 't':
        AppendTtl(&line, *item, now);
        break;
      case 'O':
        line += ' ';
        line += flag;
        break;
      case 'k':
        AppendMetaKey(&line, request.key, meta.Has('b'));
        break;
    }
  }
  out->append(line);
  out->append("\r\n");
  if (meta.Has('v')) {
    out->append(result);
    out->append("\r\n");
  }
}

void Executor::MetaDebug(const Request& request, uint32_t now, std::string* out) {
  Store::Slot slot = store_.Lock(request.key, now);
  Item* item = slot.Find();
  if (item == nullptr) {
    out->append("EN\r\n");
    return;
  }
  out->append("ME ");
  out->append(item->key_binary ? proto::memcache::Base64Encode(item->key())
                               : std::string(item->key()));
  out->append(" exp=");
  AppendSigned(out, item->exptime == 0 ? -1 : int64_t{item->exptime} - now);
  out->append(" la=");
  AppendNumber(out, now - item->time);
  out->append(" cas=");
  AppendNumber(out, item->cas);
  out->append(item->fetched ? " fetch=yes" : " fetch=no");
  out->append(" cls=1 size=");
  AppendNumber(out, sizeof(Item) + item->key_length + item->value_length);
  out->append("\r\n");
}

void Executor::Stats(const Request& request, uint32_t now, std::string* out) {
  auto stat = [out](std::string_view name, auto value) {
    out->append("STAT ");
    out->append(name);
    out->push_back(' ');
    if constexpr (std::is_convertible_v<decltype(value), std::string_view>) {
      out->append(value);
    } else {
      out->append(std::to_string(value));
    }
    out->append("\r\n");
  };
  const StoreStats store = metrics_.StoreSinceReset(store_.Stats());
  const std::string_view group = request.stats_group;
  if (group.empty()) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& tv) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(tv.tv_sec),
                    static_cast<long>(tv.tv_usec));
      return std::string(buf);
    };
    const uint64_t get_hits = metrics_.SinceReset(metrics_.get_hits);
    const uint64_t get_misses = metrics_.SinceReset(metrics_.get_misses);
    stat("pid", getpid());
    stat("uptime", now - options_.process_started);
    stat("time", now);
    stat("version", VersionString());
    stat("pointer_size", sizeof(void*) * 8);
    stat("rusage_user", seconds(usage.ru_utime));
    stat("rusage_system", seconds(usage.ru_stime));
    stat("max_connections", options_.max_connections);
    stat("curr_connections",
         metrics_.registry.GetGauge("trellis_connections", "", {{"server", "cache"}}).Value());
    stat("total_connections",
         metrics_.registry
             .GetCounter("trellis_connections_accepted_total", "", {{"server", "cache"}})
             .Value());
    stat("rejected_connections",
         metrics_.registry
             .GetCounter("trellis_connections_rejected_total", "", {{"server", "cache"}})
             .Value());
    stat("cmd_get", get_hits + get_misses);
    stat("cmd_set", metrics_.SinceReset(metrics_.Command(Command::kSet)) +
                        metrics_.SinceReset(metrics_.Command(Command::kAdd)) +
                        metrics_.SinceReset(metrics_.Command(Command::kReplace)) +
                        metrics_.SinceReset(metrics_.Command(Command::kAppend)) +
                        metrics_.SinceReset(metrics_.Command(Command::kPrepend)) +
                        metrics_.SinceReset(metrics_.Command(Command::kCas)) +
                        metrics_.SinceReset(metrics_.Command(Command::kMetaSet)));
    stat("cmd_flush", metrics_.SinceReset(metrics_.Command(Command::kFlushAll)));
    stat("cmd_touch",
         metrics_.SinceReset(metrics_.touch_hits) + metrics_.SinceReset(metrics_.touch_misses));
    stat("get_hits", get_hits);
    stat("get_misses", get_misses);
    stat("get_expired", metrics_.SinceReset(metrics_.get_expired));
    stat("delete_misses", metrics_.SinceReset(metrics_.delete_misses));
    stat("delete_hits", metrics_.SinceReset(metrics_.delete_hits));
    stat("incr_misses", metrics_.SinceReset(metrics_.incr_misses));
    stat("incr_hits", metrics_.SinceReset(metrics_.incr_hits));
    stat("decr_misses", metrics_.SinceReset(metrics_.decr_misses));
    stat("decr_hits", metrics_.SinceReset(metrics_.decr_hits));
    stat("cas_misses", metrics_.SinceReset(metrics_.cas_misses));
    stat("cas_hits", metrics_.SinceReset(metrics_.cas_hits));
    stat("cas_badval", metrics_.SinceReset(metrics_.cas_badval));
    stat("touch_hits", metrics_.SinceReset(metrics_.touch_hits));
    stat("touch_misses", metrics_.SinceReset(metrics_.touch_misses));
    stat("store_too_large", metrics_.SinceReset(metrics_.store_too_large));
    stat("store_no_memory", metrics_.SinceReset(metrics_.store_no_memory));
    stat("threads", options_.threads);
    stat("bytes", store.bytes);
    stat("curr_items", store.items);
    stat("total_items", store.total_items);
    stat("expired_unfetched", store.expired_unfetched);
    stat("evicted_unfetched", store.evicted_unfetched);
    stat("evictions", store.evictions);
    stat("reclaimed", store.expired);
    stat("limit_maxbytes", store_.memory_limit());
  } else if (group == "settings") {
    stat("maxbytes", store_.memory_limit());
    stat("maxconns", options_.max_connections);
    stat("evictions", "on");
    stat("num_threads", options_.threads);
    stat("cas_enabled", "yes");
    stat("item_size_max", options_.max_item_size);
    stat("eviction_policy", "s3fifo");
  } else if (group == "items" || group == "slabs") {
    // One allocator class holds every item: there are no slab classes to report.
    const std::string prefix = group == "items" ? "items:1:" : "1:";
    stat(prefix + "number", store.items);
    stat(prefix + "evicted", store.evictions);
    stat(prefix + "reclaimed", store.expired);
    if (group == "slabs") {
      stat("active_slabs", 1);
      stat("total_malloced", store.bytes);
    }
  } else if (group == "reset") {
    metrics_.Reset(store_.Stats());
    out->append("RESET\r\n");
    return;
  } else {
    out->append("ERROR\r\n");
    return;
  }
  out->append("END\r\n");
}

}  // namespace trellis::cache
