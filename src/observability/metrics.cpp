// The metrics registry: sharded series storage, cardinality caps, and the families' exposition.
#include "switchboard/observability/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "metrics_memo.hpp"
#include "switchboard/observability/prometheus.hpp"

namespace switchboard::observability {
namespace {

// Keys encode label values so that byte order is the order of the value tuples: each value's
// bytes (a NUL escaped as "\0\1") then the terminator "\0\0". Label values are free text, so
// no plain separator would do.
void encode_key_escaped(std::string& out, std::span<const std::string_view> values) {
  out.clear();
  for (std::string_view value : values) {
    for (char c : value) {
      out.push_back(c);
      if (c == '\0') out.push_back('\x01');
    }
    out.append("\0\0", 2);
  }
}

void encode_key(std::string& out, std::span<const std::string_view> values) {
  // The common case, no NUL in any value: sized once, copied in place (this runs on every
  // metric update).
  std::size_t total = 0;
  for (std::string_view value : values) total += value.size() + 2;
  out.resize(total);
  char* p = out.data();
  for (std::string_view value : values) {
    if (!value.empty()) {
      if (std::memchr(value.data(), '\0', value.size()) != nullptr) {
        encode_key_escaped(out, values);
        return;
      }
      std::memcpy(p, value.data(), value.size());
      p += value.size();
    }
    *p++ = '\0';
    *p++ = '\0';
  }
}

std::vector<std::string> decode_key(std::string_view key) {
  std::vector<std::string> values;
  std::string current;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (key[i] != '\0') {
      current.push_back(key[i]);
      continue;
    }
    ++i;  // a well-formed key always has the second byte of the pair
    if (i < key.size() && key[i] == '\x01') {
      current.push_back('\0');
    } else {
      values.push_back(std::move(current));
      current.clear();
    }
  }
  return values;
}

// Thread-local scratch, so a lookup of an existing series allocates nothing once warm.
std::string& raw_key_buffer() {
  thread_local std::string buffer;
  return buffer;
}
std::string& folded_key_buffer() {
  thread_local std::string buffer;
  return buffer;
}
std::vector<std::string_view>& folded_values_buffer() {
  thread_local std::vector<std::string_view> buffer;
  return buffer;
}

std::uint64_t next_family_id() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// Threads take shards round-robin on first use: event-loop threads (fewer than 16 on most
// hosts) each get a lock of their own.
std::size_t thread_shard() {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t index =
      next.fetch_add(1, std::memory_order_relaxed) % detail::kShardCount;
  return index;
}

std::vector<Label> label_views(const std::vector<std::pair<std::string, std::string>>& labels) {
  return std::vector<Label>(labels.begin(), labels.end());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MetricFamily

MetricFamily::MetricFamily(Type type, std::string name, std::string help,
                           std::vector<std::string> label_names)
    : id_(next_family_id()),
      type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      caps_(label_names_.size()) {
  if (!is_valid_metric_name(name_)) {
    throw std::invalid_argument("invalid metric name: " + name_);
  }
  for (std::size_t i = 0; i < label_names_.size(); ++i) {
    const std::string& label = label_names_[i];
    if (!is_valid_label_name(label)) {
      throw std::invalid_argument(name_ + ": invalid label name: " + label);
    }
    if (std::find(label_names_.begin(), label_names_.begin() + i, label) !=
        label_names_.begin() + i) {
      throw std::invalid_argument(name_ + ": duplicate label name: " + label);
    }
  }
}

MetricFamily::~MetricFamily() = default;

void MetricFamily::cap_label(std::string_view label_name, std::size_t max_distinct) {
  auto it = std::find(label_names_.begin(), label_names_.end(), label_name);
  if (it == label_names_.end()) {
    throw std::invalid_argument(name_ + ": no label named " + std::string(label_name));
  }
  auto cap = std::make_unique<LabelCap>();
  cap->max_distinct = max_distinct;
  cap->full.store(max_distinct == 0, std::memory_order_release);
  std::lock_guard lock(admission_mu_);
  caps_[static_cast<std::size_t>(it - label_names_.begin())] = std::move(cap);
  id_.store(next_family_id(), std::memory_order_relaxed);  // forget what values resolved to
}

void MetricFamily::set_max_series(std::size_t max_series) {
  std::lock_guard lock(admission_mu_);
  max_series_ = max_series;
  id_.store(next_family_id(), std::memory_order_relaxed);
}

std::size_t MetricFamily::series_count() const {
  std::lock_guard lock(admission_mu_);
  return known_series_.size();
}

std::string_view MetricFamily::key_of(std::span<const std::string_view> label_values) const {
  if (label_values.size() != label_names_.size()) {
    throw std::invalid_argument(name_ + ": expected " + std::to_string(label_names_.size()) +
                                " label values, got " + std::to_string(label_values.size()));
  }
  std::string& buffer = raw_key_buffer();
  encode_key(buffer, label_values);
  return buffer;
}

std::vector<std::pair<std::string, std::string>> MetricFamily::decode(std::string_view key) const {
  std::vector<std::string> values = decode_key(key);
  std::vector<std::pair<std::string, std::string>> labels;
  labels.reserve(values.size());
  for (std::size_t i = 0; i < values.size() && i < label_names_.size(); ++i) {
    labels.emplace_back(label_names_[i], std::move(values[i]));
  }
  return labels;
}

std::vector<std::string_view>& MetricFamily::fold_capped_labels(
    std::span<const std::string_view> values) {
  std::vector<std::string_view>& folded = folded_values_buffer();
  folded.assign(values.begin(), values.end());
  for (std::size_t i = 0; i < caps_.size(); ++i) {
    // Invalid UTF-8 would be mangled at exposition, where distinct values could collide.
    if (!is_valid_utf8(values[i])) {
      folded[i] = kOtherLabelValue;
    } else if (caps_[i]) {
      folded[i] = cap_value(*caps_[i], values[i]);
    }
  }
  return folded;
}

std::string_view MetricFamily::cap_value(LabelCap& cap, std::string_view value) {
  if (value == kOtherLabelValue) return value;
  // A full cap never changes again, so the common case of a capped-out value needs no lock.
  if (cap.full.load(std::memory_order_acquire)) {
    return cap.admitted.contains(value) ? value : kOtherLabelValue;
  }
  std::lock_guard lock(admission_mu_);
  if (cap.admitted.contains(value)) return value;
  if (cap.admitted.size() >= cap.max_distinct) return kOtherLabelValue;
  cap.admitted.emplace(value);
  if (cap.admitted.size() >= cap.max_distinct) cap.full.store(true, std::memory_order_release);
  return value;
}

std::string_view MetricFamily::admit_series(std::vector<std::string_view>& folded,
                                            std::string& key) {
  std::lock_guard lock(admission_mu_);
  if (known_series_.contains(std::string_view(key))) return key;
  if (known_series_.size() < max_series_) {
    known_series_.emplace(key);
    return key;
  }
  // Full: first fold the labels known to be unbounded, then everything.
  for (std::size_t i = 0; i < caps_.size(); ++i) {
    if (caps_[i]) folded[i] = kOtherLabelValue;
  }
  encode_key(key, folded);
  if (known_series_.contains(std::string_view(key))) return key;
  std::fill(folded.begin(), folded.end(), kOtherLabelValue);
  encode_key(key, folded);
  known_series_.emplace(key);  // at most once: the all-"other" series
  return key;
}

template <typename Cell, typename MakeCell, typename Fn>
void MetricFamily::update(detail::Shards<Cell>& shards, bool shard_by_key,
                          std::span<const std::string_view> label_values, MakeCell&& make_cell,
                          Fn&& fn, SeriesRef* ref) {
  // Fastest path: this thread resolved these values before.
  const std::uint64_t family = id_.load(std::memory_order_relaxed);
  const std::uint64_t hash = detail::SeriesMemo::hash(family, label_values);
  detail::SeriesMemo::Entry& memo = detail::series_memo().slot(hash);
  if (detail::SeriesMemo::matches(memo, family, hash, label_values)) {
    if (ref) *ref = SeriesRef{family, memo.mu, memo.cell};
    std::lock_guard lock(*memo.mu);
    fn(*static_cast<Cell*>(memo.cell));
    return;
  }
  auto shard_for = [&](std::string_view key) -> detail::Shard<Cell>& {
    return shards[shard_by_key ? detail::KeyHash{}(key) % detail::kShardCount : thread_shard()];
  };
  auto apply = [&](detail::Shard<Cell>& shard, Cell& cell) {
    detail::SeriesMemo::store(memo, family, hash, label_values, &shard.mu, &cell);
    if (ref) *ref = SeriesRef{family, &shard.mu, &cell};
    fn(cell);
  };
  // Fast path: the series exists in this shard.
  std::string_view key = key_of(label_values);
  {
    detail::Shard<Cell>& shard = shard_for(key);
    std::lock_guard lock(shard.mu);
    if (auto it = shard.series.find(key); it != shard.series.end()) {
      apply(shard, it->second);
      return;
    }
  }
  // The values may fold onto an existing series ("other").
  std::vector<std::string_view>& folded = fold_capped_labels(label_values);
  std::string& folded_key = folded_key_buffer();
  encode_key(folded_key, folded);
  if (folded_key != key) {
    detail::Shard<Cell>& shard = shard_for(folded_key);
    std::lock_guard lock(shard.mu);
    if (auto it = shard.series.find(std::string_view(folded_key)); it != shard.series.end()) {
      apply(shard, it->second);
      return;
    }
  }
  // New to this shard: admit it family-wide, then create it.
  key = admit_series(folded, folded_key);
  detail::Shard<Cell>& shard = shard_for(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.series.find(key);
  if (it == shard.series.end()) it = shard.series.emplace(std::string(key), make_cell()).first;
  apply(shard, it->second);
}

template <typename Cell, typename Merge>
std::map<std::string, Cell> MetricFamily::merged(const detail::Shards<Cell>& shards,
                                                 Merge&& merge) const {
  std::map<std::string, Cell> all;
  for (const detail::Shard<Cell>& shard : shards) {
    std::lock_guard lock(shard.mu);
    for (const auto& [key, cell] : shard.series) {
      auto [it, inserted] = all.try_emplace(key, cell);
      if (!inserted) merge(it->second, cell);
    }
  }
  return all;
}

// ---------------------------------------------------------------------------------------------
// CounterFamily

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : MetricFamily(Type::counter, std::move(name), std::move(help), std::move(label_names)) {
  // A plain counter is exposed as 0 from the start, so rate() sees its first increment.
  if (this->label_names().empty()) add(std::span<const std::string_view>(), 0);
}

void CounterFamily::add(std::span<const std::string_view> label_values, double v) {
  if (!(v >= 0)) return;
  update(
      shards_, /*shard_by_key=*/false, label_values, [] { return 0.0; },
      [v](double& cell) { cell += v; });
}

void CounterFamily::add(SeriesRef& ref, std::span<const std::string_view> label_values, double v) {
  if (!(v >= 0)) return;
  if (holds(ref)) {
    std::lock_guard lock(*ref.mu);
    *static_cast<double*>(ref.cell) += v;
    return;
  }
  update(
      shards_, /*shard_by_key=*/false, label_values, [] { return 0.0; },
      [v](double& cell) { cell += v; }, &ref);
}

double CounterFamily::value(std::span<const std::string_view> label_values) const {
  std::string_view key = key_of(label_values);
  double total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    if (auto it = shard.series.find(key); it != shard.series.end()) total += it->second;
  }
  return total;
}

void CounterFamily::expose(ExpositionWriter& writer) const {
  writer.family(name(), help(), "counter");
  for (const auto& [key, v] : merged(shards_, [](double&into, double from) { into += from; })) {
    writer.sample(name(), label_views(decode(key)), v);
  }
}

// ---------------------------------------------------------------------------------------------
// GaugeFamily

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : MetricFamily(Type::gauge, std::move(name), std::move(help), std::move(label_names)) {
  if (this->label_names().empty()) add(std::span<const std::string_view>(), 0);
}

void GaugeFamily::set(std::span<const std::string_view> label_values, double v) {
  update(
      shards_, /*shard_by_key=*/true, label_values, [] { return 0.0; },
      [v](double& cell) { cell = v; });
}

void GaugeFamily::add(std::span<const std::string_view> label_values, double v) {
  update(
      shards_, /*shard_by_key=*/true, label_values, [] { return 0.0; },
      [v](double& cell) { cell += v; });
}

double GaugeFamily::value(std::span<const std::string_view> label_values) const {
  std::string_view key = key_of(label_values);
  const auto& shard = shards_[detail::KeyHash{}(key) % detail::kShardCount];
  std::lock_guard lock(shard.mu);
  auto it = shard.series.find(key);
  return it == shard.series.end() ? 0.0 : it->second;
}

void GaugeFamily::expose(ExpositionWriter& writer) const {
  writer.family(name(), help(), "gauge");
  // Each gauge series lives in one shard, so there is nothing to combine.
  for (const auto& [key, v] : merged(shards_, [](double&into, double from) { into = from; })) {
    writer.sample(name(), label_views(decode(key)), v);
  }
}

// ---------------------------------------------------------------------------------------------
// HistogramFamily

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names, std::vector<double> buckets)
    : MetricFamily(Type::histogram, std::move(name), std::move(help), std::move(label_names)),
      bounds_(std::move(buckets)) {
  if (std::find(this->label_names().begin(), this->label_names().end(), "le") !=
      this->label_names().end()) {
    throw std::invalid_argument(this->name() + ": a histogram cannot have a label named le");
  }
  if (!bounds_.empty() && bounds_.back() == std::numeric_limits<double>::infinity()) {
    bounds_.pop_back();
  }
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i - 1] < bounds_[i]))) {
      throw std::invalid_argument(this->name() +
                                  ": bucket bounds must be finite and strictly increasing");
    }
  }
  le_.reserve(bounds_.size() + 1);
  for (double bound : bounds_) le_.push_back(format_prometheus_value(bound));
  le_.push_back("+Inf");
  if (this->label_names().empty()) {
    update(
        shards_, /*shard_by_key=*/false, std::span<const std::string_view>(),
        [this] { return make_cell(); }, [](detail::HistogramCell&) {});
  }
}

