#include "db/client_session.h"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proto/mysql/gtid.h"
#include "proto/mysql/handshake.h"
#include "proto/mysql/messages.h"
#include "proto/mysql/packet.h"
#include "proto/mysql/response.h"
#include "proto/mysql/wire.h"

namespace trellis::db {

namespace asio = boost::asio;
namespace mysql = proto::mysql;
using mysql::Command;
using mysql::SessionUse;

namespace {

// What the proxy calls itself in its greeting: MariaDB's form ("5.5.5-" first, for
// clients of old that read the first digits as the major version).
constexpr std::string_view kServerVersion = "5.5.5-10.11.19-MariaDB-trellis-dbproxy";
constexpr uint8_t kGreetingCharset = 45;  // utf8mb4_general_ci.
constexpr size_t kMaxLoginMessage = 64 * 1024;
// How much of a response is gathered before it goes to the client (the rest of what
// the server has sent and the proxy has read goes with it in one write).
constexpr size_t kRelayBatchBytes = 64 * 1024;
// The largest prepare or execute the proxy takes whole (MariaDB's max_allowed_packet is
// at most 1 GiB).
constexpr size_t kMaxStatementMessage = size_t{1} << 30;
// A client's SETs the proxy replays at most; past them, one more pins the client.
constexpr size_t kMaxScript = 64;
// How long a read waits for a replica to apply the client's writes (MASTER_GTID_WAIT's
// seconds) before it goes to the primary instead.
constexpr double kReplicaWait = 0.05;

constexpr uint32_t kOfferedCapabilities =
    mysql::capability::kLongPassword | mysql::capability::kFoundRows |
    mysql::capability::kLongFlag | mysql::capability::kConnectWithDb |
    mysql::capability::kNoSchema | mysql::capability::kOdbc | mysql::capability::kIgnoreSpace |
    mysql::capability::kProtocol41 | mysql::capability::kInteractive |
    mysql::capability::kIgnoreSigpipe | mysql::capability::kTransactions |
    mysql::capability::kSecureConnection | mysql::capability::kMultiStatements |
    mysql::capability::kMultiResults | mysql::capability::kPsMultiResults |
    mysql::capability::kPluginAuth | mysql::capability::kConnectAttrs |
    mysql::capability::kPluginAuthLenencData;

std::atomic<uint32_t> next_connection_id{1};

// A challenge of 20 bytes, none of them NUL (clients stop at one).
std::string MakeNonce() {
  unsigned char random[mysql::kNonceBytes];
  RAND_bytes(random, sizeof(random));
  std::string nonce(mysql::kNonceBytes, '\0');
  for (size_t i = 0; i < nonce.size(); ++i) {
    nonce[i] = static_cast<char>(1 + random[i] % 127);
  }
  return nonce;
}

bool IsRefusedCommand(Command command) {
  switch (command) {
    case Command::kSleep:
    case Command::kShutdown:
    case Command::kConnect:
    case Command::kProcessKill:
    case Command::kDebug:
    case Command::kTime:
    case Command::kDelayedInsert:
    case Command::kChangeUser:
    case Command::kBinlogDump:
    case Command::kTableDump:
    case Command::kConnectOut:
    case Command::kRegisterSlave:
    case Command::kDaemon:
    case Command::kBinlogDumpGtid:
      return true;
    default:
      return false;
  }
}

// Commands on a prepared statement: they name one by the id the proxy gave the client,
// translated to the server's id on whichever connection runs it.
bool IsStatementCommand(Command command) {
  return command == Command::kStmtExecute || command == Command::kStmtSendLongData ||
         command == Command::kStmtClose || command == Command::kStmtReset ||
         command == Command::kStmtFetch;
}

}  // namespace

// A statement the client prepared, as the proxy keeps it.
struct ClientStatement {
  std::string sql;
  uint16_t parameters = 0;
  std::string parameter_types;  // Two bytes per parameter, from the last execute with them.
  bool long_data_lost = false;  // Long data that found no connection: its execute fails.
};

class ClientSession {
 public:
  ClientSession(net::Connection& client, const ShardContext& shard)
      : client_(client), shard_(shard) {}
  // A connection still held (the session ended by an exception) is closed, so that its
  // place in the pool is free again.
  ~ClientSession() { ReleaseBackend(/*clean=*/false); }
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  asio::awaitable<void> Serve() {
    // Each co_await's result named: g++ 12 lays out a coroutine frame wrongly (a member
    // coroutine's `this` overwritten) for co_await in a loop's condition.
    const bool logged_in = co_await LogIn();
    if (!logged_in) {
      co_return;
    }
    for (;;) {
      const bool more = co_await ServeCommand();
      if (!more) {
        break;
      }
    }
    co_await GiveBackPinned();
  }

