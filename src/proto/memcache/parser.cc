#include "proto/memcache/parser.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include "proto/memcache/base64.h"
#include "proto/memcache/number.h"

namespace trellis::proto::memcache {

bool MetaFlags::Add(std::string_view token) {
  if (token.empty() || !IsFlag(token[0])) {
    return false;
  }
  present_ |= uint64_t{1} << Index(token[0]);
  tokens_[Index(token[0])] = token.substr(1);
  raw_.push_back(token);
  return true;
}

void MetaFlags::Clear() {
  present_ = 0;
  raw_.clear();
}

void Request::Clear() {
  key = {};
  keys.clear();
  client_flags = 0;
  exptime = 0;
  cas_unique = 0;
  delta = 0;
  delay = 0;
  noreply = false;
  value = {};
  stats_group = {};
  meta.Clear();
}

namespace {

// memcached tokenises at most 23 tokens per pass; its command checks count them plus a
// terminal token, so a line with more than 23 tokens counts as 24.
constexpr size_t kMaxTokens = 24;
// A meta command with more tokens than this is refused (memcached's MFLAG_MAX_OPT_LENGTH).
constexpr size_t kMetaMaxTokens = 20;

// The longest opaque token (O flag, the O included) a meta command may carry.
constexpr size_t kMaxOpaqueLength = 32;

constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument";
constexpr std::string_view kBadToken = "CLIENT_ERROR bad token in command line format";

// memcached's safe_strtoul(), as used for flags: safe_strtoull narrowed to 32 bits.
bool SafeStrtoul(std::string_view token, uint32_t* out) {
  uint64_t wide = 0;
  if (!SafeStrtoull(token, &wide)) {
    return false;
  }
  *out = static_cast<uint32_t>(wide);
  return true;
}

// memcached's safe_strtol(): strtol over the whole token (leading whitespace and sign
// allowed), narrowed to 32 bits as memcached narrows it, so that the same inputs are
// accepted.
bool SafeStrtol(std::string_view token, int32_t* out) {
  char buf[64];
  if (token.size() >= sizeof(buf)) {
    return false;
  }
  std::memcpy(buf, token.data(), token.size());
  buf[token.size()] = '\0';
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(buf, &end, 10);
  if (errno == ERANGE || end == buf) {
    return false;
  }
  *out = static_cast<int32_t>(value);
  return *end == '\0' || std::isspace(static_cast<unsigned char>(*end));
}

struct Tokens {
  std::string_view items[kMaxTokens];
  size_t size = 0;        // Tokens found, at most kMaxTokens - 1.
  std::string_view rest;  // The unsplit remainder when the line had more tokens.
  // memcached's ntokens: the tokens plus the terminal one.
  size_t count() const { return size + 1; }
  std::string_view operator[](size_t i) const { return i < size ? items[i] : std::string_view(); }
};

// Splits at spaces (runs of spaces count as one), keeping at most kMaxTokens - 1 tokens.
Tokens Tokenize(std::string_view line) {
  Tokens tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') {
      ++i;
    }
    if (i == line.size()) {
      break;
    }
    if (tokens.size == kMaxTokens - 1) {
      tokens.rest = line.substr(i);
      break;
    }
    const size_t end = std::min(line.find(' ', i), line.size());
    tokens.items[tokens.size++] = line.substr(i, end - i);
    i = end;
  }
  return tokens;
}

// Every key of a get line, re-tokenising past the first 23 tokens as memcached does.
void CollectKeys(const Tokens& tokens, size_t first, std::vector<std::string_view>* keys) {
  for (size_t i = first; i < tokens.size; ++i) {
    keys->push_back(tokens.items[i]);
  }
  std::string_view rest = tokens.rest;
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(start);
    const size_t end = std::min(rest.find(' '), rest.size());
    keys->push_back(rest.substr(0, end));
    rest.remove_prefix(end);
  }
}

