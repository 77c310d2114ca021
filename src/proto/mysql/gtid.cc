#include "proto/mysql/gtid.h"

#include <charconv>

namespace trellis::proto::mysql {
namespace {

std::string_view Trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

// Reads a decimal number up to `end` (a character, or the end of the text); false when
// there are no digits, others than digits, or it does not fit.
template <typename Number>
bool ReadNumber(std::string_view& text, char end, Number* number) {
  const size_t stop = end == '\0' ? text.size() : text.find(end);
  if (stop == std::string_view::npos || stop == 0) {
    return false;
  }
  const auto [rest, failure] = std::from_chars(text.data(), text.data() + stop, *number);
  if (failure != std::errc() || rest != text.data() + stop) {
    return false;
  }
  text.remove_prefix(end == '\0' ? stop : stop + 1);
  return true;
}

}  // namespace

bool GtidPosition::Covers(const GtidPosition& other) const {
  for (const auto& [domain, gtid] : other.domains) {
    const auto mine = domains.find(domain);
    if (mine == domains.end() || mine->second.sequence < gtid.sequence) {
      return false;
    }
  }
  return true;
}

void GtidPosition::Merge(const GtidPosition& other) {
  for (const auto& [domain, gtid] : other.domains) {
    auto [mine, added] = domains.try_emplace(domain, gtid);
    if (!added && mine->second.sequence < gtid.sequence) {
      mine->second = gtid;
    }
  }
}

uint64_t GtidPosition::Total() const {
  uint64_t total = 0;
  for (const auto& [domain, gtid] : domains) {
    total += gtid.sequence;
  }
  return total;
}

std::optional<GtidPosition> ParseGtidPosition(std::string_view text) {
  GtidPosition position;
  text = Trim(text);
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = Trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    uint32_t domain = 0;
    Gtid gtid;
    if (!ReadNumber(item, '-', &domain) || !ReadNumber(item, '-', &gtid.server_id) ||
        !ReadNumber(item, '\0', &gtid.sequence) ||
        !position.domains.try_emplace(domain, gtid).second) {
      return std::nullopt;
    }
    if (comma != std::string_view::npos && Trim(text).empty()) {
      return std::nullopt;  // A trailing comma.
    }
  }
  return position;
}

std::string FormatGtidPosition(const GtidPosition& position) {
  std::string text;
  for (const auto& [domain, gtid] : position.domains) {
    if (!text.empty()) {
      text.push_back(',');
    }
    text += std::to_string(domain) + "-" + std::to_string(gtid.server_id) + "-" +
            std::to_string(gtid.sequence);
  }
  return text;
}

}  // namespace trellis::proto::mysql
