// GtidPosition: a MariaDB replication position in global transaction ids, as
// @@gtid_current_pos, @@gtid_binlog_pos and SHOW SLAVE STATUS's Gtid_IO_Pos give it:
// "0-1-42,1-2-7", for each replication domain the server id and sequence number of the
// last transaction. CDB's manager compares servers' positions to promote the most
// advanced one and to know whether one has everything another had (db/failover_plan.h).
//
// Within a domain, sequence numbers grow across servers (gtid_strict_mode, which CDB's
// servers run with), so a domain's sequence number alone orders two positions.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace trellis::proto::mysql {

struct Gtid {
  uint32_t server_id = 0;
  uint64_t sequence = 0;

  friend bool operator==(const Gtid&, const Gtid&) = default;
};

struct GtidPosition {
  std::map<uint32_t, Gtid> domains;  // Domain id -> its last transaction.

  // Every domain's transactions of `other` are in this one: its sequence number there is
  // at least `other`'s.
  bool Covers(const GtidPosition& other) const;
  // Per domain, the later of the two.
  void Merge(const GtidPosition& other);
  // Transactions in all, as the sum of the domains' sequence numbers (for choosing the
  // most advanced of servers none of which covers the others).
  uint64_t Total() const;

  friend bool operator==(const GtidPosition&, const GtidPosition&) = default;
};

// "D-S-N" items separated by commas (spaces and newlines around them allowed, as
// SHOW SLAVE STATUS wraps them); "" is the empty position. nullopt for anything else,
// or a domain given twice.
std::optional<GtidPosition> ParseGtidPosition(std::string_view text);
// The same text: "0-1-42,1-2-7", in the order of the domains.
std::string FormatGtidPosition(const GtidPosition& position);

}  // namespace trellis::proto::mysql
