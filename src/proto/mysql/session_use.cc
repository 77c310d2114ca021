#include "proto/mysql/session_use.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace trellis::proto::mysql {
namespace {

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool SameWord(std::string_view word, std::string_view upper) {
  if (word.size() != upper.size()) {
    return false;
  }
  for (size_t i = 0; i < word.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(word[i])) != upper[i]) {
      return false;
    }
  }
  return true;
}

// Reads the SQL as a stream of words and punctuation, skipping comments and quoted text.
class Lexer {
 public:
  explicit Lexer(std::string_view sql) : sql_(sql) {}

  // The next token: a word, "@name" (a user variable), "@@" (a system variable's
  // prefix) or one punctuation character; empty at the end.
  std::string_view Next() {
    const size_t before = pos_;
    SkipSpaceAndComments();
    spaced_ = pos_ != before;
    if (pos_ >= sql_.size()) {
      return {};
    }
    const size_t start = pos_;
    const char c = sql_[pos_];
    if (c == '\'' || c == '"' || c == '`') {
      SkipQuoted(c);
      return sql_.substr(start, 1);  // The quote stands for the whole literal.
    }
    if (c == '@') {
      if (pos_ + 1 < sql_.size() && sql_[pos_ + 1] == '@') {
        pos_ += 2;
        return sql_.substr(start, 2);
      }
      ++pos_;
      while (pos_ < sql_.size() && (IsWordChar(sql_[pos_]) || sql_[pos_] == '.')) {
        ++pos_;
      }
      // @'name' and @`name` are user variables too.
      if (pos_ == start + 1 && pos_ < sql_.size() &&
          (sql_[pos_] == '\'' || sql_[pos_] == '"' || sql_[pos_] == '`')) {
        SkipQuoted(sql_[pos_]);
      }
      return sql_.substr(start, pos_ - start);
    }
    if (IsWordChar(c)) {
      while (pos_ < sql_.size() && IsWordChar(sql_[pos_])) {
        ++pos_;
      }
      return sql_.substr(start, pos_ - start);
    }
    ++pos_;
    return sql_.substr(start, 1);
  }

 private:
  void SkipQuoted(char quote) {
    ++pos_;
    while (pos_ < sql_.size()) {
      const char c = sql_[pos_++];
      if (c == '\\' && quote != '`') {
        ++pos_;
      } else if (c == quote) {
        if (pos_ < sql_.size() && sql_[pos_] == quote) {
          ++pos_;  // A doubled quote is one quote character.
        } else {
          return;
        }
      }
    }
  }

  void SkipSpaceAndComments() {
    while (pos_ < sql_.size()) {
      const std::string_view rest = sql_.substr(pos_);
      if (std::isspace(static_cast<unsigned char>(rest[0])) != 0) {
        ++pos_;
      } else if (rest.starts_with("/*!") || rest.starts_with("/*M!")) {
        // Executed: skip the marker and the version digits, read what follows as SQL.
        pos_ += rest[2] == 'M' ? 4 : 3;
        while (pos_ < sql_.size() && std::isdigit(static_cast<unsigned char>(sql_[pos_])) != 0) {
          ++pos_;
        }
      } else if (rest.starts_with("*/")) {
        pos_ += 2;  // The end of an executed comment.
      } else if (rest.starts_with("/*")) {
        const size_t end = rest.find("*/", 2);
        pos_ = end == std::string_view::npos ? sql_.size() : pos_ + end + 2;
      } else if (rest[0] == '#' ||
                 (rest.starts_with("--") &&
                  (rest.size() == 2 || std::isspace(static_cast<unsigned char>(rest[2])) != 0))) {
        const size_t end = rest.find('\n');
        pos_ = end == std::string_view::npos ? sql_.size() : pos_ + end + 1;
      } else {
        return;
      }
    }
  }

  std::string_view sql_;
  size_t pos_ = 0;
  bool spaced_ = false;

 public:
  // Whether space or a comment came before the last token.
  bool spaced() const { return spaced_; }
};

}  // namespace

std::string_view SessionUseName(SessionUse use) {
  switch (use) {
    case SessionUse::kLockTables:
      return "lock_tables";
    case SessionUse::kNamedLock:
      return "named_lock";
    case SessionUse::kUserVariable:
      return "user_variable";
    case SessionUse::kTemporaryTable:
      return "temporary_table";
    case SessionUse::kPreparedStatement:
      return "prepared_statement";
    case SessionUse::kSessionVariable:
      return "session_variable";
    case SessionUse::kLastResult:
      return "last_result";
    case SessionUse::kTransaction:
      return "transaction";
  }
  return "unknown";
}