  // The connection a client left pinned goes back clean: COM_RESET_CONNECTION rolls
  // back its transaction and drops its locks, variables, temporary tables and
  // statements (and a new connection in its place would cost more, and leave the server
  // counting the closed one for a moment).
  asio::awaitable<void> GiveBackPinned() {
    if (!backend_) {
      co_return;
    }
    std::string refusal;
    const std::string reset(1, static_cast<char>(Command::kResetConnection));
    const auto done = co_await RunQuietly(reset, mysql::ResponseShape::kOkOrErr, &refusal);
    if (!done || done->reader.failed()) {
      ReleaseBackend(/*clean=*/false);
      co_return;
    }
    backend_->ForgetStatements();
    backend_->set_script("");
    ReleaseBackend(/*clean=*/true);
  }

 private:
  // Sends `payload` as the message numbered `sequence`.
  asio::awaitable<bool> Send(uint8_t sequence, std::string_view payload) {
    std::string bytes;
    mysql::AppendMessage(bytes, sequence, payload);
    co_return co_await client_.Write(bytes);
  }

  asio::awaitable<bool> SendErr(uint8_t sequence, uint16_t code, std::string_view sql_state,
                                std::string_view message) {
    std::string payload;
    mysql::AppendErr(payload, code, sql_state, message);
    co_return co_await Send(sequence, payload);
  }

  asio::awaitable<bool> SendOk(uint8_t sequence) {
    std::string payload;
    mysql::OkPacket ok;
    ok.status = status_;
    mysql::AppendOk(payload, ok);
    co_return co_await Send(sequence, payload);
  }

  asio::awaitable<bool> LogIn() {
    const std::string nonce = MakeNonce();
    mysql::Greeting greeting;
    greeting.server_version = kServerVersion;
    greeting.connection_id = next_connection_id.fetch_add(1, std::memory_order_relaxed);
    greeting.nonce = nonce;
    greeting.capabilities = kOfferedCapabilities;
    greeting.charset = kGreetingCharset;
    greeting.status = status_;
    greeting.auth_plugin = mysql::kNativePassword;
    std::string payload;
    mysql::AppendGreeting(payload, greeting);
    if (!co_await Send(0, payload)) {
      co_return false;
    }
    const std::optional<mysql::Message> answer = co_await ReadClientMessage(kMaxLoginMessage);
    if (!answer) {
      co_return false;
    }
    uint8_t sequence = answer->sequence + 1;
    mysql::HandshakeResponse response;
    if (mysql::IsSslRequest(answer->payload)) {
      co_await SendErr(sequence, 1043, "08S01", "Bad handshake: dbproxy does not offer TLS");
      co_return false;
    }
    if (!mysql::ParseHandshakeResponse(answer->payload, &response)) {
      co_await SendErr(sequence, 1043, "08S01", "Bad handshake");
      co_return false;
    }
    std::string auth_response = response.auth_response;
    if (!response.auth_plugin.empty() && response.auth_plugin != mysql::kNativePassword) {
      // Another plugin first (ed25519, caching_sha2): switch the client to ours.
      std::string switch_payload = "\xFE";
      mysql::AppendNulString(switch_payload, mysql::kNativePassword);
      mysql::AppendNulString(switch_payload, nonce);
      if (!co_await Send(sequence, switch_payload)) {
        co_return false;
      }
      const std::optional<mysql::Message> switched = co_await ReadClientMessage(kMaxLoginMessage);
      if (!switched) {
        co_return false;
      }
      auth_response = switched->payload;
      sequence = switched->sequence + 1;
    }
    const ProxyUser* user = shard_.config->FindUser(response.user);
    const std::optional<mysql::Sha1> password_sha1 =
        user == nullptr ? std::nullopt
                        : mysql::CheckNativePassword(user->stored_hash, nonce, auth_response);
    if (!password_sha1) {
      shard_.refused_logins->Increment();
      // A named string: g++ 12 mishandles a temporary std::string in co_await's operand.
      const std::string denied =
          fmt::format("Access denied for user '{}'@'{}' (using password: {})", response.user,
                      client_.peer().address().to_string(), auth_response.empty() ? "NO" : "YES");
      co_await SendErr(sequence, 1045, "28000", denied);
      co_return false;
    }
    login_.key.user = response.user;
    login_.key.charset = response.charset;
    login_.key.flags = SessionShapingFlags(response.capabilities);
    login_.password_sha1 = *password_sha1;
    if ((response.capabilities & mysql::capability::kConnectWithDb) != 0 &&
        !response.database.empty()) {
      // Checked on the server (on a connection already there, if one is idle), which
      // refuses an unknown schema as it would at its own login: Borrow sends its ERR.
      schema_ = response.database;
      const bool borrowed = co_await Borrow(sequence);
      if (!borrowed) {
        co_return false;
      }
      ReleaseBackend(/*clean=*/true);
    }
    co_return co_await SendOk(sequence);
  }

