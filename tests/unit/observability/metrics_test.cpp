// Unit tests for the metrics registry and its families (observability/metrics.hpp).
#include "switchboard/observability/metrics.hpp"
#include "switchboard/observability/prometheus.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace switchboard::observability {
namespace {

TEST(CounterFamily, AddsPerLabelSet) {
  CounterFamily counter("c_total", "help", {"tenant", "status"});
  counter.add({"acme", "200"});
  counter.add({"acme", "200"}, 2.5);
  counter.add({"acme", "500"});
  EXPECT_EQ(counter.value({"acme", "200"}), 3.5);
  EXPECT_EQ(counter.value({"acme", "500"}), 1);
  EXPECT_EQ(counter.value({"other", "200"}), 0);
  EXPECT_EQ(counter.series_count(), 2u);
}

TEST(CounterFamily, IgnoresNegativeAndNanIncrements) {
  CounterFamily counter("c_total", "help", {"k"});
  counter.add({"a"}, 2);
  counter.add({"a"}, -1);
  counter.add({"a"}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(counter.value({"a"}), 2);
}

TEST(CounterFamily, RejectsWrongNumberOfLabelValues) {
  CounterFamily counter("c_total", "help", {"a", "b"});
  EXPECT_THROW(counter.add({"x"}), std::invalid_argument);
  EXPECT_THROW(counter.add({"x", "y", "z"}), std::invalid_argument);
}

TEST(CounterFamily, ConcurrentAddsFromFourThreadsSumExactly) {
  CounterFamily counter("c_total", "help", {"route"});
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counter, t] {
      const std::string_view routes[] = {"a", "b", "c"};
      for (int i = 0; i < kPerThread; ++i) {
        counter.add({routes[(i + t) % 3]});
        counter.add({"all"}, 0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value({"all"}), 4 * kPerThread * 0.5);
  EXPECT_EQ(counter.value({"a"}) + counter.value({"b"}) + counter.value({"c"}), 4 * kPerThread);
  EXPECT_EQ(counter.series_count(), 4u);
  // The scrape merges the per-thread shards into one sample per series.
  ExpositionWriter writer;
  counter.expose(writer);
  std::string text = writer.take();
  EXPECT_NE(text.find("c_total{route=\"all\"} 200000\n"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2 + 4);
}

TEST(GaugeFamily, SetAndAdd) {
  GaugeFamily gauge("g", "help", {"provider"});
  gauge.set({"openai"}, 5);
  gauge.add({"openai"}, -2);
  gauge.add({"mock"});
  EXPECT_EQ(gauge.value({"openai"}), 3);
  EXPECT_EQ(gauge.value({"mock"}), 1);
}

TEST(GaugeFamily, SetFromManyThreadsKeepsOneValuePerSeries) {
  GaugeFamily gauge("g", "help", {"k"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&gauge] {
      for (int i = 0; i < 10000; ++i) gauge.set({"x"}, 7);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(gauge.value({"x"}), 7);  // summing per-thread copies would give 28
  ExpositionWriter writer;
  gauge.expose(writer);
  EXPECT_EQ(writer.take(), "# HELP g help\n# TYPE g gauge\ng{k=\"x\"} 7\n");
}

TEST(GaugeFamily, ConcurrentAddsSumExactly) {
  GaugeFamily gauge("g", "help", {"state"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&gauge] {
      for (int i = 0; i < 50000; ++i) {
        gauge.add({"active"}, 1);
        gauge.add({"idle"}, -1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(gauge.value({"active"}), 200000);
  EXPECT_EQ(gauge.value({"idle"}), -200000);
}

TEST(HistogramFamily, CountsCumulativeBucketsSumAndCount) {
  HistogramFamily histogram("h_seconds", "help", {"model"}, {1, 2, 5});
  for (double v : {0.5, 1.0, 1.5, 3.0, 10.0}) histogram.observe({"m"}, v);
  HistogramFamily::Snapshot snap = histogram.snapshot({"m"});
  EXPECT_EQ(snap.cumulative, (std::vector<std::uint64_t>{2, 3, 4, 5}));  // le is inclusive
  EXPECT_EQ(snap.sum, 16);
  EXPECT_EQ(snap.count, 5u);

  ExpositionWriter writer;
  histogram.expose(writer);
  EXPECT_EQ(writer.take(),
            "# HELP h_seconds help\n"
            "# TYPE h_seconds histogram\n"
            "h_seconds_bucket{model=\"m\",le=\"1\"} 2\n"
            "h_seconds_bucket{model=\"m\",le=\"2\"} 3\n"
            "h_seconds_bucket{model=\"m\",le=\"5\"} 4\n"
            "h_seconds_bucket{model=\"m\",le=\"+Inf\"} 5\n"
            "h_seconds_sum{model=\"m\"} 16\n"
            "h_seconds_count{model=\"m\"} 5\n");
}

TEST(HistogramFamily, IgnoresNanAndCountsInfinityInLastBucket) {
  HistogramFamily histogram("h", "help", {}, {1});
  histogram.observe({}, std::numeric_limits<double>::quiet_NaN());
  histogram.observe({}, -3);
  EXPECT_EQ(histogram.snapshot({}).cumulative, (std::vector<std::uint64_t>{1, 1}));
  EXPECT_EQ(histogram.snapshot({}).sum, -3);
}

TEST(HistogramFamily, ConcurrentObservationsMergeExactly) {
  HistogramFamily histogram("h", "help", {"p"}, {0.1, 1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&histogram] {
      for (int i = 0; i < 30000; ++i) histogram.observe({"x"}, (i % 3) * 0.5);  // 0, 0.5, 1
    });
  }
  for (auto& thread : threads) thread.join();
  HistogramFamily::Snapshot snap = histogram.snapshot({"x"});
  EXPECT_EQ(snap.cumulative, (std::vector<std::uint64_t>{40000, 120000, 120000}));
  EXPECT_EQ(snap.count, 120000u);
  EXPECT_EQ(snap.sum, 4 * 10000 * 1.5);
}

TEST(HistogramFamily, ValidatesBucketsAndDropsTrailingInfinity) {
  EXPECT_THROW(HistogramFamily("h", "", {}, {2, 1}), std::invalid_argument);
  EXPECT_THROW(HistogramFamily("h", "", {}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(HistogramFamily("h", "", {}, {std::numeric_limits<double>::quiet_NaN()}),
               std::invalid_argument);
  EXPECT_THROW(HistogramFamily("h", "", {"le"}, {1}), std::invalid_argument);
  HistogramFamily histogram("h", "", {}, {1, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(histogram.buckets(), std::vector<double>{1});
}

TEST(MetricFamily, RejectsInvalidNames) {
  EXPECT_THROW(CounterFamily("bad-name", "", {}), std::invalid_argument);
  EXPECT_THROW(CounterFamily("c", "", {"bad-label"}), std::invalid_argument);
  EXPECT_THROW(CounterFamily("c", "", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(CounterFamily("c", "", {"a", "a"}), std::invalid_argument);
}

TEST(MetricFamily, LabelCapFoldsValuesBeyondTheFirstToOther) {
  CounterFamily counter("c_total", "help", {"tenant", "workflow"});
  counter.cap_label("workflow", 2);
  counter.add({"acme", "summarize"});
  counter.add({"acme", "chat"});
  counter.add({"acme", "unknown-1"});
  counter.add({"acme", "unknown-2"}, 2);
  counter.add({"acme", "summarize"});  // admitted values stay themselves
  counter.add({"beta", "chat"});       // the cap is per label value, not per series
  EXPECT_EQ(counter.value({"acme", "summarize"}), 2);
  EXPECT_EQ(counter.value({"acme", "chat"}), 1);
  EXPECT_EQ(counter.value({"acme", "other"}), 3);
  EXPECT_EQ(counter.value({"acme", "unknown-1"}), 0);
  EXPECT_EQ(counter.value({"beta", "chat"}), 1);
  EXPECT_EQ(counter.series_count(), 4u);
}

TEST(MetricFamily, OtherDoesNotUseUpTheCap) {
  CounterFamily counter("c_total", "help", {"workflow"});
  counter.cap_label("workflow", 1);
  counter.add({"other"});
  counter.add({"first"});
  counter.add({"second"});
  EXPECT_EQ(counter.value({"first"}), 1);
  EXPECT_EQ(counter.value({"other"}), 2);
}

TEST(MetricFamily, ZeroCapFoldsEverything) {
  CounterFamily counter("c_total", "help", {"workflow"});
  counter.cap_label("workflow", 0);
  counter.add({"a"});
  counter.add({"b"});
  EXPECT_EQ(counter.value({"other"}), 2);
  EXPECT_EQ(counter.series_count(), 1u);
}

TEST(MetricFamily, CapLabelRejectsUnknownLabel) {
  CounterFamily counter("c_total", "help", {"workflow"});
  EXPECT_THROW(counter.cap_label("tenant", 3), std::invalid_argument);
}

TEST(MetricFamily, LabelCapHoldsUnderConcurrency) {
  CounterFamily counter("c_total", "help", {"workflow"});
  counter.cap_label("workflow", 10);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counter, t] {
      for (int i = 0; i < 1000; ++i) {
        counter.add({"w" + std::to_string((i * 7 + t) % 100)});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.series_count(), 11u);  // ten admitted values and "other"
  double total = counter.value({"other"});
  for (int w = 0; w < 100; ++w) total += counter.value({"w" + std::to_string(w)});
  EXPECT_EQ(total, 4000);
}

TEST(MetricFamily, SeriesCapFoldsCappedLabelsThenEverything) {
  CounterFamily counter("c_total", "help", {"tenant", "workflow"});
  counter.cap_label("workflow", 1000);
  counter.set_max_series(3);
  counter.add({"a", "w1"});
  counter.add({"a", "w2"});
  counter.add({"b", "w1"});
  // Full: a new label set folds workflow to "other"; {a, other} is new as well, so every
  // label folds and the family's one overflow series {other, other} appears.
  counter.add({"a", "other"});
  counter.add({"a", "w3"});
  counter.add({"a", "w1"});  // existing series are unaffected
  EXPECT_EQ(counter.value({"a", "w1"}), 2);
  EXPECT_EQ(counter.value({"other", "other"}), 2);
  EXPECT_EQ(counter.series_count(), 4u);
  for (int i = 0; i < 100; ++i) counter.add({"t" + std::to_string(i), "w" + std::to_string(i)});
  EXPECT_EQ(counter.series_count(), 4u);  // never more than max_series + 1
  EXPECT_EQ(counter.value({"other", "other"}), 102);
}

TEST(MetricFamily, SeriesCapPrefersFoldingCappedLabels) {
  CounterFamily counter("c_total", "help", {"tenant", "workflow"});
  counter.cap_label("workflow", 1000);
  counter.add({"a", "other"});
  counter.set_max_series(1);
  counter.add({"a", "new"});  // folds to the existing {a, other}
  EXPECT_EQ(counter.value({"a", "other"}), 2);
  EXPECT_EQ(counter.series_count(), 1u);
}

TEST(MetricFamily, InvalidUtf8LabelValuesFoldToOther) {
  CounterFamily counter("c_total", "help", {"tenant", "workflow"});
  counter.add({"acme", "caf\xE9"});
  counter.add({"acme", "caf\xC3\xA9"});
  counter.add({"acme", "\xFF"});
  EXPECT_EQ(counter.value({"acme", "other"}), 2);
  EXPECT_EQ(counter.value({"acme", "caf\xC3\xA9"}), 1);
  EXPECT_EQ(counter.series_count(), 2u);
}

TEST(MetricFamily, LabelValuesWithNulBytesStayDistinct) {
  using namespace std::string_literals;
  CounterFamily counter("c_total", "help", {"a", "b"});
  const std::string with_nul = "x\0y"s;
  counter.add({with_nul, ""});
  counter.add({"x", "y"});
  counter.add({"x", std::string_view("\0y", 2)});
  EXPECT_EQ(counter.series_count(), 3u);
  EXPECT_EQ(counter.value({with_nul, ""}), 1);
  ExpositionWriter writer;
  counter.expose(writer);
  EXPECT_NE(writer.text().find("c_total{a=\""s + with_nul + "\",b=\"\"} 1\n"), std::string::npos);
}

// A thread remembers the series it updated (the memo): repeat updates must land exactly where
// a fresh lookup would, whatever the values have in common.
TEST(MetricFamily, RepeatUpdatesOfLookalikeLabelSetsStayApart) {
  using namespace std::string_literals;
  CounterFamily counter("c_total", "help", {"a", "b"});
  // Same bytes split differently, same length and edges, a NUL, empty values.
  const std::vector<std::pair<std::string, std::string>> sets = {
      {"ab", "c"},
      {"a", "bc"},
      {"abc", ""},
      {"", "abc"},
      {"prefix-1-suffix-long", "x"},
      {"prefix-2-suffix-long", "x"},
      {"prefix-123456789-suffix", "x"},
      {"prefix-123456780-suffix", "x"},
      {"x\0y"s, ""},
      {"x", "\0y"s},
  };
  for (int round = 1; round <= 3; ++round) {
    for (std::size_t i = 0; i < sets.size(); ++i) {
      counter.add({sets[i].first, sets[i].second}, static_cast<double>(i + 1));
    }
  }
  EXPECT_EQ(counter.series_count(), sets.size());
  for (std::size_t i = 0; i < sets.size(); ++i) {
    EXPECT_EQ(counter.value({sets[i].first, sets[i].second}), 3.0 * static_cast<double>(i + 1))
        << i;
  }
}

TEST(MetricFamily, RepeatUpdatesKeepFoldingToOther) {
  CounterFamily counter("c_total", "help", {"tenant", "workflow"});
  counter.cap_label("workflow", 1);
  for (int i = 0; i < 3; ++i) {
    counter.add({"acme", "kept"});
    counter.add({"acme", "folded"});
    counter.add({"acme", "caf\xE9"});
  }
  EXPECT_EQ(counter.value({"acme", "kept"}), 3);
  EXPECT_EQ(counter.value({"acme", "other"}), 6);
  EXPECT_EQ(counter.value({"acme", "folded"}), 0);
  EXPECT_EQ(counter.series_count(), 2u);

  CounterFamily full("f_total", "help", {"tenant", "workflow"});
  full.cap_label("workflow", 100);
  full.set_max_series(1);
  for (int i = 0; i < 3; ++i) {
    full.add({"a", "w"});
    full.add({"b", "w"});  // the family is full: folds all the way to {other, other}
  }
  EXPECT_EQ(full.value({"a", "w"}), 3);
  EXPECT_EQ(full.value({"other", "other"}), 3);
  EXPECT_EQ(full.series_count(), 2u);
}

TEST(MetricFamily, MoreSeriesThanTheMemoHoldsCountExactly) {
  CounterFamily counter("c_total", "help", {"tenant", "model", "status"});
  HistogramFamily histogram("h_seconds", "help", {"tenant"}, {1, 2});
  constexpr int kSeries = 3000;  // several times the memo's slots
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kSeries; ++i) {
      std::string tenant = "tenant-" + std::to_string(i % 50);
      std::string model = "model-" + std::to_string(i / 50);
      counter.add({tenant, model, i % 2 ? "200" : "500"});
      histogram.observe({tenant}, 1.5);
    }
  }
  EXPECT_EQ(counter.series_count(), static_cast<std::size_t>(kSeries));
  for (int i = 0; i < kSeries; ++i) {
    std::string tenant = "tenant-" + std::to_string(i % 50);
    std::string model = "model-" + std::to_string(i / 50);
    ASSERT_EQ(counter.value({tenant, model, i % 2 ? "200" : "500"}), 2) << i;
  }
  auto snap = histogram.snapshot({"tenant-7"});
  EXPECT_EQ(snap.count, 2u * kSeries / 50);
}

TEST(MetricFamily, AFamilyInTheSameMemoryAsADestroyedOneStartsEmpty) {
  // The memo must never hand a new family the cell of a destroyed one that lived at the
  // same address.
  for (int i = 0; i < 5; ++i) {
    auto registry = std::make_unique<MetricsRegistry>();
    auto& counter = registry->counter("c_total", "help", {"k"});
    auto& gauge = registry->gauge("g", "help", {"k"});
    counter.add({"x"});
    counter.add({"x"});
    gauge.add({"x"}, 2);
    EXPECT_EQ(counter.value({"x"}), 2);
    EXPECT_EQ(gauge.value({"x"}), 2);
  }
}

TEST(ShardLock, ExcludesUnderContentionAndWakesSleepers) {
  detail::ShardLock lock;
  long counter = 0;  // not atomic: only the lock protects it
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50000; ++i) {
        std::lock_guard guard(lock);
        ++counter;
        if (i % 5000 == t) std::this_thread::yield();  // held across a yield: others must wait
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter, 200000);
}

TEST(SeriesRef, UpdatesTheSeriesItsValuesResolvedTo) {
  CounterFamily counter("c_total", "help", {"tenant", "status"});
  HistogramFamily histogram("h_seconds", "help", {"tenant"}, {1, 2});
  SeriesRef c, h;
  std::array<std::string_view, 2> acme{"acme", "200"};
  std::array<std::string_view, 1> tenant{"acme"};
  for (int i = 0; i < 3; ++i) {
    counter.add(c, acme, 2);
    histogram.observe(h, tenant, 1.5);
  }
  counter.add({"acme", "200"});  // the ordinary path sees the same series
  EXPECT_EQ(counter.value({"acme", "200"}), 7);
  EXPECT_EQ(counter.series_count(), 1u);
  auto snap = histogram.snapshot({"acme"});
  EXPECT_EQ(snap.count, 3u);
  EXPECT_EQ(snap.cumulative[0], 0u);
  EXPECT_EQ(snap.cumulative[1], 3u);
  EXPECT_DOUBLE_EQ(snap.sum, 4.5);
  counter.add(c, acme, -1);  // still ignored
  histogram.observe(h, tenant, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(counter.value({"acme", "200"}), 7);
  EXPECT_EQ(histogram.snapshot({"acme"}).count, 3u);
}

TEST(SeriesRef, FollowsFoldingAndResolvesAgainAfterTheCapsChange) {
  CounterFamily counter("c_total", "help", {"tenant", "workflow"});
  counter.cap_label("workflow", 1);
  counter.add({"acme", "first"});
  SeriesRef second;
  std::array<std::string_view, 2> late{"acme", "second"};
  counter.add(second, late);
  counter.add(second, late);
  EXPECT_EQ(counter.value({"acme", "other"}), 2) << "beyond the cap, through the handle too";
  // New caps renew the family's id: the handle resolves again instead of using its old cell.
  counter.cap_label("workflow", 5);
  counter.add(second, late);
  EXPECT_EQ(counter.value({"acme", "second"}), 1);
  EXPECT_EQ(counter.value({"acme", "other"}), 2);
}

TEST(SeriesRef, AHandleOfAnotherFamilyIsNotUsed) {
  CounterFamily a("a_total", "help", {"k"});
  CounterFamily b("b_total", "help", {"k"});
  SeriesRef ref;
  std::array<std::string_view, 1> x{"x"};
  a.add(ref, x);
  b.add(ref, x);  // resolves in b and now holds b's series
  b.add(ref, x);
  EXPECT_EQ(a.value({"x"}), 1);
  EXPECT_EQ(b.value({"x"}), 2);
}

TEST(MetricsRegistry, ExposesFamiliesInRegistrationOrderAndSeriesByLabelValues) {
  MetricsRegistry registry;
  auto& requests =
      registry.counter("switchboard_requests_total", "Requests.", {"tenant", "status"});
  auto& open = registry.gauge("switchboard_circuit_open", "Open circuits.", {"model"});
  auto& overhead =
      registry.histogram("switchboard_gateway_overhead_seconds", "Overhead.", {}, {0.001, 0.01});
  auto& reloads = registry.counter("switchboard_config_reloads_total", "Reloads.", {"result"});
  requests.add({"zeta", "200"});
  requests.add({"acme", "500"});
  requests.add({"acme", "200"}, 2);
  open.set({"gpt-4o-mini"}, 1);
  overhead.observe({}, 0.0005);
  (void)reloads;
  EXPECT_EQ(registry.expose(),
            "# HELP switchboard_requests_total Requests.\n"
            "# TYPE switchboard_requests_total counter\n"
            "switchboard_requests_total{tenant=\"acme\",status=\"200\"} 2\n"
            "switchboard_requests_total{tenant=\"acme\",status=\"500\"} 1\n"
            "switchboard_requests_total{tenant=\"zeta\",status=\"200\"} 1\n"
            "# HELP switchboard_circuit_open Open circuits.\n"
            "# TYPE switchboard_circuit_open gauge\n"
            "switchboard_circuit_open{model=\"gpt-4o-mini\"} 1\n"
            "# HELP switchboard_gateway_overhead_seconds Overhead.\n"
            "# TYPE switchboard_gateway_overhead_seconds histogram\n"
            "switchboard_gateway_overhead_seconds_bucket{le=\"0.001\"} 1\n"
            "switchboard_gateway_overhead_seconds_bucket{le=\"0.01\"} 1\n"
            "switchboard_gateway_overhead_seconds_bucket{le=\"+Inf\"} 1\n"
            "switchboard_gateway_overhead_seconds_sum 0.0005\n"
            "switchboard_gateway_overhead_seconds_count 1\n"
            "# HELP switchboard_config_reloads_total Reloads.\n"
            "# TYPE switchboard_config_reloads_total counter\n");
}

TEST(MetricsRegistry, PlainMetricsAreExposedAsZeroFromTheStart) {
  MetricsRegistry registry;
  registry.counter("a_total", "A.");
  registry.gauge("b", "B.");
  registry.histogram("c", "C.", {}, {1});
  EXPECT_EQ(registry.expose(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
            "# HELP b B.\n# TYPE b gauge\nb 0\n"
            "# HELP c C.\n# TYPE c histogram\n"
            "c_bucket{le=\"1\"} 0\nc_bucket{le=\"+Inf\"} 0\nc_sum 0\nc_count 0\n");
}

TEST(MetricsRegistry, EscapesLabelValuesInExposition) {
  MetricsRegistry registry;
  registry.counter("c_total", "Help with \\ and\nnewline.", {"workflow"}).add({"a\"b\\c\nd"});
  EXPECT_EQ(registry.expose(),
            "# HELP c_total Help with \\\\ and\\nnewline.\n"
            "# TYPE c_total counter\n"
            "c_total{workflow=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsRegistry, ReRegisteringTheSameFamilyReturnsIt) {
  MetricsRegistry registry;
  auto& first = registry.counter("c_total", "help", {"a"});
  auto& again = registry.counter("c_total", "other help", {"a"});
  EXPECT_EQ(&first, &again);
  auto& h1 = registry.histogram("h", "help", {}, {1, 2});
  EXPECT_EQ(&h1, &registry.histogram("h", "help", {}, {1, 2}));
}

TEST(MetricsRegistry, ConflictingRegistrationThrows) {
  MetricsRegistry registry;
  registry.counter("c_total", "help", {"a"});
  registry.histogram("h", "help", {}, {1, 2});
  EXPECT_THROW(registry.counter("c_total", "help", {"b"}), std::invalid_argument);
  EXPECT_THROW(registry.gauge("c_total", "help", {"a"}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "help", {}, {1, 3}), std::invalid_argument);
  EXPECT_THROW(registry.counter("bad name", "help"), std::invalid_argument);
}

TEST(MetricsRegistry, ReferencesStayValidAsFamiliesAreAdded) {
  MetricsRegistry registry;
  auto& first = registry.counter("first_total", "help", {"k"});
  for (int i = 0; i < 100; ++i) registry.gauge("g" + std::to_string(i), "help");
  first.add({"v"});
  EXPECT_EQ(first.value({"v"}), 1);
}

TEST(MetricBuckets, AreStrictlyIncreasingAndCoverTheirRanges) {
  for (const auto& buckets :
       {duration_buckets_seconds(), ttft_buckets_seconds(), overhead_buckets_seconds()}) {
    ASSERT_FALSE(buckets.empty());
    EXPECT_TRUE(std::adjacent_find(buckets.begin(), buckets.end(), std::greater_equal<>()) ==
                buckets.end());
    EXPECT_NO_THROW(HistogramFamily("h", "", {}, buckets));
  }
  EXPECT_DOUBLE_EQ(duration_buckets_seconds().front(), 0.05);
  EXPECT_DOUBLE_EQ(duration_buckets_seconds().back(), 600);
  EXPECT_DOUBLE_EQ(ttft_buckets_seconds().front(), 0.01);
  EXPECT_DOUBLE_EQ(ttft_buckets_seconds().back(), 60);
  EXPECT_DOUBLE_EQ(overhead_buckets_seconds().front(), 0.00001);
  EXPECT_DOUBLE_EQ(overhead_buckets_seconds().back(), 0.1);
}

}  // namespace
}  // namespace switchboard::observability