bool LastTokenIsNoreply(const Tokens& tokens) {
  return tokens.size > 0 && tokens.items[tokens.size - 1] == "noreply";
}

ParseResult Ok(size_t consumed) { return {ParseStatus::kOk, consumed, {}, 0}; }

ParseResult Error(size_t consumed, std::string_view message, size_t swallow = 0) {
  return {ParseStatus::kError, consumed, message, swallow};
}

// Per memcached's item_size_ok(): the value, key and item header must fit one item.
bool FitsItem(size_t key_length, size_t value_length, size_t max_item_size) {
  constexpr size_t kItemOverhead = 56;  // memcached's item header with CAS.
  return value_length + key_length + kItemOverhead <= max_item_size;
}

// Reads the data block of a storage command whose line is `line_length` bytes.
ParseResult ReadDataBlock(std::string_view input, size_t line_length, size_t value_length,
                          Request* request) {
  const size_t total = line_length + value_length + 2;
  if (input.size() < total) {
    return ParseResult{ParseStatus::kNeedMore, 0, {}, 0};
  }
  if (input.substr(line_length + value_length, 2) != "\r\n") {
    return Error(total, "CLIENT_ERROR bad data chunk");
  }
  request->value = input.substr(line_length, value_length);
  return Ok(total);
}

ParseResult ParseStorage(const Tokens& tokens, std::string_view input, size_t line_length,
                         size_t max_item_size, Request* request) {
  const bool is_cas = request->command == Command::kCas;
  if (tokens.count() != (is_cas ? 7u : 6u) && tokens.count() != (is_cas ? 8u : 7u)) {
    return Error(line_length, "ERROR");
  }
  request->noreply = LastTokenIsNoreply(tokens);
  request->key = tokens[1];
  if (request->key.size() > kMaxKeyLength) {
    return Error(line_length, kBadFormat);
  }
  int32_t exptime = 0;
  int32_t length = 0;
  if (!SafeStrtoul(tokens[2], &request->client_flags) || !SafeStrtol(tokens[3], &exptime) ||
      !SafeStrtol(tokens[4], &length)) {
    return Error(line_length, kBadFormat);
  }
  request->exptime = exptime;
  if (is_cas && !SafeStrtoull(tokens[5], &request->cas_unique)) {
    return Error(line_length, kBadFormat);
  }
  if (length < 0 || length > INT_MAX - 2) {
    return Error(line_length, kBadFormat);
  }
  if (!FitsItem(request->key.size(), static_cast<size_t>(length), max_item_size)) {
    return {ParseStatus::kTooLarge, line_length, {}, static_cast<size_t>(length) + 2};
  }
  return ReadDataBlock(input, line_length, static_cast<size_t>(length), request);
}

ParseResult ParseGet(const Tokens& tokens, size_t line_length, Request* request) {
  if (tokens.count() < 3) {
    return Error(line_length, "ERROR");
  }
  size_t first_key = 1;
  if (request->command == Command::kGat || request->command == Command::kGats) {
    int32_t exptime = 0;
    if (!SafeStrtol(tokens[1], &exptime)) {
      return Error(line_length, kBadExptime);
    }
    request->exptime = exptime;
    first_key = 2;
  }
  CollectKeys(tokens, first_key, &request->keys);
  for (std::string_view key : request->keys) {
    if (key.size() > kMaxKeyLength) {
      return Error(line_length, kBadFormat);
    }
  }
  request->key = request->keys.empty() ? std::string_view() : request->keys.front();
  return Ok(line_length);
}