  // A backend connection for the next command: the pinned one, or one borrowed and
  // brought to the client's session (its session variables and schema). On failure the
  // client has had an ERR numbered `sequence`; false if even that could not be sent.
  // `sequence`: none for a command the server never answers (COM_STMT_SEND_LONG_DATA):
  // the client then hears of the failure from nobody.
  asio::awaitable<bool> Borrow(std::optional<uint8_t> sequence) {
    if (backend_) {
      co_return true;
    }
    const SessionState session{schema_, script_};  // Named: g++ 12 and braced temporaries.
    auto lent = co_await shard_.pool->Lend(login_, session);
    if (!lent) {
      const bool exhausted = lent.error().code == base::ErrorCode::kResourceExhausted;
      // Server error numbers only: a client library takes one of its own (2000-2999) in
      // an ERR for a malformed packet.
      if (sequence) {
        co_await SendErr(*sequence, exhausted ? 1040 : 1053, exhausted ? "08004" : "08S01",
                         lent.error().message);
      }
      co_return false;
    }
    backend_ = std::move(lent).value();
    backend_pool_ = shard_.pool;
    const std::optional<std::string> refusal = co_await BringToSession();
    if (refusal) {
      ReleaseBackend(/*clean=*/false);
      if (sequence) {
        co_await Send(*sequence, *refusal);
      }
      co_return false;
    }
    co_return true;
  }

  // Gives the borrowed connection the client's session: another client's session
  // variables reset (COM_RESET_CONNECTION), this one's set again, its schema used. The
  // server's ERR payload if it refused one of them.
  asio::awaitable<std::optional<std::string>> BringToSession() {
    std::string refusal;
    if (backend_->session().script != script_) {
      if (!backend_->session().script.empty()) {
        const std::string reset(1, static_cast<char>(Command::kResetConnection));
        const auto done = co_await RunQuietly(reset, mysql::ResponseShape::kOkOrErr, &refusal);
        if (!done || done->reader.failed()) {
          co_return refusal;
        }
        backend_->ForgetStatements();  // The schema stays (MariaDB 10.11 keeps it).
        backend_->set_script("");
      }
      for (const std::string& statement : script_lines_) {
        const std::string query = std::string(1, static_cast<char>(Command::kQuery)) + statement;
        const auto done = co_await RunQuietly(query, mysql::ResponseShape::kResults, &refusal);
        if (!done || done->reader.failed()) {
          co_return refusal;
        }
      }
      backend_->set_script(script_);
    }
    if (!schema_.empty() && backend_->session().schema != schema_) {
      co_return co_await UseSchema(schema_);
    }
    co_return std::nullopt;
  }

  // COM_INIT_DB `schema` on the backend connection; the server's ERR payload if it
  // refused.
  asio::awaitable<std::optional<std::string>> UseSchema(const std::string& schema) {
    std::string refusal;
    const std::string init = std::string(1, static_cast<char>(Command::kInitDb)) + schema;
    const auto done = co_await RunQuietly(init, mysql::ResponseShape::kOkOrErr, &refusal);
    if (!done || done->reader.failed()) {
      co_return refusal;
    }
    backend_->set_schema(schema);
    co_return std::nullopt;
  }

  // What a command run out of the client's sight answered.
  struct QuietResponse {
    mysql::ResponseReader reader;
    std::string first_row;  // The first row of its first result set, if it had one.
  };

  // Runs the command `payload` on the backend connection, out of the client's sight:
  // its response, with *refusal the server's ERR payload when it failed; nullopt when
  // the connection broke (released then, and *refusal an ERR saying so).
  asio::awaitable<std::optional<QuietResponse>> RunQuietly(std::string_view payload,
                                                           mysql::ResponseShape shape,
                                                           std::string* refusal) {
    std::string bytes;
    mysql::AppendMessage(bytes, 0, payload);
    bool ok = co_await backend_->Write(bytes);
    QuietResponse response{mysql::ResponseReader(shape), ""};
    bool continuation = false;
    bool definitions_ended = false;  // The first EOF went by: rows follow.
    bool row_seen = false;
    for (;;) {  // Not a loop with a condition: see ReadClientFrame.
      if (!ok) {
        break;
      }
      mysql::Frame frame;
      ok = co_await backend_->ReadFrameAt(0, &frame);
      if (!ok) {
        break;
      }
      const bool continued = continuation;
      continuation = frame.continues;
      if (continued) {
        backend_->Consume(frame.bytes);
        continue;
      }
      const mysql::ResponseReader::Step step = response.reader.Next(frame.payload);
      ok = step != mysql::ResponseReader::Step::kBad;
      const bool done = ok && step == mysql::ResponseReader::Step::kDone && !continuation;
      if (done && response.reader.failed()) {
        *refusal = frame.payload;
      }
      if (mysql::IsEof(frame.payload)) {
        definitions_ended = true;
      } else if (definitions_ended && !row_seen && !frame.continues) {
        response.first_row = frame.payload;
        row_seen = true;
      }
      backend_->Consume(frame.bytes);
      if (done) {
        break;
      }
    }
    if (!ok) {
      ReleaseBackend(/*clean=*/false);
      refusal->clear();
      mysql::AppendErr(*refusal, 1927, "70100", "Lost connection to the database server");
      co_return std::nullopt;
    }
    co_return response;
  }

