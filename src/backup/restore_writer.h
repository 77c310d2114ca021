// WriteThroughAccess: writes a restore plan (point_in_time.h) into a live cluster through
// an access node, as a client would, so that the groups' backups and the backup center's
// archive follow: quiet meta commands (`ms KEY LEN F<flags> T<expiry> q`, `md KEY q`;
// keys the text protocol cannot carry go base64 with `b`) in batches closed by `mn`, on
// kConnections connections at once. A batch's failure (a line before its `MN`) is the
// error, in the access node's words.
//
// Thread safety: a coroutine on the caller's executor; `plan` must outlive it.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "backup/point_in_time.h"
#include "base/result.h"

namespace trellis::backup {

// One connection waiting for each batch's MN wrote 62,000 keys a second; four, 220,000.
inline constexpr size_t kRestoreConnections = 4;
inline constexpr size_t kRestoreBatch = 4096;

// How fast to write, and where to count what was written.
struct WritePace {
  uint64_t keys_per_second = 0;  // 0: as fast as the cluster takes them.
  uint64_t* written = nullptr;   // Keys written so far, if not null (the caller's thread).
};

// `access`: HOST:PORT of the access node. With a rate, batches shrink to about a tenth
// of a second's keys each and each connection waits for its share of the rate.
boost::asio::awaitable<base::Status> WriteThroughAccess(std::string access, const RestorePlan& plan,
                                                        WritePace pace);

}  // namespace trellis::backup
