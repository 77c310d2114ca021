// What a statement does to its connection's session that another connection would not
// have: the reasons a proxy that lends backend connections per statement must keep a
// client on one connection (ProxySQL documents the same list for its multiplexing).
// ScanStatements reads a COM_QUERY's SQL text (one statement or several separated by
// ";") with a light lexer: comments and quoted strings and identifiers are skipped, but
// the "/*! ... */" comments MariaDB executes are read as SQL.
//
// Open transactions are not found here: the server says so in its status flags
// (messages.h, server_status::kInTransaction), which also covers autocommit=0.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trellis::proto::mysql {

enum class SessionUse : uint8_t {
  kLockTables,         // LOCK TABLES.
  kNamedLock,          // GET_LOCK().
  kUserVariable,       // @name, set or read.
  kTemporaryTable,     // CREATE TEMPORARY TABLE.
  kPreparedStatement,  // PREPARE (SQL), or COM_STMT_PREPARE.
  kSessionVariable,    // SET (a session variable, NAMES, TRANSACTION ...), USE.
  kLastResult,         // LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT(), SQL_CALC_FOUND_ROWS.
  kTransaction,        // An open transaction (from the status flags, never the text).
};

inline constexpr size_t kSessionUses = 8;

// The metrics label of each ("lock_tables", "named_lock", ...).
std::string_view SessionUseName(SessionUse use);

// A set of SessionUse.
class SessionUses {
 public:
  void Add(SessionUse use) { bits_ |= Bit(use); }
  bool Has(SessionUse use) const { return (bits_ & Bit(use)) != 0; }
  bool empty() const { return bits_ == 0; }
  uint8_t bits() const { return bits_; }

 private:
  static uint8_t Bit(SessionUse use) { return static_cast<uint8_t>(1u << static_cast<int>(use)); }
  uint8_t bits_ = 0;
};

SessionUses ScanStatements(std::string_view sql);

// Whether `sql` is one SET of session variables alone ("SET NAMES utf8mb4", "SET SESSION
// sql_mode = 'ANSI', autocommit = 1"): what a proxy can run again, as it is, on another
// connection to give it the same session. Not: SET GLOBAL (no session effect), SET
// TRANSACTION without SESSION (the next transaction only), SET STATEMENT ... FOR (one
// statement), SET PASSWORD, SET ROLE, SET DEFAULT ROLE, anything with a user variable,
// or several statements.
bool IsReplayableSet(std::string_view sql);

// Whether `sql` is one SELECT that only reads, which a replica can answer as well as the
// primary: not FOR UPDATE, LOCK IN SHARE MODE or FOR SHARE (locks), INTO (writes a
// variable or a file), nor a sequence's NEXTVAL, SETVAL or NEXT VALUE; no ';' (several
// statements). It looks at the text only, so a word in a string counts too: a read
// taken for more is sent to the primary, never the other way.
bool IsPlainRead(std::string_view sql);

// The schema of a lone "USE name" (name plain or `quoted`); nullopt for anything else.
std::optional<std::string> UsedSchema(std::string_view sql);

}  // namespace trellis::proto::mysql
