// `prices:`: included price files, the inline table, and how models find their list price.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config_test_support.hpp"

using namespace switchboard::config;
using namespace switchboard::config::testing;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/swb-prices-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    auto p = path / name;
    std::ofstream(p) << text;
    return p.string();
  }
};

const char* kPriceFile = R"(as_of: "2026-11-01"
prices:
  openai:
    gpt-4o-mini: {input: 0.15, output: 0.60, cached_input: 0.075}
  anthropic:
    claude-3-5-haiku: {input: 0.80, output: 4.00, cached_input: 0.08, cache_write: 1.00}
  bedrock:
    anthropic.claude-3-5-haiku-20241022-v1:0: {input: 0.80, output: 4.00}
)";

}  // namespace

TEST(Prices, ModelsWithoutPriceTakeTheIncludedListPrice) {
  TempDir dir;
  dir.write("prices.yaml", kPriceFile);
  auto file = dir.write("gw.yaml", R"(prices: {include: [prices.yaml]}
providers:
  oai: {type: openai, keys: [k]}
  az: {type: azure, base_url: "https://r.openai.azure.com", api_version: "2024-10-21", keys: [k]}
  ant: {type: anthropic, keys: [k]}
  br: {type: bedrock, region: us-east-1, access_key_id: a, secret_access_key: s}
models:
  mini: {provider: oai, model: gpt-4o-mini}
  mini-dated: {provider: oai, model: gpt-4o-mini-2024-07-18}
  az-mini: {provider: az, model: gpt-4o-mini}
  haiku: {provider: ant, model: claude-3-5-haiku-20241022}
  br-haiku: {provider: br, model: us.anthropic.claude-3-5-haiku-20241022-v1:0}
  own: {provider: oai, model: gpt-4o-mini, price: {input: 1, output: 2}}
  unknown: {provider: oai, model: my-finetune}
)");
  auto r = load_config_file(file);
  ASSERT_TRUE(r.ok()) << dump(r);
  const auto& m = r.config->models;
  EXPECT_TRUE(m.at("mini").priced);
  EXPECT_DOUBLE_EQ(m.at("mini").price.cached_input, 0.075);
  EXPECT_DOUBLE_EQ(m.at("mini-dated").price.output, 0.60);  // dated id finds its family
  EXPECT_DOUBLE_EQ(m.at("az-mini").price.input, 0.15);      // Azure falls back to OpenAI's
  EXPECT_DOUBLE_EQ(m.at("haiku").price.cache_write, 1.00);
  EXPECT_DOUBLE_EQ(m.at("br-haiku").price.input, 0.80);         // cross-region profile prefix
  EXPECT_DOUBLE_EQ(m.at("br-haiku").price.cached_input, 0.80);  // absent: the input price
  EXPECT_DOUBLE_EQ(m.at("own").price.input, 1);                 // `price:` wins
  EXPECT_FALSE(m.at("unknown").priced);
  EXPECT_EQ(m.at("unknown").price.input, 0);
  ASSERT_EQ(r.config->price_files.size(), 1u);
}

TEST(Prices, InlineTableOverridesTheIncludedFile) {
  TempDir dir;
  dir.write("prices.yaml", kPriceFile);
  auto file = dir.write("gw.yaml", R"(prices:
  include: [prices.yaml]
  table:
    openai:
      gpt-4o-mini: {input: 0.10, output: 0.40}
providers:
  oai: {type: openai, keys: [k]}
models:
  mini: {provider: oai, model: gpt-4o-mini}
)");
  auto r = load_config_file(file);
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_DOUBLE_EQ(r.config->models.at("mini").price.input, 0.10);
  EXPECT_DOUBLE_EQ(r.config->models.at("mini").price.cached_input, 0.10);
}

TEST(Prices, ErrorsInAnIncludedFileNameThatFileAndPosition) {
  TempDir dir;
  auto prices = dir.write("prices.yaml", R"(prices:
  openai:
    gpt-4o-mini: {input: -1, output: 0.60}
  opnai:
    x: {input: 1}
)");
  auto file = dir.write(
      "gw.yaml", std::string("prices: {include: [prices.yaml, missing.yaml]}\n") + kMinimalTail);
  auto r = load_config_file(file);
  ASSERT_FALSE(r.ok());
  auto text = dump(r);
  EXPECT_NE(text.find(prices + ":3:"), std::string::npos) << text;
  EXPECT_NE(text.find("prices.openai.gpt-4o-mini.input"), std::string::npos) << text;
  EXPECT_NE(text.find("did you mean \"openai\""), std::string::npos) << text;
  EXPECT_NE(text.find("cannot read price file"), std::string::npos) << text;
  EXPECT_NE(text.find("prices.include[1]"), std::string::npos) << text;
}

TEST(Prices, TheShippedPriceFileLoads) {
  TempDir dir;
  auto file = dir.write("gw.yaml", std::string("prices: {include: [\"") + SWB_TEST_DATA_DIR +
                                       "/../../config/prices.yaml\"]}\n" +
                                       R"(providers:
  oai: {type: openai, keys: [k]}
  ant: {type: anthropic, keys: [k]}
  gem: {type: gemini, keys: [k]}
models:
  a: {provider: oai, model: gpt-4.1-mini}
  b: {provider: ant, model: claude-sonnet-4-5-20250929}
  c: {provider: gem, model: gemini-2.5-flash}
  d: {provider: oai, model: text-embedding-3-small, kind: embedding}
)");
  auto r = load_config_file(file);
  ASSERT_TRUE(r.ok()) << dump(r);
  for (const char* m : {"a", "b", "c", "d"}) EXPECT_TRUE(r.config->models.at(m).priced) << m;
  EXPECT_DOUBLE_EQ(r.config->models.at("b").price.cache_write, 3.75);
}
