#include "gateway/gateway_config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace trellis::gateway {

std::string_view Name(ListenerKind kind) {
  switch (kind) {
    case ListenerKind::kTcp:
      return "tcp";
    case ListenerKind::kHttp:
      return "http";
    case ListenerKind::kTls:
      break;
  }
  return "tls";
}

std::string_view Name(TlsMode mode) {
  switch (mode) {
    case TlsMode::kPassthrough:
      return "passthrough";
    case TlsMode::kTerminate:
      break;
  }
  return "terminate";
}

std::string_view Name(Balance balance) {
  switch (balance) {
    case Balance::kRoundRobin:
      return "round-robin";
    case Balance::kLeastConnections:
      return "least-connections";
    case Balance::kHashSource:
      break;
  }
  return "hash-source";
}

std::string_view Name(CheckKind kind) {
  switch (kind) {
    case CheckKind::kTcp:
      return "tcp";
    case CheckKind::kHttp:
      return "http";
    case CheckKind::kNone:
      break;
  }
  return "none";
}

const PoolConfig* GatewayConfig::FindPool(std::string_view name) const {
  for (const PoolConfig& pool : pools) {
    if (pool.name == name) {
      return &pool;
    }
  }
  return nullptr;
}

namespace {

using base::Error;
using base::Result;
using base::Status;
using std::chrono::milliseconds;

constexpr size_t kMaxNameLength = 64;
constexpr uint32_t kMaxWeight = 1000;
constexpr uint32_t kMaxCount = std::numeric_limits<uint32_t>::max();
// Longer is a mistake (no timeout or interval of the gateway is meant to last a day), and
// the bound keeps `now + timeout` far from overflowing.
constexpr milliseconds kMaxDuration = std::chrono::hours(24);

constexpr std::array kListenerKinds = {ListenerKind::kTcp, ListenerKind::kHttp, ListenerKind::kTls};
constexpr std::array kTlsModes = {TlsMode::kPassthrough, TlsMode::kTerminate};
constexpr std::array kBalances = {Balance::kRoundRobin, Balance::kLeastConnections,
                                  Balance::kHashSource};
constexpr std::array kCheckKinds = {CheckKind::kTcp, CheckKind::kHttp, CheckKind::kNone};

// One value of the file and where it is: `where` names the table holding it
// ("listener \"web\": limits"), empty at the top level.
struct Field {
  std::string_view where;
  std::string_view key;
  const toml::node& node;
};

Error ErrorAt(std::string_view where, std::string_view message) {
  return base::InvalidArgument(where.empty() ? std::string(message)
                                             : fmt::format("{}: {}", where, message));
}

// " (line 3)" for a node read from a file; "" for one made from JSON (the API's).
std::string LineOf(const toml::node& node) {
  const auto line = node.source().begin.line;
  return line == 0 ? "" : fmt::format(" (line {})", line);
}

// "listener \"web\": bind: <message> (line 3)".
Error FieldError(const Field& field, std::string_view message) {
  return ErrorAt(field.where, fmt::format("{}: {}{}", field.key, message, LineOf(field.node)));
}

Error UnknownKey(const Field& field) {
  return ErrorAt(field.where, fmt::format("unknown key \"{}\"{}", field.key, LineOf(field.node)));
}

// The table's entries in the order the file writes them (toml::table sorts its keys), so
// that the problem reported is the first one in the file.
std::vector<std::pair<std::string_view, const toml::node*>> InFileOrder(const toml::table& table) {
  std::vector<std::pair<std::string_view, const toml::node*>> entries;
  for (const auto& [key, node] : table) {
    entries.emplace_back(key.str(), &node);
  }
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const toml::source_position& x = a.second->source().begin;
    const toml::source_position& y = b.second->source().begin;
    return std::pair(x.line, x.column) < std::pair(y.line, y.column);
  });
  return entries;
}

bool IsBlankOrControl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte <= 0x20 || byte == 0x7f;
}

