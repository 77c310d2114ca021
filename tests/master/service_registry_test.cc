// The master's table of platform services, on synthetic time: registrations are leases
// that each renewal extends, listed by name while live and dropped once they ran out;
// what the network sends is validated.
#include "master/service_registry.h"

#include <gtest/gtest.h>

#include <string>

namespace trellis::master {
namespace {

using namespace std::chrono_literals;
using Clock = ServiceRegistry::Clock;

ServiceRegistration Service(std::string name, std::string summary = "ok") {
  return {std::move(name), "backup-center", "http://127.0.0.1:9300",
          "http://127.0.0.1:9301/metrics", std::move(summary)};
}

std::vector<std::string> Names(const std::vector<ServiceStatus>& services) {
  std::vector<std::string> names;
  for (const ServiceStatus& service : services) {
    names.push_back(service.registration.name);
  }
  return names;
}

class ServiceRegistryTest : public ::testing::Test {
 protected:
  ServiceRegistry registry_;
  const Clock::time_point start_ = Clock::time_point() + 1000h;
};

TEST_F(ServiceRegistryTest, ListsWhatRegisteredByNameWithItsAge) {
  auto stored = registry_.Renew(Service("monitor"), start_);
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(stored->registration.name, "monitor");
  EXPECT_EQ(stored->registration.metrics_url, "http://127.0.0.1:9301/metrics");
  EXPECT_EQ(stored->age_seconds, 0);
  ASSERT_TRUE(registry_.Renew(Service("backup-center"), start_ + 1s).ok());

  const std::vector<ServiceStatus> listed = registry_.List(start_ + 3500ms);
  EXPECT_EQ(Names(listed), (std::vector<std::string>{"backup-center", "monitor"}));
  EXPECT_DOUBLE_EQ(listed[0].age_seconds, 2.5);
  EXPECT_DOUBLE_EQ(listed[1].age_seconds, 3.5);
  EXPECT_EQ(listed[1].registration.kind, "backup-center");
  EXPECT_TRUE(registry_.Contains("monitor", start_ + 3500ms));
  EXPECT_FALSE(registry_.Contains("gateway", start_ + 3500ms));
}

TEST_F(ServiceRegistryTest, ARenewalReplacesTheRegistrationAndExtendsTheLease) {
  ASSERT_TRUE(registry_.Renew(Service("backup-center", "1/2 groups streaming"), start_).ok());
  // Renewed just before its lease ran out: it lives a whole lease from then.
  const Clock::time_point renewed = start_ + kServiceLease - 1ms;
  ASSERT_TRUE(registry_.Renew(Service("backup-center", "2/2 groups streaming"), renewed).ok());

  const std::vector<ServiceStatus> listed = registry_.List(renewed + kServiceLease - 1ms);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].registration.summary, "2/2 groups streaming");
  EXPECT_NEAR(listed[0].age_seconds, 15, 0.01);
  EXPECT_TRUE(registry_.List(renewed + kServiceLease).empty());
}

TEST_F(ServiceRegistryTest, AServiceThatStopsRenewingIsDroppedWhenItsLeaseRunsOut) {
  ASSERT_TRUE(registry_.Renew(Service("backup-center"), start_).ok());
  ASSERT_TRUE(registry_.Renew(Service("monitor"), start_ + 10s).ok());

  EXPECT_EQ(Names(registry_.List(start_ + kServiceLease - 1ms)),
            (std::vector<std::string>{"backup-center", "monitor"}));
  EXPECT_EQ(Names(registry_.List(start_ + kServiceLease)), std::vector<std::string>{"monitor"});
  EXPECT_FALSE(registry_.Contains("backup-center", start_ + kServiceLease));
  EXPECT_EQ(registry_.Remove("backup-center", start_ + kServiceLease).error().code,
            base::ErrorCode::kNotFound)
      << "an expired service is not registered";
  // It comes back with its next renewal, as after a master restart.
  ASSERT_TRUE(registry_.Renew(Service("backup-center"), start_ + 20s).ok());
  EXPECT_EQ(Names(registry_.List(start_ + 20s)),
            (std::vector<std::string>{"backup-center", "monitor"}));
}

TEST_F(ServiceRegistryTest, RemoveForgetsAServiceAtOnce) {
  ASSERT_TRUE(registry_.Renew(Service("backup-center"), start_).ok());
  ASSERT_TRUE(registry_.Renew(Service("monitor"), start_).ok());

  ASSERT_TRUE(registry_.Remove("backup-center", start_ + 1s).ok());
  EXPECT_EQ(Names(registry_.List(start_ + 1s)), std::vector<std::string>{"monitor"});
  const base::Status again = registry_.Remove("backup-center", start_ + 1s);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ(again.error().message, "no service backup-center");
}

TEST_F(ServiceRegistryTest, RefusesWhatIsNotAValidRegistration) {
  const std::string long_text(ServiceRegistry::kMaxFieldBytes + 1, 'x');
  struct Case {
    ServiceRegistration registration;
    std::string error;
  };
  const std::string bad_name = "name: 1-64 letters, digits, '.', '-' or '_'";
  for (const Case& bad : std::vector<Case>{
           {Service(""), bad_name},
           {Service("backup center"), bad_name},
           {Service("backup/center"), bad_name},
           {Service("backup?center"), bad_name},
           {Service(".."), bad_name},
           {Service("."), bad_name},
           {Service(std::string(65, 'a')), bad_name},
           {{"backup-center", "", "http://127.0.0.1:9300", "", ""}, "kind: must not be empty"},
           {{"backup-center", "backup-center", "", "", ""}, "url: must not be empty"},
           {Service("backup-center", "2 groups\nstreaming"),
            "summary: one line, without line breaks"},
           {Service("backup-center", long_text), "summary: at most 1024 bytes"},
           {{"backup-center", "backup-center", long_text, "", ""}, "url: at most 1024 bytes"},
       }) {
    auto stored = registry_.Renew(bad.registration, start_);
    ASSERT_FALSE(stored.ok()) << bad.registration.name;
    EXPECT_EQ(stored.error().code, base::ErrorCode::kInvalidArgument);
    EXPECT_EQ(stored.error().message, bad.error);
  }
  EXPECT_TRUE(registry_.List(start_).empty());
  // What is allowed: dots, dashes, underscores, digits; no metrics, no summary.
  EXPECT_TRUE(
      registry_.Renew({"db_proxy-2.eu", "db-proxy", "http://10.0.0.3:7000", "", ""}, start_).ok());
  EXPECT_TRUE(registry_.Renew(Service(std::string(64, 'a')), start_).ok());
}

TEST_F(ServiceRegistryTest, HoldsAtMostSoManyServicesButRenewsThemAll) {
  for (size_t i = 0; i < ServiceRegistry::kMaxServices; ++i) {
    ASSERT_TRUE(registry_.Renew(Service("s" + std::to_string(i)), start_).ok());
  }
  auto refused = registry_.Renew(Service("one-more"), start_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, base::ErrorCode::kResourceExhausted);
  EXPECT_TRUE(registry_.Renew(Service("s0", "renewed"), start_ + 1s).ok())
      << "a registered service still renews at the limit";
  // Once the others expired there is room again.
  EXPECT_TRUE(registry_.Renew(Service("one-more"), start_ + kServiceLease).ok());
  EXPECT_EQ(Names(registry_.List(start_ + kServiceLease)),
            (std::vector<std::string>{"one-more", "s0"}));
}

}  // namespace
}  // namespace trellis::master
