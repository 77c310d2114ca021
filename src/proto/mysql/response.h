// Where a server's response to a command ends, and what it leaves behind: the proxy
// relays the response's messages as they come and must know when the last one has gone
// (the backend connection is free again, or still owned by a transaction) without
// decoding rows. ResponseReader is that state machine: fed the first packet of each
// message of the response (packet.h: a message's continuation packets are not
// messages), it says whether more follow, and keeps the status flags of the last OK or
// EOF (server_status::kInTransaction: a transaction is open).
//
// The shapes (MariaDB's "Result Set Packets", without CLIENT_DEPRECATE_EOF):
//   OK | ERR                                          most commands
//   EOF | ERR                                         COM_SET_OPTION, COM_DEBUG,
//                                                     COM_SHUTDOWN
//   result*: (OK | column count, column definitions, EOF, rows, EOF | ERR), each OK or
//            final EOF with kMoreResults continuing      COM_QUERY, COM_STMT_EXECUTE,
//                                                     COM_PROCESS_INFO
//            (a binary result set under a cursor stops after the definitions' EOF)
//   prepare OK, parameter definitions and EOF if any, column definitions and EOF if any
//                                                     COM_STMT_PREPARE
//   column definitions, EOF                           COM_FIELD_LIST
//   one string                                        COM_STATISTICS
//   rows, EOF | ERR                                   COM_STMT_FETCH
//   nothing                                           COM_QUIT, COM_STMT_CLOSE,
//                                                     COM_STMT_SEND_LONG_DATA
// A LOCAL INFILE request (0xFB) is refused as bad: the proxy never offers
// CLIENT_LOCAL_FILES.
//
// Thread safety: none; one reader per response.
#pragma once

#include <cstdint>
#include <string_view>

#include "proto/mysql/messages.h"

namespace trellis::proto::mysql {

enum class ResponseShape {
  kNone,
  kOkOrErr,
  kEofOrErr,  // COM_SET_OPTION, COM_DEBUG, COM_SHUTDOWN.
  kResults,
  kPrepare,
  kFieldList,
  kString,
  kRows,
};

ResponseShape ShapeOf(Command command);

struct PreparedStatement {
  uint32_t id = 0;
  uint16_t columns = 0;
  uint16_t parameters = 0;
};

class ResponseReader {
 public:
  explicit ResponseReader(ResponseShape shape);

  enum class Step {
    kMore,  // Another message of this response follows.
    kDone,  // That was the last one.
    kBad,   // Not a message this response can hold: the connection is out of step.
  };
  // The first packet of the next message of the response.
  Step Next(std::string_view payload);

  // The status flags of the last OK or EOF seen; 0 before any.
  uint16_t status() const { return status_; }
  // The id the last statement that generated one (an INSERT into an AUTO_INCREMENT
  // column) gave, from its OK; 0 when none did. What LAST_INSERT_ID() says after it.
  uint64_t last_insert_id() const { return last_insert_id_; }
  // Whether the response ended in an ERR (then status() is that of an earlier message).
  bool failed() const { return failed_; }
  // A successful COM_STMT_PREPARE's statement.
  const PreparedStatement& prepared() const { return prepared_; }

 private:
  enum class State {
    kFirst,           // A result's (or the response's) first message.
    kDefinitions,     // definitions_left_ more definitions, then an EOF.
    kDefinitionsEof,  // The EOF after the definitions.
    kRows,            // Rows until an EOF (or ERR).
    kDone,
  };
  // After the definitions' EOF: what the response does next.
  enum class AfterDefinitions { kRows, kParametersThenColumns, kDone };

  Step NextFirst(std::string_view payload);
  Step Finish(uint16_t status);
  Step StartDefinitions(uint64_t count, AfterDefinitions after);

  ResponseShape shape_;
  State state_ = State::kFirst;
  uint64_t definitions_left_ = 0;
  AfterDefinitions after_definitions_ = AfterDefinitions::kRows;
  uint16_t status_ = 0;
  uint64_t last_insert_id_ = 0;
  bool failed_ = false;
  PreparedStatement prepared_;
};

}  // namespace trellis::proto::mysql
