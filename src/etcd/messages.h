// The values etcd::Client (etcd/client.h) sends and gets back: keys with their
// revisions, a transaction's conditions and operations, the replies, a lease, a watch's
// changes. Plain values, apart from the client so that etcd/wire.h, which writes and
// reads them as JSON, needs no network code (the fuzz build).
//
// Thread safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace trellis::etcd {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;  // Changes since creation; 0 for a key that does not exist.
  int64_t lease = 0;    // The lease it is attached to; 0: none.
};

// One condition of a transaction, on the key's revisions or value.
struct Compare {
  enum class Target { kCreateRevision, kModRevision, kVersion, kValue };
  enum class Relation { kEqual, kNotEqual, kGreater, kLess };

  // create_revision(key) == revision; 0 means "the key does not exist".
  static Compare CreateRevision(std::string key, int64_t revision);
  // mod_revision(key) == revision.
  static Compare ModRevision(std::string key, int64_t revision);
  static Compare Value(std::string key, std::string value);

  std::string key;
  Target target = Target::kCreateRevision;
  Relation relation = Relation::kEqual;
  int64_t number = 0;  // For every target but kValue.
  std::string value;   // For kValue.
};

// One request inside a transaction.
struct Operation {
  enum class Kind { kPut, kDelete, kRange };

  static Operation Put(std::string key, std::string value, int64_t lease = 0);
  static Operation Delete(std::string key);
  // Every key that starts with `prefix`.
  static Operation DeletePrefix(std::string prefix);
  static Operation Get(std::string key);
  static Operation GetPrefix(std::string prefix);

  Kind kind = Kind::kPut;
  std::string key;
  std::string range_end;  // "" for one key; else the end of the range (exclusive).
  std::string value;      // kPut.
  int64_t lease = 0;      // kPut.
};

struct Txn {
  std::vector<Compare> compare;  // All must hold for `success` to run, else `failure`.
  std::vector<Operation> success;
  std::vector<Operation> failure;
};

struct RangeReply {
  int64_t revision = 0;  // The store's revision when it answered.
  std::vector<KeyValue> kvs;
};

struct TxnReply {
  int64_t revision = 0;  // The store's revision after the transaction.
  bool succeeded = false;
  // One per operation that ran (success's or failure's), in order: a kRange's keys;
  // empty for a put or a delete.
  std::vector<std::vector<KeyValue>> ranges;
};

struct Lease {
  int64_t id = 0;
  std::chrono::seconds ttl{0};  // As granted (etcd may raise a TTL below its minimum).
};

// What a watch delivers: the changes of one revision or a few, in order.
struct WatchEvent {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  KeyValue kv;  // For a delete: its key and mod_revision (the delete's revision).
};
struct WatchBatch {
  // The revision this batch brings the watcher to (its last event's): it has seen every
  // change up to it, so a watch resumed from revision + 1 misses nothing.
  int64_t revision = 0;
  std::vector<WatchEvent> events;
};

// The end of the range of keys that start with `prefix` (etcd's range_end for a prefix).
std::string PrefixEnd(std::string prefix);

}  // namespace trellis::etcd
