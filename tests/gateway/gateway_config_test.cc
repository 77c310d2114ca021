#include "gateway/gateway_config.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace trellis::gateway {
namespace {

using std::chrono::milliseconds;
using std::literals::string_view_literals::operator""sv;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The example of gateway_config.h, made a valid file: its listener is a terminating tls
// one (the example lists every key, which no single kind takes: an http listener takes
// no pool, tls or certificates), and the check is on one line (TOML 1.0 inline tables
// cannot span lines).
constexpr std::string_view kHeaderExample = R"([[listener]]
name = "web"                # unique; [A-Za-z0-9._-]
bind = "127.0.0.1:8080"     # HOST:PORT (port 0: any free port)
kind = "tls"                # tcp | http | tls
tls = "terminate"           # tls only: "passthrough" (route by SNI, bytes as they are)
                            # or "terminate" (OpenSSL, then route as http)
[[listener.route]]          # http, and tls: host "*" matches any; the longest path
host = "a.example"          # prefix of the matching host wins (exact host before "*")
path = "/"
pool = "a"
[[listener.certificate]]    # tls terminate: per domain, chosen by SNI; the first is
domain = "a.example"        # the default for a client that sends none
cert = "a.crt"              # PEM files, relative to the config file's directory
key = "a.key"
[listener.limits]           # all optional, defaults below
max_connections = 10000     # the listener's cap; one more is refused at once
per_source_connections = 0  # concurrent connections per client address (0: none)
per_source_rate = 0         # new connections per second per client address (0: none)
per_source_burst = 0        # the token bucket's depth (0: the rate)
first_byte_timeout = "5s"   # the client's first byte must come within this
head_timeout = "10s"        # http: the whole request head within this
max_header_bytes = 65536    # http: the request head at most
max_headers = 100           # http: header fields at most
server_timeout = "30s"      # http: the server's response head within this (504)
idle_timeout = "60s"        # a keep-alive client connection idle this long is closed

[[pool]]
name = "a"
servers = ["127.0.0.1:9001", "127.0.0.1:9002 weight=2"]
balance = "round-robin"     # round-robin | least-connections | hash-source
check = { kind = "http", path = "/healthz", interval = "1s", rise = 2, fall = 2, timeout = "500ms", expect = 200 }
)";

// The smallest valid file: one http listener routing everything to pool "a".
constexpr std::string_view kHttpListener = R"([[listener]]
name = "web"
bind = "127.0.0.1:8080"
[[listener.route]]
pool = "a"
)";
constexpr std::string_view kPoolA = R"([[pool]]
name = "a"
servers = ["127.0.0.1:9001"]
)";

// Two parts of a file, each ending in a newline.
std::string Join(std::string_view a, std::string_view b) { return std::string(a) + std::string(b); }

// The message ParseGatewayConfig refuses `toml` with, or "accepted".
std::string Refusal(std::string_view toml) {
  const base::Result<GatewayConfig> config = ParseGatewayConfig(toml);
  if (config.ok()) {
    return "accepted";
  }
  EXPECT_EQ(config.error().code, base::ErrorCode::kInvalidArgument);
  return config.error().message;
}

// A file and (a part of) the message it is refused with.
struct RefusedCase {
  std::string toml;
  std::string message;
};

void ExpectAllRefused(const std::vector<RefusedCase>& cases) {
  for (const RefusedCase& c : cases) {
    SCOPED_TRACE(c.toml);
    EXPECT_THAT(Refusal(c.toml), HasSubstr(c.message));
  }
}

RouteConfig Route(std::string host, std::string path, std::string pool) {
  RouteConfig route;
  route.host = std::move(host);
  route.path = std::move(path);
  route.pool = std::move(pool);
  return route;
}

ListenerConfig Listener(std::string name, std::string bind, ListenerKind kind) {
  ListenerConfig listener;
  listener.name = std::move(name);
  listener.bind = std::move(bind);
  listener.kind = kind;
  return listener;
}

