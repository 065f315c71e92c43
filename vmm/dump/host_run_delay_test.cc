// Reads real schedstat counters of this process's own threads.
#include "vmm/dump/host_run_delay.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace ktvm::dump {
namespace {

TEST(HostRunDelayTest, ListsEveryThreadOfAProcess) {
  std::atomic<bool> stop{false};
  std::atomic<int> tid{0};
  std::thread t([&] {
    tid = static_cast<int>(gettid());
    while (!stop) absl::SleepFor(absl::Milliseconds(1));
  });
  while (tid == 0) absl::SleepFor(absl::Milliseconds(1));
  absl::StatusOr<RunDelaySample> all =
      SampleRunDelay({.pid = getpid(), .every_thread = true});
  stop = true;
  t.join();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->contains(getpid()));
  EXPECT_TRUE(all->contains(tid.load()));
}

TEST(HostRunDelayTest, TwoSpinnersOnOneCpuEachWait) {
  // Both threads pinned to one CPU the test may use: whichever is not
  // running waits on that CPU's run queue, so over 400 ms each waits a
  // large share (CFS alternates them every few ms).
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  int cpu = 0;
  while (!CPU_ISSET(cpu, &allowed)) ++cpu;
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::vector<int> tids(2);
  std::vector<std::thread> spinners;
  for (int i = 0; i < 2; ++i) {
    spinners.emplace_back([&, i] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      sched_setaffinity(0, sizeof(one), &one);
      tids[i] = static_cast<int>(gettid());
      ++ready;
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  }
  while (ready < 2) absl::SleepFor(absl::Milliseconds(1));
  const backend::GuestHostThreads threads{.pid = getpid(), .tids = tids};
  absl::StatusOr<RunDelaySample> before = SampleRunDelay(threads);
  absl::SleepFor(absl::Milliseconds(400));
  absl::StatusOr<RunDelaySample> after = SampleRunDelay(threads);
  stop = true;
  for (std::thread& t : spinners) t.join();
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), 2u);
  const absl::Duration waited = MaxRunDelayGrowth(*before, *after);
  EXPECT_GE(waited, absl::Milliseconds(120)) << waited;
  EXPECT_LE(waited, absl::Milliseconds(600)) << waited;
}

TEST(HostRunDelayTest, UnknownOrGoneProcessIsAnError) {
  EXPECT_FALSE(SampleRunDelay({}).ok());
  // No vCPU thread has started: nothing to read, not every thread.
  EXPECT_FALSE(SampleRunDelay({.pid = getpid()}).ok());
  // pid_max is at most 2^22: this pid cannot exist.
  EXPECT_FALSE(SampleRunDelay({.pid = (1 << 22) + 1}).ok());
  EXPECT_FALSE(SampleRunDelay({.pid = getpid(), .tids = {(1 << 22) + 1}}).ok());
}

}  // namespace
}  // namespace ktvm::dump
