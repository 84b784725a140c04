// Tests for ${VAR}, ${VAR:-default} and ${file:...} expansion, and that secrets stay out of errors.
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace switchboard::config {
namespace {

using testing::HasError;
using testing::kMinimalTail;
using testing::load;
using testing::NoErrorMentions;
using testing::ScopedEnv;
using testing::TempFile;

TEST(ConfigExpand, ExpandsSeveralVariablesMixedWithText) {
  ScopedEnv host("SWB_T_HOST", "redis.internal");
  ScopedEnv port("SWB_T_PORT", "6380");
  LoadResult r = load(std::string(R"(state:
  backend: redis
  redis: {url: "redis://${SWB_T_HOST}:${SWB_T_PORT}/${SWB_T_DB:-3}", key_prefix: "a-${SWB_T_UNSET:-}-b"}
)") + kMinimalTail);
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.config->state.redis.url, "redis://redis.internal:6380/3");
  EXPECT_EQ(r.config->state.redis.key_prefix, "a--b");
}

TEST(ConfigExpand, DefaultIsUsedWhenUnsetOrEmpty) {
  ScopedEnv empty("SWB_T_EMPTY", "");
  ScopedEnv unset("SWB_T_UNSET", std::nullopt);
  ScopedEnv set("SWB_T_SET", "from-env");
  LoadResult r = load(std::string(R"(observability:
  traces:
    file: "${SWB_T_EMPTY:-a}/${SWB_T_UNSET:-b}/${SWB_T_SET:-c}/${SWB_T_EMPTY}"
)") + kMinimalTail);
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.config->observability.traces.file, "a/b/from-env/");
}

TEST(ConfigExpand, MissingVariableIsAnErrorNamingIt) {
  ScopedEnv unset("OPENAI_API_KEY_SWB_TEST", std::nullopt);
  LoadResult r = load(R"(providers:
  openai:
    type: openai
    keys: ["${OPENAI_API_KEY_SWB_TEST}"]
models:
  m: {provider: openai}
)");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasError(r, "providers.openai.keys[0]", 4, 12,
                       "environment variable \"OPENAI_API_KEY_SWB_TEST\" is not set"));
}

TEST(ConfigExpand, ExpansionHappensBeforeTypeConversion) {
  {
    ScopedEnv threads("SWB_T_THREADS", std::nullopt);
    LoadResult r = load(std::string("server:\n  threads: ${SWB_T_THREADS:-0}\n") + kMinimalTail);
    ASSERT_TRUE(r.ok()) << testing::dump(r);
    EXPECT_EQ(r.config->server.threads, 0);
  }
  {
    ScopedEnv threads("SWB_T_THREADS", "8");
    ScopedEnv timeout("SWB_T_TIMEOUT", "3s");
    ScopedEnv capture("SWB_T_CAPTURE", "true");
    LoadResult r = load(std::string(R"(server:
  threads: ${SWB_T_THREADS:-0}
  header_timeout: ${SWB_T_TIMEOUT}
observability:
  traces: {capture_content: "${SWB_T_CAPTURE}"}
)") + kMinimalTail);
    ASSERT_TRUE(r.ok()) << testing::dump(r);
    EXPECT_EQ(r.config->server.threads, 8);
    EXPECT_EQ(r.config->server.header_timeout, std::chrono::seconds(3));
    EXPECT_TRUE(r.config->observability.traces.capture_content);
  }
}

TEST(ConfigExpand, FileReferenceTrimsExactlyOneTrailingNewline) {
  TempFile one("sk-from-file\n");
  TempFile two("line1\nline2\n\n");
  TempFile none("no-newline");
  LoadResult r =
      load(R"(providers:
  openai:
    type: openai
    keys: ["${file:)" +
           one.path() + R"(}", "${file:)" + two.path() + R"(}", "x-${file:)" + none.path() + R"(}"]
models:
  m: {provider: openai}
)");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  const auto& keys = r.config->providers.at("openai").keys;
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0], "sk-from-file");
  EXPECT_EQ(keys[1], "line1\nline2\n");
  EXPECT_EQ(keys[2], "x-no-newline");
}

TEST(ConfigExpand, UnreadableFileIsAnErrorNamingThePath) {
  LoadResult r = load(std::string(R"(auth:
  admin_keys: ["${file:/nonexistent/swb/admin_key}"]
)") + kMinimalTail);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasError(r, "auth.admin_keys[0]", 2, 16,
                       "cannot read file \"/nonexistent/swb/admin_key\": No such file"));
}