// Every field away from its default, every kind and mode, strings that need escaping.
GatewayConfig EveryFieldSet() {
  GatewayConfig config;
  ListenerConfig raw = Listener("raw", "[::1]:0", ListenerKind::kTcp);
  raw.pool = "db";
  raw.limits.max_connections = 5;
  raw.limits.per_source_connections = 6;
  raw.limits.per_source_rate = 7;
  raw.limits.per_source_burst = 8;
  raw.limits.first_byte_timeout = milliseconds(1500);
  raw.limits.head_timeout = milliseconds(2000);
  raw.limits.max_header_bytes = 4096;
  raw.limits.max_headers = 20;
  raw.limits.server_timeout = milliseconds(60000);
  raw.limits.idle_timeout = milliseconds(90001);
  config.listeners.push_back(raw);

  ListenerConfig web = Listener("web.public_1", "0.0.0.0:80", ListenerKind::kHttp);
  web.routes = {Route("a\"b.example", "/api\\v1", "db"), Route("*", "/", "web-pool")};
  web.limits.per_source_rate = 100;
  web.limits.head_timeout = milliseconds(1);
  config.listeners.push_back(web);

  ListenerConfig secure = Listener("secure", "localhost:8443", ListenerKind::kTls);
  secure.tls = TlsMode::kTerminate;
  secure.routes = {Route("a.example", "/", "web-pool")};
  secure.certificates = {{"a.example", "certs/a b.crt", "k\"e\\y\t.pem"},
                         {"b.example", "/etc/\u00e9.crt", "b.key"}};
  config.listeners.push_back(secure);

  ListenerConfig sni = Listener("sni", "127.0.0.1:9443", ListenerKind::kTls);
  sni.routes = {Route("a.example", "/", "db"), Route("*", "/", "empty")};
  config.listeners.push_back(sni);

  ListenerConfig passthrough = Listener("pt", "127.0.0.1:9444", ListenerKind::kTls);
  passthrough.pool = "db";
  config.listeners.push_back(passthrough);

  PoolConfig db;
  db.name = "db";
  db.servers = {{"10.0.0.1:5432", 1}, {"10.0.0.2:5432", 0}, {"we\"ird.host:65535", 1000}};
  db.balance = Balance::kLeastConnections;
  db.check = {
      CheckKind::kHttp, "/health?q=\"1\"", milliseconds(2500), 3, 4, milliseconds(750), 204};
  config.pools.push_back(db);

  PoolConfig web_pool;
  web_pool.name = "web-pool";
  web_pool.servers = {{"[fe80::1]:80", 7}};
  web_pool.balance = Balance::kHashSource;
  web_pool.check.kind = CheckKind::kNone;
  web_pool.check.interval = milliseconds(1);
  web_pool.check.rise = 9;
  web_pool.check.fall = 1;
  config.pools.push_back(web_pool);

  PoolConfig empty;
  empty.name = "empty";
  empty.check.timeout = milliseconds(86400000);
  config.pools.push_back(empty);
  return config;
}

TEST(GatewayConfigTest, HeaderExampleParsesToItsStructs) {
  const base::Result<GatewayConfig> config = ParseGatewayConfig(kHeaderExample);
  ASSERT_TRUE(config.ok()) << config.error().message;
  GatewayConfig expected;
  ListenerConfig web = Listener("web", "127.0.0.1:8080", ListenerKind::kTls);
  web.tls = TlsMode::kTerminate;
  web.routes = {Route("a.example", "/", "a")};
  web.certificates = {{"a.example", "a.crt", "a.key"}};
  expected.listeners.push_back(web);
  PoolConfig a;
  a.name = "a";
  a.servers = {{"127.0.0.1:9001", 1}, {"127.0.0.1:9002", 2}};
  a.balance = Balance::kRoundRobin;
  a.check = {CheckKind::kHttp, "/healthz", milliseconds(1000), 2, 2, milliseconds(500), 200};
  expected.pools.push_back(a);
  EXPECT_EQ(*config, expected);
  ASSERT_NE(config->FindPool("a"), nullptr);
  EXPECT_EQ(config->FindPool("a")->servers.size(), 2u);
  EXPECT_EQ(config->FindPool("b"), nullptr);
}

TEST(GatewayConfigTest, AbsentKeysTakeTheStructsDefaults) {
  const base::Result<GatewayConfig> config = ParseGatewayConfig(Join(kHttpListener, kPoolA));
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->listeners.size(), 1u);
  const ListenerConfig& listener = config->listeners[0];
  EXPECT_EQ(listener.kind, ListenerKind::kHttp);
  EXPECT_EQ(listener.tls, TlsMode::kPassthrough);
  EXPECT_EQ(listener.pool, "");
  EXPECT_EQ(listener.routes, std::vector<RouteConfig>{Route("*", "/", "a")});
  EXPECT_TRUE(listener.certificates.empty());
  EXPECT_EQ(listener.limits, LimitsConfig{});
  ASSERT_EQ(config->pools.size(), 1u);
  EXPECT_EQ(config->pools[0].servers, (std::vector<ServerConfig>{{"127.0.0.1:9001", 1}}));
  EXPECT_EQ(config->pools[0].balance, Balance::kRoundRobin);
  EXPECT_EQ(config->pools[0].check, CheckConfig{});
}

