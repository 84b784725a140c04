// Helpers shared by the config loader tests: loading text, finding errors, env and temp files.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "switchboard/config/loader.hpp"

namespace switchboard::config::testing {

// A config that is valid on its own; tests append it after the part they exercise so the line
// numbers in the test text start at 1.
inline constexpr const char* kMinimalTail = R"(
providers:
  demo: {type: mock}
models:
  m1: {provider: demo}
)";

inline LoadResult load(const std::string& yaml) {
  return load_config_text(yaml, "test.yaml");
}

inline std::string dump(const LoadResult& result) {
  std::string out;
  for (const ConfigError& e : result.errors) out += "  " + e.to_string() + "\n";
  return out.empty() ? "  (no errors)\n" : out;
}

// Passes when some error has exactly this path, position, and a message containing `text`.
inline ::testing::AssertionResult HasError(const LoadResult& result, const std::string& path,
                                           int line, int column, const std::string& text) {
  for (const ConfigError& e : result.errors) {
    if (e.path == path && e.line == line && e.column == column &&
        e.message.find(text) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no error at " << line << ":" << column << " " << path
                                       << " containing \"" << text << "\"; errors were:\n"
                                       << dump(result);
}

// Passes when no error message or rendering contains `text`.
inline ::testing::AssertionResult NoErrorMentions(const LoadResult& result,
                                                  const std::string& text) {
  for (const ConfigError& e : result.errors) {
    if (e.to_string().find(text) != std::string::npos) {
      return ::testing::AssertionFailure() << "an error mentions \"" << text << "\":\n"
                                           << dump(result);
    }
  }
  return ::testing::AssertionSuccess();
}

// Sets (or unsets) an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* old = ::getenv(name_.c_str())) old_ = old;
    if (value) {
      ::setenv(name_.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// A file with the given content under /tmp, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/swb_config_test_XXXXXX";
    int fd = ::mkstemp(name);
    path_ = name;
    if (fd >= 0) {
      ssize_t written = ::write(fd, content.data(), content.size());
      (void)written;
      ::close(fd);
    }
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace switchboard::config::testing
