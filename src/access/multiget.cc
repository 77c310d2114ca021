#include "access/multiget.h"

#include <charconv>

namespace trellis::access {

using proto::memcache::Command;

namespace {

constexpr std::string_view kEnd = "END\r\n";

std::string_view Verb(Command command) {
  switch (command) {
    case Command::kGets:
      return "gets";
    case Command::kGat:
      return "gat";
    case Command::kGats:
      return "gats";
    default:
      return "get";
  }
}

// One VALUE block of a reply: its key and all of its bytes.
struct ValueBlock {
  std::string_view key;
  std::string_view bytes;
};

// Splits a VALUE...END reply into its blocks; false if it is not one.
bool SplitValues(std::string_view reply, std::vector<ValueBlock>* blocks) {
  while (reply.substr(0, 6) == "VALUE ") {
    const size_t line_end = reply.find("\r\n");
    if (line_end == std::string_view::npos) {
      return false;
    }
    // VALUE <key> <flags> <bytes> [<cas>]
    const std::string_view line = reply.substr(6, line_end - 6);
    const size_t key_end = line.find(' ');
    const size_t flags_end = line.find(' ', key_end + 1);
    if (key_end == std::string_view::npos || flags_end == std::string_view::npos) {
      return false;
    }
    const std::string_view size_token =
        line.substr(flags_end + 1, line.find(' ', flags_end + 1) - (flags_end + 1));
    size_t size = 0;
    auto [end, ec] =
        std::from_chars(size_token.data(), size_token.data() + size_token.size(), size);
    const size_t block_size = line_end + 2 + size + 2;
    if (ec != std::errc() || block_size > reply.size()) {
      return false;
    }
    blocks->push_back({line.substr(0, key_end), reply.substr(0, block_size)});
    reply.remove_prefix(block_size);
  }
  return reply == kEnd;
}

}  // namespace

std::string BuildGetRequest(Command command, int64_t exptime,
                            const std::vector<std::string_view>& keys) {
  std::string request(Verb(command));
  if (command == Command::kGat || command == Command::kGats) {
    request += ' ';
    request += std::to_string(exptime);
  }
  for (std::string_view key : keys) {
    request += ' ';
    request += key;
  }
  request += "\r\n";
  return request;
}

std::string MergeGetReplies(const std::vector<std::string>& keys,
                            const std::vector<size_t>& part_of_key,
                            const std::vector<std::string>& parts) {
  std::vector<std::vector<ValueBlock>> blocks(parts.size());
  for (size_t part = 0; part < parts.size(); ++part) {
    if (!SplitValues(parts[part], &blocks[part])) {
      return parts[part];
    }
  }
  std::vector<size_t> next(parts.size(), 0);
  std::string merged;
  for (size_t i = 0; i < keys.size(); ++i) {
    const size_t part = part_of_key[i];
    if (next[part] < blocks[part].size() && blocks[part][next[part]].key == keys[i]) {
      merged += blocks[part][next[part]++].bytes;
    }
  }
  merged += kEnd;
  return merged;
}

}  // namespace trellis::access
