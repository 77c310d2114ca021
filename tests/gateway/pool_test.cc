#include "gateway/pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

namespace trellis::gateway {
namespace {

namespace asio = boost::asio;

// Servers are named by letter: 'a' is 127.0.0.1:9001, 'b' 127.0.0.1:9002, ...
// How long the health checker took over a check (any: the pool keeps the last).
constexpr std::chrono::duration<double> kCheckTook{0.002};

std::string Address(char name) { return "127.0.0.1:" + std::to_string(9001 + (name - 'a')); }

char Letter(const ServerLease& lease) {
  return static_cast<char>('a' + lease.endpoint().port() - 9001);
}

PoolConfig Config(const std::vector<std::pair<char, uint32_t>>& servers,
                  Balance balance = Balance::kRoundRobin) {
  PoolConfig config;
  config.name = "p";
  config.balance = balance;
  for (auto [name, weight] : servers) {
    config.servers.push_back({Address(name), weight});
  }
  return config;
}

std::shared_ptr<Pool> MakePool(const PoolConfig& config) {
  auto pool = Pool::Create(config);
  EXPECT_TRUE(pool.ok()) << pool.error().message;
  return std::move(pool).value();
}

const asio::ip::address kClient = asio::ip::make_address("192.0.2.1");

// The servers of `n` picks released at once, as letters ('-' for none).
std::string Picks(Pool& pool, int n, const asio::ip::address& source = kClient) {
  std::string names;
  for (int i = 0; i < n; ++i) {
    ServerLease lease = pool.Pick(source);
    names += lease ? Letter(lease) : '-';
  }
  return names;
}

ServerStatus Status(const Pool& pool, char name) {
  for (const ServerStatus& status : pool.Servers()) {
    if (status.address == Address(name)) {
      return status;
    }
  }
  ADD_FAILURE() << "no server " << name;
  return {};
}

asio::ip::address Client(int i) {
  return asio::ip::make_address_v4(0x0a000000u + static_cast<uint32_t>(i) * 7919u);
}

TEST(PoolTest, CreateResolvesServersInConfigOrder) {
  auto pool = MakePool(Config({{'b', 1}, {'a', 2}}));
  EXPECT_EQ(pool->name(), "p");
  auto endpoints = pool->Endpoints();
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_EQ(endpoints[0].first, Address('b'));
  EXPECT_EQ(endpoints[0].second,
            asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 9002));
  EXPECT_EQ(endpoints[1].first, Address('a'));
  auto servers = pool->Servers();
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[1].weight, 2u);
  EXPECT_EQ(servers[1].health, ServerHealth::kUp);
  EXPECT_FALSE(servers[1].draining);
}

TEST(PoolTest, CreateAcceptsV6Literals) {
  PoolConfig config = Config({});
  config.servers.push_back({"[::1]:9001", 1});
  auto pool = MakePool(config);
  EXPECT_EQ(pool->Endpoints().at(0).second,
            asio::ip::tcp::endpoint(asio::ip::make_address("::1"), 9001));
}

TEST(PoolTest, CreateRejectsBadAndDuplicateAddresses) {
  for (const char* bad : {"nonsense", "127.0.0.1:99999", "127.0.0.1:"}) {
    PoolConfig config = Config({{'a', 1}});
    config.servers.push_back({bad, 1});
    auto pool = Pool::Create(config);
    ASSERT_FALSE(pool.ok()) << bad;
    EXPECT_EQ(pool.error().code, base::ErrorCode::kInvalidArgument);
    EXPECT_NE(pool.error().message.find(bad), std::string::npos) << pool.error().message;
  }
  auto pool = Pool::Create(Config({{'a', 1}, {'a', 2}}));
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.error().code, base::ErrorCode::kInvalidArgument);
}

TEST(PoolTest, RoundRobinInterleavesWeightsTwoToOne) {
  auto pool = MakePool(Config({{'a', 2}, {'b', 1}}));
  EXPECT_EQ(Picks(*pool, 9), "abaabaaba");
}

TEST(PoolTest, RoundRobinFollowsNginxSequence) {
  auto pool = MakePool(Config({{'a', 5}, {'b', 1}, {'c', 1}}));
  EXPECT_EQ(Picks(*pool, 14), "aabacaaaabacaa");
}

