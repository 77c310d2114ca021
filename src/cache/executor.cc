#include "cache/executor.h"

#include "cache/command_semantics.h"
#include "cache/reply.h"
#include "proto/memcache/parser.h"
#include "proto/memcache/version.h"

namespace trellis::cache {

using proto::memcache::Command;
using proto::memcache::Request;

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
      const bool found = slot.Find() != nullptr;
      slot.Erase();  // Even when not found, for a moving slot (Store::Slot::Erase).
      if (found) {
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
      out->append(proto::memcache::kVersionReply);
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
  proto::memcache::AppendTooLarge(request, out);
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

}  // namespace trellis::cache
