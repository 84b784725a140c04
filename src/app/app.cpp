// The daemon: config -> runtime -> workers + listener; SIGHUP, /admin/reload and the config file
// watcher reload, SIGTERM/SIGINT drain then exit.
#include "switchboard/app/app.hpp"

#include <sys/stat.h>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <mutex>
#include <optional>
#include <thread>

#include "switchboard/accounting/redis_ledger.hpp"
#include "switchboard/api/handlers.hpp"
#include "switchboard/config/loader.hpp"
#include "switchboard/gateway/services.hpp"
#include "switchboard/gateway/trace_record.hpp"
#include "switchboard/gateway/worker.hpp"
#include "switchboard/observability/log.hpp"
#include "switchboard/observability/otlp.hpp"
#include "switchboard/server/listener.hpp"

namespace switchboard::app {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

std::size_t thread_count(int configured) {
  if (configured > 0) return static_cast<std::size_t>(configured);
  auto n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

// What identifies one version of the config file: stat() follows symlinks, so a Kubernetes
// ConfigMap update (the `..data` symlink swapped to a new directory) shows as a new inode even
// though the path stays the same; an in-place edit shows as a new mtime or size.
struct FileStamp {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  auto ns = [](const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
  return {true, st.st_dev, st.st_ino, st.st_size, ns(st.st_mtim), ns(st.st_ctim)};
}

// The watcher polls (portable, and a ConfigMap swap is not always visible to inotify on the
// watched path); a change must be seen twice, kSettle apart, so a file caught half-written by a
// non-atomic editor is not loaded.
constexpr auto kWatchInterval = std::chrono::seconds(1);
constexpr auto kWatchSettle = std::chrono::milliseconds(250);

class Gateway {
 public:
  Gateway(std::string path, bool watch_flag) : path_(std::move(path)), watch_flag_(watch_flag) {}

  int run() {
    applied_stamp_ = stamp_of(path_);
    auto loaded = config::load_config_file(path_);
    if (!loaded.ok()) {
      for (const auto& e : loaded.errors) spdlog::error("config error: {}", e.to_string());
      return 1;
    }
    config_ = loaded.config;
    watch_ = watch_flag_ || config_->server.watch_config;
    observability::setup_logging(config_->observability.log);
    std::string why;
    auto runtime = gateway::Runtime::build(config_, why, health_);
    if (!runtime) {
      spdlog::error("config error: {}: {}", path_, why);
      return 1;
    }

    traces_ = std::make_unique<observability::TraceSink>(config_->observability.traces.file);
    metrics_ = gateway::GatewayMetrics::create(registry_);
    if (!start_otlp()) return 1;
    // One packed record serves both: the trace writer hands sampled ones on to the exporter.
    if (otlp_ && traces_->enabled()) {
      traces_->forward_spans(otlp_.get(), &gateway::append_packed_record_span);
    }
    state_ = std::make_shared<server::ServerState>();

    auto n = thread_count(config_->server.threads);
    for (std::size_t i = 0; i < n; ++i) workers_.push_back(std::make_unique<gateway::Worker>(i, n));
    for (auto& w : workers_) {
      w->set_runtime(runtime);  // threads not started yet: safe to set directly
      services_.workers.push_back(w.get());
    }
    services_.server_state = state_;
    services_.registry = &registry_;
    services_.metrics = metrics_.get();
    services_.traces = traces_.get();
    if (!make_ledger()) return 1;
    services_.ledger = ledger_.get();
    services_.otlp = otlp_.get();
    services_.reload = [this](std::vector<std::string>& errors) { return reload(errors); };
    services_.ready = [this] { return ready_.load(); };

    server::ListenerOptions options;
    options.listen = config_->server.listen;
    options.tls = config_->server.tls;
    options.max_request_bytes = config_->server.max_request_bytes;
    options.header_timeout = config_->server.header_timeout;
    options.idle_timeout = config_->server.idle_timeout;
    try {
      listener_ = std::make_unique<server::Listener>(
          control_.get_executor(),
          [this] { return workers_[next_worker_++ % workers_.size()]->context().get_executor(); },
          options, api::make_gateway_handler(services_), state_);
    } catch (const std::exception& e) {
      spdlog::error("cannot listen on {}: {}", options.listen, e.what());
      return 1;
    }

    for (auto& w : workers_) start_trace_flush(*w);
    std::vector<std::thread> threads;
    for (auto& w : workers_) threads.emplace_back([&w] { w->run(); });

    net::signal_set signals(control_, SIGTERM, SIGINT, SIGHUP);
    wait_signal(signals);
    watch_tick();
    listener_->start();
    ready_ = true;
    spdlog::info("listening on {} ({} threads, {}) version {}", listener_->bound_address(), n,
                 options.tls.enabled() ? "https" : "http", SWITCHBOARD_VERSION);
    control_.run();
    // The last requests' settlements may still be on their way to Redis.
    ledger_->flush(std::chrono::seconds(2));

    for (auto& w : workers_) {
      auto* worker = w.get();
      net::post(worker->context(), [this, worker] {
        traces_->flush_thread();
        if (otlp_) otlp_->flush_thread();
        worker->context().stop();
      });
    }
    for (auto& t : threads) t.join();
    ledger_.reset();  // its connections belong to the workers' io_contexts
    listener_.reset();
    traces_.reset();
    otlp_.reset();  // sends what is queued, within a short deadline
    spdlog::info("stopped");
    return 0;
  }

 private:
  // The OTLP exporter, when observability.traces.otlp.endpoint is set. Its counters exist
  // either way, so dashboards and alerts see zeros rather than nothing.
  bool start_otlp() {
    auto otlp_metrics = observability::OtlpMetrics::create(registry_);
    const auto& cfg = config_->observability.traces.otlp;
    if (cfg.endpoint.empty()) return true;
    observability::OtlpExporterOptions options;
    options.endpoint = cfg.endpoint;
    options.headers = cfg.headers;
    options.sample_ratio = cfg.sample_ratio;
    options.service_version = SWITCHBOARD_VERSION;
    observability::apply_otel_environment(options);
    try {
      otlp_ = std::make_unique<observability::OtlpExporter>(std::move(options), otlp_metrics);
    } catch (const std::exception& e) {
      spdlog::error("config error: {}", e.what());
      return false;
    }
    spdlog::info("exporting traces to {} (OTLP/HTTP JSON, sample ratio {})", otlp_->url(),
                 cfg.sample_ratio);
    return true;
  }

  void wait_signal(net::signal_set& signals) {
    signals.async_wait([this, &signals](boost::system::error_code ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        std::vector<std::string> errors;
        reload(errors);
        wait_signal(signals);
        return;
      }
      drain();
    });
  }

  // The ledger state.backend names; Redis connects in the background (local limits meanwhile).
  bool make_ledger() {
    const auto& state = config_->state;
    if (state.backend != config::StateBackend::redis) {
      ledger_ = std::make_unique<accounting::MemoryLedger>();
      return true;
    }
    std::string error;
    auto url = accounting::parse_redis_url(state.redis.url, error);
    if (!url) {
      spdlog::error("config error: state.redis.url: {}", error);
      return false;
    }
    url->ca_file = state.redis.tls.ca_file;
    url->verify = state.redis.tls.verify;
    if (url->tls && !url->verify) {
      spdlog::warn(
          "state.redis.tls.verify is false: the Redis server is not verified, and its password "
          "goes to whoever answers at {}:{}",
          url->host, url->port);
    }
    accounting::RedisLedgerOptions options;
    options.url = *url;
    options.key_prefix = state.redis.key_prefix;
    std::vector<net::io_context*> contexts;
    for (auto& w : workers_) contexts.push_back(&w->context());
    auto ledger = std::make_unique<accounting::RedisLedger>(options, contexts, &registry_);
    // Key cool-downs and circuit openings travel as messages; each replica applies them to its
    // own atomics, so routing never waits on Redis.
    ledger->on_message([health = health_](std::string_view text) {
      if (auto event = routing::HealthEvent::decode(text))
        health->apply(*event, routing::steady_now_ms());
    });
    auto* raw = ledger.get();
    services_.publish_health = [raw](const routing::HealthEvent& event) {
      raw->publish(event.encode());
    };
    ledger->start();
    spdlog::info("state backend: redis {} (key prefix \"{}\")", url->redacted(),
                 options.key_prefix);
    ledger_ = std::move(ledger);
    return true;
  }

  // Runs on the control io_context: a stat() per second, never on a worker thread.
  void watch_tick() {
    watch_timer_.expires_after(pending_stamp_ ? kWatchSettle : kWatchInterval);
    watch_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || state_->draining.load()) return;
      if (watch_.load()) {
        check_config_file();
      } else {
        pending_stamp_.reset();
      }
      watch_tick();
    });
  }

  void check_config_file() {
    FileStamp now = stamp_of(path_);
    FileStamp applied;
    {
      std::lock_guard lock(reload_mutex_);
      applied = applied_stamp_;
    }
    if (!now.exists) {
      // Mid-swap or deleted: keep serving the loaded config; say so once.
      if (!missing_logged_)
        spdlog::warn("config watch: {} is missing; keeping the loaded config", path_);
      missing_logged_ = true;
      pending_stamp_.reset();
      return;
    }
    missing_logged_ = false;
    if (now == applied) {
      pending_stamp_.reset();
      return;
    }
    if (pending_stamp_ != now) {
      pending_stamp_ = now;  // seen once: look again after kWatchSettle
      return;
    }
    pending_stamp_.reset();
    spdlog::info("config watch: {} changed, reloading", path_);
    std::vector<std::string> errors;
    reload(errors);
  }

  void start_trace_flush(gateway::Worker& worker) {
    auto timer = std::make_shared<net::steady_timer>(worker.context());
    auto tick = std::make_shared<std::function<void()>>();
    *tick = [this, timer, tick] {
      timer->expires_after(std::chrono::milliseconds(100));
      timer->async_wait([this, tick](boost::system::error_code ec) {
        if (ec) return;
        traces_->flush_thread();
        if (otlp_) otlp_->flush_thread();
        (*tick)();
      });
    };
    net::post(worker.context(), [tick] { (*tick)(); });
  }

  bool reload(std::vector<std::string>& errors) {
    std::lock_guard lock(reload_mutex_);
    // A log rotator renames the trace file and sends SIGHUP: the file is reopened whether or not
    // the config that comes with it is valid.
    if (traces_) traces_->reopen();
    std::array<std::string_view, 1> ok{"success"}, failed{"error"};
    // Stamped before reading: a broken file is reported once, not on every watcher tick, and a
    // write racing the read shows as a newer stamp that the watcher loads again.
    applied_stamp_ = stamp_of(path_);
    auto loaded = config::load_config_file(path_);
    std::shared_ptr<const gateway::Runtime> runtime;
    if (loaded.ok()) {
      std::string why;
      runtime = gateway::Runtime::build(loaded.config, why, health_);
      if (!runtime) errors.push_back(path_ + ": " + why);
    } else {
      for (const auto& e : loaded.errors) errors.push_back(e.to_string());
    }
    if (!runtime) {
      for (const auto& e : errors) spdlog::error("reload rejected: {}", e);
      metrics_->config_reloads.add(failed);
      return false;
    }
    const auto& old_server = config_->server;
    const auto& new_server = loaded.config->server;
    if (old_server.listen != new_server.listen || old_server.threads != new_server.threads ||
        old_server.tls.cert_file != new_server.tls.cert_file ||
        old_server.tls.key_file != new_server.tls.key_file ||
        config_->observability.traces.file != loaded.config->observability.traces.file ||
        otlp_changed(config_->observability.traces.otlp,
                     loaded.config->observability.traces.otlp)) {
      spdlog::warn(
          "reload: changes to server.listen, server.threads, server.tls, "
          "observability.traces.file and observability.traces.otlp take effect after a restart");
    }
    const auto& old_state = config_->state;
    const auto& new_state = loaded.config->state;
    if (old_state.backend != new_state.backend || old_state.redis.url != new_state.redis.url ||
        old_state.redis.key_prefix != new_state.redis.key_prefix ||
        old_state.redis.tls.ca_file != new_state.redis.tls.ca_file ||
        old_state.redis.tls.verify != new_state.redis.tls.verify) {
      spdlog::warn(
          "reload: changes to state (backend, redis url, key prefix, tls) take effect after a "
          "restart");
    }
    config_ = loaded.config;
    watch_ = watch_flag_ || config_->server.watch_config;
    observability::setup_logging(config_->observability.log);
    for (auto& w : workers_) {
      auto* worker = w.get();
      net::post(worker->context(), [worker, runtime] { worker->set_runtime(runtime); });
    }
    metrics_->config_reloads.add(ok);
    spdlog::info("config reloaded from {}", path_);
    return true;
  }

  static bool otlp_changed(const config::OtlpConfig& a, const config::OtlpConfig& b) {
    return a.endpoint != b.endpoint || a.headers != b.headers || a.sample_ratio != b.sample_ratio;
  }

  void drain() {
    if (state_->draining.exchange(true)) return;
    config::Duration drain_timeout;
    {
      std::lock_guard lock(reload_mutex_);  // /admin/reload swaps config_ on a worker thread
      drain_timeout = config_->server.drain_timeout;
    }
    spdlog::info("draining: no new connections, waiting for {} in-flight requests (up to {} ms)",
                 state_->in_flight.load(), drain_timeout.count());
    watch_timer_.cancel();
    listener_->stop();
    ready_ = false;
    auto deadline = Clock::now() + drain_timeout;
    auto timer = std::make_shared<net::steady_timer>(control_);
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [this, timer, poll, deadline] {
      if (state_->in_flight.load() == 0 || Clock::now() >= deadline) {
        if (state_->in_flight.load() != 0)
          spdlog::warn("drain timeout: {} requests still in flight", state_->in_flight.load());
        control_.stop();
        return;
      }
      timer->expires_after(std::chrono::milliseconds(20));
      timer->async_wait([poll](boost::system::error_code) { (*poll)(); });
    };
    (*poll)();
  }

  std::string path_;
  bool watch_flag_ = false;  // --watch-config: watch even when server.watch_config is false
  std::atomic<bool> watch_{false};
  FileStamp applied_stamp_;                 // guarded by reload_mutex_
  std::optional<FileStamp> pending_stamp_;  // control thread only
  bool missing_logged_ = false;             // control thread only
  config::ConfigPtr config_;
  std::shared_ptr<routing::HealthRegistry> health_ = std::make_shared<routing::HealthRegistry>();
  net::io_context control_{1};
  net::steady_timer watch_timer_{control_};
  observability::MetricsRegistry registry_;
  std::unique_ptr<gateway::GatewayMetrics> metrics_;
  // Declared in this order so that the trace sink, which hands spans to the exporter, goes first.
  std::unique_ptr<observability::OtlpExporter> otlp_;
  std::unique_ptr<observability::TraceSink> traces_;
  std::shared_ptr<server::ServerState> state_;
  std::vector<std::unique_ptr<gateway::Worker>> workers_;
  std::size_t next_worker_ = 0;
  // Limits, budgets and spend outlive config snapshots: a reload changes limits, not the counts.
  // Declared after the workers: a Redis ledger's connections live on their io_contexts and must
  // go first.
  std::unique_ptr<accounting::Ledger> ledger_;
  gateway::Services services_;
  std::unique_ptr<server::Listener> listener_;
  std::atomic<bool> ready_{false};
  std::mutex reload_mutex_;
};

}  // namespace