  // The one value a query the proxy runs answers (its first row's first column; "" for
  // NULL); nullopt when it failed or the connection broke.
  asio::awaitable<std::optional<std::string>> QueryValue(const std::string& sql) {
    std::string refusal;
    const std::string query = std::string(1, static_cast<char>(Command::kQuery)) + sql;
    const auto done = co_await RunQuietly(query, mysql::ResponseShape::kResults, &refusal);
    if (!done || done->reader.failed()) {
      co_return std::nullopt;
    }
    mysql::PayloadReader row(done->first_row);
    std::string_view value;
    if (done->first_row.empty() || static_cast<uint8_t>(done->first_row[0]) == 0xFB ||
        !row.ReadLenencString(&value)) {
      co_return std::string();
    }
    co_return std::string(value);
  }

  // For the client's reads on replicas: what it has written so far, as the GTID of the
  // last transaction its connection wrote (@@last_gtid), after a command that may have.
  asio::awaitable<void> RememberWrite() {
    const std::string last_gtid = "SELECT @@last_gtid";
    const std::optional<std::string> gtid = co_await QueryValue(last_gtid);
    if (!gtid) {
      co_return;
    }
    if (const auto position = mysql::ParseGtidPosition(*gtid)) {
      written_.Merge(*position);
    }
  }

  // Whether a command that wrote may have ended a transaction now (or ran outside one),
  // so that what it wrote is committed: then RememberWrite.
  bool MayHaveCommitted(const mysql::ResponseReader& response) const {
    return shard_.replicas != nullptr && backend_ && !response.failed() &&
           (response.status() & mysql::server_status::kInTransaction) == 0;
  }

  // A connection to a replica for a plain read, brought to the client's session and
  // having applied the client's writes. False, with nothing borrowed, when no replica is
  // fit (replica_set.h) or one did not apply them within kReplicaWait: the read goes to
  // the primary.
  asio::awaitable<bool> BorrowReplica() {
    const std::optional<ReplicaSet::Choice> choice = shard_.replicas->Choose(written_);
    if (!choice) {
      co_return false;
    }
    const SessionState session{schema_, script_};  // Named: g++ 12 and braced temporaries.
    auto lent = co_await choice->pool->Lend(login_, session);
    if (!lent) {
      co_return false;
    }
    backend_ = std::move(lent).value();
    backend_pool_ = choice->pool;
    const std::optional<std::string> refusal = co_await BringToSession();
    if (refusal) {
      ReleaseBackend(/*clean=*/false);
      co_return false;
    }
    if (!choice->caught_up) {
      const std::string wait = fmt::format("SELECT MASTER_GTID_WAIT('{}', {})",
                                           mysql::FormatGtidPosition(written_), kReplicaWait);
      const std::optional<std::string> waited = co_await QueryValue(wait);
      if (waited != "0") {
        shard_.replica_waits_primary->Increment();
        ReleaseBackend(/*clean=*/true);
        co_return false;
      }
      shard_.replica_waits_applied->Increment();
    }
    shard_.replica_reads->Increment();
    co_return true;
  }

  // A SET the client ran, for every connection it borrows from now on: last in order,
  // and once (the same text earlier is dropped, its effect being the same again).
  void AddToScript(std::string statement) {
    std::erase(script_lines_, statement);
    script_lines_.push_back(std::move(statement));
    script_.clear();
    for (const std::string& line : script_lines_) {
      script_.append(line).push_back('\0');
    }
  }

  // Gives the backend connection back (clean: nothing of this client's session is on
  // it) or closes it.
  void ReleaseBackend(bool clean) {
    if (!backend_) {
      return;
    }
    if (clean) {
      backend_pool_->Return(std::move(backend_));
    } else {
      backend_pool_->Discard(std::move(backend_));
    }
    pinned_ = mysql::SessionUses();
  }

  void Pin(const mysql::SessionUses& uses) {
    for (size_t i = 0; i < mysql::kSessionUses; ++i) {
      const auto use = static_cast<SessionUse>(i);
      if (uses.Has(use) && !pinned_.Has(use)) {
        pinned_.Add(use);
        shard_.pinned[i]->Increment();
      }
    }
  }

  // The client's next packet (not consumed); false when the client closed.
  // No co_await in a while loop here: g++ 12 miscompiles some (the frame's resume point
  // lost); a for (;;) with the awaited value named is compiled right.
  asio::awaitable<bool> ReadClientFrame(mysql::Frame* frame) {
    for (;;) {
      if (mysql::ReadFrame(client_.input(), frame) == mysql::FrameStatus::kOk) {
        co_return true;
      }
      const bool more = co_await client_.ReadMore();
      if (!more) {
        co_return false;
      }
    }
  }

