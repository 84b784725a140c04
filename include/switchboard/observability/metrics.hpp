// The metrics registry: sharded, cardinality-bounded counter, gauge and histogram families.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace switchboard::observability {

class ExpositionWriter;

namespace detail {

struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view key) const noexcept {
    return std::hash<std::string_view>{}(key);
  }
};

using KeySet = std::unordered_set<std::string, KeyHash, std::equal_to<>>;

// A shard's lock. Counters and histograms shard by thread, so it is almost never contended:
// taking and releasing it is one atomic instruction each, not a pthread call. A thread that
// finds it held (a scrape merging the shard, a gauge another thread sets) sleeps on the futex
// (std::atomic::wait) instead of spinning. State: 0 free, 1 held, 2 held and maybe waited on.
class ShardLock {
 public:
  void lock() noexcept {
    int expected = 0;
    if (!state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      lock_contended(expected);
    }
  }
  void unlock() noexcept {
    if (state_.fetch_sub(1, std::memory_order_release) != 1) {
      state_.store(0, std::memory_order_release);
      state_.notify_one();
    }
  }

 private:
  void lock_contended(int seen) noexcept {
    if (seen != 2) seen = state_.exchange(2, std::memory_order_acquire);
    while (seen != 0) {
      state_.wait(2, std::memory_order_relaxed);
      seen = state_.exchange(2, std::memory_order_acquire);
    }
  }

  std::atomic<int> state_{0};
};

// One lock and its series, on its own cache lines so shards never false-share.
template <typename Cell>
struct alignas(64) Shard {
  mutable ShardLock mu;
  std::unordered_map<std::string, Cell, KeyHash, std::equal_to<>> series;
};

inline constexpr std::size_t kShardCount = 16;

template <typename Cell>
using Shards = std::array<Shard<Cell>, kShardCount>;

struct HistogramCell {
  std::vector<std::uint64_t> counts;  // per bucket, not cumulative; the last is +Inf
  double sum = 0;
  std::uint64_t count = 0;
};

}  // namespace detail

// A series kept by the caller to update it again without resolving its label values (no hash,
// no comparison, no lookup): the family's id when it was resolved, the shard lock and the cell.
// It stays valid because cells are never erased and what label values resolve to never changes
// once resolved; a family whose caps changed has a new id, so the handle resolves again. The
// caller must pass the same label values every time it uses one handle.
struct SeriesRef {
  std::uint64_t family = 0;  // 0: not resolved
  detail::ShardLock* mu = nullptr;
  void* cell = nullptr;
};

// What label values beyond a cap become.
inline constexpr std::string_view kOtherLabelValue = "other";

// A named metric with a fixed list of label names; one series per distinct label-value tuple.
//
// The hot path (add/observe/set) is safe from any thread. Series live in 16 shards, each a
// mutex and a hash map keyed by the encoded label values. Each thread also remembers the
// series it updated recently (a bounded memo: family and label values -> cell), so updating
// a series the thread has seen costs a comparison of the values and one uncontended lock;
// otherwise the key is built in a thread-local buffer and looked up without allocating.
// Counters and histograms shard by thread (concurrent writers of one hot series take
// different locks; the scrape sums the shards); gauges shard by series, because `set` needs
// one home per series.
//
// Cardinality is bounded twice:
// - cap_label(): the first `max_distinct` values of that label are kept, later ones become
//   "other" (e.g. client-chosen workflow names).
// - set_max_series() (default 10000): past that many series, a new label set first folds its
//   capped labels to "other"; if that series is new too, every label becomes "other". A family
//   therefore never holds more than max_series + 1 series.
// Configure both at startup, before the family is used. A label value that is not valid UTF-8
// (say, a raw header byte) also becomes "other": the exposition format requires UTF-8.
class MetricFamily {
 public:
  enum class Type { counter, gauge, histogram };
  static constexpr std::size_t kDefaultMaxSeries = 10000;

  virtual ~MetricFamily();
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  Type type() const { return type_; }

  // Throws std::invalid_argument for a label name the family does not have.
  void cap_label(std::string_view label_name, std::size_t max_distinct);
  void set_max_series(std::size_t max_series);

  // Distinct label sets admitted so far.
  std::size_t series_count() const;

  virtual void expose(ExpositionWriter& writer) const = 0;

 protected:
  MetricFamily(Type type, std::string name, std::string help, std::vector<std::string> label_names);

  // Runs fn(cell) under the shard lock of the series for `label_values`, creating the series
  // with make_cell() (after the cardinality caps) when it is new.
  // When `ref` is given, it is set to the series updated.
  template <typename Cell, typename MakeCell, typename Fn>
  void update(detail::Shards<Cell>& shards, bool shard_by_key,
              std::span<const std::string_view> label_values, MakeCell&& make_cell, Fn&& fn,
              SeriesRef* ref = nullptr);

  // Does `ref` hold a series of this family as it is now?
  bool holds(const SeriesRef& ref) const {
    return ref.family == id_.load(std::memory_order_relaxed);
  }

  // Merges the shards into one map ordered by label values, combining with merge(into, from).
  template <typename Cell, typename Merge>
  std::map<std::string, Cell> merged(const detail::Shards<Cell>& shards, Merge&& merge) const;

  // Labels of an encoded key, paired with the label names.
  std::vector<std::pair<std::string, std::string>> decode(std::string_view key) const;

