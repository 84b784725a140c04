// The trace writer and the OTLP exporter run as batch threads (SCHED_BATCH), named, so that
// waking them never preempts a request thread on a busy core.
#include "switchboard/observability/background_thread.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "switchboard/observability/metrics.hpp"
#include "switchboard/observability/otlp.hpp"
#include "switchboard/observability/trace_sink.hpp"

namespace switchboard::observability {
namespace {

// The scheduling policy of this process's thread called `name`, or -1 if there is none. A
// thread names itself as it starts, so this waits up to a second for the name to appear.
int policy_of_thread(const std::string& name) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  do {
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string comm_name;
      std::getline(comm, comm_name);
      if (comm_name == name) return ::sched_getscheduler(std::stoi(task.path().filename()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  } while (std::chrono::steady_clock::now() < deadline);
  return -1;
}

TEST(BackgroundThreadTest, NamesTheThreadAndMakesItABatchThread) {
  bool became = false;
  int policy = -1;
  std::thread t([&] {
    became = become_background_thread("swb-test-bg");
    policy = ::sched_getscheduler(0);
  });
  t.join();
  EXPECT_TRUE(became);
  EXPECT_EQ(policy, SCHED_BATCH);
  // The calling thread is left as it was.
  EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
}

TEST(BackgroundThreadTest, TheTraceWriterIsABatchThread) {
  char tmpl[] = "/tmp/swb-bg-trace-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  {
    TraceSink sink(tmpl);
    EXPECT_EQ(policy_of_thread("swb-trace"), SCHED_BATCH);
  }
  std::remove(tmpl);
}

TEST(BackgroundThreadTest, TheOtlpExporterIsABatchThread) {
  MetricsRegistry registry;
  OtlpMetrics metrics = OtlpMetrics::create(registry);
  OtlpExporterOptions options;
  options.endpoint = "http://127.0.0.1:9";  // nothing is sent: no span is submitted
  OtlpExporter exporter(std::move(options), metrics);
  EXPECT_EQ(policy_of_thread("swb-otlp"), SCHED_BATCH);
}

}  // namespace
}  // namespace switchboard::observability
