// Readers for the process-wide sections: server, auth, state and observability.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "sections.hpp"
#include "values.hpp"

namespace switchboard::config::detail {
namespace {

// "host:port" or "[v6]:port", port 0..65535 (0 = pick an ephemeral port).
bool valid_listen(const std::string& listen) {
  std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
  } else if (host.find(':') != std::string::npos || host.find(' ') != std::string::npos) {
    return false;
  }
  if (port.empty() || port.size() > 5) return false;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return std::stoi(port) <= 65535;
}

bool is_hex(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

void check_file(LoadContext& ctx, const std::string& path, const std::string& file,
                std::string_view what) {
  if (file.empty()) return;
  std::string reason = unreadable_reason(file);
  if (!reason.empty()) {
    ctx.error_at(
        path, "cannot read " + std::string(what) + " " + ctx.describe(path, file) + ": " + reason);
  }
}

void read_server_tls(LoadContext& ctx, const YAML::Node& node, ServerTls& out) {
  MapReader tls(ctx, node, "server.tls", {"cert_file", "key_file"});
  tls.read("cert_file", out.cert_file);
  tls.read("key_file", out.key_file);
  if (out.cert_file.empty() != out.key_file.empty()) {
    ctx.error_at(out.cert_file.empty() ? "server.tls.cert_file" : "server.tls.key_file",
                 "cert_file and key_file must be set together (both empty = plain HTTP)");
    return;
  }
  check_file(ctx, "server.tls.cert_file", out.cert_file, "certificate file");
  check_file(ctx, "server.tls.key_file", out.key_file, "key file");
}

void require_positive(MapReader& map, std::string_view key, Duration value) {
  if (map.has(key) && value <= Duration(0)) {
    map.ctx().error_at(map.child_path(key), "must be greater than 0");
  }
}

}  // namespace

std::string unreadable_reason(const std::string& file_path) {
  errno = 0;
  std::FILE* f = std::fopen(file_path.c_str(), "rb");
  if (f == nullptr) return errno != 0 ? std::strerror(errno) : "cannot open";
  errno = 0;
  std::fgetc(f);
  bool failed = std::ferror(f) != 0;
  int saved = errno;
  std::fclose(f);
  if (failed) return saved != 0 ? std::strerror(saved) : "read error";
  return {};
}

void read_key_list(LoadContext& ctx, const YAML::Node& node, const std::string& path,
                   std::vector<std::string>& out, std::vector<std::string>& paths) {
  out.clear();
  paths.clear();
  if (!expect_list(ctx, node, path) || !node.IsSequence()) return;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = index_path(path, i);
    std::string key;
    if (!read_value(ctx, node[i], item_path, key) || key.empty()) continue;
    if (key.rfind("sha256:", 0) == 0) {
      std::string hex = key.substr(7);
      if (hex.size() != 64 || !is_hex(hex)) {
        ctx.error_at(item_path,
                     "\"sha256:\" must be followed by 64 hex characters (the SHA-256 "
                     "of the key)");
        continue;
      }
      std::transform(hex.begin(), hex.end(), hex.begin(),
                     [](char c) { return static_cast<char>(std::tolower(c)); });
      key = "sha256:" + hex;
    }
    if (std::find(out.begin(), out.end(), key) != out.end()) continue;
    out.push_back(std::move(key));
    paths.push_back(item_path);
  }
}

void read_server(LoadContext& ctx, const YAML::Node& node, ServerConfig& out) {
  MapReader server(ctx, node, "server",
                   {"listen", "threads", "tls", "max_request_bytes", "header_timeout",
                    "idle_timeout", "drain_timeout", "watch_config"});
  if (server.read("listen", out.listen) && !valid_listen(out.listen)) {
    ctx.error_at("server.listen",
                 "expected host:port with a port from 0 to 65535 (e.g. "
                 "0.0.0.0:8080 or [::]:8080), got " +
                     ctx.describe("server.listen", out.listen));
  }
  server.read("threads", out.threads, 0, INT_MAX);
  if (const MapEntry* tls = server.find("tls")) read_server_tls(ctx, tls->value, out.tls);
  if (server.read_size("max_request_bytes", out.max_request_bytes) && out.max_request_bytes == 0) {
    ctx.error_at("server.max_request_bytes", "must be greater than 0");
  }
  server.read("header_timeout", out.header_timeout);
  require_positive(server, "header_timeout", out.header_timeout);
  server.read("idle_timeout", out.idle_timeout);
  require_positive(server, "idle_timeout", out.idle_timeout);
  server.read("drain_timeout", out.drain_timeout);
  server.read("watch_config", out.watch_config);
}