// memcached's _meta_flag_preparse(): checks and records every flag after `first`.
// Returns the error reply, or "" when the flags are good.
std::string_view ParseMetaFlags(const Tokens& tokens, size_t first, Request* request) {
  std::string_view error;
  for (size_t i = first; i < tokens.size; ++i) {
    const std::string_view token = tokens.items[i];
    const unsigned char flag = static_cast<unsigned char>(token[0]);
    if (flag >= 127 || (MetaFlags::IsFlag(flag) && request->meta.Has(flag))) {
      return "CLIENT_ERROR duplicate flag";
    }
    int32_t i32 = 0;
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    switch (flag) {
      case 'b': {
        std::optional<std::string> decoded = Base64Decode(request->key);
        if (!decoded) {
          error = "CLIENT_ERROR error decoding key";
        } else {
          request->decoded_key_storage = std::move(*decoded);
          request->key = request->decoded_key_storage;
        }
        break;
      }
      case 'N':
      case 'T':
      case 'R':
        if (!SafeStrtol(token.substr(1), &i32)) {
          error = kBadToken;
        }
        break;
      case 'F':
        if (!SafeStrtoul(token.substr(1), &u32)) {
          error = kBadFormat;
        }
        break;
      case 'C':
      case 'E':
        if (!SafeStrtoull(token.substr(1), &u64)) {
          error = kBadToken;
        }
        break;
      case 'M':
        if (token.size() != 2) {
          error = "CLIENT_ERROR incorrect length for M token";
        }
        break;
      case 'J':
        if (!SafeStrtoull(token.substr(1), &u64)) {
          error = "CLIENT_ERROR invalid numeric initial value";
        }
        break;
      case 'D':
        if (!SafeStrtoull(token.substr(1), &u64)) {
          error = "CLIENT_ERROR invalid numeric delta value";
        }
        break;
      case 'O':
      case 'P':
      case 'L':
      case 'k':
      case 's':
      case 't':
      case 'c':
      case 'f':
      case 'v':
      case 'h':
      case 'u':
      case 'q':
      case 'l':
      case 'I':
        break;
      case 'X':
        // Trellis: a slot move's store (docs/scale-out.md); ms only.
        if (request->command != Command::kMetaSet) {
          return "CLIENT_ERROR invalid flag";
        }
        break;
      default:
        return "CLIENT_ERROR invalid flag";
    }
    request->meta.Add(token);
  }
  return error;
}

