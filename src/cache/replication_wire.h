// The replication stream's framing: what a main sends its backups on a connection that
// opened with "trellis-replicate <log id> <after sequence>\r\n" on the memcached port.
//
//   main -> backup, binary frames, integers little-endian:
//     'R' seq:u64 op:u8 flags:u32 exptime:u32 cas:u64 timestamp:u32 key_len:u16
//         value_len:u32 key value       one mutation (cache/mutation.h), in order
//     'F' log_id:u64                    drop everything: a snapshot of that log follows
//     'E' seq:u64                       the snapshot is complete up to seq
//     'C' log_id:u64                    the consumer's log continues as this one (the
//                                       main was promoted from a backup of the consumer's
//                                       log: cache/replication_log.h); records follow
//     'H' token:u64 wall_ms:u64 lease_ms:u32 frozen:u8
//                                       a heartbeat, every 100 ms: the main's clock
//                                       (token: its steady clock in ns, for its lease;
//                                       wall_ms: Unix ms, for the backup's lag), its lease
//                                       length, and 1 if the master froze it (it takes no
//                                       write until the master gives it a new role)
//   backup -> main, text lines:
//     "ack <seq>\r\n"                   every record up to seq is applied
//     "ack <seq> <token>\r\n"           ... and the heartbeat `token` too (it renews the
//                                       main's lease, docs/cache.md "Fencing")
//
// Snapshot records are 'R' frames with op store and seq 0. Pure functions, no I/O; the
// parser is fuzzed (tests/fuzz).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cache/mutation.h"

namespace trellis::cache {

inline constexpr std::string_view kReplicateCommand = "trellis-replicate";

void AppendRecordFrame(const MutationRecord& record, std::string* out);
// The bytes AppendRecordFrame appends for `record`.
size_t RecordFrameSize(const MutationRecord& record);
void AppendSnapshotStart(uint64_t log_id, std::string* out);
void AppendSnapshotEnd(uint64_t sequence, std::string* out);
void AppendContinuation(uint64_t log_id, std::string* out);

struct Heartbeat {
  uint64_t token = 0;
  uint64_t wall_ms = 0;
  uint32_t lease_ms = 0;
  bool frozen = false;
};
void AppendHeartbeat(const Heartbeat& heartbeat, std::string* out);

struct ReplicationFrame {
  char type = 0;            // 'R', 'F', 'E', 'C' or 'H'.
  uint64_t value = 0;       // 'F', 'C': the log id; 'E': the sequence.
  MutationRecord record{};  // 'R': views into the input.
  Heartbeat heartbeat{};    // 'H'.
};

enum class FrameStatus { kOk, kNeedMore, kBad };

// Parses the first frame of `input`; on kOk, `*consumed` bytes made it.
FrameStatus ParseReplicationFrame(std::string_view input, ReplicationFrame* frame,
                                  size_t* consumed);

}  // namespace trellis::cache