TEST(GatewayConfigTest, SyntaxErrorNamesLineAndColumn) {
  EXPECT_THAT(Refusal("[[listener]]\nname = \"web\"\nbind = 127.0.0.1:80\n"),
              StartsWith("line 3, column "));
  EXPECT_THAT(Refusal("[[listener]]\nname = \"a\"\nname = \"b\"\n"), StartsWith("line 3, column"));
}

TEST(GatewayConfigTest, RefusesUnknownKeysWithTheirNameAndPlace) {
  ExpectAllRefused({
      {Join(kHttpListener, kPoolA) + "listeners = 1\n", "unknown key \"listeners\" (line"},
      {Join(kHttpListener, kPoolA) + "[global]\n", "unknown key \"global\""},
      {Join(kHttpListener, "binds = \"x\"\n" + std::string(kPoolA)),
       "listener \"web\": route 1: unknown key \"binds\" (line 6)"},
      {Join("[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:1\"\nroute_ = []\n", kPoolA),
       "listener \"web\": unknown key \"route_\" (line 4)"},
      {Join(kHttpListener, "[listener.limits]\nmax_conections = 1\n" + std::string(kPoolA)),
       "listener \"web\": limits: unknown key \"max_conections\" (line 7)"},
      {"[[listener]]\nname = \"t\"\nbind = \"h:1\"\nkind = \"tls\"\ntls = \"terminate\"\n"
       "[[listener.route]]\npool = \"a\"\n[[listener.certificate]]\ndomain = \"d\"\n"
       "cert = \"c\"\nkey = \"k\"\nchain = \"x\"\n" +
           std::string(kPoolA),
       "listener \"t\": certificate 1: unknown key \"chain\" (line 12)"},
      {Join(kHttpListener, kPoolA) + "weights = [1]\n", "pool \"a\": unknown key \"weights\""},
      {Join(kHttpListener, kPoolA) + "check = { kind = \"tcp\", intervall = \"1s\" }\n",
       "pool \"a\": check: unknown key \"intervall\""},
  });
}

TEST(GatewayConfigTest, RefusesValuesOfTheWrongType) {
  ExpectAllRefused({
      {"[listener]\nname = \"web\"\n", "listener: expected an array of tables ([[listener]])"},
      {"listener = [1]\n", "listener: expected an array of tables"},
      {"pool = 1\n" + std::string(kHttpListener),
       "pool: expected an array of tables ([[pool]]) (line 1)"},
      {"[[listener]]\nname = 7\n", "listener 1: name: expected a string (line 2)"},
      {"[[listener]]\nname = \"web\"\nbind = 8080\n",
       "listener \"web\": bind: expected a string (line 3)"},
      {"[[listener]]\nname = \"web\"\nbind = \"h:1\"\n[listener.route]\npool = \"a\"\n",
       "listener \"web\": route: expected an array of tables ([[listener.route]])"},
      {"[[listener]]\nname = \"web\"\nbind = \"h:1\"\nlimits = 5\n",
       "listener \"web\": limits: expected a table"},
      {Join(kHttpListener, "[listener.limits]\nmax_headers = \"100\"\n"),
       "listener \"web\": limits: max_headers: expected an integer"},
      {Join(kHttpListener, "[listener.limits]\nmax_headers = 1.5\n"),
       "max_headers: expected an integer"},
      {Join(kHttpListener, "[listener.limits]\nidle_timeout = 60\n"),
       "listener \"web\": limits: idle_timeout: expected a duration such as"},
      {Join(kHttpListener, kPoolA) + "check = \"tcp\"\n", "pool \"a\": check: expected a table"},
      {Join(kHttpListener, kPoolA) + "check = { rise = true }\n",
       "pool \"a\": check: rise: expected an integer"},
      {Join(kHttpListener, "[[pool]]\nname = \"a\"\nservers = \"127.0.0.1:1\"\n"),
       "pool \"a\": servers: expected an array"},
      {Join(kHttpListener, "[[pool]]\nname = \"a\"\nservers = [\"127.0.0.1:1\", 2]\n"),
       "pool \"a\": server 2: expected a string"},
  });
}