ParseResult ParseMeta(char which, const Tokens& tokens, std::string_view input, size_t line_length,
                      size_t max_item_size, Request* request) {
  switch (which) {
    case 'n':
      request->command = Command::kMetaNoop;
      return Ok(line_length);
    case 'e':
      request->command = Command::kMetaDebug;
      if (tokens.count() < 3 || tokens[1].size() > kMaxKeyLength) {
        return Error(line_length, kBadFormat);
      }
      request->key = tokens[1];
      if (tokens.count() >= 4 && tokens[2] == "b") {
        std::optional<std::string> decoded = Base64Decode(request->key);
        if (!decoded) {
          return Error(line_length, kBadFormat);
        }
        request->decoded_key_storage = std::move(*decoded);
        request->key = request->decoded_key_storage;
        request->meta.Add("b");
      }
      return Ok(line_length);
    case 'g':
      request->command = Command::kMetaGet;
      break;
    case 'd':
      request->command = Command::kMetaDelete;
      break;
    case 'a':
      request->command = Command::kMetaArithmetic;
      break;
    case 's':
      request->command = Command::kMetaSet;
      break;
    default:
      return Error(line_length, "ERROR");
  }
  if (tokens.count() < 3) {
    return Error(line_length, "ERROR");
  }
  request->key = tokens[1];
  if (request->key.size() > kMaxKeyLength) {
    return Error(line_length, kBadFormat);
  }
  if (request->command != Command::kMetaSet) {
    // memcached words these errors differently for mg than for md and ma.
    const bool is_get = request->command == Command::kMetaGet;
    if (tokens.count() > kMetaMaxTokens) {
      return Error(line_length, is_get ? "CLIENT_ERROR options flags are too long"
                                       : "CLIENT_ERROR options flags too long");
    }
    const std::string_view error = ParseMetaFlags(tokens, 2, request);
    if (!error.empty()) {
      return Error(line_length, is_get ? error : "CLIENT_ERROR invalid or duplicate flag");
    }
    if (request->meta.Has('O') && request->meta.Token('O').size() + 1 > kMaxOpaqueLength) {
      // memcached checks this while replying; refusing first means nothing has changed.
      return Error(line_length, "CLIENT_ERROR opaque token too long");
    }
    if (request->command == Command::kMetaArithmetic && request->meta.Has('M') &&
        std::string_view("I+D-").find(request->meta.Token('M')[0]) == std::string_view::npos) {
      return Error(line_length, "CLIENT_ERROR invalid mode for ma M token");
    }
    request->noreply = request->meta.Has('q');
    return Ok(line_length);
  }
  // ms <key> <datalen> <flags>*\r\n<data>\r\n; after an error the data block is swallowed.
  if (tokens.count() == 3) {
    return Error(line_length, kBadFormat);
  }
  if (tokens.count() > kMetaMaxTokens) {
    return Error(line_length, "CLIENT_ERROR options flags too long");
  }
  int32_t length = 0;
  if (!SafeStrtol(tokens[2], &length) || length < 0 || length > INT_MAX - 2) {
    return Error(line_length, kBadFormat);
  }
  const size_t swallow = static_cast<size_t>(length) + 2;
  std::string_view error = ParseMetaFlags(tokens, 3, request);
  if (error.empty() && request->meta.Has('O') &&
      request->meta.Token('O').size() + 1 > kMaxOpaqueLength) {
    error = "CLIENT_ERROR opaque token too long";
  }
  if (error.empty() && request->meta.Has('M') &&
      std::string_view("EAPRS").find(request->meta.Token('M')[0]) == std::string_view::npos) {
    error = "CLIENT_ERROR invalid mode for ms M token";
  }
  if (!error.empty()) {
    return Error(line_length, error, swallow);
  }
  request->noreply = request->meta.Has('q');
  if (!FitsItem(request->key.size(), static_cast<size_t>(length), max_item_size)) {
    return {ParseStatus::kTooLarge, line_length, {}, swallow};
  }
  return ReadDataBlock(input, line_length, static_cast<size_t>(length), request);
}

constexpr Command kStorageCommands[] = {Command::kSet,    Command::kAdd,     Command::kReplace,
                                        Command::kAppend, Command::kPrepend, Command::kCas};
constexpr Command kGetCommands[] = {Command::kGet, Command::kGets, Command::kGat, Command::kGats};

}  // namespace

