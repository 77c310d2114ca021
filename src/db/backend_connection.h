// BackendConnection: one connection from the dbproxy to the database server, logged in
// as one user with one set of session-shaping flags (BackendKey). The dbproxy lends it
// to a client for a statement or a transaction (backend_pool.h); it reads the server's
// packets one at a time into its own buffer (packet.h's frames) and writes the client's
// through.
//
// Login: the server's greeting, then a Handshake Response 41 answering its challenge
// with mysql_native_password computed from the user's SHA1(password), which the proxy
// learned from the client's own login (auth.h); an Auth Switch Request to the same
// plugin is answered too. Any other plugin, or an ERR, fails the login with the server's
// words.
//
// Thread safety: one coroutine at a time, on the shard that opened it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "base/result.h"
#include "proto/mysql/auth.h"
#include "proto/mysql/packet.h"

namespace trellis::db {

// What makes two backend connections interchangeable for a client: the same user, the
// same character set, and the same client flags that change what the server does
// (CLIENT_FOUND_ROWS, CLIENT_MULTI_STATEMENTS, CLIENT_IGNORE_SPACE).
struct BackendKey {
  std::string user;
  uint8_t charset = 0;
  uint32_t flags = 0;

  friend bool operator==(const BackendKey&, const BackendKey&) = default;
};

// The client capability flags a BackendKey keeps.
uint32_t SessionShapingFlags(uint32_t client_capabilities);

// What a client's session has put on a connection beyond its login: the default schema
// and the session variables it set (its SET statements, in order, one per line), which
// the proxy gives any connection it lends the client (client_session.h).
struct SessionState {
  std::string schema;  // "" for none.
  std::string script;  // "" for none.

  friend bool operator==(const SessionState&, const SessionState&) = default;
};

// What logging in as a client's user takes.
struct BackendLogin {
  BackendKey key;
  proto::mysql::Sha1 password_sha1{};
};

class BackendConnection {
 public:
  // Connects within `timeout`, then logs in within `timeout` again. Errors: unreachable,
  // silent, or the server's refusal
  // ("Access denied ...", with its code).
  static boost::asio::awaitable<base::Result<std::unique_ptr<BackendConnection>>> Open(
      const boost::asio::ip::tcp::endpoint& server, const BackendLogin& login,
      std::chrono::milliseconds timeout);

  // The server's packet that starts `offset` bytes into what is buffered and not yet
  // consumed, read from the socket first if it is not whole; its views last until the
  // next read or Consume. False if the connection broke. A relay reads a response's
  // packets at growing offsets and writes them on from the buffer, consumed together.
  boost::asio::awaitable<bool> ReadFrameAt(size_t offset, proto::mysql::Frame* frame);
  // Whether a whole packet starts at `offset` already (ReadFrameAt would not wait).
  bool HasFrameAt(size_t offset) const;
  // What is buffered and not consumed; writable, for a rewrite in place.
  char* buffered();
  void Consume(size_t bytes);
  boost::asio::awaitable<bool> Write(std::string_view bytes);

  const BackendKey& key() const { return key_; }
  // The session as the proxy last made it.
  const SessionState& session() const { return session_; }
  // The address of the server it is connected to (unspecified once it broke).
  boost::asio::ip::tcp::endpoint server() const;
  void set_schema(std::string schema) { session_.schema = std::move(schema); }
  void set_script(std::string script) { session_.script = std::move(script); }

  // The statements prepared on this connection, by their SQL: clients' prepared
  // statements are the proxy's, and run on whichever connection is lent, prepared there
  // once (client_session.h). A connection keeps at most kMaxStatements; past that,
  // RememberStatement returns the least recently used one's id for the caller to close
  // (or the earlier id of the same SQL, prepared again).
  static constexpr size_t kMaxStatements = 1024;
  std::optional<uint32_t> FindStatement(const std::string& sql);
  std::optional<uint32_t> RememberStatement(const std::string& sql, uint32_t id);
  // The server forgot them all (COM_RESET_CONNECTION), and LAST_INSERT_ID() with them.
  void ForgetStatements() {
    statements_.clear();
    last_insert_id_ = 0;
  }

  // What LAST_INSERT_ID() says on this connection: the last id its statements generated
  // (whichever client's), as the proxy saw the answers go by.
  uint64_t last_insert_id() const { return last_insert_id_; }
  void set_last_insert_id(uint64_t id) { last_insert_id_ = id; }

 private:
  BackendConnection(boost::asio::ip::tcp::socket socket, BackendKey key)
      : socket_(std::move(socket)), key_(std::move(key)) {}
  boost::asio::awaitable<base::Status> LogIn(const BackendLogin& login);
  // The next whole message, consumed (the login's, before any frame is read).
  boost::asio::awaitable<base::Result<proto::mysql::Message>> ReadMessage();
  // Appends what the socket has to input_; false if it broke.
  boost::asio::awaitable<bool> ReadMore();

  boost::asio::ip::tcp::socket socket_;
  BackendKey key_;
  SessionState session_;
  uint64_t last_insert_id_ = 0;
  // SQL -> the server's statement id and when it was last used (a counter).
  struct Statement {
    uint32_t id = 0;
    uint64_t used = 0;
  };
  std::unordered_map<std::string, Statement> statements_;
  uint64_t uses_ = 0;
  // Read and not consumed. A flat_buffer: reads go into space it keeps, not zeroed
  // first as a std::string's would be (64 KiB of memset per read).
  boost::beast::flat_buffer input_;
};

}  // namespace trellis::db
