// MariaDbServer: a real MariaDB 10.11 server (Debian's mariadbd) that a test starts on a
// loopback port it holds, with a data directory of its own, and owns: the destructor
// stops it, pass or fail. Its binary log is on (ROW format, GTID strict mode), so it can
// be a replication primary. Root logs in over 127.0.0.1 without a password; Query runs
// SQL as root, through the MySQL protocol (MysqlClient).
//
// mariadb-install-db takes seconds: one data directory is made per test process and
// copied for each server. A server can also start on a data directory the test made
// otherwise (a restore's), logging in as an account of that data's.
//
// Thread safety: none; one test thread owns it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/temp_dir.h"

namespace trellis::testing {

class MariaDbServer {
 public:
  // Starts a server with this server id and waits until it answers; throws
  // std::runtime_error with its log when it does not.
  explicit MariaDbServer(int server_id = 1);
  // On `data` as it is (not copied, not removed), `user` and `password` for Query.
  MariaDbServer(std::filesystem::path data, std::string user, std::string password);
  ~MariaDbServer();
  MariaDbServer(const MariaDbServer&) = delete;
  MariaDbServer& operator=(const MariaDbServer&) = delete;

  // Creates 'user'@'%' with this password (mysql_native_password) and every privilege.
  void CreateUser(const std::string& user, const std::string& password);
  // Runs `sql` as root (or the account given): the last result's rows, each value tab-separated
  // ("NULL" for NULL), each row ended by a newline. Throws std::runtime_error on an error.
  std::string Query(const std::string& sql);

  uint16_t port() const { return port_.port(); }
  std::string address() const { return port_.address(); }
  const std::filesystem::path& data_dir() const { return data_; }

  // Starts it again on the same port and data and waits until it answers.
  void Start();

 private:
  TempDir dir_;
  std::filesystem::path data_;
  HeldPort port_;
  int server_id_;
  std::string user_ = "root";
  std::string password_;
  std::unique_ptr<DaemonProcess> process_;
};

}  // namespace trellis::testing