  // Reads, relays and consumes one command and its response. False when the session
  // ends (the client quit or broke, or the server broke mid-response).
  asio::awaitable<bool> ServeCommand() {
    mysql::Frame frame;
    const bool read = co_await ReadClientFrame(&frame);
    if (!read) {
      co_return false;
    }
    if (frame.payload.empty()) {
      co_return false;  // Not a command: out of step.
    }
    shard_.commands->Increment();
    const auto command = static_cast<Command>(frame.payload[0]);
    const uint8_t reply_sequence = frame.sequence + 1;
    if (command == Command::kQuit) {
      co_return false;
    }
    if (command == Command::kPing || (command == Command::kResetConnection && !backend_)) {
      client_.Consume(frame.bytes);
      if (command == Command::kResetConnection) {
        statements_.clear();
        script_lines_.clear();
        script_.clear();
      }
      co_return co_await SendOk(reply_sequence);
    }
    if (IsRefusedCommand(command)) {
      const bool continues = frame.continues;
      client_.Consume(frame.bytes);
      if (continues) {
        co_return false;  // Too much to skip.
      }
      co_return co_await SendErr(reply_sequence, 1047, "08S01", "Unknown command");
    }
    if (command == Command::kStmtPrepare || IsStatementCommand(command)) {
      co_return co_await ServeStatementCommand(command);
    }
    mysql::SessionUses uses;
    // A lone SET of session variables or USE: the proxy takes it over (every connection
    // the client borrows gets it) instead of pinning.
    std::string replayable_set;
    std::optional<std::string> used_schema;
    if (command == Command::kQuery) {
      const std::string_view sql = frame.payload.substr(1);
      if (!frame.continues && mysql::IsReplayableSet(sql) && script_lines_.size() < kMaxScript) {
        replayable_set = sql;
      } else if (!frame.continues) {
        used_schema = mysql::UsedSchema(sql);
      }
      if (replayable_set.empty() && !used_schema) {
        uses = mysql::ScanStatements(sql);
      }
    } else if (command == Command::kSetOption) {
      uses.Add(SessionUse::kSessionVariable);
    }
    std::string schema;
    if (command == Command::kInitDb) {
      schema = frame.payload.substr(1);
    }
    // A plain read outside a transaction may go to a replica (replica_reads).
    const bool plain_read = command == Command::kQuery && !frame.continues && uses.empty() &&
                            replayable_set.empty() && !used_schema &&
                            mysql::IsPlainRead(frame.payload.substr(1));
    bool on_replica = false;
    if (plain_read && shard_.replicas != nullptr && !backend_ &&
        (status_ & mysql::server_status::kInTransaction) == 0 &&
        (status_ & mysql::server_status::kAutocommit) != 0) {
      on_replica = co_await BorrowReplica();
    }
    bool borrowed = on_replica;
    if (!borrowed) {
      borrowed = co_await Borrow(reply_sequence);
    }
    if (!borrowed) {
      client_.Consume(frame.bytes);
      co_return !frame.continues;
    }
    if (uses.Has(SessionUse::kLastResult) && backend_->last_insert_id() != last_insert_id_) {
      // The id the client's last INSERT generated came on another connection (or another
      // client's came on this one since): this one is told it (ProxySQL answers from the
      // OK packets alike), and pinned after.
      std::string refusal;
      const std::string prime = std::string(1, static_cast<char>(Command::kQuery)) +
                                fmt::format("DO LAST_INSERT_ID({})", last_insert_id_);
      const auto done = co_await RunQuietly(prime, mysql::ResponseShape::kResults, &refusal);
      if (!done || done->reader.failed()) {
        ReleaseBackend(/*clean=*/false);
        client_.Consume(frame.bytes);
        co_await Send(reply_sequence, refusal);
        co_return !frame.continues;
      }
      backend_->set_last_insert_id(last_insert_id_);
    }
    const bool forwarded = co_await ForwardCommand();
    if (!forwarded) {
      ReleaseBackend(/*clean=*/false);
      co_return false;
    }
    const std::optional<mysql::ResponseReader> response =
        co_await RelayResponse(mysql::ShapeOf(command), 0, 0);
    if (!response) {
      ReleaseBackend(/*clean=*/false);
      co_return false;
    }
    if (command == Command::kResetConnection) {
      // The server forgot the session, the client's statements with it: so does the proxy.
      pinned_ = mysql::SessionUses();
      last_insert_id_ = 0;
      statements_.clear();
      script_lines_.clear();
      script_.clear();
      backend_->ForgetStatements();
      backend_->set_script("");
    }
    if (!response->failed()) {
      if (command == Command::kInitDb || used_schema) {
        schema_ = used_schema ? *used_schema : schema;
        backend_->set_schema(schema_);
      }
      if (!replayable_set.empty()) {
        AddToScript(std::move(replayable_set));
        backend_->set_script(script_);
      }
    }
    if (!plain_read && command == Command::kQuery && MayHaveCommitted(*response)) {
      co_await RememberWrite();
    }
    AfterResponse(*response, uses);
    co_return true;
  }