TEST(PoolTest, RoundRobinWithEqualWeightsCycles) {
  auto pool = MakePool(Config({{'a', 1}, {'b', 1}, {'c', 1}}));
  EXPECT_EQ(Picks(*pool, 6), "abcabc");
}

TEST(PoolTest, LeastConnectionsPicksTheIdleServer) {
  auto pool = MakePool(Config({{'a', 1}, {'b', 1}}, Balance::kLeastConnections));
  ServerLease first = pool->Pick(kClient);
  ASSERT_TRUE(first);
  EXPECT_EQ(Letter(first), 'a');
  ServerLease second = pool->Pick(kClient);
  EXPECT_EQ(Letter(second), 'b');
  first = {};
  EXPECT_EQ(Letter(pool->Pick(kClient)), 'a');
  ServerLease third = pool->Pick(kClient);
  EXPECT_EQ(Letter(third), 'a');
  // a and b hold one each now: the tie goes by round-robin.
  const std::string picks = Picks(*pool, 4);
  EXPECT_TRUE(picks == "abab" || picks == "baba") << picks;
}

TEST(PoolTest, LeastConnectionsFollowsWeights) {
  auto pool = MakePool(Config({{'a', 2}, {'b', 1}}, Balance::kLeastConnections));
  std::vector<ServerLease> held;
  for (int i = 1; i <= 30; ++i) {
    held.push_back(pool->Pick(kClient));
    if (i % 3 == 0) {
      EXPECT_EQ(Status(*pool, 'a').active_connections, static_cast<uint64_t>(i / 3 * 2));
      EXPECT_EQ(Status(*pool, 'b').active_connections, static_cast<uint64_t>(i / 3));
    }
  }
}

TEST(PoolTest, LeastConnectionsBreaksTiesByRoundRobinOrder) {
  auto pool = MakePool(Config({{'a', 2}, {'b', 1}}, Balance::kLeastConnections));
  // Released at once, every pick is a tie at zero: the smooth round-robin sequence.
  EXPECT_EQ(Picks(*pool, 6), "abaaba");
}

TEST(PoolTest, HashSourceKeepsAClientOnItsServer) {
  auto pool = MakePool(Config({{'a', 1}, {'b', 1}, {'c', 1}}, Balance::kHashSource));
  for (int i = 0; i < 20; ++i) {
    const std::string picks = Picks(*pool, 5, Client(i));
    EXPECT_EQ(picks, std::string(5, picks[0])) << i;
  }
}

TEST(PoolTest, HashSourceTreatsV4MappedClientsAsV4) {
  auto pool = MakePool(Config({{'a', 1}, {'b', 1}, {'c', 1}, {'d', 1}}, Balance::kHashSource));
  for (int i = 0; i < 20; ++i) {
    const auto mapped = asio::ip::make_address_v6(asio::ip::v4_mapped, Client(i).to_v4());
    EXPECT_EQ(Picks(*pool, 1, Client(i)), Picks(*pool, 1, mapped)) << i;
  }
}

TEST(PoolTest, HashSourceSpreadsClientsByWeight) {
  auto even = MakePool(Config({{'a', 1}, {'b', 1}, {'c', 1}, {'d', 1}}, Balance::kHashSource));
  std::map<char, int> counts;
  for (int i = 0; i < 1000; ++i) {
    ++counts[Picks(*even, 1, Client(i))[0]];
  }
  ASSERT_EQ(counts.size(), 4u);
  for (auto [name, count] : counts) {
    EXPECT_GT(count, 180) << name;  // 250 expected.
    EXPECT_LT(count, 320) << name;
  }

  auto weighted = MakePool(Config({{'a', 3}, {'b', 1}}, Balance::kHashSource));
  int on_a = 0;
  for (int i = 0; i < 1000; ++i) {
    on_a += Picks(*weighted, 1, Client(i)) == "a";
  }
  EXPECT_GT(on_a, 680);  // 750 expected.
  EXPECT_LT(on_a, 820);
}