bool HasBlankOrControl(std::string_view text) {
  return std::any_of(text.begin(), text.end(), IsBlankOrControl);
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Parses all of `text` as a decimal number; no sign, no blanks.
template <typename Number>
bool ParseDecimal(std::string_view text, Number& number) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// Whether `text` is HOST:PORT with a port in min_port..65535: the spellings
// net::ParseHostPort accepts (which the gateway reads them with), more strictly: an IPv6
// host goes in brackets, and there are no blanks or control characters (a server string
// separates its weight with a blank).
bool IsHostPort(std::string_view text, unsigned min_port) {
  const size_t colon = text.rfind(':');
  if (HasBlankOrControl(text) || colon == std::string_view::npos) {
    return false;
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find_first_of("[]") != std::string_view::npos) {
      return false;
    }
  } else if (host.find_first_of("[]:") != std::string_view::npos) {
    return false;
  }
  unsigned port = 0;
  return !host.empty() && ParseDecimal(text.substr(colon + 1), port) && port >= min_port &&
         port <= 65535;
}

Result<std::string> ReadString(const Field& field) {
  if (const toml::value<std::string>* value = field.node.as_string()) {
    return value->get();
  }
  return FieldError(field, "expected a string");
}

Result<std::string> ReadName(const Field& field) {
  TRELLIS_TRY(std::string name, ReadString(field));
  if (name.empty() || name.size() > kMaxNameLength ||
      !std::all_of(name.begin(), name.end(), IsNameChar)) {
    return FieldError(
        field, fmt::format("\"{}\" is not 1 to {} of A-Z a-z 0-9 . _ -", name, kMaxNameLength));
  }
  return name;
}

// A string that must be present and hold no blank: a host or a domain.
Result<std::string> ReadWord(const Field& field) {
  TRELLIS_TRY(std::string word, ReadString(field));
  if (word.empty()) {
    return FieldError(field, "is empty");
  }
  if (HasBlankOrControl(word)) {
    return FieldError(field, fmt::format("\"{}\" holds a blank or a control character", word));
  }
  return word;
}

Result<std::string> ReadPath(const Field& field) {
  TRELLIS_TRY(std::string path, ReadString(field));
  if (!path.starts_with('/')) {
    return FieldError(field, fmt::format("\"{}\" does not start with '/'", path));
  }
  if (HasBlankOrControl(path)) {
    return FieldError(field, fmt::format("\"{}\" holds a blank or a control character", path));
  }
  return path;
}

Result<uint32_t> ReadInteger(const Field& field, uint32_t min, uint32_t max) {
  const toml::value<int64_t>* value = field.node.as_integer();
  if (value == nullptr) {
    return FieldError(field, "expected an integer");
  }
  const int64_t number = value->get();
  if (number < static_cast<int64_t>(min) || number > static_cast<int64_t>(max)) {
    return FieldError(field, fmt::format("{} is not in {}..{}", number, min, max));
  }
  return static_cast<uint32_t>(number);
}

Result<milliseconds> ReadDuration(const Field& field) {
  const toml::value<std::string>* value = field.node.as_string();
  if (value == nullptr) {
    return FieldError(field, "expected a duration such as \"500ms\", \"5s\" or \"1m\"");
  }
  const std::string_view text = value->get();
  const size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
  const std::string_view unit = text.substr(digits);
  int64_t unit_ms = 0;
  if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "s") {
    unit_ms = 1000;
  } else if (unit == "m") {
    unit_ms = 60 * 1000;
  }
  uint64_t count = 0;
  if (unit_ms == 0 || !ParseDecimal(text.substr(0, digits), count)) {
    // Also a count past 2^64: from_chars refuses it.
    return FieldError(
        field, fmt::format("\"{}\" is not a duration such as \"500ms\", \"5s\" or \"1m\"", text));
  }
  if (count == 0) {
    return FieldError(field, fmt::format("\"{}\" is not positive", text));
  }
  if (count > static_cast<uint64_t>(kMaxDuration.count() / unit_ms)) {
    return FieldError(field, fmt::format("\"{}\" is longer than a day", text));
  }
  return milliseconds(static_cast<int64_t>(count) * unit_ms);
}

template <typename Enum, size_t N>
Result<Enum> ReadEnum(const Field& field, const std::array<Enum, N>& values) {
  TRELLIS_TRY(std::string text, ReadString(field));
  std::string names;
  for (Enum value : values) {
    if (Name(value) == text) {
      return value;
    }
    names += fmt::format("{}{}", names.empty() ? "" : ", ", Name(value));
  }
  return FieldError(field, fmt::format("\"{}\" is not one of {}", text, names));
}

