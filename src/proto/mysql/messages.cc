#include "proto/mysql/messages.h"

#include <algorithm>

#include "proto/mysql/wire.h"

namespace trellis::proto::mysql {

bool ParseOk(std::string_view payload, OkPacket* ok) {
  PayloadReader reader(payload);
  uint8_t marker = 0;
  if (!reader.ReadU8(&marker) || (marker != 0x00 && marker != 0xFE) ||
      !reader.ReadLenencInt(&ok->affected_rows) || !reader.ReadLenencInt(&ok->last_insert_id) ||
      !reader.ReadU16(&ok->status) || !reader.ReadU16(&ok->warnings)) {
    return false;
  }
  ok->info = reader.ReadRest();
  return true;
}

void AppendOk(std::string& payload, const OkPacket& ok) {
  AppendU8(payload, 0x00);
  AppendLenencInt(payload, ok.affected_rows);
  AppendLenencInt(payload, ok.last_insert_id);
  AppendU16(payload, ok.status);
  AppendU16(payload, ok.warnings);
  payload.append(ok.info);
}

bool ParseErr(std::string_view payload, ErrPacket* err) {
  PayloadReader reader(payload);
  uint8_t marker = 0;
  if (!reader.ReadU8(&marker) || marker != 0xFF || !reader.ReadU16(&err->code)) {
    return false;
  }
  err->sql_state = {};
  std::string_view rest = reader.ReadRest();
  if (!rest.empty() && rest.front() == '#') {
    if (rest.size() < 6) {
      return false;
    }
    err->sql_state = rest.substr(1, 5);
    rest.remove_prefix(6);
  }
  err->message = rest;
  return true;
}

void AppendErr(std::string& payload, uint16_t code, std::string_view sql_state,
               std::string_view message) {
  AppendU8(payload, 0xFF);
  AppendU16(payload, code);
  payload.push_back('#');
  payload.append(sql_state.substr(0, 5));
  payload.append(5 - std::min<size_t>(5, sql_state.size()), '0');
  payload.append(message);
}

bool IsEof(std::string_view payload) {
  return !payload.empty() && static_cast<uint8_t>(payload[0]) == 0xFE && payload.size() < 9;
}

bool ParseEof(std::string_view payload, EofPacket* eof) {
  if (!IsEof(payload)) {
    return false;
  }
  PayloadReader reader(payload.substr(1));
  eof->warnings = 0;
  eof->status = 0;
  // A 4.0 EOF is the marker alone.
  return reader.empty() || (reader.ReadU16(&eof->warnings) && reader.ReadU16(&eof->status));
}

void AppendEof(std::string& payload, const EofPacket& eof) {
  AppendU8(payload, 0xFE);
  AppendU16(payload, eof.warnings);
  AppendU16(payload, eof.status);
}

}  // namespace trellis::proto::mysql
