// The command line every daemon shares: the flags each one takes (--config, --admin,
// --log-level, --drain-timeout), durations as flag values ("1.5", "250ms", "2s", "1m"),
// and how an Error becomes a message and an exit code.
//
// Thread safety: none; start-up only.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"
#include "master/client/master_client.h"
#include "net/reloadable_tls_context.h"
#include "net/tls_context.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace trellis::daemon {

struct DaemonFlags {
  std::string config;
  // Top-level keys of the --config file that are the daemon's own, not flags (the
  // gateway's listeners and pools): set by its composition root.
  std::vector<std::string> config_sections;
  std::string admin;
  std::string log_level = "info";
  std::chrono::milliseconds drain_timeout{1000};
};

// Registers the common flags on `app`; `default_admin` is the admin address when unset.
void AddDaemonFlags(CLI::App& app, DaemonFlags& flags, std::string default_admin);

// --tls-cert, --tls-key and --tls-client-ca: TLS on the daemon's `what` port (as
// memcached's -Z with ssl_chain_cert, ssl_key and ssl_ca_cert). Plaintext while
// --tls-cert is not given; a certificate needs its key.
void AddTlsFlags(CLI::App& app, const std::string& what, net::TlsServerFiles& files);

// --cluster-ca, --cluster-cert and --cluster-key: the cluster's certificate authority and
// this daemon's (or operator's) certificate from it (docs/security.md). With them the
// master serves its API and a cache node its port over mutual TLS, daemons and tools
// reach an https:// master, and every connection to a cache node is TLS.
void AddClusterTlsFlags(CLI::App& app, net::TlsClientFiles& files);
// Those flags for `files`, as a child process takes them (`trellis up`'s children).
std::vector<std::string> ClusterTlsArgs(const net::TlsClientFiles& files);
// The client side of those flags; null without --cluster-ca.
base::Result<std::shared_ptr<net::TlsClientContext>> ClusterClientTls(
    const net::TlsClientFiles& files);
// The server side (for the master): mutual TLS with --cluster-ca as the clients' CA;
// null without --cluster-cert.
base::Result<std::shared_ptr<net::ReloadableTlsContext>> ClusterServerTls(
    const net::TlsClientFiles& files);
// How a daemon reaches its master: --master, the token in --token-file, --cluster-*.
base::Result<master::MasterAccess> MasterAccessOf(const std::string& url,
                                                  const std::string& token_file,
                                                  const net::TlsClientFiles& tls);

// How a platform service (the backup center, a storage node, the NBD server) reaches its
// master: --master, --token-file and the --cluster-* flags, as AddServiceMasterFlags
// declares them.
struct ServiceMasterFlags {
  std::string url = "http://127.0.0.1:9190";
  std::string token_file;
  net::TlsClientFiles cluster_tls;
};
void AddServiceMasterFlags(CLI::App& app, ServiceMasterFlags& flags);
base::Result<master::MasterAccess> MasterAccessOf(const ServiceMasterFlags& flags);

// --token-file: the file of the token this daemon's or tool's calls to the master carry
// (docs/security.md; `trellis up` writes trellis-data/admin.token).
CLI::Option* AddTokenFileFlag(CLI::App& app, std::string& path);
// The token in `path`, whitespace trimmed; "" when `path` is empty. Errors start with
// "--token-file".
base::Result<std::string> ReadTokenFile(const std::string& path);

// --token-file of an operator's tool, read with OperatorToken.
CLI::Option* AddOperatorTokenFlag(CLI::App& app, std::string& path);

// What an operator's tool (`trellis cluster`, `trellis token`) needs to reach the master:
// --master (default: the one `trellis up` started from DATA), --data, --token-file, and
// --cluster-* (default: the CA `trellis up` keeps in DATA/ca and the certificate it
// issued there to "operator", if any).
struct OperatorFlags {
  std::string master;
  std::string data = "trellis-data";
  std::string token_file;
  net::TlsClientFiles tls;
};
void AddOperatorFlags(CLI::App& app, OperatorFlags& flags);
// The URL `trellis up` wrote to DATA/`file` ("master.url", "up.url").
base::Result<std::string> UrlOfUp(const std::string& data, const std::string& file);
// --master (else DATA/master.url) and the token OperatorToken reads.
base::Result<master::MasterAccess> OperatorMaster(const OperatorFlags& flags);
// The token of an operator's tool (`trellis cluster`, `trellis token`, ...): the one in
// `token_file` when given, else the admin token `trellis up` wrote to
// <data_dir>/admin.token if there is one, else "".
base::Result<std::string> OperatorToken(const std::string& token_file, const std::string& data_dir);

// A duration flag: a number of seconds ("0.5") or a number with a unit (ms, s, m, h).
// `at_least` and `at_most` bound it; `help` says what it is for.
struct DurationFlag {
  std::string name;  // "--drain-timeout"
  std::string help;
  std::chrono::milliseconds at_least{0};
  std::chrono::milliseconds at_most{std::chrono::hours(24)};
};
CLI::Option* AddDurationFlag(CLI::App& app, const DurationFlag& flag,
                             std::chrono::milliseconds& value);

// Parses and resolves the HOST:PORT value of `flag`; errors start with the flag's name.
base::Result<boost::asio::ip::tcp::endpoint> ResolveFlag(const std::string& flag,
                                                         const std::string& value);

// The exit code for a failure: 2 for invalid arguments (as for bad flags), 69 when a peer
// was unavailable, 66 when something named was not found, 65 for a conflict, 77 when a
// credential was missing or not enough, 1 otherwise.
int ExitCodeFor(const base::Error& error);

// Prints "trellis <command>: <message>" to stderr and returns ExitCodeFor(error).
int Fail(const CLI::App& app, const base::Error& error);

// An operator's tool that acts on the master and prints what it got (`trellis token`,
// `trellis tenant`): runs `act` against OperatorMaster(flags) and returns the exit code,
// 0 or Fail's.
int ActOnMaster(const CLI::App& app, const OperatorFlags& flags,
                std::function<boost::asio::awaitable<base::Status>(master::MasterClient&)> act);

}  // namespace trellis::daemon