SessionUses ScanStatements(std::string_view sql) {
  SessionUses uses;
  Lexer lexer(sql);
  std::string_view previous;  // The token before, for "LOCK TABLES", "GET_LOCK (".
  std::string_view first;     // The statement's first word, for "CREATE ... TEMPORARY".
  bool statement_start = true;
  for (std::string_view token = lexer.Next(); !token.empty(); token = lexer.Next()) {
    if (token == ";") {
      statement_start = true;
      previous = {};
      continue;
    }
    if (statement_start) {
      first = token;
    }
    // 'bob'@'localhost', root@localhost: an account's host, not a variable.
    const bool account =
        !lexer.spaced() && !previous.empty() &&
        (previous == "'" || previous == "\"" || previous == "`" || IsWordChar(previous.back()));
    if (token.size() > 1 && token[0] == '@' && token[1] != '@') {
      if (!account) {
        uses.Add(SessionUse::kUserVariable);
      }
    } else if (statement_start && (SameWord(token, "SET") || SameWord(token, "USE"))) {
      uses.Add(SessionUse::kSessionVariable);
    } else if (statement_start && SameWord(token, "PREPARE")) {
      uses.Add(SessionUse::kPreparedStatement);
    } else if (SameWord(previous, "LOCK") &&
               (SameWord(token, "TABLES") || SameWord(token, "TABLE"))) {
      uses.Add(SessionUse::kLockTables);
    } else if (SameWord(first, "CREATE") && SameWord(token, "TEMPORARY")) {
      uses.Add(SessionUse::kTemporaryTable);
    } else if (SameWord(token, "SQL_CALC_FOUND_ROWS")) {
      uses.Add(SessionUse::kLastResult);
    } else if (token == "(") {
      if (SameWord(previous, "GET_LOCK")) {
        uses.Add(SessionUse::kNamedLock);
      } else if (SameWord(previous, "LAST_INSERT_ID") || SameWord(previous, "FOUND_ROWS") ||
                 SameWord(previous, "ROW_COUNT")) {
        uses.Add(SessionUse::kLastResult);
      }
    }
    statement_start = false;
    previous = token;
  }
  return uses;
}

}  // namespace trellis::proto::mysql

namespace trellis::proto::mysql {

bool IsReplayableSet(std::string_view sql) {
  Lexer lexer(sql);
  if (!SameWord(lexer.Next(), "SET")) {
    return false;
  }
  const std::string_view second = lexer.Next();
  // (SET SESSION TRANSACTION ... is the session's default: replayable.)
  for (const std::string_view refused :
       {"GLOBAL", "TRANSACTION", "STATEMENT", "PASSWORD", "ROLE", "DEFAULT"}) {
    if (SameWord(second, refused)) {
      return false;
    }
  }
  std::string_view previous;
  for (std::string_view token = second; !token.empty(); token = lexer.Next()) {
    if (token == ";") {
      if (!lexer.Next().empty()) {
        return false;  // Another statement follows.
      }
      break;
    }
    if (token.size() > 1 && token[0] == '@' && token[1] != '@') {
      return false;
    }
    // GLOBAL x or @@GLOBAL.x anywhere in a list of assignments.
    if (SameWord(token, "GLOBAL")) {
      return false;
    }
    previous = token;
  }
  const SessionUses uses = ScanStatements(sql);
  return !uses.Has(SessionUse::kLastResult) && !uses.Has(SessionUse::kNamedLock);
}

std::optional<std::string> UsedSchema(std::string_view sql) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t start = sql.find_first_not_of(kSpace);
  if (start == std::string_view::npos || sql.size() - start < 4 ||
      !SameWord(sql.substr(start, 3), "USE") ||
      kSpace.find(sql[start + 3]) == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view rest = sql.substr(start + 3);
  rest.remove_prefix(std::min(rest.size(), rest.find_first_not_of(kSpace)));
  const size_t end = rest.find_last_not_of(std::string(kSpace) + ";");
  if (end == std::string_view::npos) {
    return std::nullopt;
  }
  rest = rest.substr(0, end + 1);
  std::string name;
  if (rest.size() >= 2 && rest.front() == '`' && rest.back() == '`') {
    // `a``b` is the name a`b.
    for (size_t i = 1; i + 1 < rest.size(); ++i) {
      if (rest[i] == '`') {
        if (rest[i + 1] != '`' || i + 2 >= rest.size()) {
          return std::nullopt;
        }
        ++i;
      }
      name.push_back(rest[i]);
    }
  } else {
    for (const char c : rest) {
      if (!IsWordChar(c)) {
        return std::nullopt;
      }
    }
    name = rest;
  }
  if (name.empty()) {
    return std::nullopt;
  }
  return name;
}

bool IsPlainRead(std::string_view sql) {
  std::string upper;
  upper.reserve(sql.size());
  for (const char c : sql) {
    upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  const size_t start = upper.find_first_not_of(" \t\r\n");
  if (start == std::string::npos || upper.compare(start, 6, "SELECT") != 0 ||
      upper.size() == start + 6 ||
      !(std::isspace(static_cast<unsigned char>(upper[start + 6])) || upper[start + 6] == '(')) {
    return false;
  }
  for (const std::string_view more : {";", "FOR UPDATE", "LOCK IN SHARE MODE", "FOR SHARE", "INTO",
                                      "NEXTVAL", "SETVAL", "NEXT VALUE"}) {
    if (upper.find(more) != std::string::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace trellis::proto::mysql