TEST(GatewayConfigTest, RefusesBadOrDuplicateNames) {
  const std::string long_name(65, 'n');
  ExpectAllRefused({
      {"[[listener]]\nbind = \"h:1\"\n", "listener 1: name is required"},
      {"[[listener]]\nname = \"\"\n", "listener 1: name: \"\" is not 1 to 64 of"},
      {"[[listener]]\nname = \"we b\"\n", "listener 1: name: \"we b\" is not"},
      {"[[listener]]\nname = \"web/1\"\n", "is not 1 to 64 of A-Z a-z 0-9 . _ -"},
      {"[[listener]]\nname = \"" + long_name + "\"\n", "listener 1: name: \"nnnn"},
      {Join(kHttpListener, "[[pool]]\nservers = []\n"), "pool 1: name is required"},
      {Join(kHttpListener, "[[pool]]\nname = \"a:b\"\n"), "pool 1: name: \"a:b\" is not"},
      {Join(kHttpListener, kHttpListener) + std::string(kPoolA),
       "listener 2: name \"web\" is listener 1's too"},
      {Join(kHttpListener, kPoolA) + std::string(kPoolA), "pool 2: name \"a\" is pool 1's too"},
  });
  const std::string longest(64, 'n');
  EXPECT_EQ(Refusal(Join("[[listener]]\nname = \"" + longest +
                             "\"\nbind = \"h:1\"\n[[listener.route]]\npool = \"a-Z_0.9\"\n",
                         "[[pool]]\nname = \"a-Z_0.9\"\n")),
            "accepted");
}

TEST(GatewayConfigTest, RefusesAddressesThatAreNotHostPort) {
  const auto listener_bind = [](std::string_view bind) {
    return Join("[[listener]]\nname = \"web\"\nbind = \"" + std::string(bind) +
                    "\"\n[[listener.route]]\npool = \"a\"\n",
                kPoolA);
  };
  const auto pool_server = [](std::string_view server) {
    return Join(kHttpListener, "[[pool]]\nname = \"a\"\nservers = [\"127.0.0.1:1\", \"" +
                                   std::string(server) + "\"]\n");
  };
  ExpectAllRefused({
      {"[[listener]]\nname = \"web\"\n[[listener.route]]\npool = \"a\"\n",
       "listener \"web\": bind is required"},
      {listener_bind("127.0.0.1"), "listener \"web\": bind: \"127.0.0.1\" is not HOST:PORT"},
      {listener_bind(":80"), "bind: \":80\" is not HOST:PORT"},
      {listener_bind("h:"), "bind: \"h:\" is not HOST:PORT"},
      {listener_bind("h:65536"), "is not HOST:PORT with a port 0-65535"},
      {listener_bind("h:-1"), "is not HOST:PORT"},
      {listener_bind("h:+1"), "is not HOST:PORT"},
      {listener_bind("h :1"), "is not HOST:PORT"},
      {listener_bind("::1:80"), "is not HOST:PORT"},
      {listener_bind("[::1:80"), "is not HOST:PORT"},
      {listener_bind("[]:80"), "is not HOST:PORT"},
      {pool_server("10.0.0.1:0"),
       "pool \"a\": server 2: \"10.0.0.1:0\" is not HOST:PORT with "
       "a port 1-65535 (line"},
      {pool_server("10.0.0.1"), "pool \"a\": server 2: \"10.0.0.1\" is not HOST:PORT"},
      {pool_server(""), "pool \"a\": server 2: \"\" is not \"HOST:PORT\" or"},
      {pool_server("h:1 weight=2 backup"), "server 2: \"h:1 weight=2 backup\" is not"},
      {pool_server("h:1 weight=1001"),
       "server 2: \"weight=1001\" is not weight=N with N in 0..1000"},
      {pool_server("h:1 weight=-1"), "server 2: \"weight=-1\" is not weight=N"},
      {pool_server("h:1 weight="), "server 2: \"weight=\" is not weight=N"},
      {pool_server("h:1 w=2"), "server 2: \"w=2\" is not weight=N"},
      {pool_server("127.0.0.1:1 weight=3"), "server 2: \"127.0.0.1:1\" is server 1 too"},
      {Join(kHttpListener,
            "[[listener]]\nname = \"two\"\nbind = \"127.0.0.1:8080\"\n"
            "[[listener.route]]\npool = \"a\"\n" +
                std::string(kPoolA)),
       "listener \"two\": bind \"127.0.0.1:8080\" is listener \"web\"'s too"},
  });
  // Port 0 (any free port) binds twice; IPv6 in brackets; a weight of 0 drains.
  EXPECT_EQ(Refusal(Join(listener_bind("127.0.0.1:0"),
                         "[[listener]]\nname = \"two\"\nbind = \"127.0.0.1:0\"\n"
                         "[[listener.route]]\npool = \"a\"\n")),
            "accepted");
  EXPECT_EQ(Refusal(listener_bind("[::1]:65535")), "accepted");
  const base::Result<GatewayConfig> config = ParseGatewayConfig(pool_server(" [::1]:1\tweight=0 "));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->pools[0].servers[1], (ServerConfig{"[::1]:1", 0}));
}

