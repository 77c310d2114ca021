#include "db/failover_plan.h"

#include <gtest/gtest.h>

namespace trellis::db {
namespace {

using proto::mysql::ParseGtidPosition;

// Three servers; db1 the primary, the others following it, all at 0-1-10.
ClusterView Healthy() {
  ClusterView view;
  view.addresses = {"127.0.0.1:3307", "127.0.0.1:3308", "127.0.0.1:3309"};
  view.instances.resize(3);
  for (size_t i = 0; i < 3; ++i) {
    InstanceView& instance = view.instances[i];
    instance.answers = true;
    instance.read_only = i != 0;
    instance.position = *ParseGtidPosition("0-1-10");
    instance.source = i == 0 ? "" : view.addresses[0];
    instance.fetching = i != 0;
    instance.applying = i != 0;
  }
  view.instances[0].semi_sync = true;
  view.primary = 0;
  view.primary_last_position = *ParseGtidPosition("0-1-10");
  view.primary_last_semi_sync = true;
  return view;
}

// db1 gone for longer than the delay.
ClusterView PrimaryLost() {
  ClusterView view = Healthy();
  view.instances[0] = InstanceView{};
  view.primary_lost = true;
  return view;
}

TEST(FailoverPlanTest, AServingPrimaryStaysAndFollowersAreLeftAlone) {
  const ClusterPlan plan = PlanCluster(Healthy());
  EXPECT_EQ(plan.primary, 0u);
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_EQ(plan.refusal, "");
}

TEST(FailoverPlanTest, ServersThatDoNotFollowThePrimaryAreMadeTo) {
  ClusterView view = Healthy();
  view.instances[1].fetching = false;  // Both threads stopped, no error: started again.
  view.instances[1].applying = false;
  view.instances[2].source = "127.0.0.1:3399";  // Another source: repointed.
  ClusterPlan plan = PlanCluster(view);
  EXPECT_EQ(plan.actions,
            (std::vector<Action>{{ActionKind::kFollow, 1}, {ActionKind::kFollow, 2}}));

  view = Healthy();
  view.instances[2].read_only = false;  // Writable beside the primary: fenced.
  plan = PlanCluster(view);
  EXPECT_EQ(plan.actions, (std::vector<Action>{{ActionKind::kFollow, 2}}));
}

TEST(FailoverPlanTest, AReplicaThatStoppedOnAnErrorIsLeftForTheOperator) {
  ClusterView view = Healthy();
  view.instances[1].fetching = false;
  view.instances[1].applying = false;
  view.instances[1].replication_error = "Got fatal error 1236 from master";
  EXPECT_TRUE(PlanCluster(view).actions.empty());
}

TEST(FailoverPlanTest, AReplicaHeldBackOnPurposeIsLeftAlone) {
  ClusterView view = Healthy();
  view.instances[1].applying = false;  // STOP SLAVE SQL_THREAD: it still receives.
  EXPECT_TRUE(PlanCluster(view).actions.empty());
}

TEST(FailoverPlanTest, ALostPrimaryIsReplacedByTheMostAdvancedServer) {
  ClusterView view = PrimaryLost();
  view.instances[2].position = *ParseGtidPosition("0-1-12");
  const ClusterPlan plan = PlanCluster(view);
  EXPECT_EQ(plan.primary, 2u);
  EXPECT_EQ(plan.actions,
            (std::vector<Action>{{ActionKind::kPromote, 2}, {ActionKind::kFollow, 1}}));
  EXPECT_EQ(plan.refusal, "");
}

TEST(FailoverPlanTest, NothingHappensWithinTheDelay) {
  ClusterView view = PrimaryLost();
  view.primary_lost = false;
  const ClusterPlan plan = PlanCluster(view);
  EXPECT_EQ(plan.primary, 0u);
  EXPECT_TRUE(plan.actions.empty());
}

TEST(FailoverPlanTest, APrimaryBackFencedIsReplacedAndFollowsOnTies) {
  ClusterView view = Healthy();
  view.instances[0].read_only = true;  // Restarted after a crash: read-only.
  view.primary_lost = true;
  const ClusterPlan plan = PlanCluster(view);
  EXPECT_EQ(plan.primary, 1u);
  EXPECT_EQ(plan.actions,
            (std::vector<Action>{
                {ActionKind::kPromote, 1}, {ActionKind::kFollow, 0}, {ActionKind::kFollow, 2}}));
}

TEST(FailoverPlanTest, APrimaryBackFencedWithMoreThanAnyReplicaIsPromotedAgain) {
  ClusterView view = Healthy();
  view.instances[0].read_only = true;
  view.instances[0].position = *ParseGtidPosition("0-1-11");
  view.primary_lost = true;
  EXPECT_EQ(PlanCluster(view).primary, 0u);
}

TEST(FailoverPlanTest, AFailoverThatCouldLoseAcknowledgedWritesIsRefusedWithTheReason) {
  ClusterView view = PrimaryLost();
  view.primary_last_semi_sync = false;
  view.primary_last_position = *ParseGtidPosition("0-1-11");
  ClusterPlan plan = PlanCluster(view);
  EXPECT_EQ(plan.primary, 0u);
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_NE(plan.refusal.find("not semi-synchronous"), std::string::npos) << plan.refusal;

  // A replica that has everything the primary had may take over.
  view.instances[1].position = *ParseGtidPosition("0-1-11");
  plan = PlanCluster(view);
  EXPECT_EQ(plan.primary, 1u);
  EXPECT_EQ(plan.refusal, "");
}

TEST(FailoverPlanTest, NoServerAnsweringIsARefusal) {
  ClusterView view = PrimaryLost();
  view.instances[1] = InstanceView{};
  view.instances[2] = InstanceView{};
  const ClusterPlan plan = PlanCluster(view);
  EXPECT_EQ(plan.refusal, "no MariaDB server answers");
  EXPECT_TRUE(plan.actions.empty());
}

TEST(FailoverPlanTest, TheFirstPrimaryIsChosenOnceEveryServerAnswers) {
  ClusterView view = Healthy();
  view.primary.reset();
  for (InstanceView& instance : view.instances) {
    instance.read_only = true;
    instance.source = "";
    instance.fetching = false;
    instance.applying = false;
    instance.position = {};
  }
  view.instances[1].answers = false;
  EXPECT_TRUE(PlanCluster(view).actions.empty());  // Waits for db2...

  view.primary_lost = true;  // ... until the delay has passed.
  EXPECT_EQ(PlanCluster(view).actions,
            (std::vector<Action>{{ActionKind::kPromote, 0}, {ActionKind::kFollow, 2}}));

  view.primary_lost = false;
  view.instances[1].answers = true;
  view.instances[1].position = *ParseGtidPosition("0-2-3");  // The most advanced.
  EXPECT_EQ(PlanCluster(view).primary, 1u);
}

}  // namespace
}  // namespace trellis::db