  // The encoded key of `label_values` in a thread-local buffer, valid until the next call on
  // this thread; throws std::invalid_argument if the number of values is wrong.
  std::string_view key_of(std::span<const std::string_view> label_values) const;

 private:
  struct LabelCap {
    std::size_t max_distinct = 0;
    std::atomic<bool> full{false};  // once set, `admitted` never changes and is read unlocked
    detail::KeySet admitted;
  };

  // Copies the values into a thread-local vector with the capped labels folded.
  std::vector<std::string_view>& fold_capped_labels(std::span<const std::string_view> values);
  std::string_view cap_value(LabelCap& cap, std::string_view value);
  // Registers the series `key` (the encoding of `folded`) unless the family is full, in which
  // case it folds `folded` further and re-encodes `key`. Returns the key to store.
  std::string_view admit_series(std::vector<std::string_view>& folded, std::string& key);

  // Identifies the family in the threads' memos of resolved series: unique for the process
  // (never reused, unlike an address) and renewed when the caps change, which can change
  // where label values resolve.
  std::atomic<std::uint64_t> id_;
  Type type_;
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<std::unique_ptr<LabelCap>> caps_;  // by label index; null when uncapped
  std::size_t max_series_ = kDefaultMaxSeries;

  mutable std::mutex admission_mu_;  // guards known_series_ and unfilled caps
  detail::KeySet known_series_;
};

class CounterFamily final : public MetricFamily {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);

  // Negative and NaN increments are ignored: a counter only goes up.
  void add(std::span<const std::string_view> label_values, double v = 1);
  void add(std::initializer_list<std::string_view> label_values, double v = 1) {
    add(std::span(label_values.begin(), label_values.size()), v);
  }
  // The same through `ref` (see SeriesRef): resolves `label_values` only when ref does not
  // hold this family's series yet, and then remembers it there.
  void add(SeriesRef& ref, std::span<const std::string_view> label_values, double v = 1);

  // The value of a series by its stored label values (after folding); 0 if absent.
  double value(std::span<const std::string_view> label_values) const;
  double value(std::initializer_list<std::string_view> label_values) const {
    return value(std::span(label_values.begin(), label_values.size()));
  }

  void expose(ExpositionWriter& writer) const override;

 private:
  detail::Shards<double> shards_;
};

class GaugeFamily final : public MetricFamily {
 public:
  GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names);

  void set(std::span<const std::string_view> label_values, double v);
  void set(std::initializer_list<std::string_view> label_values, double v) {
    set(std::span(label_values.begin(), label_values.size()), v);
  }
  void add(std::span<const std::string_view> label_values, double v = 1);
  void add(std::initializer_list<std::string_view> label_values, double v = 1) {
    add(std::span(label_values.begin(), label_values.size()), v);
  }

  double value(std::span<const std::string_view> label_values) const;
  double value(std::initializer_list<std::string_view> label_values) const {
    return value(std::span(label_values.begin(), label_values.size()));
  }

  void expose(ExpositionWriter& writer) const override;

 private:
  detail::Shards<double> shards_;
};

class HistogramFamily final : public MetricFamily {
 public:
  // `buckets` are the finite upper bounds, strictly increasing (a trailing +Inf is dropped;
  // +Inf is always implied). Throws std::invalid_argument otherwise or if a label is "le".
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> buckets);

  // NaN observations are ignored (one would poison _sum forever).
  void observe(std::span<const std::string_view> label_values, double v);
  void observe(std::initializer_list<std::string_view> label_values, double v) {
    observe(std::span(label_values.begin(), label_values.size()), v);
  }
  // The same through `ref`, as CounterFamily::add.
  void observe(SeriesRef& ref, std::span<const std::string_view> label_values, double v);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot(std::span<const std::string_view> label_values) const;
  Snapshot snapshot(std::initializer_list<std::string_view> label_values) const {
    return snapshot(std::span(label_values.begin(), label_values.size()));
  }

  const std::vector<double>& buckets() const { return bounds_; }

  void expose(ExpositionWriter& writer) const override;

 private:
  detail::HistogramCell make_cell() const;

  std::vector<double> bounds_;
  std::vector<std::string> le_;  // formatted bounds, then "+Inf"
  detail::Shards<detail::HistogramCell> shards_;
};

// Owns the families. Register them at startup (not per request); the returned references
// stay valid for the registry's lifetime. Registering a name again returns the existing
// family if its type, labels (and buckets) match, so a config reload can re-register; any
// mismatch, or an invalid name, throws std::invalid_argument.
class MetricsRegistry {
 public:
  CounterFamily& counter(std::string name, std::string help,
                         std::vector<std::string> label_names = {});
  GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  HistogramFamily& histogram(std::string name, std::string help,
                             std::vector<std::string> label_names, std::vector<double> buckets);

  // The whole exposition (text format 0.0.4), families in registration order, series of a
  // family ordered by label values.
  std::string expose() const;

 private:
  template <typename Family>
  Family& adopt(std::unique_ptr<Family> family);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_;
};

// Histogram bounds for a whole LLM request: 50 ms .. 600 s (the default total upstream timeout
// is 10 minutes; long generations and slow reasoning models take minutes).
std::vector<double> duration_buckets_seconds();
// Histogram bounds for time to first token: 10 ms .. 60 s, finest where TTFTs cluster
// (100 ms .. 2 s).
std::vector<double> ttft_buckets_seconds();
// Histogram bounds for time spent inside the gateway: 10 us .. 100 ms.
std::vector<double> overhead_buckets_seconds();

}  // namespace switchboard::observability