detail::HistogramCell HistogramFamily::make_cell() const {
  detail::HistogramCell cell;
  cell.counts.assign(bounds_.size() + 1, 0);
  return cell;
}

void HistogramFamily::observe(std::span<const std::string_view> label_values, double v) {
  SeriesRef ref;
  observe(ref, label_values, v);
}

void HistogramFamily::observe(SeriesRef& ref, std::span<const std::string_view> label_values,
                              double v) {
  if (std::isnan(v)) return;
  // Buckets are "less than or equal": the first bound >= v.
  auto bucket = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                         bounds_.begin());
  auto record = [bucket, v](detail::HistogramCell& cell) {
    ++cell.counts[bucket];
    cell.sum += v;
    ++cell.count;
  };
  if (holds(ref)) {
    std::lock_guard lock(*ref.mu);
    record(*static_cast<detail::HistogramCell*>(ref.cell));
    return;
  }
  update(
      shards_, /*shard_by_key=*/false, label_values, [this] { return make_cell(); }, record, &ref);
}

HistogramFamily::Snapshot HistogramFamily::snapshot(
    std::span<const std::string_view> label_values) const {
  std::string_view key = key_of(label_values);
  Snapshot snap;
  std::vector<std::uint64_t> counts(bounds_.size() + 1, 0);
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    auto it = shard.series.find(key);
    if (it == shard.series.end()) continue;
    for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += it->second.counts[i];
    snap.sum += it->second.sum;
    snap.count += it->second.count;
  }
  std::uint64_t running = 0;
  for (std::uint64_t c : counts) snap.cumulative.push_back(running += c);
  return snap;
}

