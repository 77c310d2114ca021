// Request: one memcached command, text or meta protocol, as the parser hands it to an
// executor (the cache node, the access proxy, the load generator's checker). Views
// point into the connection's input buffer and stay valid until the caller consumes it.
//
// Thread safety: none; a plain value owned by one connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::proto::memcache {

enum class Command : uint8_t {
  // Text protocol.
  kGet,
  kGets,
  kGat,
  kGats,
  kSet,
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,
  kDelete,
  kIncr,
  kDecr,
  kTouch,
  kFlushAll,
  kVersion,
  kVerbosity,
  kQuit,
  kStats,
  // Meta protocol.
  kMetaGet,
  kMetaSet,
  kMetaDelete,
  kMetaArithmetic,
  kMetaNoop,
  kMetaDebug,
};

inline constexpr size_t kCommandCount = static_cast<size_t>(Command::kMetaDebug) + 1;

inline bool IsMeta(Command command) { return command >= Command::kMetaGet; }

// The command's name on the wire ("bget" is kGet's other name): for the parser and the
// per-command metrics.
constexpr std::string_view CommandName(Command command) {
  constexpr std::string_view kNames[kCommandCount] = {
      "get",   "gets",   "gat",  "gats", "set",   "add",       "replace", "append",    "prepend",
      "cas",   "delete", "incr", "decr", "touch", "flush_all", "version", "verbosity", "quit",
      "stats", "mg",     "ms",   "md",   "ma",    "mn",        "me"};
  return kNames[static_cast<size_t>(command)];
}

// Longest key memcached accepts, in bytes.
inline constexpr size_t kMaxKeyLength = 250;

// The flags of a meta command: single letters, some with a token ("T30", "Oabc").
class MetaFlags {
 public:
  bool Has(char flag) const { return IsFlag(flag) && (present_ >> Index(flag)) & 1; }
  // The token after `flag` ("" for flags without one). REQUIRES: Has(flag).
  std::string_view Token(char flag) const { return tokens_[Index(flag)]; }
  // Every flag as given, in order, for echoing back (k, O, b ...).
  const std::vector<std::string_view>& raw() const { return raw_; }

  // Records one flag token such as "T30". Returns false for a token that is not a flag.
  bool Add(std::string_view token);
  void Clear();

  static bool IsFlag(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

 private:
  static int Index(char c) { return c <= 'Z' ? c - 'A' : 26 + (c - 'a'); }
  uint64_t present_ = 0;
  std::array<std::string_view, 52> tokens_;
  std::vector<std::string_view> raw_;
};

struct Request {
  Command command = Command::kGet;
  // The key of single-key commands; the first key of get-family commands. For meta
  // commands with the b flag, the decoded key (in decoded_key_storage).
  std::string_view key;
  std::vector<std::string_view> keys;  // Get-family commands: every key, in order.
  uint32_t client_flags = 0;
  int64_t exptime = 0;      // As sent: relative seconds, absolute unix time, or negative.
  uint64_t cas_unique = 0;  // cas command.
  uint64_t delta = 0;       // incr / decr.
  int64_t delay = 0;        // flush_all; verbosity level.
  bool noreply = false;
  std::string_view value;        // Storage commands: the data block without its "\r\n".
  std::string_view stats_group;  // stats: "" for the general stats, else "settings", ...
  MetaFlags meta;
  std::string decoded_key_storage;

  void Clear();
};

// Whether `request` may change items: stores, deletes, arithmetic, touches (gat, mg T),
// vivification (mg N) and flush_all. A backup refuses these from clients, sync
// replication waits for a backup to have them, and the access proxy never sends them to a
// backup. The rest only read (a fetch's LRU bump and mg's win token are not changes).
inline bool ChangesItems(const Request& request) {
  switch (request.command) {
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
    case Command::kGat:
    case Command::kGats:
    case Command::kFlushAll:
    case Command::kMetaSet:
    case Command::kMetaDelete:
    case Command::kMetaArithmetic:
      return true;
    case Command::kMetaGet:
      return request.meta.Has('N') || request.meta.Has('T');
    default:
      return false;
  }
}

}  // namespace trellis::proto::memcache