TEST(ConfigExpand, SecretValuesNeverAppearInErrors) {
  const std::string secret = "s3cr3t-Value-XYZ";
  ScopedEnv a("SWB_T_SECRET", secret);
  TempFile file(secret + "\n");
  LoadResult r = load(std::string(R"(server:
  listen: "${SWB_T_SECRET}"
  threads: ${SWB_T_SECRET}
  header_timeout: ${SWB_T_SECRET}
  max_request_bytes: "${file:)") +
                      file.path() + R"(}"
auth:
  mode: ${SWB_T_SECRET}
  admin_keys: ["sha256:${SWB_T_SECRET}"]
state:
  backend: redis
  redis: {url: "${SWB_T_SECRET}"}
routes:
  r:
    targets: ["${SWB_T_SECRET}"]
providers:
  demo: {type: mock, base_url: "${SWB_T_SECRET}"}
models:
  m1: {provider: "${SWB_T_SECRET}", quality: "${SWB_T_SECRET}"}
)");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(NoErrorMentions(r, secret));
  EXPECT_TRUE(HasError(r, "server.header_timeout", 4, 19,
                       "the value from ${SWB_T_SECRET} is not a valid duration"));
  EXPECT_TRUE(HasError(r, "server.threads", 3, 12,
                       "expected a whole number, got the value from ${SWB_T_SECRET}"));
  EXPECT_TRUE(HasError(r, "server.max_request_bytes", 5, 22, "is not a valid size"));
  EXPECT_TRUE(HasError(r, "auth.mode", 7, 9, "unknown auth mode (the value from ${SWB_T_SECRET})"));
  EXPECT_TRUE(HasError(r, "routes.r.targets[0]", 14, 15, "unknown model the value from"));
  EXPECT_TRUE(HasError(r, "models.m1.provider", 18, 18, "unknown provider the value from"));
  EXPECT_GE(r.errors.size(), 10u) << testing::dump(r);
}

TEST(ConfigExpand, OutOfRangeSecretIsNamedByItsReference) {
  ScopedEnv quality("SWB_T_QUALITY", "150");
  LoadResult r = load(R"(providers:
  demo: {type: mock}
models:
  m1: {provider: demo, quality: "${SWB_T_QUALITY}"}
)");
  EXPECT_TRUE(HasError(r, "models.m1.quality", 4, 33,
                       "must be between 0 and 100, got the value from ${SWB_T_QUALITY}"));
  EXPECT_TRUE(NoErrorMentions(r, "150"));
}

TEST(ConfigExpand, DoubleDollarIsALiteral) {
  LoadResult r = load(std::string(R"(observability:
  traces: {file: "/tmp/$${HOME}.log"}
)") + kMinimalTail);
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.config->observability.traces.file, "/tmp/${HOME}.log");
}

TEST(ConfigExpand, MalformedReferencesAreErrors) {
  LoadResult r = load(std::string(R"(observability:
  traces: {file: "/tmp/${HOME"}
  log: {level: "${1BAD}"}
)") + kMinimalTail);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasError(r, "observability.traces.file", 2, 18, "unterminated \"${\""));
  EXPECT_TRUE(HasError(r, "observability.log.level", 3, 16,
                       "invalid environment variable reference \"${1BAD}\""));
}

TEST(ConfigExpand, EmptyKeyEntriesAreDropped) {
  ScopedEnv unset("SWB_T_KEY_2", std::nullopt);
  ScopedEnv set("SWB_T_KEY_1", "k1");
  LoadResult r = load(R"(auth:
  admin_keys: ["${SWB_T_KEY_2:-}", "admin"]
providers:
  openai:
    type: openai
    keys: ["${SWB_T_KEY_1}", "${SWB_T_KEY_2:-}"]
models:
  m: {provider: openai}
tenants:
  acme:
    keys: ["${SWB_T_KEY_2:-}", "tenant-key", ""]
)");
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_EQ(r.config->auth.admin_keys, std::vector<std::string>{"admin"});
  EXPECT_EQ(r.config->providers.at("openai").keys, std::vector<std::string>{"k1"});
  EXPECT_EQ(r.config->tenants.at("acme").keys, std::vector<std::string>{"tenant-key"});
}

}  // namespace
}  // namespace switchboard::config