void HistogramFamily::expose(ExpositionWriter& writer) const {
  writer.family(name(), help(), "histogram");
  const std::string bucket_name = name() + "_bucket";
  const std::string sum_name = name() + "_sum";
  const std::string count_name = name() + "_count";
  auto merge = [](detail::HistogramCell& into, const detail::HistogramCell& from) {
    for (std::size_t i = 0; i < into.counts.size(); ++i) into.counts[i] += from.counts[i];
    into.sum += from.sum;
    into.count += from.count;
  };
  for (const auto& [key, cell] : merged(shards_, merge)) {
    std::vector<std::pair<std::string, std::string>> decoded = decode(key);
    std::vector<Label> labels = label_views(decoded);
    labels.emplace_back("le", "");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < le_.size(); ++i) {
      cumulative += cell.counts[i];
      labels.back().second = le_[i];
      writer.sample(bucket_name, labels, static_cast<double>(cumulative));
    }
    labels.pop_back();
    writer.sample(sum_name, labels, cell.sum);
    writer.sample(count_name, labels, static_cast<double>(cell.count));
  }
}

// ---------------------------------------------------------------------------------------------
// MetricsRegistry

template <typename Family>
Family& MetricsRegistry::adopt(std::unique_ptr<Family> family) {
  std::lock_guard lock(mu_);
  for (const auto& existing : families_) {
    if (existing->name() != family->name()) continue;
    auto* same = dynamic_cast<Family*>(existing.get());
    bool matches = same != nullptr && same->label_names() == family->label_names();
    if constexpr (std::is_same_v<Family, HistogramFamily>) {
      matches = matches && same->buckets() == family->buckets();
    }
    if (!matches) {
      throw std::invalid_argument("metric " + family->name() +
                                  " is already registered with another type, labels or buckets");
    }
    return *same;
  }
  Family& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

CounterFamily& MetricsRegistry::counter(std::string name, std::string help,
                                        std::vector<std::string> label_names) {
  return adopt(
      std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(label_names)));
}

GaugeFamily& MetricsRegistry::gauge(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  return adopt(
      std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(label_names)));
}

HistogramFamily& MetricsRegistry::histogram(std::string name, std::string help,
                                            std::vector<std::string> label_names,
                                            std::vector<double> buckets) {
  return adopt(std::make_unique<HistogramFamily>(std::move(name), std::move(help),
                                                 std::move(label_names), std::move(buckets)));
}

std::string MetricsRegistry::expose() const {
  ExpositionWriter writer;
  std::lock_guard lock(mu_);
  for (const auto& family : families_) family->expose(writer);
  return writer.take();
}

std::vector<double> duration_buckets_seconds() {
  return {0.05, 0.1, 0.25, 0.5, 1,  2,   3,   5,   7.5, 10,  15,
          20,   30,  45,   60,  90, 120, 180, 240, 300, 450, 600};
}

std::vector<double> ttft_buckets_seconds() {
  return {0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1,
          1.5,  2,     3,    5,   7.5,  10,  15,  20,  30,  60};
}

std::vector<double> overhead_buckets_seconds() {
  return {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
          0.0025,  0.005,    0.01,    0.025,  0.05,    0.1};
}

}  // namespace switchboard::observability