TEST(GatewayConfigTest, RefusesUnknownKindsModesBalancesAndChecks) {
  ExpectAllRefused({
      {"[[listener]]\nname = \"web\"\nbind = \"h:1\"\nkind = \"udp\"\n",
       "listener \"web\": kind: \"udp\" is not one of tcp, http, tls (line 4)"},
      {"[[listener]]\nname = \"web\"\nbind = \"h:1\"\nkind = \"tls\"\ntls = \"offload\"\n",
       "listener \"web\": tls: \"offload\" is not one of passthrough, terminate"},
      {Join(kHttpListener, kPoolA) + "balance = \"random\"\n",
       "pool \"a\": balance: \"random\" is not one of round-robin, least-connections, "
       "hash-source"},
      {Join(kHttpListener, kPoolA) + "check = { kind = \"udp\" }\n",
       "pool \"a\": check: kind: \"udp\" is not one of tcp, http, none"},
  });
}

TEST(GatewayConfigTest, RefusesDurationsThatAreNotPositiveNorShort) {
  const auto idle = [](std::string_view duration) {
    return Join(kHttpListener, "[listener.limits]\nidle_timeout = \"" + std::string(duration) +
                                   "\"\n" + std::string(kPoolA));
  };
  for (std::string_view bad : {"", "5", "ms", "5h", "5 s", " 5s", "-1s", "+1s", "1.5s", "5S",
                               "5sec", "1e3ms", "99999999999999999999999m"}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(Refusal(idle(bad)),
                HasSubstr(fmt::format("listener \"web\": limits: idle_timeout: \"{}\" is not a "
                                      "duration such as \"500ms\", \"5s\" or \"1m\" (line 7)",
                                      bad)));
  }
  EXPECT_THAT(Refusal(idle("0s")), HasSubstr("idle_timeout: \"0s\" is not positive"));
  EXPECT_THAT(Refusal(idle("000ms")), HasSubstr("\"000ms\" is not positive"));
  EXPECT_THAT(Refusal(idle("1441m")), HasSubstr("\"1441m\" is longer than a day"));
  EXPECT_THAT(Refusal(idle("86400001ms")), HasSubstr("is longer than a day"));
  EXPECT_THAT(Refusal(Join(kHttpListener, kPoolA) + "check = { interval = \"0ms\" }\n"),
              HasSubstr("pool \"a\": check: interval: \"0ms\" is not positive"));
  EXPECT_THAT(Refusal(Join(kHttpListener, kPoolA) + "check = { timeout = \"0m\" }\n"),
              HasSubstr("pool \"a\": check: timeout: \"0m\" is not positive"));
  for (const auto& [text, ms] : {std::pair("1ms", 1), std::pair("2s", 2000),
                                 std::pair("3m", 180000), std::pair("1440m", 86400000)}) {
    const base::Result<GatewayConfig> config = ParseGatewayConfig(idle(text));
    ASSERT_TRUE(config.ok()) << config.error().message;
    EXPECT_EQ(config->listeners[0].limits.idle_timeout, milliseconds(ms));
  }
}

TEST(GatewayConfigTest, RefusesLimitsOutOfRange) {
  const auto limits = [](std::string_view line) {
    return Join(kHttpListener,
                "[listener.limits]\n" + std::string(line) + "\n" + std::string(kPoolA));
  };
  ExpectAllRefused({
      {limits("max_connections = 0"),
       "listener \"web\": limits: max_connections: 0 is not in 1..4294967295 (line 7)"},
      {limits("max_connections = 4294967296"), "max_connections: 4294967296 is not in"},
      {limits("per_source_connections = -1"), "per_source_connections: -1 is not in 0.."},
      {limits("per_source_rate = -5"), "per_source_rate: -5 is not in"},
      {limits("max_header_bytes = 0"), "limits: max_header_bytes: 0 is not in 1.."},
      {limits("max_headers = 0"), "limits: max_headers: 0 is not in 1.."},
      {limits("per_source_burst = 10"),
       "listener \"web\": limits: per_source_burst is set but per_source_rate is not"},
  });
  EXPECT_EQ(Refusal(limits("max_connections = 4294967295\nper_source_rate = 1\n"
                           "per_source_burst = 0")),
            "accepted");
}