  // The response's status becomes the session's, `uses` and an open transaction pin the
  // client to its connection, and a connection that nothing pins goes back to the pool.
  void AfterResponse(const mysql::ResponseReader& response, mysql::SessionUses uses) {
    status_ = response.status() != 0 ? response.status() : status_;
    if (response.last_insert_id() != 0) {
      last_insert_id_ = response.last_insert_id();
      if (backend_) {
        backend_->set_last_insert_id(last_insert_id_);
      }
    }
    // An ERR carries no status: with autocommit off, the failed statement may still have
    // opened a transaction (its locks held), so the connection stays until one ends.
    const bool may_have_opened = response.failed() && response.status() == 0 &&
                                 (status_ & mysql::server_status::kAutocommit) == 0;
    if ((status_ & mysql::server_status::kInTransaction) != 0 || may_have_opened) {
      uses.Add(SessionUse::kTransaction);
    }
    Pin(uses);
    if (pinned_.Has(SessionUse::kTransaction) &&
        (status_ & mysql::server_status::kInTransaction) == 0) {
      // The transaction ended: it alone pins no more.
      mysql::SessionUses rest;
      for (size_t i = 0; i < mysql::kSessionUses; ++i) {
        const auto use = static_cast<SessionUse>(i);
        if (use != SessionUse::kTransaction && pinned_.Has(use)) {
          rest.Add(use);
        }
      }
      pinned_ = rest;
    }
    if (pinned_.empty()) {
      ReleaseBackend(/*clean=*/true);
    }
  }

  // The client's next whole message, consumed; nullopt when the client closed or sent
  // more than `max_payload` bytes.
  asio::awaitable<std::optional<mysql::Message>> ReadClientMessage(size_t max_payload) {
    for (;;) {
      mysql::Message message;
      switch (mysql::ReadMessage(client_.input(), max_payload, &message)) {
        case mysql::MessageStatus::kOk:
          client_.Consume(message.bytes);
          co_return message;
        case mysql::MessageStatus::kTooLarge:
          co_return std::nullopt;
        case mysql::MessageStatus::kNeedMore:
          break;
      }
      const bool more = co_await client_.ReadMore();
      if (!more) {
        co_return std::nullopt;
      }
    }
  }

