// RoutedRequest: one request, or one part of a multi-get, on its way from a client to
// the cache nodes of a cluster whose map may change under it (docs/scale-out.md):
//   - it goes by the shard's route table of the moment, saying the table's version;
//   - a node's refusal (`SERVER_ERROR stale map`: the node knows a newer map, or one
//     with the key's slot at a step this table is not at) sends it again by the then
//     current table, as soon as a new table arrives or after a back-off of 1, 2, 4 ...
//     50 ms, for up to 5 s; the client never sees the refusal;
//   - a key of a slot in the dual step, moving from group A to B, goes both ways: a
//     store to B; a read to B, then A if B misses, then B again if A misses too (the
//     mover may have moved the key in between); a read-modify-write (add, cas, incr,
//     append, touch, gat, ms in other modes than set, ...) after pulling the key from A
//     into B (`mg` from A, a move-in `ms ... X` to B, which a newer value or a tombstone
//     on B refuses); a delete to A, then to B, answering "deleted" if either was (a
//     conditional or invalidating delete pulls the key into B, removes A's copy, then
//     runs on B). A's copy goes first so that a read that misses on B, the delete
//     having reached it, never finds on A a copy older than the one B had.
//     A delete that fails on A is sent again whole, as a refused one is: A's copy must
//     not outlive it, or a read that misses on B would find it.
// A multi-key get part whose keys no longer share one group (or one of whose keys moves)
// is split into one request per key, merged back into the part's reply.
//
// Thread safety: none; lives on its shard. Lifetime: shared, held by whatever it waits
// on (a backend's reply, a back-off timer).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "access/access_shard.h"
#include "access/reply_slot.h"
#include "proto/memcache/request.h"

namespace trellis::access {

class RoutedRequest : public ReplySink, public std::enable_shared_from_this<RoutedRequest> {
 public:
  // What the command does to its key, which decides how it goes while its slot moves.
  enum class Kind { kStore, kRead, kModify, kDelete, kConditionalDelete };

  struct Spec {
    std::string bytes;              // The command; with a trailing "mn\r\n" when quiet.
    std::vector<std::string> keys;  // As the nodes know them (decoded); one unless a get.
    bool binary_key = false;        // Meta b: the key goes base64-encoded.
    Kind kind = Kind::kRead;
    bool quiet = false;  // `bytes` ends in mn: the reply is all that comes before MN.
    bool silent_failure = false;
    bool read_from_backup = false;  // For a read of a slot that does not move.
    // Get-family parts (several keys): how to ask for some of the keys alone.
    proto::memcache::Command command = proto::memcache::Command::kGet;
    int64_t exptime = 0;  // gat / gats.
  };

  static constexpr std::chrono::milliseconds kGiveUpAfter{5000};
  static constexpr std::chrono::milliseconds kLongestBackOff{50};

  static void Start(AccessShard& shard, Spec spec, ReplyTarget target);

  void Complete(size_t part, std::string reply) override;

 private:
  enum class Step {
    kOnly,         // Not moving: one send.
    kTarget,       // Dual: B (a store, a read's first try, a modify's run, a delete's first).
    kSource,       // Dual: A (a read's second try, a delete's second).
    kTargetAgain,  // Dual: a read's third try.
    kPull,         // Dual: mg from A.
    kPullStore,    // Dual: the move-in to B.
    kRemoveSource  // Dual: a conditional delete's removal of A's copy.
  };

  RoutedRequest(AccessShard& shard, Spec spec, ReplyTarget target);
  // Sends it by the current table, from the first step.
  void Route();
  void SendStep(Step step, size_t group, std::string_view bytes, bool quiet, bool read);
  // The refusal of a stale map: again after a back-off, or the final error.
  void Retry();
  void Deliver(std::string reply);
  // Splits a multi-key part into one request per key.
  void Split();
  // The move-in of a pulled key (`mg ... s v f t c` reply), or "" for a miss.
  std::string MoveInFor(const std::string& pulled) const;
  std::string KeyOnTheWire() const;

  AccessShard& shard_;
  const Spec spec_;
  const ReplyTarget target_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::milliseconds back_off_{1};
  Step step_ = Step::kOnly;
  size_t source_ = 0;  // While dual: the groups of this try.
  size_t target_group_ = 0;
  std::string first_reply_;          // A delete's answer from A.
  boost::asio::steady_timer timer_;  // The back-off of a refused request.
  bool waiting_for_table_ = false;   // Its shard will cut the back-off short (OnNextChange).
  bool done_ = false;
};

// The kind of `request` (parsed by proto/memcache) for RoutedRequest.
RoutedRequest::Kind KindOf(const proto::memcache::Request& request);

}  // namespace trellis::access