TEST(PoolTest, HashSourceMovesOnlyARemovedServersClients) {
  auto pool = MakePool(Config({{'a', 1}, {'b', 2}, {'c', 1}, {'d', 1}}, Balance::kHashSource));
  std::vector<char> before;
  for (int i = 0; i < 1000; ++i) {
    before.push_back(Picks(*pool, 1, Client(i))[0]);
  }
  ASSERT_TRUE(pool->Update(Config({{'a', 1}, {'c', 1}, {'d', 1}}, Balance::kHashSource)).ok());
  int moved = 0;
  for (int i = 0; i < 1000; ++i) {
    const char after = Picks(*pool, 1, Client(i))[0];
    if (before[i] == 'b') {
      EXPECT_NE(after, 'b');
      ++moved;
    } else {
      EXPECT_EQ(after, before[i]) << i;
    }
  }
  EXPECT_GT(moved, 0);

  // Adding it back moves exactly its clients back to it.
  ASSERT_TRUE(
      pool->Update(Config({{'a', 1}, {'b', 2}, {'c', 1}, {'d', 1}}, Balance::kHashSource)).ok());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(Picks(*pool, 1, Client(i))[0], before[i]) << i;
  }
}

TEST(PoolTest, HashSourceMovesOnlyADownServersClients) {
  auto pool = MakePool(Config({{'a', 1}, {'b', 1}, {'c', 1}}, Balance::kHashSource));
  std::vector<char> before;
  for (int i = 0; i < 300; ++i) {
    before.push_back(Picks(*pool, 1, Client(i))[0]);
  }
  pool->ReportCheck(Address('c'), false, kCheckTook);
  for (int i = 0; i < 300; ++i) {
    const char after = Picks(*pool, 1, Client(i))[0];
    if (before[i] == 'c') {
      EXPECT_NE(after, 'c');
    } else {
      EXPECT_EQ(after, before[i]) << i;
    }
  }
}

TEST(PoolTest, SkipsDownDrainingAndZeroWeightServers) {
  for (Balance balance : {Balance::kRoundRobin, Balance::kLeastConnections, Balance::kHashSource}) {
    auto pool = MakePool(Config({{'a', 1}, {'b', 0}, {'c', 1}, {'d', 1}}, balance));
    pool->ReportCheck(Address('a'), false, kCheckTook);
    ASSERT_TRUE(pool->SetDraining(Address('c'), true).ok());
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(Picks(*pool, 1, Client(i)), "d");
    }
    ASSERT_TRUE(pool->SetDraining(Address('c'), false).ok());
    ASSERT_TRUE(pool->SetWeight(Address('d'), 0).ok());
    EXPECT_EQ(Picks(*pool, 3), "ccc");
    ASSERT_TRUE(pool->SetWeight(Address('b'), 1).ok());
    const std::string picks = Picks(*pool, 4);
    EXPECT_EQ(picks.find_first_not_of("bc"), std::string::npos) << picks;
    EXPECT_FALSE(Status(*pool, 'c').draining);
    EXPECT_EQ(Status(*pool, 'd').weight, 0u);
  }
}

TEST(PoolTest, AllServersDownGivesAnEmptyLease) {
  auto pool = MakePool(Config({{'a', 1}, {'b', 1}}));
  pool->ReportCheck(Address('a'), false, kCheckTook);
  pool->ReportCheck(Address('b'), false, kCheckTook);
  ServerLease lease = pool->Pick(kClient);
  EXPECT_FALSE(lease);
  EXPECT_FALSE(pool->Pick(kClient, Address('a')));
  EXPECT_FALSE(MakePool(Config({}))->Pick(kClient));
}

TEST(PoolTest, DrainingKeepsOpenConnections) {
  auto pool = MakePool(Config({{'a', 1}, {'b', 1}}));
  ServerLease lease = pool->Pick(kClient);
  ASSERT_EQ(Letter(lease), 'a');
  ASSERT_TRUE(pool->SetDraining(Address('a'), true).ok());
  EXPECT_EQ(Picks(*pool, 2), "bb");
  EXPECT_EQ(Status(*pool, 'a').active_connections, 1u);
  EXPECT_TRUE(Status(*pool, 'a').draining);
}

