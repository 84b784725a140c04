// Router cost per request with 10 routes and 20 policies (issue: under 5 us at p50).
// Run: build/switchboard_router_bench  (prints p50/p99 of decide() and of the whole routing stage).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "switchboard/config/loader.hpp"
#include "switchboard/routing/router.hpp"

using namespace switchboard;

int main() {
  std::string yaml = "providers:\n  pub: {type: mock, privacy: [public]}\n  priv: {type: mock, privacy: [private]}\nmodels:\n";
  for (int i = 0; i < 12; ++i) {
    yaml += "  m" + std::to_string(i) + ": {provider: " + (i % 3 ? "pub" : "priv") +
            ", price: {input: " + std::to_string(0.1 * (i + 1)) + ", output: " + std::to_string(0.4 * (i + 1)) +
            "}, quality: " + std::to_string(40 + i * 4) + "}\n";
  }
  yaml += "routes:\n";
  const char* strategies[] = {"priority", "weighted", "round-robin", "least-latency", "lowest-cost"};
  for (int r = 0; r < 10; ++r) {
    yaml += "  r" + std::to_string(r) + ": {targets: [{model: m" + std::to_string(r) + ", weight: 3}, {model: m" +
            std::to_string(r + 1) + ", weight: 1}], strategy: " + strategies[r % 5] + ", fallbacks: [m" +
            std::to_string(r + 2) + "]}\n";
  }
  yaml += "policies:\n";
  for (int p = 0; p < 20; ++p) {
    yaml += "  - name: p" + std::to_string(p) + "\n    when: {workflow: [w" + std::to_string(p) +
            "], header: {x-team: [t" + std::to_string(p % 4) + "]}}\n    require: {min_quality: " +
            std::to_string(30 + p) + ", max_cost_usd: 1}\n";
  }
  yaml += "  - name: conf\n    when: {header: {x-switchboard-privacy: confidential}}\n    require: {privacy: [private]}\n";
  yaml += "tenants:\n  acme: {keys: [k]}\n";
  auto loaded = config::load_config_text(yaml, "bench.yaml");
  if (!loaded.ok()) {
    for (auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  std::string why;
  auto rt = gateway::Runtime::build(loaded.config, why);
  auto body = nlohmann::json::parse(
      R"({"model":"r3","max_tokens":200,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the quarterly report in three bullet points, please."}]})");
  server::HttpHeaders headers{{"x-team", "t1"}, {"content-type", "application/json"}};

  constexpr int kRuns = 200000;
  std::vector<double> decide_ns(kRuns), stage_ns(kRuns);
  std::size_t sink = 0;
  for (int i = 0; i < kRuns; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    routing::RequestTraits traits;
    traits.tenant = &rt->config().tenants.at("acme");
    traits.tenant_name = "acme";
    traits.workflow = "w" + std::to_string(i % 20);
    traits.headers = &headers;
    traits.requested = "r" + std::to_string(i % 10);
    traits.prompt_tokens = routing::estimate_prompt_tokens(body);
    traits.max_output_tokens = 200;
    auto t1 = std::chrono::steady_clock::now();
    auto d = routing::decide(*rt, traits, 0);
    auto t2 = std::chrono::steady_clock::now();
    sink += d.index();
    decide_ns[i] = std::chrono::duration<double, std::nano>(t2 - t1).count();
    stage_ns[i] = std::chrono::duration<double, std::nano>(t2 - t0).count();
  }
  auto pct = [](std::vector<double>& v, double p) {
    std::nth_element(v.begin(), v.begin() + static_cast<long>(p * (v.size() - 1)), v.end());
    return v[static_cast<std::size_t>(p * (v.size() - 1))] / 1000.0;
  };
  std::printf("router (10 routes, 21 policies), %d requests\n", kRuns);
  std::printf("  decide():            p50 %.2f us  p99 %.2f us\n", pct(decide_ns, 0.5), pct(decide_ns, 0.99));
  std::printf("  estimate + decide(): p50 %.2f us  p99 %.2f us\n", pct(stage_ns, 0.5), pct(stage_ns, 0.99));
  return sink == 12345678 ? 1 : 0;
}
