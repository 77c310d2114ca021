#include "proto/mysql/response.h"

#include "proto/mysql/wire.h"

namespace trellis::proto::mysql {

ResponseShape ShapeOf(Command command) {
  switch (command) {
    case Command::kQuit:
    case Command::kStmtClose:
    case Command::kStmtSendLongData:
      return ResponseShape::kNone;
    case Command::kQuery:
    case Command::kStmtExecute:
    case Command::kProcessInfo:
      return ResponseShape::kResults;
    case Command::kSetOption:
    case Command::kDebug:
    case Command::kShutdown:
      return ResponseShape::kEofOrErr;
    case Command::kStmtPrepare:
      return ResponseShape::kPrepare;
    case Command::kFieldList:
      return ResponseShape::kFieldList;
    case Command::kStatistics:
      return ResponseShape::kString;
    case Command::kStmtFetch:
      return ResponseShape::kRows;
    default:
      return ResponseShape::kOkOrErr;
  }
}

ResponseReader::ResponseReader(ResponseShape shape) : shape_(shape) {
  if (shape == ResponseShape::kNone) {
    state_ = State::kDone;
  } else if (shape == ResponseShape::kFieldList || shape == ResponseShape::kRows) {
    state_ = State::kRows;  // Definitions or rows, until an EOF.
  }
}

ResponseReader::Step ResponseReader::Finish(uint16_t status) {
  status_ = status;
  state_ = State::kDone;
  return Step::kDone;
}

ResponseReader::Step ResponseReader::StartDefinitions(uint64_t count, AfterDefinitions after) {
  state_ = State::kDefinitions;
  definitions_left_ = count;
  after_definitions_ = after;
  return Step::kMore;
}

ResponseReader::Step ResponseReader::Next(std::string_view payload) {
  if (payload.empty() || state_ == State::kDone) {
    return Step::kBad;
  }
  const auto first = static_cast<uint8_t>(payload[0]);
  if (first == 0xFF && state_ != State::kDefinitions) {
    failed_ = true;  // An ERR ends the response wherever it comes.
    state_ = State::kDone;
    return Step::kDone;
  }
  switch (state_) {
    case State::kFirst:
      return NextFirst(payload);
    case State::kDefinitions:
      if (--definitions_left_ == 0) {
        state_ = State::kDefinitionsEof;
      }
      return Step::kMore;
    case State::kDefinitionsEof: {
      EofPacket eof;
      if (!ParseEof(payload, &eof)) {
        return Step::kBad;
      }
      status_ = eof.status;
      switch (after_definitions_) {
        case AfterDefinitions::kRows:
          if ((eof.status & server_status::kCursorExists) != 0) {
            return Finish(eof.status);  // The rows come to COM_STMT_FETCH.
          }
          state_ = State::kRows;
          return Step::kMore;
        case AfterDefinitions::kParametersThenColumns:
          return StartDefinitions(prepared_.columns, AfterDefinitions::kDone);
        case AfterDefinitions::kDone:
          return Finish(eof.status);
      }
      return Step::kBad;
    }
    case State::kRows:
      if (IsEof(payload)) {
        EofPacket eof;
        if (!ParseEof(payload, &eof)) {
          return Step::kBad;
        }
        if (shape_ == ResponseShape::kResults && (eof.status & server_status::kMoreResults) != 0) {
          status_ = eof.status;
          state_ = State::kFirst;
          return Step::kMore;
        }
        return Finish(eof.status);
      }
      return Step::kMore;
    case State::kDone:
      break;
  }
  return Step::kBad;
}

ResponseReader::Step ResponseReader::NextFirst(std::string_view payload) {
  const auto first = static_cast<uint8_t>(payload[0]);
  switch (shape_) {
    case ResponseShape::kString:
      state_ = State::kDone;
      return Step::kDone;
    case ResponseShape::kEofOrErr: {
      EofPacket eof;
      if (!ParseEof(payload, &eof)) {
        return Step::kBad;
      }
      return Finish(eof.status);
    }
    case ResponseShape::kOkOrErr: {
      OkPacket ok;
      if (first != 0x00 || !ParseOk(payload, &ok)) {
        return Step::kBad;
      }
      return Finish(ok.status);
    }
    case ResponseShape::kResults: {
      if (first == 0x00) {
        OkPacket ok;
        if (!ParseOk(payload, &ok)) {
          return Step::kBad;
        }
        if (ok.last_insert_id != 0) {
          last_insert_id_ = ok.last_insert_id;
        }
        if ((ok.status & server_status::kMoreResults) != 0) {
          status_ = ok.status;
          return Step::kMore;  // The next result's first message follows.
        }
        return Finish(ok.status);
      }
      PayloadReader reader(payload);
      uint64_t columns = 0;
      if (first == 0xFB || !reader.ReadLenencInt(&columns) || columns == 0 || !reader.empty()) {
        return Step::kBad;
      }
      return StartDefinitions(columns, AfterDefinitions::kRows);
    }
    case ResponseShape::kPrepare: {
      PayloadReader reader(payload);
      uint8_t marker = 0;
      if (!reader.ReadU8(&marker) || marker != 0x00 || !reader.ReadU32(&prepared_.id) ||
          !reader.ReadU16(&prepared_.columns) || !reader.ReadU16(&prepared_.parameters)) {
        return Step::kBad;
      }
      if (prepared_.parameters > 0) {
        return StartDefinitions(prepared_.parameters, prepared_.columns > 0
                                                          ? AfterDefinitions::kParametersThenColumns
                                                          : AfterDefinitions::kDone);
      }
      if (prepared_.columns > 0) {
        return StartDefinitions(prepared_.columns, AfterDefinitions::kDone);
      }
      state_ = State::kDone;
      return Step::kDone;
    }
    default:
      return Step::kBad;
  }
}

}  // namespace trellis::proto::mysql
