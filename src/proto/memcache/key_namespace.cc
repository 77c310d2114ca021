#include "proto/memcache/key_namespace.h"

#include <charconv>
#include <optional>
#include <vector>

#include "proto/memcache/base64.h"

namespace trellis::proto::memcache {

namespace {

struct Token {
  size_t begin;
  size_t end;
};

// The space-separated tokens of `line` (which ends before its "\r\n").
std::vector<Token> Tokenize(std::string_view line) {
  std::vector<Token> tokens;
  size_t pos = 0;
  while (pos < line.size()) {
    if (line[pos] == ' ') {
      ++pos;
      continue;
    }
    const size_t end = std::min(line.find(' ', pos), line.size());
    tokens.push_back({pos, end});
    pos = end;
  }
  return tokens;
}

// The first line of `text` without its newline, and the length with it (npos: no newline).
std::string_view LineOf(std::string_view text, size_t* length) {
  const size_t newline = text.find('\n');
  if (newline == std::string_view::npos) {
    *length = std::string_view::npos;
    return text;
  }
  *length = newline + 1;
  std::string_view line = text.substr(0, newline);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

std::string AddPrefix(std::string_view key, std::string_view prefix, bool base64) {
  if (!base64) {
    return std::string(prefix).append(key);
  }
  const std::optional<std::string> decoded = Base64Decode(key);
  return Base64Encode(std::string(prefix).append(decoded.value_or(std::string(key))));
}

// `key` without `prefix`; unchanged when it does not start with it.
std::string RemovePrefix(std::string_view key, std::string_view prefix, bool base64) {
  if (!base64) {
    return std::string(key.starts_with(prefix) ? key.substr(prefix.size()) : key);
  }
  const std::optional<std::string> decoded = Base64Decode(key);
  if (!decoded || !std::string_view(*decoded).starts_with(prefix)) {
    return std::string(key);
  }
  return Base64Encode(std::string_view(*decoded).substr(prefix.size()));
}

std::optional<size_t> ParseSize(std::string_view token) {
  size_t value = 0;
  const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (error != std::errc() || end != token.data() + token.size()) {
    return std::nullopt;
  }
  return value;
}

bool IsMetaReply(std::string_view code) {
  return code == "VA" || code == "HD" || code == "EN" || code == "NF" || code == "NS" ||
         code == "EX";
}

}  // namespace

bool NamesKeys(Command command) {
  switch (command) {
    case Command::kFlushAll:
    case Command::kVersion:
    case Command::kVerbosity:
    case Command::kQuit:
    case Command::kStats:
    case Command::kMetaNoop:
      return false;
    default:
      return true;
  }
}

std::string PrefixKeys(std::string_view raw, const Request& request, std::string_view prefix) {
  size_t line_length = 0;
  std::string_view line = LineOf(raw, &line_length);
  line = line.substr(0, line.find('\0'));  // As the parser reads it: a C string.
  const std::vector<Token> tokens = Tokenize(line);
  size_t first_key = 1;
  size_t end_key = 2;
  switch (request.command) {
    case Command::kGet:
    case Command::kGets:
      end_key = tokens.size();
      break;
    case Command::kGat:
    case Command::kGats:
      first_key = 2;
      end_key = tokens.size();
      break;
    default:
      break;
  }
  end_key = std::min(end_key, tokens.size());
  const bool base64 = IsMeta(request.command) && request.meta.Has('b');
  std::string out;
  out.reserve(raw.size() + prefix.size() * (end_key - std::min(first_key, end_key)) * 2);
  size_t copied = 0;
  for (size_t i = first_key; i < end_key; ++i) {
    out.append(raw.substr(copied, tokens[i].begin - copied));
    out.append(
        AddPrefix(line.substr(tokens[i].begin, tokens[i].end - tokens[i].begin), prefix, base64));
    copied = tokens[i].end;
  }
  out.append(raw.substr(copied));
  return out;
}

uint64_t TenantOfKey(std::string_view key) {
  const char* const end = key.data() + key.size();
  uint64_t tenant = 0;
  const auto [after_id, id_error] = std::from_chars(key.data(), end, tenant);
  if (id_error != std::errc() || after_id == key.data() || after_id == end || *after_id != '.') {
    return 0;
  }
  uint64_t generation = 0;
  const auto [after_generation, generation_error] = std::from_chars(after_id + 1, end, generation);
  if (generation_error != std::errc() || after_generation == after_id + 1 ||
      after_generation == end || *after_generation != ':') {
    return 0;
  }
  return tenant;
}

std::string StripKeyPrefix(std::string_view reply, std::string_view prefix) {
  std::string out;
  out.reserve(reply.size());
  while (!reply.empty()) {
    size_t line_length = 0;
    const std::string_view line = LineOf(reply, &line_length);
    if (line_length == std::string_view::npos) {
      break;
    }
    const std::vector<Token> tokens = Tokenize(line);
    auto token = [&line, &tokens](size_t i) {
      return line.substr(tokens[i].begin, tokens[i].end - tokens[i].begin);
    };
    const std::string_view code = tokens.empty() ? std::string_view() : token(0);
    // The key tokens to rewrite, each with how many bytes of it to keep first ("k").
    std::vector<std::pair<size_t, size_t>> keys;
    std::optional<size_t> data;  // The data block after the line, without its "\r\n".
    bool base64 = false;
    if (code == "VALUE" && tokens.size() >= 4) {
      keys.emplace_back(1, 0);
      data = ParseSize(token(3));
    } else if (IsMetaReply(code)) {
      const size_t first_flag = code == "VA" ? 2 : 1;
      if (code == "VA" && tokens.size() >= 2) {
        data = ParseSize(token(1));
      }
      for (size_t i = first_flag; i < tokens.size(); ++i) {
        base64 = base64 || token(i) == "b";
        if (token(i).starts_with('k')) {
          keys.emplace_back(i, 1);
        }
      }
    } else if (code == "ME" && tokens.size() >= 2) {
      keys.emplace_back(1, 0);
    }
    size_t copied = 0;
    for (const auto& [index, keep] : keys) {
      const Token& key = tokens[index];
      out.append(reply.substr(copied, key.begin + keep - copied));
      out.append(
          RemovePrefix(line.substr(key.begin + keep, key.end - key.begin - keep), prefix, base64));
      copied = key.end;
    }
    size_t whole = line_length;
    if (data && *data <= reply.size() - line_length) {
      whole = std::min(reply.size(), line_length + *data + 2);
    }
    out.append(reply.substr(copied, whole - copied));
    reply.remove_prefix(whole);
  }
  out.append(reply);
  return out;
}

}  // namespace trellis::proto::memcache