TEST(GatewayConfigTest, RefusesBadHealthChecks) {
  const auto check = [](std::string_view inline_table) {
    return Join(kHttpListener, kPoolA) + "check = " + std::string(inline_table) + "\n";
  };
  ExpectAllRefused({
      {check("{ rise = 0 }"), "pool \"a\": check: rise: 0 is not in 1..4294967295"},
      {check("{ fall = 0 }"), "pool \"a\": check: fall: 0 is not in 1.."},
      {check("{ kind = \"http\", expect = 99 }"),
       "pool \"a\": check: expect: 99 is neither 0 (any 2xx or 3xx) nor a status 100..599"},
      {check("{ kind = \"http\", expect = 600 }"), "check: expect: 600 is not in 0..599"},
      {check("{ kind = \"http\", path = \"healthz\" }"),
       "pool \"a\": check: path: \"healthz\" does not start with '/'"},
      {check("{ kind = \"tcp\", path = \"/healthz\" }"),
       "pool \"a\": check: kind \"tcp\" takes no path (kind \"http\" does)"},
      {check("{ expect = 200 }"), "pool \"a\": check: kind \"tcp\" takes no expect"},
      {check("{ kind = \"none\", path = \"/\" }"), "check: kind \"none\" takes no path"},
  });
  for (std::string_view good : {"{ kind = \"http\", expect = 0 }",
                                "{ kind = \"http\", expect = 100 }", "{ kind = \"none\" }"}) {
    EXPECT_EQ(Refusal(check(good)), "accepted") << good;
  }
  // A [pool.check] section is the same table as the inline one.
  EXPECT_EQ(Refusal(Join(kHttpListener, kPoolA) + "[pool.check]\nkind = \"http\"\n"), "accepted");
}

TEST(GatewayConfigTest, RefusesRoutesAndCertificatesThatAreIncomplete) {
  const auto route = [](std::string_view lines) {
    return Join(
        "[[listener]]\nname = \"web\"\nbind = \"h:1\"\n[[listener.route]]\npool = "
        "\"a\"\n[[listener.route]]\n" +
            std::string(lines),
        kPoolA);
  };
  const auto certificate = [](std::string_view lines) {
    return Join(
        "[[listener]]\nname = \"s\"\nbind = \"h:1\"\nkind = \"tls\"\n"
        "tls = \"terminate\"\n[[listener.route]]\npool = \"a\"\n"
        "[[listener.certificate]]\ndomain = \"a\"\ncert = \"a.crt\"\nkey = \"a.key\"\n"
        "[[listener.certificate]]\n" +
            std::string(lines),
        kPoolA);
  };
  ExpectAllRefused({
      {route("host = \"b\"\n"), "listener \"web\": route 2: pool is required"},
      {route("pool = \"\"\n"), "listener \"web\": route 2: pool is required"},
      {route("pool = \"a\"\npath = \"api\"\n"),
       "listener \"web\": route 2: path: \"api\" does not start with '/' (line 8)"},
      {route("pool = \"a\"\npath = \"/a b\"\n"),
       "route 2: path: \"/a b\" holds a blank or a control character"},
      {route("pool = \"a\"\nhost = \"\"\n"), "listener \"web\": route 2: host: is empty (line 8)"},
      {route("pool = \"a\"\nhost = \"a\tb\"\n"),
       "route 2: host: \"a\tb\" holds a blank or a control character"},
      {route("pool = \"a\"\n"),
       "listener \"web\": route 2: host \"*\" path \"/\" is route 1's too"},
      {certificate("cert = \"b.crt\"\nkey = \"b.key\"\n"),
       "listener \"s\": certificate 2: domain is required"},
      {certificate("domain = \"b\"\nkey = \"b.key\"\n"),
       "listener \"s\": certificate 2: cert is required"},
      {certificate("domain = \"b\"\ncert = \"b.crt\"\nkey = \"\"\n"),
       "listener \"s\": certificate 2: key is required"},
      {certificate("domain = \"a\"\ncert = \"b.crt\"\nkey = \"b.key\"\n"),
       "listener \"s\": certificate 2: domain \"a\" is certificate 1's too"},
  });
  EXPECT_EQ(Refusal(route("pool = \"a\"\npath = \"/api\"\n")), "accepted");
  EXPECT_EQ(Refusal(certificate("domain = \"b\"\ncert = \"b.crt\"\nkey = \"b.key\"\n")),
            "accepted");
}