Result<const toml::table*> ReadTable(const Field& field) {
  if (const toml::table* table = field.node.as_table()) {
    return table;
  }
  return FieldError(field, "expected a table");
}

// An array of tables, as [[`spelling`]] sections write it (or an array of inline tables).
Result<std::vector<const toml::table*>> ReadTables(const Field& field, std::string_view spelling) {
  const toml::array* array = field.node.as_array();
  std::vector<const toml::table*> tables;
  for (size_t i = 0; array != nullptr && i < array->size(); ++i) {
    tables.push_back(array->get(i)->as_table());
  }
  if (array == nullptr || std::count(tables.begin(), tables.end(), nullptr) != 0) {
    return FieldError(field, fmt::format("expected an array of tables ([[{}]])", spelling));
  }
  return tables;
}

Result<RouteConfig> ReadRoute(const toml::table& table, std::string_view where) {
  RouteConfig route;
  for (const auto& [key, node] : InFileOrder(table)) {
    const Field field{where, key, *node};
    if (key == "host") {
      TRELLIS_TRY(route.host, ReadWord(field));
    } else if (key == "path") {
      TRELLIS_TRY(route.path, ReadPath(field));
    } else if (key == "pool") {
      // Whether it names a pool is checked once every pool is read.
      TRELLIS_TRY(route.pool, ReadString(field));
    } else {
      return UnknownKey(field);
    }
  }
  if (route.pool.empty()) {
    return ErrorAt(where, "pool is required");
  }
  return route;
}

Result<CertificateConfig> ReadCertificate(const toml::table& table, std::string_view where) {
  CertificateConfig certificate;
  for (const auto& [key, node] : InFileOrder(table)) {
    const Field field{where, key, *node};
    if (key == "domain") {
      TRELLIS_TRY(certificate.domain, ReadWord(field));
    } else if (key == "cert") {
      TRELLIS_TRY(certificate.cert, ReadString(field));
    } else if (key == "key") {
      TRELLIS_TRY(certificate.key, ReadString(field));
    } else {
      return UnknownKey(field);
    }
  }
  for (const auto& [name, value] :
       {std::pair("domain", &certificate.domain), std::pair("cert", &certificate.cert),
        std::pair("key", &certificate.key)}) {
    if (value->empty()) {
      return ErrorAt(where, fmt::format("{} is required", name));
    }
  }
  return certificate;
}

struct LimitsCount {
  std::string_view key;
  uint32_t LimitsConfig::*field;
  uint32_t min;
};
constexpr std::array kLimitsCounts = {
    LimitsCount{"max_connections", &LimitsConfig::max_connections, 1},
    LimitsCount{"per_source_connections", &LimitsConfig::per_source_connections, 0},
    LimitsCount{"per_source_rate", &LimitsConfig::per_source_rate, 0},
    LimitsCount{"per_source_burst", &LimitsConfig::per_source_burst, 0},
    LimitsCount{"max_header_bytes", &LimitsConfig::max_header_bytes, 1},
    LimitsCount{"max_headers", &LimitsConfig::max_headers, 1},
};

struct LimitsDuration {
  std::string_view key;
  milliseconds LimitsConfig::*field;
};
constexpr std::array kLimitsDurations = {
    LimitsDuration{"first_byte_timeout", &LimitsConfig::first_byte_timeout},
    LimitsDuration{"head_timeout", &LimitsConfig::head_timeout},
    LimitsDuration{"server_timeout", &LimitsConfig::server_timeout},
    LimitsDuration{"idle_timeout", &LimitsConfig::idle_timeout},
};

Result<LimitsConfig> ReadLimits(const toml::table& table, std::string_view where) {
  LimitsConfig limits;
  for (const auto& [key, node] : InFileOrder(table)) {
    const Field field{where, key, *node};
    const auto count = std::find_if(kLimitsCounts.begin(), kLimitsCounts.end(),
                                    [&field](const LimitsCount& c) { return c.key == field.key; });
    const auto duration =
        std::find_if(kLimitsDurations.begin(), kLimitsDurations.end(),
                     [&field](const LimitsDuration& d) { return d.key == field.key; });
    if (count != kLimitsCounts.end()) {
      TRELLIS_TRY(limits.*count->field, ReadInteger(field, count->min, kMaxCount));
    } else if (duration != kLimitsDurations.end()) {
      TRELLIS_TRY(limits.*duration->field, ReadDuration(field));
    } else {
      return UnknownKey(field);
    }
  }
  if (limits.per_source_burst != 0 && limits.per_source_rate == 0) {
    return ErrorAt(where, "per_source_burst is set but per_source_rate is not");
  }
  return limits;
}

