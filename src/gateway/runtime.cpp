// Builds the runtime view of a config snapshot: adapters, key ids, hashed tenant and admin keys.
#include "switchboard/gateway/runtime.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>
#include <functional>

namespace switchboard::gateway {

Digest sha256(std::string_view data) {
  // Every request hashes its key: one context and one fetched algorithm per thread, reused,
  // because EVP_Digest allocates a context and looks the algorithm up on every call.
  struct Hasher {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    ~Hasher() {
      EVP_MD_CTX_free(ctx);
      EVP_MD_free(md);
    }
  };
  thread_local Hasher hasher;
  Digest d{};
  unsigned int len = 0;
  if (hasher.ctx && hasher.md && EVP_DigestInit_ex2(hasher.ctx, hasher.md, nullptr) == 1 &&
      EVP_DigestUpdate(hasher.ctx, data.data(), data.size()) == 1 &&
      EVP_DigestFinal_ex(hasher.ctx, d.data(), &len) == 1)
    return d;
  EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string hex(const unsigned char* p, std::size_t n) {
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 15];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A configured key entry is either "sha256:<64 hex>" or the plain key.
bool entry_digest(const std::string& entry, Digest& out) {
  constexpr std::string_view kPrefix = "sha256:";
  if (entry.rfind(kPrefix, 0) == 0) {
    std::string_view h = std::string_view(entry).substr(kPrefix.size());
    if (h.size() != 64) return false;
    for (std::size_t i = 0; i < 32; ++i) {
      int hi = hex_value(h[2 * i]), lo = hex_value(h[2 * i + 1]);
      if (hi < 0 || lo < 0) return false;
      out[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    return true;
  }
  out = sha256(entry);
  return true;
}

// Recently authenticated keys of this thread, so a client sending the same key on every
// request is not hashed every time (SHA-256 is most of authentication's cost).
// - Only keys that matched a tenant are stored: an attacker's stream of wrong keys can't
//   evict anyone, and a wrong key is always hashed, as before.
// - The stored key is compared to the presented one with CRYPTO_memcmp over the presented
//   key's length whatever the slot holds, so the time of a lookup depends on the presented
//   key only (its length and its slot), never on the stored key's bytes.
// - An entry holds the id of the snapshot that matched it; a reload builds a snapshot with a
//   new id, so removed or moved keys stop matching at once.
// - Bounded: a few fixed slots of fixed size, overwritten in place (no copy of a key left
//   behind in freed memory) and wiped when the thread ends; longer keys are never cached.
class KeyCache {
 public:
  static constexpr std::size_t kSlots = 8;
  static constexpr std::size_t kMaxKey = 256;

  ~KeyCache() { OPENSSL_cleanse(slots_.data(), sizeof slots_); }

  // True with `tenant` set when `key` matched a tenant of snapshot `runtime_id` recently.
  bool find(std::uint64_t runtime_id, std::string_view key,
            const config::TenantConfig*& tenant) const {
    if (key.size() > kMaxKey) return false;
    const Slot& s = slots_[slot_of(key)];
    // One outcome from all three tests, without branching on the stored bytes.
    int differs = CRYPTO_memcmp(s.key.data(), key.data(), key.size()) |
                  static_cast<int>(s.size != key.size()) |
                  static_cast<int>(s.runtime_id != runtime_id);
    if (differs != 0) return false;
    tenant = s.tenant;
    return true;
  }

  void store(std::uint64_t runtime_id, std::string_view key, const config::TenantConfig* tenant) {
    if (key.size() > kMaxKey) return;
    Slot& s = slots_[slot_of(key)];
    std::memcpy(s.key.data(), key.data(), key.size());
    std::memset(s.key.data() + key.size(), 0, s.key.size() - key.size());
    s.size = key.size();
    s.runtime_id = runtime_id;
    s.tenant = tenant;
  }

 private:
  struct Slot {
    std::array<unsigned char, kMaxKey> key{};
    std::size_t size = 0;
    std::uint64_t runtime_id = 0;  // 0: empty (snapshot ids start at 1)
    const config::TenantConfig* tenant = nullptr;
  };
  static std::size_t slot_of(std::string_view key) {
    return std::hash<std::string_view>{}(key) % kSlots;
  }
  std::array<Slot, kSlots> slots_{};
};

KeyCache& key_cache() {
  thread_local KeyCache cache;
  return cache;
}

std::uint64_t next_runtime_id() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::string fingerprint(const config::ProviderConfig& p) {
  return p.base_url + "|" + p.tls.ca_file + "|" + (p.tls.verify ? "v" : "n") + "|" +
         std::to_string(p.max_connections) + "|" + std::to_string(p.timeouts.connect.count()) +
         "|" + std::to_string(p.timeouts.first_byte.count()) + "|" +
         std::to_string(p.timeouts.total.count());
}

}  // namespace

std::string key_id(std::string_view key) {
  auto d = sha256(key);
  return hex(d.data(), 6);
}

int ProviderRuntime::pick_key(std::int64_t now_ms) const {
  auto n = config->keys.size();
  if (n == 0) return -1;
  auto start = key_cursor->fetch_add(1, std::memory_order_relaxed);
  int best = -2;
  int best_load = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto k = static_cast<std::size_t>((start + i) % n);
    if (!key_health[k]->usable(now_ms)) continue;
    int load = key_health[k]->load();
    if (best < 0 || load < best_load) {
      best = static_cast<int>(k);
      best_load = load;
    }
  }
  return best;
}

std::size_t Runtime::DigestHash::operator()(const Digest& d) const noexcept {
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

std::shared_ptr<const Runtime> Runtime::build(config::ConfigPtr config, std::string& error,
                                              std::shared_ptr<routing::HealthRegistry> health) {
  auto rt = std::shared_ptr<Runtime>(new Runtime());
  rt->id_ = next_runtime_id();
  rt->config_ = config;
  rt->registry_ = health ? std::move(health) : std::make_shared<routing::HealthRegistry>();
  for (const auto& [name, p] : config->providers) {
    ProviderRuntime pr;
    pr.config = &p;
    pr.adapter = providers::make_adapter(p.type);
    if (!pr.adapter) {
      error = "providers." + name + ": this build has no adapter for the provider's type yet";
      return nullptr;
    }
    if (p.type != config::ProviderType::mock) {
      std::string why;
      if (!upstream::parse_base_url(p.base_url, pr.endpoint, why)) {
        error = "providers." + name + ".base_url: " + why;
        return nullptr;
      }
    }
    pr.pool_fingerprint = fingerprint(p);
    for (const auto& k : p.keys) {
      pr.key_ids.push_back(key_id(k));
      pr.key_health.push_back(rt->registry_->key(name, pr.key_ids.back()));
    }
    rt->providers_.emplace(name, std::move(pr));
  }
  for (const auto& [name, m] : config->models) {
    rt->model_health_.emplace(name, rt->registry_->model(name));
    RouteRuntime r;
    r.name = name;
    r.implicit = true;
    r.targets.push_back(&m);
    r.weights.push_back(1);
    rt->routes_.emplace(name, std::move(r));
  }
  for (const auto& [name, rc] : config->routes) {
    RouteRuntime r;
    r.name = name;
    r.strategy = rc.strategy;
    r.retry = rc.retry;
    r.hedge = rc.hedge;
    r.guardrails = rc.guardrails;
    for (const auto& t : rc.targets) {
      auto m = config->models.find(t.model);
      if (m == config->models.end()) {
        error = "routes." + name + ": unknown target model " + t.model;
        return nullptr;
      }
      r.targets.push_back(&m->second);
      r.weights.push_back(t.weight);
    }
    for (const auto& f : rc.fallbacks) {
      auto m = config->models.find(f);
      if (m == config->models.end()) {
        error = "routes." + name + ": unknown fallback model " + f;
        return nullptr;
      }
      r.fallbacks.push_back(&m->second);
    }
    rt->routes_.emplace(name, std::move(r));
  }
  for (auto& [name, r] : rt->routes_) {
    for (const auto* m : r.targets)
      r.target_refs.push_back({rt->provider(m->provider), rt->health(m->name)});
    for (const auto* m : r.fallbacks)
      r.fallback_refs.push_back({rt->provider(m->provider), rt->health(m->name)});
  }
  for (const auto& [name, t] : config->tenants) {
    for (const auto& k : t.keys) {
      Digest d;
      if (!entry_digest(k, d)) {
        error = "tenants." + name + ".keys: malformed sha256 entry";
        return nullptr;
      }
      rt->tenant_keys_.emplace(d, &t);
    }
  }
  for (const auto& k : config->auth.admin_keys) {
    Digest d;
    if (!entry_digest(k, d)) {
      error = "auth.admin_keys: malformed sha256 entry";
      return nullptr;
    }
    rt->admin_keys_.push_back(d);
  }
  rt->guardrails_ = guardrails::GuardrailSet::build(*config, error);
  if (!rt->guardrails_) return nullptr;
  // The circuits' state outlives config snapshots; their thresholds become this config's only
  // now that it is valid (a rejected reload changes nothing).
  for (const auto& [name, m] : config->models) {
    rt->model_health_.at(name)->configure(
        {m.circuit.failures,
         std::chrono::duration_cast<std::chrono::milliseconds>(m.circuit.open_for).count()});
  }
  return rt;
}

const ProviderRuntime* Runtime::provider(const std::string& name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? nullptr : &it->second;
}

const RouteRuntime* Runtime::route(std::string_view name) const {
  auto it = routes_.find(name);
  return it == routes_.end() ? nullptr : &it->second;
}

routing::ModelHealth* Runtime::health(const std::string& model) const {
  auto it = model_health_.find(model);
  return it == model_health_.end() ? nullptr : it->second.get();
}

const config::TenantConfig* Runtime::tenant_for_key(std::string_view key) const {
  // With no tenant keys (open mode without tenants) nothing can match: skip the hash.
  if (key.empty() || tenant_keys_.empty()) return nullptr;
  KeyCache& cache = key_cache();
  if (const config::TenantConfig* cached = nullptr; cache.find(id_, key, cached)) return cached;
  // Lookup by digest: timing reveals nothing about the stored keys, and the final
  // comparison is constant-time anyway.
  auto d = sha256(key);
  auto it = tenant_keys_.find(d);
  if (it == tenant_keys_.end()) return nullptr;
  if (CRYPTO_memcmp(it->first.data(), d.data(), d.size()) != 0) return nullptr;
  cache.store(id_, key, it->second);
  return it->second;
}

bool Runtime::is_admin_key(std::string_view key) const {
  if (key.empty()) return false;
  auto d = sha256(key);
  bool match = false;
  for (const auto& a : admin_keys_) match |= CRYPTO_memcmp(a.data(), d.data(), d.size()) == 0;
  return match;
}

}  // namespace switchboard::gateway
