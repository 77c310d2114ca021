// The meta protocol commands (mg, ms, md, ma, me) of Executor.
#include <cstdlib>
#include <cstring>

#include "cache/command_semantics.h"
#include "cache/executor.h"
#include "cache/reply.h"
#include "proto/memcache/base64.h"

namespace trellis::cache {

using proto::memcache::Command;
using proto::memcache::Request;

namespace {

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

// The return flags mg and ma share: c (CAS), t (TTL), O (opaque) and k (key); others are
// ignored here.
void AppendSharedFlag(std::string_view flag, const Item& item, std::string_view key,
                      bool key_binary, uint32_t now, std::string* line) {
  switch (flag[0]) {
    case 'c':
      line->append(" c");
      AppendNumber(line, item.cas);
      break;
    case 't':
      AppendTtl(line, item, now);
      break;
    case 'O':
      line->push_back(' ');
      line->append(flag);
      break;
    case 'k':
      AppendMetaKey(line, key, key_binary);
      break;
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

void Executor::MetaGet(const Request& request, uint32_t now, std::string* out) {
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
      default:
        AppendSharedFlag(flag, *item, item->key(), item->key_binary, now, &line);
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
    args.set_stale = meta.Has('I');
    if (args.mode == StoreMode::kSet || args.mode == StoreMode::kReplace) {
      args.mode = StoreMode::kCas;
    }
  }
  if (meta.Has('E')) {
    args.new_cas = MetaUnsigned(request, 'E');
  }
  if (meta.Has('X')) {
    args.mode = StoreMode::kMoveIn;
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
  Store::Slot slot = store_.Lock(request.key, now);
  Item* item = slot.Find();
  std::string_view code;
  if (item == nullptr) {
    code = "NF";
    metrics_.delete_misses.Increment();
    slot.Erase();  // Even when not found, for a moving slot (Store::Slot::Erase).
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
    AppendSharedFlag(flag, *item, request.key, meta.Has('b'), now, &line);
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

}  // namespace trellis::cache
