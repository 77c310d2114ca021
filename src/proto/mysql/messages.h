// The MySQL command phase's small messages: the command byte a client's message starts
// with, the server's OK, ERR and EOF packets, and the status flags they carry (whether a
// transaction is open, whether more results follow). Parsers and encoders of payloads;
// framing is packet.h's.
//
// EOF packets are spoken as before CLIENT_DEPRECATE_EOF (the proxy never asks for it, so
// every result set ends in a real EOF packet): an EOF is a payload of fewer than 9 bytes
// starting with 0xFE; a longer one starting so is a row.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trellis::proto::mysql {

enum class Command : uint8_t {
  kSleep = 0x00,
  kQuit = 0x01,
  kInitDb = 0x02,
  kQuery = 0x03,
  kFieldList = 0x04,
  kCreateDb = 0x05,
  kDropDb = 0x06,
  kRefresh = 0x07,
  kShutdown = 0x08,
  kStatistics = 0x09,
  kProcessInfo = 0x0A,
  kConnect = 0x0B,
  kProcessKill = 0x0C,
  kDebug = 0x0D,
  kPing = 0x0E,
  kTime = 0x0F,
  kDelayedInsert = 0x10,
  kChangeUser = 0x11,
  kBinlogDump = 0x12,
  kTableDump = 0x13,
  kConnectOut = 0x14,
  kRegisterSlave = 0x15,
  kStmtPrepare = 0x16,
  kStmtExecute = 0x17,
  kStmtSendLongData = 0x18,
  kStmtClose = 0x19,
  kStmtReset = 0x1A,
  kSetOption = 0x1B,
  kStmtFetch = 0x1C,
  kDaemon = 0x1D,
  kBinlogDumpGtid = 0x1E,
  kResetConnection = 0x1F,
};

// Server status flags (OK and EOF packets).
namespace server_status {
inline constexpr uint16_t kInTransaction = 0x0001;
inline constexpr uint16_t kAutocommit = 0x0002;
inline constexpr uint16_t kMoreResults = 0x0008;
inline constexpr uint16_t kCursorExists = 0x0040;
inline constexpr uint16_t kLastRowSent = 0x0080;
inline constexpr uint16_t kInReadOnlyTransaction = 0x2000;
inline constexpr uint16_t kSessionStateChanged = 0x4000;
}  // namespace server_status

struct OkPacket {
  uint64_t affected_rows = 0;
  uint64_t last_insert_id = 0;
  uint16_t status = 0;
  uint16_t warnings = 0;
  std::string_view info;  // Points into the payload.
};

// An OK packet: first byte 0x00 (0xFE where an OK stands for an EOF).
bool ParseOk(std::string_view payload, OkPacket* ok);
void AppendOk(std::string& payload, const OkPacket& ok);

struct ErrPacket {
  uint16_t code = 0;
  std::string_view sql_state;  // Five characters; empty if the server sent none.
  std::string_view message;
};

// An ERR packet: first byte 0xFF, a code, "#" and a SQLSTATE, a message.
bool ParseErr(std::string_view payload, ErrPacket* err);
void AppendErr(std::string& payload, uint16_t code, std::string_view sql_state,
               std::string_view message);

struct EofPacket {
  uint16_t warnings = 0;
  uint16_t status = 0;
};

bool IsEof(std::string_view payload);
bool ParseEof(std::string_view payload, EofPacket* eof);
void AppendEof(std::string& payload, const EofPacket& eof);

}  // namespace trellis::proto::mysql