void read_auth(LoadContext& ctx, const YAML::Node& node, AuthConfig& out) {
  static const EnumNames<AuthMode> kModes = {{"keys", AuthMode::keys}, {"open", AuthMode::open}};
  MapReader auth(ctx, node, "auth", {"mode", "admin_keys"});
  auth.read_enum("mode", kModes, "auth mode", out.mode);
  if (const MapEntry* keys = auth.find("admin_keys")) {
    std::vector<std::string> paths;
    read_key_list(ctx, keys->value, keys->path, out.admin_keys, paths);
  }
}

void read_state(LoadContext& ctx, const YAML::Node& node, StateConfig& out) {
  static const EnumNames<StateBackend> kBackends = {{"memory", StateBackend::memory},
                                                    {"redis", StateBackend::redis}};
  MapReader state(ctx, node, "state", {"backend", "redis"});
  state.read_enum("backend", kBackends, "state backend", out.backend);
  bool url_ok = true;
  if (const MapEntry* redis_entry = state.find("redis")) {
    MapReader redis(ctx, redis_entry->value, redis_entry->path, {"url", "key_prefix", "tls"});
    url_ok = !redis.has("url") || redis.read("url", out.redis.url);
    redis.read("key_prefix", out.redis.key_prefix);
    if (const MapEntry* tls_entry = redis.find("tls")) {
      read_tls(ctx, *tls_entry, out.redis.tls);
      if (url_ok && out.redis.url.starts_with("redis://")) {
        ctx.error_at(tls_entry->path,
                     "applies to rediss:// URLs only: use rediss:// for TLS, or leave tls out");
      }
    }
  }
  if (url_ok && out.backend == StateBackend::redis && !out.redis.url.starts_with("redis://") &&
      !out.redis.url.starts_with("rediss://")) {
    ctx.error_at(
        "state.redis.url",
        "must start with \"redis://\" (or \"rediss://\" for TLS) when the backend is redis");
  }
}

void read_observability(LoadContext& ctx, const YAML::Node& node, ObservabilityConfig& out) {
  static const EnumNames<LogFormat> kFormats = {{"json", LogFormat::json},
                                                {"text", LogFormat::text}};
  static const std::vector<std::string_view> kLevels = {"trace", "debug",    "info", "warn",
                                                        "error", "critical", "off"};
  MapReader obs(ctx, node, "observability", {"log", "metrics", "traces"});
  if (const MapEntry* log_entry = obs.find("log")) {
    MapReader log(ctx, log_entry->value, log_entry->path, {"level", "format"});
    if (const MapEntry* level = log.find("level")) {
      auto scalar = read_scalar(ctx, level->value, level->path, "a log level");
      std::size_t index = 0;
      if (scalar && match_enum(ctx, level->path, *scalar, kLevels, "log level", index)) {
        out.log.level = std::string(kLevels[index]);
      }
    }
    log.read_enum("format", kFormats, "log format", out.log.format);
  }
  if (const MapEntry* metrics_entry = obs.find("metrics")) {
    MapReader metrics(ctx, metrics_entry->value, metrics_entry->path, {"enabled"});
    metrics.read("enabled", out.metrics.enabled);
  }
  if (const MapEntry* traces_entry = obs.find("traces")) {
    MapReader traces(ctx, traces_entry->value, traces_entry->path,
                     {"file", "otlp", "capture_content"});
    traces.read("file", out.traces.file);
    traces.read("capture_content", out.traces.capture_content);
    if (const MapEntry* otlp_entry = traces.find("otlp")) {
      MapReader otlp(ctx, otlp_entry->value, otlp_entry->path,
                     {"endpoint", "headers", "sample_ratio"});
      if (otlp.read("endpoint", out.traces.otlp.endpoint) && !out.traces.otlp.endpoint.empty() &&
          out.traces.otlp.endpoint.rfind("http://", 0) != 0 &&
          out.traces.otlp.endpoint.rfind("https://", 0) != 0) {
        ctx.error_at(otlp.child_path("endpoint"), "must start with http:// or https://");
      }
      otlp.read("headers", out.traces.otlp.headers);
      otlp.read("sample_ratio", out.traces.otlp.sample_ratio, 0.0, 1.0);
    }
  }
}

}  // namespace switchboard::config::detail
