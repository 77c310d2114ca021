#include "db/backup_catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include <nlohmann/json.hpp>

#include "base/clock.h"

namespace trellis::db {

namespace mysql = proto::mysql;

namespace {

base::Result<std::string> StringField(const nlohmann::json& json, const char* what,
                                      const char* field) {
  const auto found = json.find(field);
  if (found == json.end() || !found->is_string()) {
    return base::InvalidArgument(fmt::format("{}: \"{}\" must be a string", what, field));
  }
  return found->get<std::string>();
}

base::Result<int64_t> TimeField(const nlohmann::json& json, const char* what, const char* field) {
  const auto found = json.find(field);
  if (found == json.end() || !found->is_number_integer()) {
    return base::InvalidArgument(fmt::format("{}: \"{}\" must be Unix seconds", what, field));
  }
  return found->get<int64_t>();
}

base::Result<mysql::GtidPosition> Position(const std::string& text, const char* what) {
  auto position = mysql::ParseGtidPosition(text);
  if (!position) {
    return base::InvalidArgument(fmt::format("{}: \"{}\" is not a GTID position", what, text));
  }
  return *position;
}

}  // namespace

std::string_view BackupKindName(BackupKind kind) {
  return kind == BackupKind::kFull ? "full" : "incremental";
}

std::optional<BackupKind> ParseBackupKind(std::string_view name) {
  if (name == "full") {
    return BackupKind::kFull;
  }
  if (name == "incremental") {
    return BackupKind::kIncremental;
  }
  return std::nullopt;
}

nlohmann::json ToJson(const BackupRecord& record) {
  return {{"name", record.name},
          {"kind", BackupKindName(record.kind)},
          {"base", record.base},
          {"server", record.server},
          {"position", record.position},
          {"binlog_file", record.binlog_file},
          {"started_at", record.started_at},
          {"finished_at", record.finished_at}};
}

base::Result<BackupRecord> ParseBackupRecord(const nlohmann::json& json) {
  constexpr const char* kWhat = "backup record";
  if (!json.is_object()) {
    return base::InvalidArgument("backup record: expected an object");
  }
  BackupRecord record;
  TRELLIS_TRY(record.name, StringField(json, kWhat, "name"));
  TRELLIS_TRY(const std::string kind, StringField(json, kWhat, "kind"));
  const std::optional<BackupKind> parsed = ParseBackupKind(kind);
  if (!parsed) {
    return base::InvalidArgument("backup record: \"kind\" must be \"full\" or \"incremental\"");
  }
  record.kind = *parsed;
  TRELLIS_TRY(record.base, StringField(json, kWhat, "base"));
  TRELLIS_TRY(record.server, StringField(json, kWhat, "server"));
  TRELLIS_TRY(record.position, StringField(json, kWhat, "position"));
  TRELLIS_TRY(const mysql::GtidPosition checked, Position(record.position, kWhat));
  TRELLIS_TRY(record.binlog_file, StringField(json, kWhat, "binlog_file"));
  TRELLIS_TRY(record.started_at, TimeField(json, kWhat, "started_at"));
  TRELLIS_TRY(record.finished_at, TimeField(json, kWhat, "finished_at"));
  if ((record.kind == BackupKind::kIncremental) == record.base.empty()) {
    return base::InvalidArgument("backup record: an incremental backup, and only one, has a base");
  }
  return record;
}

nlohmann::json ToJson(const BackupRequest& request) {
  return {{"kind", BackupKindName(request.kind)}};
}

base::Result<BackupRequest> ParseBackupRequest(const nlohmann::json& json) {
  const auto kind = json.is_object() ? json.find("kind") : json.end();
  const std::optional<BackupKind> parsed = kind != json.end() && kind->is_string()
                                               ? ParseBackupKind(kind->get<std::string>())
                                               : std::nullopt;
  if (!parsed) {
    return base::InvalidArgument(
        "backup: expected {\"kind\": \"full\"} or {\"kind\": \"incremental\"}");
  }
  return BackupRequest{*parsed};
}

std::string BackupName(int64_t started_at, BackupKind kind) {
  return fmt::format("{}-{}", base::FormatUtc(started_at, "%Y%m%dT%H%M%SZ"),
                     kind == BackupKind::kFull ? "full" : "incr");
}

base::Result<BinlogInfo> ParseBinlogInfo(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  const size_t first_tab = text.find('\t');
  const size_t second_tab =
      first_tab == std::string_view::npos ? first_tab : text.find('\t', first_tab + 1);
  if (second_tab == std::string_view::npos || first_tab == 0) {
    return base::InvalidArgument(
        "binlog info: expected FILE, OFFSET and GTID position, tab-separated");
  }
  BinlogInfo info{std::string(text.substr(0, first_tab)), std::string(text.substr(second_tab + 1))};
  TRELLIS_TRY(const mysql::GtidPosition checked, Position(info.position, "binlog info"));
  return info;
}

nlohmann::json ToJson(const std::vector<ArchiveEra>& eras) {
  nlohmann::json list = nlohmann::json::array();
  for (const ArchiveEra& era : eras) {
    list.push_back({{"dir", era.dir},
                    {"server", era.server},
                    {"since", era.since},
                    {"starts_at", era.starts_at}});
  }
  return list;
}

base::Result<std::vector<ArchiveEra>> ParseArchiveEras(const nlohmann::json& json) {
  constexpr const char* kWhat = "archive eras";
  if (!json.is_array()) {
    return base::InvalidArgument("archive eras: expected an array");
  }
  std::vector<ArchiveEra> eras;
  for (const nlohmann::json& item : json) {
    if (!item.is_object()) {
      return base::InvalidArgument("archive eras: expected objects");
    }
    ArchiveEra& era = eras.emplace_back();
    TRELLIS_TRY(era.dir, StringField(item, kWhat, "dir"));
    TRELLIS_TRY(era.server, StringField(item, kWhat, "server"));
    TRELLIS_TRY(era.since, StringField(item, kWhat, "since"));
    TRELLIS_TRY(const mysql::GtidPosition checked, Position(era.since, kWhat));
    // Written by the first archives without it: their copies were taken to start there.
    era.starts_at = era.since;
    if (item.contains("starts_at")) {
      TRELLIS_TRY(era.starts_at, StringField(item, kWhat, "starts_at"));
      TRELLIS_TRY(const mysql::GtidPosition start, Position(era.starts_at, kWhat));
    }
    if (era.dir.empty() || era.dir.find('/') != std::string::npos || era.dir[0] == '.') {
      return base::InvalidArgument("archive eras: \"dir\" must be a plain name");
    }
  }
  return eras;
}

base::Result<std::vector<BackupRecord>> ChainFor(const std::vector<BackupRecord>& backups,
                                                 int64_t time) {
  const auto full = std::find_if(backups.rbegin(), backups.rend(), [&](const BackupRecord& b) {
    return b.kind == BackupKind::kFull && b.finished_at <= time;
  });
  if (full == backups.rend()) {
    const auto first = std::find_if(backups.begin(), backups.end(), [](const BackupRecord& b) {
      return b.kind == BackupKind::kFull;
    });
    return base::NotFound(
        first == backups.end()
            ? std::string("no full backup: nothing to restore from")
            : fmt::format("no full backup finished by {}: the earliest time to restore to is {}",
                          FormatUtcTime(time), FormatUtcTime(first->finished_at)));
  }
  std::vector<BackupRecord> chain = {*full};
  for (auto later = full.base(); later != backups.end(); ++later) {
    if (later->kind == BackupKind::kIncremental && later->base == chain.back().name &&
        later->finished_at <= time) {
      chain.push_back(*later);
    }
  }
  return chain;
}

base::Result<std::vector<ReplaySpan>> ReplayAfter(const std::vector<ArchiveEra>& eras,
                                                  const mysql::GtidPosition& position) {
  std::vector<mysql::GtidPosition> since;
  std::vector<mysql::GtidPosition> starts_at;
  for (const ArchiveEra& era : eras) {
    TRELLIS_TRY(since.emplace_back(), Position(era.since, "archive eras"));
    TRELLIS_TRY(starts_at.emplace_back(), Position(era.starts_at, "archive eras"));
  }
  std::vector<ReplaySpan> spans;
  mysql::GtidPosition start = position;
  for (size_t next = 0; next < eras.size();) {
    // The latest era from `next` on whose copy has everything after `start`.
    size_t era = next;
    for (size_t later = next; later < eras.size(); ++later) {
      if (start.Covers(starts_at[later])) {
        era = later;
      }
    }
    if (era + 1 == eras.size()) {
      spans.push_back({eras[era].dir, mysql::FormatGtidPosition(start), ""});
      break;
    }
    const mysql::GtidPosition& stop = since[era + 1];
    if (!start.Covers(stop)) {
      spans.push_back(
          {eras[era].dir, mysql::FormatGtidPosition(start), mysql::FormatGtidPosition(stop)});
      start = stop;
    }
    next = era + 1;
  }
  return spans;
}

Expired ExpiredBy(const std::vector<BackupRecord>& backups, const std::vector<ArchiveEra>& eras,
                  size_t keep_full) {
  Expired expired;
  size_t fulls = 0;
  auto oldest_kept = backups.end();
  for (auto it = backups.rbegin(); it != backups.rend() && fulls < keep_full; ++it) {
    if (it->kind == BackupKind::kFull) {
      ++fulls;
      oldest_kept = std::prev(it.base());
    }
  }
  if (oldest_kept == backups.end()) {
    return expired;  // Fewer than one full backup kept: nothing is removed.
  }
  for (auto it = backups.begin(); it != oldest_kept; ++it) {
    expired.backups.push_back(it->name);
  }
  // The era the oldest kept backup was taken in: the last of its server's that began
  // at or before its position.
  const std::optional<mysql::GtidPosition> kept_position =
      mysql::ParseGtidPosition(oldest_kept->position);
  size_t era = eras.size();
  for (size_t i = 0; i < eras.size() && kept_position; ++i) {
    const std::optional<mysql::GtidPosition> since = mysql::ParseGtidPosition(eras[i].since);
    if (eras[i].server == oldest_kept->server && since && kept_position->Covers(*since)) {
      era = i;
    }
  }
  if (era == eras.size()) {
    return expired;  // Not archived: the archive is left as it is.
  }
  for (size_t i = 0; i < era; ++i) {
    expired.era_dirs.push_back(eras[i].dir);
  }
  expired.era_dir = eras[era].dir;
  expired.files_before = oldest_kept->binlog_file;
  return expired;
}

base::Result<int64_t> ParseRestoreTime(std::string_view text) {
  // YYYY-MM-DD, 'T' or ' ', HH:MM:SS, then 'Z' with 'T' only.
  const bool iso = text.size() == 20 && text[10] == 'T' && text[19] == 'Z';
  const bool plain = text.size() == 19 && text[10] == ' ';
  auto number = [&](size_t at, size_t digits, int& out) {
    const char* begin = text.data() + at;
    return std::all_of(begin, begin + digits, [](char c) { return c >= '0' && c <= '9'; }) &&
           std::from_chars(begin, begin + digits, out).ec == std::errc();
  };
  std::tm utc{};
  if (!(iso || plain) || text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':' ||
      !number(0, 4, utc.tm_year) || !number(5, 2, utc.tm_mon) || !number(8, 2, utc.tm_mday) ||
      !number(11, 2, utc.tm_hour) || !number(14, 2, utc.tm_min) || !number(17, 2, utc.tm_sec) ||
      utc.tm_year < 1970 || utc.tm_mon < 1 || utc.tm_mon > 12 || utc.tm_mday < 1 ||
      utc.tm_mday > 31 || utc.tm_hour > 23 || utc.tm_min > 59 || utc.tm_sec > 59) {
    return base::InvalidArgument(fmt::format(
        "\"{}\": expected a UTC time to the second, 2026-12-05T16:13:24Z or \"2026-12-05 "
        "16:13:24\"",
        text));
  }
  const int day = utc.tm_mday;
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  const int64_t time = timegm(&utc);
  if (utc.tm_mday != day) {
    return base::InvalidArgument(fmt::format("\"{}\": no such day", text));
  }
  return time;
}

std::string FormatUtcTime(int64_t time) { return base::FormatUtc(time, "%Y-%m-%d %H:%M:%S"); }

}  // namespace trellis::db
