// Health events between replicas: encoded and decoded strictly, applied only to known keys and
// models, as durations on the local clock, never shortening a local cool-down.
#include <gtest/gtest.h>

#include "switchboard/routing/health.hpp"

using namespace switchboard::routing;

TEST(HealthEvent, RoundTripsAndRejectsJunk) {
  HealthEvent cool;
  cool.provider = "openai";
  cool.key_id = "k-1a2b";
  cool.duration_ms = 30000;
  auto back = HealthEvent::decode(cool.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, HealthEvent::Kind::key_cooldown);
  EXPECT_EQ(back->provider, "openai");
  EXPECT_EQ(back->key_id, "k-1a2b");
  EXPECT_EQ(back->duration_ms, 30000);

  HealthEvent open;
  open.kind = HealthEvent::Kind::circuit_open;
  open.model = "gpt-4o";
  open.duration_ms = 5000;
  auto o = HealthEvent::decode(open.encode());
  ASSERT_TRUE(o);
  EXPECT_EQ(o->kind, HealthEvent::Kind::circuit_open);
  EXPECT_EQ(o->model, "gpt-4o");

  EXPECT_FALSE(HealthEvent::decode("not json"));
  EXPECT_FALSE(HealthEvent::decode(R"({"event":"key_cooldown","provider":"p","ms":5})"));
  EXPECT_FALSE(HealthEvent::decode(R"({"event":"circuit_open","model":"m","ms":-5})"));
  EXPECT_FALSE(HealthEvent::decode(R"({"event":"circuit_open","model":"m","ms":999999999999})"));
  EXPECT_FALSE(HealthEvent::decode(R"({"event":"explode","model":"m","ms":5})"));
}

TEST(HealthRegistry, AppliesRemoteEventsToKnownEntriesOnly) {
  HealthRegistry registry;
  auto key = registry.key("openai", "k1");
  auto model = registry.model("gpt");
  HealthEvent cool;
  cool.provider = "openai";
  cool.key_id = "k1";
  cool.duration_ms = 1000;
  registry.apply(cool, 10'000);
  EXPECT_FALSE(key->usable(10'500));
  EXPECT_TRUE(key->usable(11'000));
  // A shorter remote cool-down never shortens a longer local one.
  key->cool_down(50'000);
  registry.apply(cool, 20'000);
  EXPECT_FALSE(key->usable(40'000));

  HealthEvent open;
  open.kind = HealthEvent::Kind::circuit_open;
  open.model = "gpt";
  open.duration_ms = 2000;
  registry.apply(open, 10'000);
  EXPECT_TRUE(model->is_open(11'000));
  EXPECT_FALSE(model->admit(11'000));
  EXPECT_TRUE(model->admit(12'000)) << "half-open after the remote period: one probe";

  // Unknown names are ignored, not created.
  cool.key_id = "k-unknown";
  registry.apply(cool, 10'000);
  open.model = "unknown";
  registry.apply(open, 10'000);
  EXPECT_TRUE(registry.key("openai", "k-unknown")->usable(10'001));
  EXPECT_FALSE(registry.model("unknown")->is_open(10'001));
}

TEST(ModelHealth, RecordFailureSaysWhenItOpensTheCircuit) {
  ModelHealth h(CircuitSettings{2, 1000});
  EXPECT_FALSE(h.record_failure(100));
  EXPECT_TRUE(h.record_failure(100));
  EXPECT_FALSE(h.record_failure(200)) << "already open: extended, not newly opened";
  EXPECT_TRUE(h.admit(1300));  // the half-open probe
  EXPECT_TRUE(h.record_failure(1300)) << "a failed probe reopens it";
}