TEST(GatewayConfigTest, EachKindTakesTheFieldsItNeedsAndNoOthers) {
  const auto listener = [](std::string_view lines) {
    return Join("[[listener]]\nname = \"l\"\nbind = \"h:1\"\n" + std::string(lines), kPoolA);
  };
  constexpr std::string_view kRoute = "[[listener.route]]\npool = \"a\"\n";
  constexpr std::string_view kCertificate =
      "[[listener.certificate]]\ndomain = \"d\"\ncert = \"c\"\nkey = \"k\"\n";
  const std::string route = std::string(kRoute);
  const std::string certificate = std::string(kCertificate);
  ExpectAllRefused({
      {listener("kind = \"tcp\"\n"), "listener \"l\": a tcp listener needs a pool"},
      {listener("kind = \"tcp\"\npool = \"\"\n"), "a tcp listener needs a pool"},
      {listener("kind = \"tcp\"\npool = \"a\"\n" + route),
       "listener \"l\": a tcp listener takes no routes or certificates"},
      {listener("kind = \"tcp\"\npool = \"a\"\nroute = []\n"), "a tcp listener takes no routes"},
      {listener("kind = \"tcp\"\npool = \"a\"\n" + certificate), "a tcp listener takes no routes"},
      {listener("kind = \"tcp\"\npool = \"a\"\ntls = \"passthrough\"\n"),
       "listener \"l\": kind \"tcp\" takes no tls (kind \"tls\" does)"},
      {listener(""), "listener \"l\": an http listener needs at least one [[listener.route]]"},
      {listener("route = []\n"), "an http listener needs at least one [[listener.route]]"},
      {listener("pool = \"a\"\n" + route),
       "listener \"l\": an http listener takes no pool (its routes name the pools)"},
      {listener("tls = \"terminate\"\n" + route), "listener \"l\": kind \"http\" takes no tls"},
      {listener(route + certificate), "listener \"l\": an http listener takes no certificates"},
      {listener("kind = \"tls\"\n"),
       "listener \"l\": a tls passthrough listener needs routes or a pool"},
      {listener("kind = \"tls\"\npool = \"a\"\n" + route),
       "listener \"l\": a tls passthrough listener takes routes or a pool, not both"},
      {listener("kind = \"tls\"\npool = \"a\"\n" + certificate),
       "listener \"l\": a tls passthrough listener takes no certificates"},
      {listener("kind = \"tls\"\n[[listener.route]]\npool = \"a\"\npath = \"/x\"\n"),
       "listener \"l\": route 1: path \"/x\": tls passthrough routes by SNI alone"},
      {listener("kind = \"tls\"\ntls = \"terminate\"\n" + route),
       "listener \"l\": a tls terminate listener needs at least one [[listener.certificate]]"},
      {listener("kind = \"tls\"\ntls = \"terminate\"\n" + certificate),
       "listener \"l\": a tls terminate listener needs at least one [[listener.route]]"},
      {listener("kind = \"tls\"\ntls = \"terminate\"\npool = \"a\"\n" + route + certificate),
       "listener \"l\": a tls terminate listener takes no pool"},
  });
  for (const std::string& good :
       {listener("kind = \"tcp\"\npool = \"a\"\n"), listener(route),
        listener("kind = \"tls\"\npool = \"a\"\n"), listener("kind = \"tls\"\n" + route),
        listener("kind = \"tls\"\ntls = \"passthrough\"\n" + route),
        listener("kind = \"tls\"\ntls = \"terminate\"\n" + route + certificate)}) {
    EXPECT_EQ(Refusal(good), "accepted") << good;
  }
}

TEST(GatewayConfigTest, EveryPoolNamedIsDefined) {
  const std::string two_routes = R"(
[[listener]]
name = "web"
bind = "127.0.0.1:8080"
[[listener.route]]
pool = "a"
[[listener.route]]
host = "b.example"
pool = "b"
)";
  EXPECT_EQ(Refusal(Join(two_routes, kPoolA)),
            "listener \"web\": route 2: pool \"b\" is not defined");
  EXPECT_EQ(Refusal(Join("[[listener]]\nname = \"raw\"\nbind = \"h:1\"\nkind = \"tcp\"\n"
                         "pool = \"c\"\n",
                         kPoolA)),
            "listener \"raw\": pool \"c\" is not defined");
  EXPECT_EQ(Refusal(two_routes), "listener \"web\": route 1: pool \"a\" is not defined");
}

TEST(GatewayConfigTest, NeedsAtLeastOneListener) {
  EXPECT_EQ(Refusal(""), "no listener: a gateway needs at least one [[listener]]");
  EXPECT_EQ(Refusal(kPoolA), "no listener: a gateway needs at least one [[listener]]");
  EXPECT_EQ(Refusal("listener = []\n"), "no listener: a gateway needs at least one [[listener]]");
}

TEST(GatewayConfigTest, WritesEveryFieldWithDurationsInMilliseconds) {
  const base::Result<GatewayConfig> config = ParseGatewayConfig(Join(kHttpListener, kPoolA));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(ToToml(*config), R"([[listener]]
name = "web"
bind = "127.0.0.1:8080"
kind = "http"

[[listener.route]]
host = "*"
path = "/"
pool = "a"

[listener.limits]
max_connections = 10000
per_source_connections = 0
per_source_rate = 0
per_source_burst = 0
first_byte_timeout = "5000ms"
head_timeout = "10000ms"
max_header_bytes = 65536
max_headers = 100
server_timeout = "30000ms"
idle_timeout = "60000ms"

[[pool]]
name = "a"
servers = [
  "127.0.0.1:9001",
]
balance = "round-robin"
check = { kind = "tcp", interval = "1000ms", rise = 2, fall = 2, timeout = "500ms" }
)");
}