// Which of the keys that only some kinds may use the listener's table holds.
struct KindKeys {
  bool pool = false;
  bool tls = false;
  bool route = false;
  bool certificate = false;
};

// The fields each kind needs, and none it cannot use.
Status CheckKindKeys(const ListenerConfig& listener, const KindKeys& keys, std::string_view where) {
  if (keys.tls && listener.kind != ListenerKind::kTls) {
    return ErrorAt(
        where, fmt::format("kind \"{}\" takes no tls (kind \"tls\" does)", Name(listener.kind)));
  }
  switch (listener.kind) {
    case ListenerKind::kTcp:
      if (listener.pool.empty()) {
        return ErrorAt(where, "a tcp listener needs a pool");
      }
      if (keys.route || keys.certificate) {
        return ErrorAt(where, "a tcp listener takes no routes or certificates (only a pool)");
      }
      return {};
    case ListenerKind::kHttp:
      if (keys.pool) {
        return ErrorAt(where, "an http listener takes no pool (its routes name the pools)");
      }
      if (keys.certificate) {
        return ErrorAt(where, "an http listener takes no certificates (a tls listener does)");
      }
      if (listener.routes.empty()) {
        return ErrorAt(where, "an http listener needs at least one [[listener.route]]");
      }
      return {};
    case ListenerKind::kTls:
      break;
  }
  if (listener.tls == TlsMode::kTerminate) {
    if (keys.pool) {
      return ErrorAt(where, "a tls terminate listener takes no pool (its routes name the pools)");
    }
    if (listener.certificates.empty()) {
      return ErrorAt(where, "a tls terminate listener needs at least one [[listener.certificate]]");
    }
    if (listener.routes.empty()) {
      return ErrorAt(where, "a tls terminate listener needs at least one [[listener.route]]");
    }
    return {};
  }
  if (keys.certificate) {
    return ErrorAt(where,
                   "a tls passthrough listener takes no certificates (tls = \"terminate\" does)");
  }
  if (keys.pool && keys.route) {
    return ErrorAt(where, "a tls passthrough listener takes routes or a pool, not both");
  }
  if (listener.pool.empty() && listener.routes.empty()) {
    return ErrorAt(where, "a tls passthrough listener needs routes or a pool");
  }
  for (size_t i = 0; i < listener.routes.size(); ++i) {
    if (listener.routes[i].path != "/") {
      return ErrorAt(where, fmt::format("route {}: path \"{}\": tls passthrough routes by SNI "
                                        "alone (path \"/\")",
                                        i + 1, listener.routes[i].path));
    }
  }
  return {};
}

// No two routes for the same host and path, no two certificates for the same domain.
Status CheckNoDuplicates(const ListenerConfig& listener, std::string_view where) {
  for (size_t i = 0; i < listener.routes.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const RouteConfig& a = listener.routes[j];
      const RouteConfig& b = listener.routes[i];
      if (a.host == b.host && a.path == b.path) {
        return ErrorAt(where, fmt::format("route {}: host \"{}\" path \"{}\" is route {}'s too",
                                          i + 1, b.host, b.path, j + 1));
      }
    }
  }
  for (size_t i = 0; i < listener.certificates.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (listener.certificates[j].domain == listener.certificates[i].domain) {
        return ErrorAt(where, fmt::format("certificate {}: domain \"{}\" is certificate {}'s too",
                                          i + 1, listener.certificates[i].domain, j + 1));
      }
    }
  }
  return {};
}

