// Unit tests for the trace JSON-lines sink: every record reaches the file once, in order per
// thread, whether written by copy or in place, across buffer hand-overs and reuse.
#include "switchboard/observability/trace_sink.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace switchboard::observability {
namespace {

class TraceSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/swb-trace-sink-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    path_ = tmpl;
  }
  void TearDown() override { std::remove(path_.c_str()); }

  std::vector<std::string> lines() const {
    std::ifstream in(path_);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  std::string path_;
};

std::string record(int thread, int i) {
  // About 700 bytes, like a real record: a 64 KB buffer fills every ~90 records.
  return R"({"thread":)" + std::to_string(thread) + R"(,"i":)" + std::to_string(i) + R"(,"pad":")" +
         std::string(680, 'x') + "\"}";
}

TEST_F(TraceSinkTest, OffWritesNothingAndEnabledIsFalse) {
  TraceSink sink("");
  EXPECT_FALSE(sink.enabled());
  sink.write("{}");  // a no-op
  sink.flush_thread();
}

TEST_F(TraceSinkTest, InPlaceAndCopiedRecordsAllArriveInOrderAcrossHandOvers) {
  constexpr int kThreads = 3;
  constexpr int kRecords = 2000;  // ~1.4 MB a thread: many hand-overs and buffer reuses
  {
    TraceSink sink(path_);
    ASSERT_TRUE(sink.enabled());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&sink, t] {
        for (int i = 0; i < kRecords; ++i) {
          if (i % 2) {
            sink.write(record(t, i));
          } else {
            sink.begin_record(nullptr).append(record(t, i));
            sink.end_record();
          }
          if (i % 500 == 0) sink.flush_thread();
        }
        sink.flush_thread();
      });
    }
    for (auto& th : threads) th.join();
  }  // the destructor writes what is queued
  auto got = lines();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kThreads * kRecords));
  std::vector<int> next(kThreads, 0);
  for (const auto& line : got) {
    int t = line[10] - '0';
    ASSERT_GE(t, 0);
    ASSERT_LT(t, kThreads);
    ASSERT_EQ(line, record(t, next[t])) << "lost, repeated or reordered";
    ++next[t];
  }
}

TEST_F(TraceSinkTest, ASecondSinkOnTheSameThreadDoesNotSeeTheFirstOnesBuffer) {
  {
    TraceSink first(path_);
    first.write(record(0, 1));  // left in the thread buffer, never flushed by this thread
  }
  std::string second_path = path_ + ".2";
  {
    TraceSink second(second_path);
    second.begin_record(nullptr).append(record(1, 1));
    second.end_record();
    second.flush_thread();
  }
  std::ifstream in(second_path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), record(1, 1) + "\n");
  std::remove(second_path.c_str());
}

}  // namespace
}  // namespace switchboard::observability
