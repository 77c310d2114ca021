#include "backup/backup_api.h"

#include <charconv>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

namespace trellis::backup {

namespace {

template <typename T>
base::Result<T> Parse(const nlohmann::json& json, std::string_view what) {
  try {
    return json.get<T>();
  } catch (const nlohmann::json::exception& error) {
    return base::InvalidArgument(std::string(what) + ": " + error.what());
  }
}

}  // namespace

base::Result<uint32_t> ParseTime(std::string_view text, uint32_t now) {
  const auto bad = [&] {
    return base::InvalidArgument("time " + std::string(text) +
                                 ": want unix seconds, -30s/-5m/-2h/-1d, or RFC 3339 "
                                 "(2026-12-04T10:00:00Z)");
  };
  uint64_t number = 0;
  if (!text.empty() && text.front() == '-') {
    const std::string_view amount = text.substr(1, text.size() - 2);
    const auto [end, error] = std::from_chars(amount.data(), amount.data() + amount.size(), number);
    const char unit = text.size() > 2 ? text.back() : '?';
    const uint64_t scale = unit == 's'   ? 1
                           : unit == 'm' ? 60
                           : unit == 'h' ? 3600
                           : unit == 'd' ? 86400
                                         : 0;
    if (error != std::errc() || end != amount.data() + amount.size() || scale == 0 ||
        number * scale > now) {
      return bad();
    }
    return static_cast<uint32_t>(now - number * scale);
  }
  if (const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
      error == std::errc() && end == text.data() + text.size()) {
    return number <= UINT32_MAX ? base::Result<uint32_t>(static_cast<uint32_t>(number)) : bad();
  }
  std::tm tm{};
  const std::string copy(text);
  const char* rest = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) {
    return bad();
  }
  if (*rest == '.') {  // Fractions of a second.
    ++rest;
    while (*rest >= '0' && *rest <= '9') {
      ++rest;
    }
  }
  int64_t offset = 0;
  if ((*rest == '+' || *rest == '-') && std::strlen(rest) == 6 && rest[3] == ':') {
    const int hours = std::atoi(std::string(rest + 1, 2).c_str());
    const int minutes = std::atoi(rest + 4);
    offset = (*rest == '+' ? 1 : -1) * (hours * 3600 + minutes * 60);
  } else if (std::string_view(rest) != "Z" && std::string_view(rest) != "z") {
    return bad();
  }
  const int64_t seconds = static_cast<int64_t>(timegm(&tm)) - offset;
  if (seconds < 0 || seconds > UINT32_MAX) {
    return bad();
  }
  return static_cast<uint32_t>(seconds);
}

// Every field by its name; a missing one is an error when read.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ArchiveFileStatus, name, kind, bytes, complete)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TimeRange, from, to)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(GroupBackupStatus, group, main, streaming, lag_seconds,
                                   bytes_archived, restorable, files, last_dump, error)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RestoreReply, to, dry_run, group, rate, state, restored, deleted,
                                   unchanged, written, error, seconds)

void to_json(nlohmann::json& json, const RestoreRequest& request) {
  json = {{"to", request.to},     {"dry_run", request.dry_run}, {"group", request.group},
          {"rate", request.rate}, {"wait", request.wait},       {"resume", request.resume}};
}
void from_json(const nlohmann::json& json, RestoreRequest& request) {
  request.resume = json.value("resume", false);
  if (!request.resume) {
    json.at("to").get_to(request.to);
  }
  request.dry_run = json.value("dry_run", false);
  request.group = json.value("group", "");
  request.rate = json.value("rate", uint64_t{0});
  request.wait = json.value("wait", false);
}
void from_json(const nlohmann::json& json, BackupStatus& status) {
  json.at("groups").get_to(status.groups);
  if (json.contains("restore") && !json.at("restore").is_null()) {
    status.restore = json.at("restore").get<RestoreReply>();
  }
}

nlohmann::json ToJson(const BackupStatus& status) {
  return {{"groups", status.groups},
          {"restore", status.restore ? nlohmann::json(*status.restore) : nlohmann::json()}};
}

base::Result<BackupStatus> ParseBackupStatus(const nlohmann::json& json) {
  return Parse<BackupStatus>(json, "the backup status");
}

nlohmann::json ToJson(const RestoreRequest& request) { return request; }

base::Result<RestoreRequest> ParseRestoreRequest(const nlohmann::json& json) {
  return Parse<RestoreRequest>(json, "the restore request");
}

nlohmann::json ToJson(const RestoreReply& reply) { return reply; }

base::Result<RestoreReply> ParseRestoreReply(const nlohmann::json& json) {
  return Parse<RestoreReply>(json, "the restore reply");
}

}  // namespace trellis::backup