Result<ListenerConfig> ReadListener(const toml::table& table, size_t index) {
  ListenerConfig listener;
  std::string where = fmt::format("listener {}", index + 1);
  const toml::node* name = table.get("name");
  if (name == nullptr) {
    return ErrorAt(where, "name is required");
  }
  TRELLIS_TRY(listener.name, ReadName(Field{where, "name", *name}));
  where = fmt::format("listener \"{}\"", listener.name);
  bool has_bind = false;
  KindKeys keys;
  for (const auto& [key, node] : InFileOrder(table)) {
    const Field field{where, key, *node};
    if (key == "name") {
      continue;
    }
    if (key == "bind") {
      has_bind = true;
      TRELLIS_TRY(listener.bind, ReadString(field));
      if (!IsHostPort(listener.bind, 0)) {
        return FieldError(
            field, fmt::format("\"{}\" is not HOST:PORT with a port 0-65535", listener.bind));
      }
    } else if (key == "kind") {
      TRELLIS_TRY(listener.kind, ReadEnum(field, kListenerKinds));
    } else if (key == "tls") {
      keys.tls = true;
      TRELLIS_TRY(listener.tls, ReadEnum(field, kTlsModes));
    } else if (key == "pool") {
      keys.pool = true;
      TRELLIS_TRY(listener.pool, ReadString(field));
    } else if (key == "route") {
      keys.route = true;
      TRELLIS_TRY(const std::vector<const toml::table*> routes,
                  ReadTables(field, "listener.route"));
      for (size_t i = 0; i < routes.size(); ++i) {
        TRELLIS_TRY(RouteConfig route,
                    ReadRoute(*routes[i], fmt::format("{}: route {}", where, i + 1)));
        listener.routes.push_back(std::move(route));
      }
    } else if (key == "certificate") {
      keys.certificate = true;
      TRELLIS_TRY(const std::vector<const toml::table*> certificates,
                  ReadTables(field, "listener.certificate"));
      for (size_t i = 0; i < certificates.size(); ++i) {
        TRELLIS_TRY(
            CertificateConfig certificate,
            ReadCertificate(*certificates[i], fmt::format("{}: certificate {}", where, i + 1)));
        listener.certificates.push_back(std::move(certificate));
      }
    } else if (key == "limits") {
      TRELLIS_TRY(const toml::table* limits, ReadTable(field));
      TRELLIS_TRY(listener.limits, ReadLimits(*limits, fmt::format("{}: limits", where)));
    } else {
      return UnknownKey(field);
    }
  }
  if (!has_bind) {
    return ErrorAt(where, "bind is required");
  }
  TRELLIS_TRY_STATUS(CheckKindKeys(listener, keys, where));
  TRELLIS_TRY_STATUS(CheckNoDuplicates(listener, where));
  return listener;
}

Result<ServerConfig> ReadServer(const Field& field) {
  TRELLIS_TRY(const std::string text, ReadString(field));
  std::vector<std::string_view> words;
  for (size_t begin = text.find_first_not_of(" \t"); begin != std::string::npos;) {
    const size_t end = std::min(text.find_first_of(" \t", begin), text.size());
    words.push_back(std::string_view(text).substr(begin, end - begin));
    begin = text.find_first_not_of(" \t", end);
  }
  if (words.empty() || words.size() > 2) {
    return FieldError(field,
                      fmt::format("\"{}\" is not \"HOST:PORT\" or \"HOST:PORT weight=N\"", text));
  }
  ServerConfig server;
  if (!IsHostPort(words[0], 1)) {
    return FieldError(field, fmt::format("\"{}\" is not HOST:PORT with a port 1-65535", words[0]));
  }
  server.address = std::string(words[0]);
  if (words.size() == 2) {
    constexpr std::string_view kWeight = "weight=";
    if (!words[1].starts_with(kWeight) ||
        !ParseDecimal(words[1].substr(kWeight.size()), server.weight) ||
        server.weight > kMaxWeight) {
      return FieldError(
          field, fmt::format("\"{}\" is not weight=N with N in 0..{}", words[1], kMaxWeight));
    }
  }
  return server;
}