TEST(PoolTest, SetDrainingAndSetWeightNeedAKnownServer) {
  auto pool = MakePool(Config({{'a', 1}}));
  EXPECT_EQ(pool->SetDraining(Address('z'), true).error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(pool->SetWeight(Address('z'), 3).error().code, base::ErrorCode::kNotFound);
}

TEST(PoolTest, ChecksApplyRiseAndFall) {
  PoolConfig config = Config({{'a', 1}});
  config.check.rise = 2;
  config.check.fall = 3;
  auto pool = MakePool(config);
  const std::string a = Address('a');
  auto health = [&] { return Status(*pool, 'a').health; };

  // A new server: its first failed check takes it down.
  pool->ReportCheck(a, false, kCheckTook);
  EXPECT_EQ(health(), ServerHealth::kDown);
  pool->ReportCheck(a, true, kCheckTook);
  EXPECT_EQ(health(), ServerHealth::kDown);
  pool->ReportCheck(a, false, kCheckTook);  // Breaks the run of successes.
  pool->ReportCheck(a, true, kCheckTook);
  EXPECT_EQ(health(), ServerHealth::kDown);
  pool->ReportCheck(a, true, kCheckTook);
  EXPECT_EQ(health(), ServerHealth::kUp);
  EXPECT_EQ(Picks(*pool, 1), "a");

  pool->ReportCheck(a, false, kCheckTook);
  pool->ReportCheck(a, false, kCheckTook);
  EXPECT_EQ(health(), ServerHealth::kUp);
  pool->ReportCheck(a, true, kCheckTook);  // Breaks the run of failures.
  pool->ReportCheck(a, false, kCheckTook);
  pool->ReportCheck(a, false, kCheckTook);
  EXPECT_EQ(health(), ServerHealth::kUp);
  pool->ReportCheck(a, false, kCheckTook);
  EXPECT_EQ(health(), ServerHealth::kDown);
  EXPECT_EQ(Picks(*pool, 1), "-");
  EXPECT_EQ(Status(*pool, 'a').failures, 7u);
  EXPECT_EQ(Status(*pool, 'a').check_seconds, kCheckTook.count()) << "the last check's time";

  pool->ReportCheck(Address('z'), false, kCheckTook);  // Not in the pool: ignored.
}

TEST(PoolTest, NewServerThatPassedACheckWaitsForFall) {
  PoolConfig config = Config({{'a', 1}});
  config.check.fall = 2;
  auto pool = MakePool(config);
  pool->ReportCheck(Address('a'), true, kCheckTook);
  pool->ReportCheck(Address('a'), false, kCheckTook);
  EXPECT_EQ(Status(*pool, 'a').health, ServerHealth::kUp);
  pool->ReportCheck(Address('a'), false, kCheckTook);
  EXPECT_EQ(Status(*pool, 'a').health, ServerHealth::kDown);
}

TEST(PoolTest, PassiveFailureTakesAServerDownUntilRiseChecksPass) {
  PoolConfig config = Config({{'a', 1}, {'b', 1}});
  config.check.kind = CheckKind::kTcp;
  config.check.rise = 2;
  config.check.interval = std::chrono::milliseconds(1);
  auto pool = MakePool(config);
  // Up and proven, so that only the passive report can take it down at once.
  pool->ReportCheck(Address('a'), true, kCheckTook);
  {
    ServerLease lease = pool->Pick(kClient);
    ASSERT_EQ(Letter(lease), 'a');
    pool->ReportFailure(lease);
  }
  EXPECT_EQ(Status(*pool, 'a').health, ServerHealth::kDown);
  EXPECT_EQ(Status(*pool, 'a').failures, 1u);
  EXPECT_EQ(Picks(*pool, 4), "bbbb");
  pool->ReportCheck(Address('a'), true, kCheckTook);
  EXPECT_EQ(Picks(*pool, 2), "bb");
  pool->ReportCheck(Address('a'), true, kCheckTook);
  EXPECT_EQ(Status(*pool, 'a').health, ServerHealth::kUp);
  const std::string picks = Picks(*pool, 4);
  EXPECT_EQ(std::count(picks.begin(), picks.end(), 'a'), 2) << picks;

  pool->ReportFailure(ServerLease());  // An empty lease: ignored.
}

TEST(PoolTest, PassiveFailureWithoutChecksWaitsOneInterval) {
  PoolConfig config = Config({{'a', 1}});
  config.check.kind = CheckKind::kNone;
  config.check.interval = std::chrono::hours(1);
  auto pool = MakePool(config);
  pool->ReportFailure(pool->Pick(kClient));
  EXPECT_EQ(Picks(*pool, 3), "---");
  EXPECT_EQ(Status(*pool, 'a').health, ServerHealth::kDown);
}

TEST(PoolTest, PassiveFailureWithoutChecksComesBackAfterOneInterval) {
  PoolConfig config = Config({{'a', 1}});
  config.check.kind = CheckKind::kNone;
  config.check.interval = std::chrono::milliseconds(1);
  auto pool = MakePool(config);
  pool->ReportFailure(pool->Pick(kClient));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  ServerLease lease;
  while (!lease && std::chrono::steady_clock::now() < deadline) {
    lease = pool->Pick(kClient);
  }
  ASSERT_TRUE(lease);
  EXPECT_EQ(Letter(lease), 'a');
  EXPECT_EQ(Status(*pool, 'a').health, ServerHealth::kUp);
}

TEST(PoolTest, LeasesCountActiveConnections) {
  auto pool = MakePool(Config({{'a', 1}, {'b', 1}}));
  std::vector<ServerLease> leases;
  for (int i = 0; i < 5; ++i) {
    leases.push_back(pool->Pick(kClient));
  }
  EXPECT_EQ(Status(*pool, 'a').active_connections, 3u);
  EXPECT_EQ(Status(*pool, 'b').active_connections, 2u);

  ServerLease moved = std::move(leases[0]);
  EXPECT_FALSE(leases[0]);
  EXPECT_EQ(Status(*pool, 'a').active_connections, 3u);
  moved = std::move(leases[1]);  // Releases what it held (a), takes b's.
  EXPECT_EQ(Status(*pool, 'a').active_connections, 2u);
  EXPECT_EQ(Status(*pool, 'b').active_connections, 2u);

  leases.clear();
  EXPECT_EQ(Status(*pool, 'a').active_connections, 0u);
  EXPECT_EQ(Status(*pool, 'b').active_connections, 1u);
  moved = {};
  EXPECT_EQ(Status(*pool, 'b').active_connections, 0u);
  EXPECT_EQ(Status(*pool, 'a').total_connections, 3u);
  EXPECT_EQ(Status(*pool, 'b').total_connections, 2u);
}

TEST(PoolTest, UpdateKeepsStayingServersAndStartsNewOnesUp) {
  PoolConfig config = Config({{'a', 1}, {'b', 1}, {'c', 1}});
  config.check.fall = 1;
  auto pool = MakePool(config);
  ServerLease on_a = pool->Pick(kClient);
  ServerLease on_b = pool->Pick(kClient);
  ASSERT_EQ(Letter(on_a), 'a');
  ASSERT_EQ(Letter(on_b), 'b');
  pool->ReportCheck(Address('a'), false, kCheckTook);
  ASSERT_TRUE(pool->SetDraining(Address('b'), true).ok());

  PoolConfig changed = Config({{'d', 1}, {'b', 3}, {'a', 2}}, Balance::kLeastConnections);
  changed.check.kind = CheckKind::kHttp;
  ASSERT_TRUE(pool->Update(changed).ok());
  EXPECT_EQ(pool->balance(), Balance::kLeastConnections);
  EXPECT_EQ(pool->check().kind, CheckKind::kHttp);

  auto servers = pool->Servers();
  ASSERT_EQ(servers.size(), 3u);
  EXPECT_EQ(servers[0].address, Address('d'));
  EXPECT_EQ(servers[0].health, ServerHealth::kUp);
  EXPECT_EQ(servers[0].total_connections, 0u);
  EXPECT_EQ(servers[1].address, Address('b'));
  EXPECT_EQ(servers[1].weight, 3u);
  EXPECT_TRUE(servers[1].draining);
  EXPECT_EQ(servers[1].active_connections, 1u);
  EXPECT_EQ(servers[2].address, Address('a'));
  EXPECT_EQ(servers[2].health, ServerHealth::kDown);
  EXPECT_EQ(servers[2].failures, 1u);
  EXPECT_EQ(servers[2].active_connections, 1u);
  EXPECT_EQ(Picks(*pool, 2), "dd");
}

TEST(PoolTest, FailedUpdateLeavesThePoolUnchanged) {
  auto pool = MakePool(Config({{'a', 1}}));
  PoolConfig bad = Config({{'b', 1}}, Balance::kHashSource);
  bad.servers.push_back({"nonsense", 1});
  auto status = pool->Update(bad);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, base::ErrorCode::kInvalidArgument);
  EXPECT_EQ(pool->balance(), Balance::kRoundRobin);
  ASSERT_EQ(pool->Servers().size(), 1u);
  EXPECT_EQ(pool->Servers()[0].address, Address('a'));
}