TEST(GatewayConfigTest, RoundTripsEveryFieldSet) {
  const GatewayConfig config = EveryFieldSet();
  const std::string toml = ToToml(config);
  const base::Result<GatewayConfig> parsed = ParseGatewayConfig(toml);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message << "\n" << toml;
  EXPECT_EQ(ToToml(*parsed), toml);
  EXPECT_EQ(*parsed, config);
  EXPECT_THAT(toml, HasSubstr("host = \"a\\\"b.example\"\n"));
  EXPECT_THAT(toml, HasSubstr("key = \"k\\\"e\\\\y\\t.pem\"\n"));
  EXPECT_THAT(toml, HasSubstr("\"we\\\"ird.host:65535 weight=1000\""));
  EXPECT_THAT(toml, HasSubstr("\"10.0.0.2:5432 weight=0\""));
  EXPECT_THAT(toml, HasSubstr("servers = []\n"));

  const base::Result<GatewayConfig> example = ParseGatewayConfig(kHeaderExample);
  ASSERT_TRUE(example.ok()) << example.error().message;
  const base::Result<GatewayConfig> again = ParseGatewayConfig(ToToml(*example));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, *example);
}

TEST(GatewayConfigTest, ControlCharactersInStringsRoundTrip) {
  GatewayConfig config = EveryFieldSet();
  config.listeners[2].certificates[0].cert = std::string("a\x01\x1f\x7f\r\n\b\f.crt");
  const base::Result<GatewayConfig> parsed = ParseGatewayConfig(ToToml(config));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, config);
}

TEST(GatewayConfigTest, NamesAreTheFileSpellings) {
  EXPECT_EQ(Name(ListenerKind::kTcp), "tcp");
  EXPECT_EQ(Name(ListenerKind::kHttp), "http");
  EXPECT_EQ(Name(ListenerKind::kTls), "tls");
  EXPECT_EQ(Name(TlsMode::kPassthrough), "passthrough");
  EXPECT_EQ(Name(TlsMode::kTerminate), "terminate");
  EXPECT_EQ(Name(Balance::kRoundRobin), "round-robin");
  EXPECT_EQ(Name(Balance::kLeastConnections), "least-connections");
  EXPECT_EQ(Name(Balance::kHashSource), "hash-source");
  EXPECT_EQ(Name(CheckKind::kNone), "none");
  EXPECT_EQ(Name(CheckKind::kTcp), "tcp");
  EXPECT_EQ(Name(CheckKind::kHttp), "http");
}

// What the fuzz target checks, over a few thousand mutations of valid files: any text is
// refused or read, and what is read writes back to a file that reads the same.
TEST(GatewayConfigTest, MutatedFilesAreRefusedOrRoundTrip) {
  const std::vector<std::string> seeds = {std::string(kHeaderExample), ToToml(EveryFieldSet()),
                                          Join(kHttpListener, kPoolA)};
  constexpr std::string_view kBytes = "\"'[]{}=,.#\\\n\t :0159-/mswx\0\xff"sv;
  std::mt19937 random(20240611);
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = seeds[i % seeds.size()];
    for (int edits = 1 + static_cast<int>(random() % 4); edits > 0 && !text.empty(); --edits) {
      const size_t at = random() % text.size();
      switch (random() % 4) {
        case 0:
          text.erase(at, 1 + random() % 8);
          break;
        case 1:
          text[at] = kBytes[random() % kBytes.size()];
          break;
        case 2:
          text.insert(at, 1, kBytes[random() % kBytes.size()]);
          break;
        default:
          text.insert(at, text.substr(random() % text.size(), 1 + random() % 40));
      }
    }
    const base::Result<GatewayConfig> config = ParseGatewayConfig(text);
    if (!config.ok()) {
      EXPECT_FALSE(config.error().message.empty());
      continue;
    }
    ++accepted;
    const std::string written = ToToml(*config);
    const base::Result<GatewayConfig> again = ParseGatewayConfig(written);
    ASSERT_TRUE(again.ok()) << again.error().message << "\nfrom:\n" << text;
    EXPECT_EQ(*again, *config) << text;
    EXPECT_EQ(ToToml(*again), written);
  }
  EXPECT_GT(accepted, 0);  // The mutations leave some files valid, which then round trip.
}

}  // namespace
}  // namespace trellis::gateway