Result<CheckConfig> ReadCheck(const toml::table& table, std::string_view where) {
  CheckConfig check;
  bool has_path = false;
  bool has_expect = false;
  for (const auto& [key, node] : InFileOrder(table)) {
    const Field field{where, key, *node};
    if (key == "kind") {
      TRELLIS_TRY(check.kind, ReadEnum(field, kCheckKinds));
    } else if (key == "path") {
      has_path = true;
      TRELLIS_TRY(check.path, ReadPath(field));
    } else if (key == "interval") {
      TRELLIS_TRY(check.interval, ReadDuration(field));
    } else if (key == "rise") {
      TRELLIS_TRY(check.rise, ReadInteger(field, 1, kMaxCount));
    } else if (key == "fall") {
      TRELLIS_TRY(check.fall, ReadInteger(field, 1, kMaxCount));
    } else if (key == "timeout") {
      TRELLIS_TRY(check.timeout, ReadDuration(field));
    } else if (key == "expect") {
      has_expect = true;
      TRELLIS_TRY(check.expect, ReadInteger(field, 0, 599));
      if (check.expect != 0 && check.expect < 100) {
        return FieldError(field, fmt::format("{} is neither 0 (any 2xx or 3xx) nor a status "
                                             "100..599",
                                             check.expect));
      }
    } else {
      return UnknownKey(field);
    }
  }
  if (check.kind != CheckKind::kHttp && (has_path || has_expect)) {
    return ErrorAt(where, fmt::format("kind \"{}\" takes no {} (kind \"http\" does)",
                                      Name(check.kind), has_path ? "path" : "expect"));
  }
  return check;
}

Result<PoolConfig> ReadPool(const toml::table& table, size_t index) {
  PoolConfig pool;
  std::string where = fmt::format("pool {}", index + 1);
  const toml::node* name = table.get("name");
  if (name == nullptr) {
    return ErrorAt(where, "name is required");
  }
  TRELLIS_TRY(pool.name, ReadName(Field{where, "name", *name}));
  where = fmt::format("pool \"{}\"", pool.name);
  for (const auto& [key, node] : InFileOrder(table)) {
    const Field field{where, key, *node};
    if (key == "name") {
      continue;
    }
    if (key == "servers") {
      const toml::array* servers = node->as_array();
      if (servers == nullptr) {
        return FieldError(field, "expected an array of \"HOST:PORT [weight=N]\" strings");
      }
      for (size_t i = 0; i < servers->size(); ++i) {
        const std::string server_key = fmt::format("server {}", i + 1);
        const Field server_field{where, server_key, *servers->get(i)};
        TRELLIS_TRY(ServerConfig server, ReadServer(server_field));
        for (size_t j = 0; j < pool.servers.size(); ++j) {
          if (pool.servers[j].address == server.address) {
            return FieldError(server_field,
                              fmt::format("\"{}\" is server {} too", server.address, j + 1));
          }
        }
        pool.servers.push_back(std::move(server));
      }
    } else if (key == "balance") {
      TRELLIS_TRY(pool.balance, ReadEnum(field, kBalances));
    } else if (key == "check") {
      TRELLIS_TRY(const toml::table* check, ReadTable(field));
      TRELLIS_TRY(pool.check, ReadCheck(*check, fmt::format("{}: check", where)));
    } else {
      return UnknownKey(field);
    }
  }
  return pool;
}

// The binds of two listeners must differ, unless they ask for any free port.
bool SameFixedBind(const std::string& a, const std::string& b) {
  unsigned port = 0;
  return a == b && ParseDecimal(std::string_view(a).substr(a.rfind(':') + 1), port) && port != 0;
}

// Every pool a listener or a route names is defined.
Status CheckPoolsDefined(const GatewayConfig& config) {
  for (const ListenerConfig& listener : config.listeners) {
    const std::string where = fmt::format("listener \"{}\"", listener.name);
    if (!listener.pool.empty() && config.FindPool(listener.pool) == nullptr) {
      return ErrorAt(where, fmt::format("pool \"{}\" is not defined", listener.pool));
    }
    for (size_t i = 0; i < listener.routes.size(); ++i) {
      if (config.FindPool(listener.routes[i].pool) == nullptr) {
        return ErrorAt(where, fmt::format("route {}: pool \"{}\" is not defined", i + 1,
                                          listener.routes[i].pool));
      }
    }
  }
  return {};
}

// A TOML basic string holding `text`: quotes, backslashes and control characters escaped.
std::string Quote(std::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\t':
        quoted += "\\t";
        break;
      case '\r':
        quoted += "\\r";
        break;
      default:
        if (const auto byte = static_cast<unsigned char>(c); byte < 0x20 || byte == 0x7f) {
          quoted += fmt::format("\\u{:04X}", byte);
        } else {
          quoted += c;
        }
    }
  }
  quoted += '"';
  return quoted;
}