TEST(PoolTest, LeaseSurvivesUpdateRemovingItsServer) {
  auto pool = MakePool(Config({{'a', 1}, {'b', 1}}));
  ServerLease lease = pool->Pick(kClient);
  ASSERT_EQ(Letter(lease), 'a');
  ASSERT_TRUE(pool->Update(Config({{'b', 1}})).ok());
  EXPECT_EQ(lease.address(), Address('a'));
  EXPECT_EQ(lease.endpoint().port(), 9001);
  pool->ReportFailure(lease);  // No longer in the pool: changes nothing there.
  EXPECT_EQ(Picks(*pool, 2), "bb");

  // Added again, it is a new server: the old lease is not counted on it.
  ASSERT_TRUE(pool->Update(Config({{'a', 1}, {'b', 1}})).ok());
  EXPECT_EQ(Status(*pool, 'a').active_connections, 0u);
  EXPECT_EQ(Status(*pool, 'a').health, ServerHealth::kUp);
  lease = {};
  EXPECT_EQ(Status(*pool, 'a').active_connections, 0u);
}

TEST(PoolTest, LeaseOutlivesItsPool) {
  auto pool = MakePool(Config({{'a', 1}}));
  ServerLease lease = pool->Pick(kClient);
  pool.reset();
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease.address(), Address('a'));
}