ParseResult ParseRequest(std::string_view input, size_t max_item_size, Request* request) {
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos) {
    if (input.size() > kMaxLineLength) {
      const size_t start = input.find_first_not_of(' ');
      const std::string_view head = input.substr(std::min(start, input.size()));
      const bool is_get = head.starts_with("get ") || head.starts_with("gets ");
      if (start > 100 || !is_get || input.size() > kMaxGetLineLength) {
        return ParseResult{ParseStatus::kClose, 0, {}, 0};
      }
    }
    return ParseResult{ParseStatus::kNeedMore, 0, {}, 0};
  }
  request->Clear();
  const size_t line_length = newline + 1;
  std::string_view line = input.substr(0, newline);
  if (line.size() > 1 && line.back() == '\r') {
    line.remove_suffix(1);
  }
  line = line.substr(0, line.find('\0'));  // memcached reads the line as a C string.

  const Tokens tokens = Tokenize(line);
  if (tokens.size == 0 || tokens[0].size() < 2) {
    return Error(line_length, "ERROR");
  }
  const std::string_view name = tokens[0];
  if (name.size() == 2 && name[0] == 'm') {
    return ParseMeta(name[1], tokens, input, line_length, max_item_size, request);
  }
  for (const Command get : kGetCommands) {
    if (name == CommandName(get) || (get == Command::kGet && name == "bget")) {
      request->command = get;
      return ParseGet(tokens, line_length, request);
    }
  }
  for (const Command storage : kStorageCommands) {
    if (name == CommandName(storage)) {
      request->command = storage;
      return ParseStorage(tokens, input, line_length, max_item_size, request);
    }
  }
  if (name == "delete") {
    request->command = Command::kDelete;
    if (tokens.count() < 3 || tokens.count() > 5) {
      return Error(line_length, "ERROR");
    }
    if (tokens.count() > 3) {
      const bool hold_is_zero = tokens[2] == "0";
      request->noreply = LastTokenIsNoreply(tokens);
      const bool valid = (tokens.count() == 4 && (hold_is_zero || request->noreply)) ||
                         (tokens.count() == 5 && hold_is_zero && request->noreply);
      if (!valid) {
        return Error(line_length,
                     "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
      }
    }
    request->key = tokens[1];
    if (request->key.size() > kMaxKeyLength) {
      return Error(line_length, kBadFormat);
    }
    return Ok(line_length);
  }
  if (name == "incr" || name == "decr" || name == "touch") {
    request->command = name == "incr"   ? Command::kIncr
                       : name == "decr" ? Command::kDecr
                                        : Command::kTouch;
    if (tokens.count() != 4 && tokens.count() != 5) {
      return Error(line_length, "ERROR");
    }
    request->noreply = LastTokenIsNoreply(tokens);
    request->key = tokens[1];
    if (request->key.size() > kMaxKeyLength) {
      return Error(line_length, kBadFormat);
    }
    if (request->command == Command::kTouch) {
      int32_t exptime = 0;
      if (!SafeStrtol(tokens[2], &exptime)) {
        return Error(line_length, kBadExptime);
      }
      request->exptime = exptime;
    } else if (!SafeStrtoull(tokens[2], &request->delta)) {
      return Error(line_length, "CLIENT_ERROR invalid numeric delta argument");
    }
    return Ok(line_length);
  }
  if (name == "flush_all") {
    request->command = Command::kFlushAll;
    if (tokens.count() < 2 || tokens.count() > 4) {
      return Error(line_length, "ERROR");
    }
    request->noreply = LastTokenIsNoreply(tokens);
    if (tokens.count() != (request->noreply ? 3u : 2u)) {
      int32_t delay = 0;
      if (!SafeStrtol(tokens[1], &delay)) {
        return Error(line_length, kBadExptime);
      }
      request->delay = delay;
    }
    return Ok(line_length);
  }
  if (name == "verbosity") {
    request->command = Command::kVerbosity;
    if (tokens.count() != 3 && tokens.count() != 4) {
      return Error(line_length, "ERROR");
    }
    request->noreply = LastTokenIsNoreply(tokens);
    uint32_t level = 0;
    if (!SafeStrtoul(tokens[1], &level)) {
      return Error(line_length, kBadFormat);
    }
    request->delay = level;
    return Ok(line_length);
  }
  if (name == "version") {
    request->command = Command::kVersion;
    return Ok(line_length);
  }
  if (name == "quit") {
    request->command = Command::kQuit;
    return Ok(line_length);
  }
  if (name == "stats") {
    request->command = Command::kStats;
    request->stats_group = tokens[1];
    return Ok(line_length);
  }
  if (name == "shutdown") {
    return Error(line_length, "ERROR: shutdown not enabled");
  }
  if (tokens[tokens.size - 1].starts_with("HTTP/")) {
    return ParseResult{ParseStatus::kClose, line_length, {}, 0};
  }
  return Error(line_length, "ERROR");
}

void AppendParseError(const Request& request, std::string_view error, std::string* out) {
  if (!request.noreply || IsMeta(request.command)) {
    out->append(error);
    out->append("\r\n");
  }
}

void AppendTooLarge(const Request& request, std::string* out) {
  if (!request.noreply || request.command == Command::kMetaSet) {
    out->append("SERVER_ERROR object too large for cache\r\n");
  }
}

}  // namespace trellis::proto::memcache