std::string Duration(milliseconds duration) { return fmt::format("\"{}ms\"", duration.count()); }

std::string ServerToToml(const ServerConfig& server) {
  return Quote(server.weight == 1 ? server.address
                                  : fmt::format("{} weight={}", server.address, server.weight));
}

void AppendListener(const ListenerConfig& listener, std::string& out) {
  out += fmt::format("[[listener]]\nname = {}\nbind = {}\nkind = {}\n", Quote(listener.name),
                     Quote(listener.bind), Quote(Name(listener.kind)));
  if (!listener.pool.empty()) {
    out += fmt::format("pool = {}\n", Quote(listener.pool));
  }
  if (listener.kind == ListenerKind::kTls) {
    out += fmt::format("tls = {}\n", Quote(Name(listener.tls)));
  }
  for (const RouteConfig& route : listener.routes) {
    out += fmt::format("\n[[listener.route]]\nhost = {}\npath = {}\npool = {}\n", Quote(route.host),
                       Quote(route.path), Quote(route.pool));
  }
  for (const CertificateConfig& certificate : listener.certificates) {
    out += fmt::format("\n[[listener.certificate]]\ndomain = {}\ncert = {}\nkey = {}\n",
                       Quote(certificate.domain), Quote(certificate.cert), Quote(certificate.key));
  }
  const LimitsConfig& limits = listener.limits;
  out += fmt::format(
      "\n[listener.limits]\nmax_connections = {}\nper_source_connections = {}\n"
      "per_source_rate = {}\nper_source_burst = {}\nfirst_byte_timeout = {}\n"
      "head_timeout = {}\nmax_header_bytes = {}\nmax_headers = {}\nserver_timeout = {}\n"
      "idle_timeout = {}\n",
      limits.max_connections, limits.per_source_connections, limits.per_source_rate,
      limits.per_source_burst, Duration(limits.first_byte_timeout), Duration(limits.head_timeout),
      limits.max_header_bytes, limits.max_headers, Duration(limits.server_timeout),
      Duration(limits.idle_timeout));
}

void AppendPool(const PoolConfig& pool, std::string& out) {
  out += fmt::format("[[pool]]\nname = {}\nservers = [", Quote(pool.name));
  for (const ServerConfig& server : pool.servers) {
    out += fmt::format("\n  {},", ServerToToml(server));
  }
  out += pool.servers.empty() ? "]\n" : "\n]\n";
  const CheckConfig& check = pool.check;
  out += fmt::format("balance = {}\ncheck = {{ kind = {}", Quote(Name(pool.balance)),
                     Quote(Name(check.kind)));
  if (check.kind == CheckKind::kHttp) {
    out += fmt::format(", path = {}", Quote(check.path));
  }
  out += fmt::format(", interval = {}, rise = {}, fall = {}, timeout = {}",
                     Duration(check.interval), check.rise, check.fall, Duration(check.timeout));
  if (check.kind == CheckKind::kHttp) {
    out += fmt::format(", expect = {}", check.expect);
  }
  out += " }\n";
}

// Where a value converted from JSON goes: a table's key, or the end of an array.
struct TomlSlot {
  toml::table* table = nullptr;
  std::string key;
  toml::array* array = nullptr;

  template <typename Value>
  void Put(Value&& value) {
    if (array != nullptr) {
      array->push_back(std::forward<Value>(value));
    } else {
      table->insert_or_assign(key, std::forward<Value>(value));
    }
  }
};

// `json` as the TOML value it spells, put in `slot`: strings, integers, booleans, arrays
// and objects (as tables). Errors: null, and numbers that are not 64-bit integers.
Status FromJson(const nlohmann::json& json, std::string_view where, TomlSlot slot) {
  if (json.is_string()) {
    slot.Put(json.get<std::string>());
  } else if (json.is_boolean()) {
    slot.Put(json.get<bool>());
  } else if (json.is_number_integer() &&
             (!json.is_number_unsigned() ||
              json.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) {
    slot.Put(json.get<int64_t>());
  } else if (json.is_array()) {
    toml::array array;
    for (const nlohmann::json& element : json) {
      TRELLIS_TRY_STATUS(FromJson(element, where, TomlSlot{nullptr, "", &array}));
    }
    slot.Put(std::move(array));
  } else if (json.is_object()) {
    toml::table table;
    for (const auto& [key, element] : json.items()) {
      TRELLIS_TRY_STATUS(FromJson(element, where, TomlSlot{&table, key, nullptr}));
    }
    slot.Put(std::move(table));
  } else {
    return ErrorAt(where, fmt::format("{} is not a value of the file's (a string, an integer, a "
                                      "boolean, an array or an object)",
                                      json.dump()));
  }
  return {};
}

}  // namespace