int run_gateway(const std::string& config_path, bool watch_config) {
  observability::setup_logging(config::LogConfig{});
  try {
    Gateway gateway(config_path, watch_config);
    return gateway.run();
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return 1;
  }
}

int run_mock_upstream(const std::string& address, int threads) {
  observability::setup_logging(config::LogConfig{});
  try {
    auto n = thread_count(threads);
    std::vector<std::unique_ptr<net::io_context>> contexts;
    for (std::size_t i = 0; i < n; ++i) contexts.push_back(std::make_unique<net::io_context>(1));
    net::io_context control{1};
    auto state = std::make_shared<server::ServerState>();
    server::ListenerOptions options;
    options.listen = address;
    options.max_request_bytes = 64ull * 1024 * 1024;
    options.header_timeout = std::chrono::seconds(30);
    options.idle_timeout = std::chrono::seconds(300);
    std::size_t next = 0;
    server::Listener listener(
        control.get_executor(), [&] { return contexts[next++ % n]->get_executor(); }, options,
        api::make_mock_upstream_handler(config::MockConfig{}, state), state);
    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
    for (auto& c : contexts) guards.push_back(net::make_work_guard(*c));
    std::vector<std::thread> pool;
    for (auto& c : contexts) pool.emplace_back([&c] { c->run(); });
    net::signal_set signals(control, SIGTERM, SIGINT);
    signals.async_wait([&](boost::system::error_code, int) { control.stop(); });
    listener.start();
    spdlog::info("mock upstream listening on {}", listener.bound_address());
    control.run();
    for (auto& c : contexts) c->stop();
    for (auto& t : pool) t.join();
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("mock upstream failed: {}", e.what());
    return 1;
  }
}

}  // namespace switchboard::app