TEST(PoolTest, ExcludePicksAnotherServer) {
  for (Balance balance : {Balance::kRoundRobin, Balance::kLeastConnections, Balance::kHashSource}) {
    auto pool = MakePool(Config({{'a', 1}, {'b', 1}, {'c', 1}}, balance));
    for (int i = 0; i < 30; ++i) {
      ServerLease first = pool->Pick(Client(i));
      ASSERT_TRUE(first);
      ServerLease retry = pool->Pick(Client(i), first.address());
      ASSERT_TRUE(retry);
      EXPECT_NE(retry.address(), first.address());
    }
  }
}

TEST(PoolTest, ExcludePicksTheSameServerWhenItIsTheOnlyOne) {
  for (Balance balance : {Balance::kRoundRobin, Balance::kLeastConnections, Balance::kHashSource}) {
    auto pool = MakePool(Config({{'a', 1}, {'b', 1}}, balance));
    ASSERT_TRUE(pool->SetDraining(Address('b'), true).ok());
    ServerLease lease = pool->Pick(kClient, Address('a'));
    ASSERT_TRUE(lease);
    EXPECT_EQ(Letter(lease), 'a');
  }
}

TEST(PoolTest, ConcurrentPicksKeepTheActiveCountExact) {
  auto pool = MakePool(Config({{'a', 2}, {'b', 1}, {'c', 1}}, Balance::kLeastConnections));
  constexpr int kThreads = 4;
  constexpr int kPicks = 2000;
  constexpr int kKept = 50;  // Each thread holds its last kKept leases at the end.
  std::vector<std::vector<ServerLease>> kept(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPicks; ++i) {
        ServerLease lease = pool->Pick(Client(t * kPicks + i));
        if (i >= kPicks - kKept) {
          kept[t].push_back(std::move(lease));
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  uint64_t active = 0;
  uint64_t total = 0;
  for (const ServerStatus& status : pool->Servers()) {
    active += status.active_connections;
    total += status.total_connections;
  }
  EXPECT_EQ(active, static_cast<uint64_t>(kThreads * kKept));
  EXPECT_EQ(total, static_cast<uint64_t>(kThreads * kPicks));
  kept.clear();
  for (const ServerStatus& status : pool->Servers()) {
    EXPECT_EQ(status.active_connections, 0u) << status.address;
  }
}

}  // namespace
}  // namespace trellis::gateway