Result<PoolConfig> ParsePoolJson(std::string_view name, std::string_view json) {
  const std::string where = fmt::format("pool \"{}\"", name);
  const nlohmann::json parsed = nlohmann::json::parse(json, nullptr, false);
  if (!parsed.is_object()) {
    return ErrorAt(where, "want a JSON object with the keys of a [[pool]] in the file");
  }
  if (parsed.contains("name")) {
    return ErrorAt(where, "the name is the URL's");
  }
  toml::table root;
  TRELLIS_TRY_STATUS(FromJson(parsed, where, TomlSlot{&root, "pool", nullptr}));
  toml::table& table = *root["pool"].as_table();
  table.insert("name", std::string(name));
  return ReadPool(table, 0);
}

Result<GatewayConfig> ParseGatewayConfig(std::string_view text) {
  toml::table root;
  try {
    // Debian builds toml++ with exceptions: a syntax error arrives as parse_error.
    root = toml::parse(text);
  } catch (const toml::parse_error& err) {
    return base::InvalidArgument(fmt::format("line {}, column {}: {}", err.source().begin.line,
                                             err.source().begin.column, err.description()));
  }
  std::vector<const toml::table*> listener_tables;
  std::vector<const toml::table*> pool_tables;
  for (const auto& [key, node] : InFileOrder(root)) {
    const Field field{"", key, *node};
    if (key == "listener") {
      TRELLIS_TRY(listener_tables, ReadTables(field, "listener"));
    } else if (key == "pool") {
      TRELLIS_TRY(pool_tables, ReadTables(field, "pool"));
    } else {
      return UnknownKey(field);
    }
  }
  if (listener_tables.empty()) {
    return base::InvalidArgument("no listener: a gateway needs at least one [[listener]]");
  }
  GatewayConfig config;
  for (size_t i = 0; i < listener_tables.size(); ++i) {
    TRELLIS_TRY(ListenerConfig listener, ReadListener(*listener_tables[i], i));
    for (size_t j = 0; j < config.listeners.size(); ++j) {
      const ListenerConfig& earlier = config.listeners[j];
      if (earlier.name == listener.name) {
        return ErrorAt(fmt::format("listener {}", i + 1),
                       fmt::format("name \"{}\" is listener {}'s too", listener.name, j + 1));
      }
      if (SameFixedBind(earlier.bind, listener.bind)) {
        return ErrorAt(
            fmt::format("listener \"{}\"", listener.name),
            fmt::format("bind \"{}\" is listener \"{}\"'s too", listener.bind, earlier.name));
      }
    }
    config.listeners.push_back(std::move(listener));
  }
  for (size_t i = 0; i < pool_tables.size(); ++i) {
    TRELLIS_TRY(PoolConfig pool, ReadPool(*pool_tables[i], i));
    for (size_t j = 0; j < config.pools.size(); ++j) {
      if (config.pools[j].name == pool.name) {
        return ErrorAt(fmt::format("pool {}", i + 1),
                       fmt::format("name \"{}\" is pool {}'s too", pool.name, j + 1));
      }
    }
    config.pools.push_back(std::move(pool));
  }
  TRELLIS_TRY_STATUS(CheckPoolsDefined(config));
  return config;
}

std::string ToToml(const GatewayConfig& config) {
  std::string out;
  for (const ListenerConfig& listener : config.listeners) {
    out += out.empty() ? "" : "\n";
    AppendListener(listener, out);
  }
  for (const PoolConfig& pool : config.pools) {
    out += out.empty() ? "" : "\n";
    AppendPool(pool, out);
  }
  return out;
}

}  // namespace trellis::gateway