  // COM_STMT_PREPARE and the commands on a prepared statement. The client's statements
  // are the proxy's: ids of its own, each with its SQL, prepared on whichever connection
  // the command is lent (once per connection: BackendConnection remembers), the ids
  // translated both ways. An execute that does not repeat its parameters' types gets
  // those the client sent last, since another connection's statement never saw them.
  // A cursor or long data pins the client (the server keeps them on one connection).
  asio::awaitable<bool> ServeStatementCommand(Command command) {
    const std::optional<mysql::Message> message = co_await ReadClientMessage(kMaxStatementMessage);
    if (!message) {
      co_return false;
    }
    const uint8_t reply_sequence = message->sequence + 1;
    mysql::SessionUses uses;
    if (command == Command::kStmtPrepare) {
      const std::string sql = message->payload.substr(1);
      const bool borrowed = co_await Borrow(reply_sequence);
      if (!borrowed) {
        co_return true;
      }
      // A command starts at sequence 0 whatever its length; the server's answer then
      // goes on from where the client's packets ended.
      std::string bytes;
      mysql::AppendMessage(bytes, 0, message->payload);
      const bool sent = co_await backend_->Write(bytes);
      const uint32_t client_id = next_statement_id_;
      std::optional<mysql::ResponseReader> response;
      if (sent) {
        response = co_await RelayResponse(mysql::ResponseShape::kPrepare, client_id, 0);
      }
      if (!response) {
        ReleaseBackend(/*clean=*/false);
        co_return false;
      }
      if (!response->failed()) {
        ++next_statement_id_;
        statements_[client_id] = {sql, response->prepared().parameters, {}};
        const bool kept = co_await RememberOnBackend(sql, response->prepared().id);
        if (!kept) {
          co_return false;
        }
      }
      AfterResponse(*response, uses);
      co_return true;
    }
    mysql::PayloadReader reader(message->payload);
    uint32_t client_id = 0;
    reader.Skip(1);
    const auto found = reader.ReadU32(&client_id) ? statements_.find(client_id) : statements_.end();
    const mysql::ResponseShape shape = mysql::ShapeOf(command);
    if (found == statements_.end()) {
      if (shape == mysql::ResponseShape::kNone) {
        co_return true;  // Closing or feeding an unknown statement: the server is silent too.
      }
      // In the server's words, which name its function for the command.
      const std::string unknown =
          fmt::format("Unknown prepared statement handler ({}) given to {}", client_id,
                      command == Command::kStmtExecute ? "mysqld_stmt_execute"
                      : command == Command::kStmtReset ? "mysqld_stmt_reset"
                                                       : "mysqld_stmt_fetch");
      co_return co_await SendErr(reply_sequence, 1243, "HY000", unknown);
    }
    if (command == Command::kStmtFetch && !backend_) {
      // A cursor pins its connection: without one, the statement has none open.
      const std::string no_cursor = fmt::format("The statement ({}) has no open cursor", client_id);
      co_return co_await SendErr(reply_sequence, 1421, "HY000", no_cursor);
    }
    ClientStatement& statement = found->second;
    if (command == Command::kStmtReset) {
      statement.long_data_lost = false;  // A reset drops long data, lost or not.
    }
    if (command == Command::kStmtClose) {
      statements_.erase(found);  // The server's stays, for the next client of this SQL.
      co_return true;
    }
    if (command == Command::kStmtReset && !backend_) {
      co_return co_await SendOk(reply_sequence);  // No long data or cursor anywhere.
    }
    if (command == Command::kStmtSendLongData) {
      uses.Add(SessionUse::kPreparedStatement);
    }
    if (command == Command::kStmtExecute && message->payload.size() > 5 &&
        (static_cast<uint8_t>(message->payload[5]) & 0x0F) != 0) {
      uses.Add(SessionUse::kPreparedStatement);  // A cursor: COM_STMT_FETCH follows.
    }
    if (command == Command::kStmtExecute && statement.long_data_lost) {
      statement.long_data_lost = false;
      co_return co_await SendErr(reply_sequence, 1053, "08S01",
                                 "the long data sent for this statement was lost: no connection "
                                 "to the database server came free for it");
    }
    const std::optional<uint8_t> error_sequence =
        shape == mysql::ResponseShape::kNone ? std::nullopt : std::optional(reply_sequence);
    const bool borrowed = co_await Borrow(error_sequence);
    if (!borrowed) {
      // Long data the server never got: its execute is refused instead of running
      // without it.
      statement.long_data_lost = command == Command::kStmtSendLongData;
      co_return true;
    }
    std::optional<uint32_t> server_id = backend_->FindStatement(statement.sql);
    if (!server_id) {
      std::string refusal;
      server_id = co_await PrepareOnBackend(statement.sql, &refusal);
      if (!server_id) {
        if (!backend_) {
          co_await Send(reply_sequence, refusal);
          co_return false;  // The connection broke.
        }
        AfterResponse(mysql::ResponseReader(mysql::ResponseShape::kNone), uses);
        if (shape == mysql::ResponseShape::kNone) {
          co_return true;
        }
        co_return co_await Send(reply_sequence, refusal);
      }
    }
    std::string payload = message->payload;
    for (int i = 0; i < 4; ++i) {
      payload[1 + i] = static_cast<char>((*server_id >> (8 * i)) & 0xFF);
    }
    if (command == Command::kStmtExecute) {
      BindParameterTypes(statement, payload);
    }
    std::string bytes;
    mysql::AppendMessage(bytes, 0, payload);
    // Parameter types put in may take the message past a packet boundary the client's did
    // not cross: the answer's sequence numbers are then moved back to the client's count.
    const uint8_t sequence_shift =
        static_cast<uint8_t>(message->payload.size() / mysql::kMaxPacketPayload -
                             payload.size() / mysql::kMaxPacketPayload);
    const bool sent = co_await backend_->Write(bytes);
    std::optional<mysql::ResponseReader> response;
    if (sent) {
      response = co_await RelayResponse(shape, 0, sequence_shift);
    }
    if (!response) {
      ReleaseBackend(/*clean=*/false);
      co_return false;
    }
    if (command == Command::kStmtExecute && !mysql::IsPlainRead(statement.sql) &&
        MayHaveCommitted(*response)) {
      co_await RememberWrite();
    }
    AfterResponse(*response, uses);
    co_return true;
  }

  // An execute's parameter types: kept when it sends them, put in when it does not.
  static void BindParameterTypes(ClientStatement& statement, std::string& payload) {
    if (statement.parameters == 0) {
      return;
    }
    // COM_STMT_EXECUTE: command, id (4), flags, iteration count (4), NULL bitmap, then
    // new_params_bound_flag and, with it, two bytes of type per parameter.
    const size_t bound_at = 10 + (statement.parameters + 7) / 8;
    const size_t types_bytes = 2 * size_t{statement.parameters};
    if (payload.size() <= bound_at) {
      return;
    }
    if (payload[bound_at] == 1) {
      statement.parameter_types = payload.substr(bound_at + 1, types_bytes);
    } else if (statement.parameter_types.size() == types_bytes) {
      payload[bound_at] = 1;
      payload.insert(bound_at + 1, statement.parameter_types);
    }
  }

  // Prepares `sql` on the backend connection, out of the client's sight. The server's
  // id; nullopt with *refusal the server's ERR payload when it refused, or when the
  // connection broke (released then).
  asio::awaitable<std::optional<uint32_t>> PrepareOnBackend(const std::string& sql,
                                                            std::string* refusal) {
    const std::string prepare = std::string(1, static_cast<char>(Command::kStmtPrepare)) + sql;
    const auto done = co_await RunQuietly(prepare, mysql::ResponseShape::kPrepare, refusal);
    if (!done || done->reader.failed()) {
      co_return std::nullopt;
    }
    const bool kept = co_await RememberOnBackend(sql, done->reader.prepared().id);
    if (!kept) {
      co_return std::nullopt;
    }
    co_return done->reader.prepared().id;
  }

