// Unit tests for the trace JSON-lines sink: every record reaches the file once, in order per
// thread, whether written by copy or in place, across buffer hand-overs and reuse.
#include "switchboard/observability/trace_sink.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace switchboard::observability {
namespace {

std::string record(int thread, int i);

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

  std::vector<std::string> lines() const { return lines_of(path_); }

  static std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  // Waits (up to 5 s) for `path` to hold `n` lines: the writer writes on its own thread.
  static bool wait_for_lines(const std::string& path, std::size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (lines_of(path).size() < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  // Writes records thread 0, first..last-1, from this thread and hands them over.
  static void write_records(TraceSink& sink, int first, int last) {
    for (int i = first; i < last; ++i) sink.write(record(0, i));
    sink.flush_thread();
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

TEST_F(TraceSinkTest, ReopenAfterARenameWritesLaterRecordsToANewFileAtThePath) {
  // What a log rotator does: rename the file, then signal the gateway to reopen it.
  std::string rotated = path_ + ".1";
  {
    TraceSink sink(path_);
    write_records(sink, 0, 10);
    ASSERT_TRUE(wait_for_lines(path_, 10));
    ASSERT_EQ(std::rename(path_.c_str(), rotated.c_str()), 0);
    write_records(sink, 10, 20);  // handed over before the reopen: still the old file
    sink.reopen();
    write_records(sink, 20, 30);
  }
  auto old_lines = lines_of(rotated);
  auto new_lines = lines();
  std::remove(rotated.c_str());
  ASSERT_EQ(old_lines.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(old_lines[i], record(0, i));
  ASSERT_EQ(new_lines.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(new_lines[i], record(0, 20 + i));
}

TEST_F(TraceSinkTest, AReopenThatFailsKeepsWritingToTheFileAlreadyOpen) {
  // The path's directory is gone (the file was moved out of it first): the path cannot be
  // opened, so the records go on to the file the sink has.
  auto dir = std::filesystem::path(path_ + ".dir");
  std::filesystem::create_directory(dir);
  std::string inside = (dir / "traces.jsonl").string();
  std::string moved = path_ + ".moved";
  {
    TraceSink sink(inside);
    write_records(sink, 0, 5);
    ASSERT_TRUE(wait_for_lines(inside, 5));
    ASSERT_EQ(std::rename(inside.c_str(), moved.c_str()), 0);
    std::filesystem::remove(dir);
    sink.reopen();
    write_records(sink, 5, 15);
  }
  auto got = lines_of(moved);
  std::remove(moved.c_str());
  EXPECT_FALSE(std::filesystem::exists(dir));
  ASSERT_EQ(got.size(), 15u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(got[i], record(0, i));
}

TEST_F(TraceSinkTest, ReopenOnStdoutOrOffIsANoOp) {
  TraceSink off("");
  off.reopen();
  TraceSink out("-");
  out.reopen();
  EXPECT_TRUE(out.enabled());
}

}  // namespace
}  // namespace switchboard::observability