  // Notes the statement on the backend connection, closing the one it pushes out.
  asio::awaitable<bool> RememberOnBackend(const std::string& sql, uint32_t id) {
    const std::optional<uint32_t> evicted = backend_->RememberStatement(sql, id);
    if (!evicted) {
      co_return true;
    }
    std::string close(1, static_cast<char>(Command::kStmtClose));
    mysql::AppendU32(close, *evicted);
    std::string bytes;
    mysql::AppendMessage(bytes, 0, close);
    const bool sent = co_await backend_->Write(bytes);  // No answer comes.
    if (!sent) {
      ReleaseBackend(/*clean=*/false);
    }
    co_return sent;
  }

  // Relays the client's command (every packet of its message) to the backend.
  asio::awaitable<bool> ForwardCommand() {
    for (;;) {
      mysql::Frame frame;
      const bool read = co_await ReadClientFrame(&frame);
      if (!read) {
        co_return false;
      }
      const bool continues = frame.continues;
      if (!co_await backend_->Write(client_.input().substr(0, frame.bytes))) {
        co_return false;
      }
      client_.Consume(frame.bytes);
      if (!continues) {
        co_return true;
      }
    }
  }

  // Relays the server's response to the client as it comes: the packets read at once go
  // on in one write, straight from the backend connection's buffer. The reader that
  // followed it, or nullopt if either side broke or the server went out of step. A
  // prepare's response carries `client_statement_id` instead of the server's id, and
  // each packet's sequence number is moved by `sequence_shift` (the client sent that many
  // packets more than the server got).
  asio::awaitable<std::optional<mysql::ResponseReader>> RelayResponse(mysql::ResponseShape shape,
                                                                      uint32_t client_statement_id,
                                                                      uint8_t sequence_shift) {
    mysql::ResponseReader reader(shape);
    if (shape == mysql::ResponseShape::kNone) {
      co_return reader;
    }
    size_t pending = 0;         // Bytes read and not yet written on, at the buffer's front.
    bool continuation = false;  // The next packet continues the message before it.
    bool first = true;
    for (;;) {
      mysql::Frame frame;
      const bool read = co_await backend_->ReadFrameAt(pending, &frame);
      if (!read) {
        co_return std::nullopt;
      }
      mysql::ResponseReader::Step step = mysql::ResponseReader::Step::kMore;
      if (!continuation) {
        step = reader.Next(frame.payload);
      }
      // The reader has read the server's id: now the client's goes in its place.
      if (first && shape == mysql::ResponseShape::kPrepare && frame.payload.size() >= 5 &&
          frame.payload[0] == 0x00) {
        char* id = backend_->buffered() + pending + mysql::kPacketHeaderBytes + 1;
        for (int i = 0; i < 4; ++i) {
          id[i] = static_cast<char>((client_statement_id >> (8 * i)) & 0xFF);
        }
      }
      if (sequence_shift != 0) {
        char* sequence = backend_->buffered() + pending + 3;  // The header's fourth byte.
        *sequence = static_cast<char>(static_cast<uint8_t>(*sequence) + sequence_shift);
      }
      first = false;
      continuation = frame.continues;
      if (step == mysql::ResponseReader::Step::kBad) {
        spdlog::warn("dbproxy: the database server's response to a command is out of step");
        co_return std::nullopt;
      }
      pending += frame.bytes;
      const bool done = step == mysql::ResponseReader::Step::kDone && !continuation;
      if (done || pending >= kRelayBatchBytes || !backend_->HasFrameAt(pending)) {
        const bool written =
            co_await client_.Write(std::string_view(backend_->buffered(), pending));
        if (!written) {
          co_return std::nullopt;
        }
        backend_->Consume(pending);
        pending = 0;
      }
      if (done) {
        co_return reader;
      }
    }
  }

  net::Connection& client_;
  const ShardContext& shard_;
  BackendLogin login_;
  std::string schema_;                                   // The client's default schema.
  std::vector<std::string> script_lines_;                // The SETs it ran (AddToScript).
  std::string script_;                                   // Those, each ended by a NUL.
  uint16_t status_ = mysql::server_status::kAutocommit;  // The last status the server sent.
  std::unique_ptr<BackendConnection> backend_;           // Borrowed for a command, or pinned.
  BackendPool* backend_pool_ = nullptr;                  // Where backend_ came from.
  mysql::GtidPosition written_;  // The client's writes (RememberWrite), for its reads.
  mysql::SessionUses pinned_;    // Why backend_ stays; empty: lent per command.
  // What LAST_INSERT_ID() says in the client's session: the last id its statements
  // generated, whichever connection they ran on.
  uint64_t last_insert_id_ = 0;
  std::unordered_map<uint32_t, ClientStatement> statements_;  // By the id the client knows.
  uint32_t next_statement_id_ = 1;
};

asio::awaitable<void> ServeMysqlClient(net::Connection& client, const ShardContext& shard) {
  ClientSession session(client, shard);
  co_await session.Serve();
}

}  // namespace trellis::db
