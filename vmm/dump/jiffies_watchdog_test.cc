#include "vmm/dump/jiffies_watchdog.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace ktvm::dump {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(1);
const absl::Time kStart = absl::FromUnixSeconds(1000);

// Polls every millisecond from `from` to `to` with frozen jiffies, the
// guest's one host thread having waited `wait_share` of the time so far.
// Returns when the watchdog fired (InfiniteFuture: it did not) and its
// summary.
struct StallOutcome {
  absl::Time fired = absl::InfiniteFuture();
  std::string summary;
};
StallOutcome StuckFor(JiffiesWatchdog& w, absl::Duration length,
                      double wait_share) {
  StallOutcome run;
  for (absl::Time t = kStart; t <= kStart + length; t += kPoll) {
    const int64_t waited = static_cast<int64_t>(
        absl::ToDoubleNanoseconds(t - kStart) * wait_share);
    std::optional<std::string> hang = w.Observe(t, 42, [&] {
      return absl::StatusOr<RunDelaySample>(RunDelaySample{{7, waited}});
    });
    if (hang.has_value()) {
      run.fired = t;
      run.summary = *hang;
      return run;
    }
  }
  return run;
}

TEST(JiffiesWatchdogTest, TickingGuestNeverFiresAndIsSampledRarely) {
  JiffiesWatchdog w(absl::Seconds(1));
  int samples = 0;
  uint64_t jiffies = 0;
  for (absl::Time t = kStart; t < kStart + absl::Seconds(10); t += kPoll) {
    // HZ=250: a tick every 4 ms.
    if ((t - kStart) % absl::Milliseconds(4) == absl::ZeroDuration()) ++jiffies;
    EXPECT_FALSE(w.Observe(t, jiffies, [&] {
                    ++samples;
                    return absl::StatusOr<RunDelaySample>(RunDelaySample{});
                  }).has_value());
  }
  // Every 100 ms, not every 1 ms poll.
  EXPECT_LE(samples, 101);
  EXPECT_GE(samples, 99);
}

// ktvm's own poller starved along with the guest: no poll for 5 s, then
// jiffies unchanged. The sample from before the gap shows the guest's
// threads waited through it, so that is no hang.
TEST(JiffiesWatchdogTest, PollGapInWhichTheGuestWaitedIsNoHang) {
  JiffiesWatchdog w(absl::Seconds(3));
  int64_t waited_ns = 0;
  auto sample = [&] {
    return absl::StatusOr<RunDelaySample>(RunDelaySample{{11, waited_ns}});
  };
  absl::Time t = kStart;
  uint64_t jiffies = 100;
  for (; t < kStart + absl::Seconds(1); t += kPoll) {
    EXPECT_FALSE(w.Observe(t, ++jiffies, sample).has_value());
  }
  // The gap: 5 s without a poll, all of it runnable but off the CPU.
  t += absl::Seconds(5);
  waited_ns += absl::ToInt64Nanoseconds(absl::Seconds(5));
  EXPECT_FALSE(w.Observe(t, jiffies, sample).has_value());
  // A real hang after it is still caught, 3 s on.
  std::optional<std::string> hang;
  const absl::Time hang_start = t;
  for (; !hang.has_value() && t < hang_start + absl::Seconds(10); t += kPoll) {
    hang = w.Observe(t, jiffies, sample);
  }
  ASSERT_TRUE(hang.has_value());
  EXPECT_GE(t - hang_start, absl::Seconds(3) - absl::Milliseconds(150));
  EXPECT_LE(t - hang_start, absl::Seconds(3) + absl::Milliseconds(150));
  EXPECT_TRUE(absl::StrContains(*hang, "of it waiting for a host CPU"))
      << *hang;
}

TEST(JiffiesWatchdogTest, HungGuestOnAnIdleHostFiresAfterTheLimit) {
  JiffiesWatchdog w(absl::Seconds(3));
  const StallOutcome run = StuckFor(w, absl::Seconds(10), 0.0);
  ASSERT_NE(run.fired, absl::InfiniteFuture());
  EXPECT_GT(run.fired - kStart, absl::Seconds(3));
  EXPECT_LE(run.fired - kStart, absl::Seconds(3) + 2 * kPoll);
  EXPECT_TRUE(absl::StartsWith(run.summary, "jiffies stuck at 42 for 3"))
      << run.summary;
  EXPECT_FALSE(absl::StrContains(run.summary, "host CPU")) << run.summary;
}

TEST(JiffiesWatchdogTest, WaitForAHostCpuDoesNotCount) {
  // The host ran the guest a quarter of the time: 3 s of guest-available
  // stall take 12 s of wall time.
  JiffiesWatchdog w(absl::Seconds(3));
  const StallOutcome run = StuckFor(w, absl::Seconds(20), 0.75);
  ASSERT_NE(run.fired, absl::InfiniteFuture());
  EXPECT_GT(run.fired - kStart, absl::Seconds(11));
  EXPECT_LT(run.fired - kStart, absl::Seconds(13));
  EXPECT_TRUE(absl::StrContains(run.summary, "of it waiting for a host CPU"))
      << run.summary;
  EXPECT_GT(w.starved(), absl::Seconds(8));
}

TEST(JiffiesWatchdogTest, FullyStarvedGuestIsNeverCalledHung) {
  JiffiesWatchdog w(absl::Seconds(1));
  EXPECT_EQ(StuckFor(w, absl::Seconds(30), 1.0).fired, absl::InfiniteFuture());
}

TEST(JiffiesWatchdogTest, ProgressForgetsThePastStall) {
  JiffiesWatchdog w(absl::Seconds(1));
  absl::Time t = kStart;
  auto idle = [] {
    return absl::StatusOr<RunDelaySample>(RunDelaySample{{1, 0}});
  };
  for (; t < kStart + absl::Milliseconds(900); t += kPoll) {
    EXPECT_FALSE(w.Observe(t, 5, idle).has_value());
  }
  // One tick, then another 900 ms: still under the limit.
  for (; t < kStart + absl::Milliseconds(1800); t += kPoll) {
    EXPECT_FALSE(w.Observe(t, 6, idle).has_value());
  }
  EXPECT_EQ(w.starved(), absl::ZeroDuration());
}

TEST(JiffiesWatchdogTest, UnreadableRunDelaysFallBackToWallTime) {
  JiffiesWatchdog w(absl::Seconds(1));
  std::optional<std::string> hang;
  absl::Time t = kStart;
  for (; t < kStart + absl::Seconds(5) && !hang.has_value(); t += kPoll) {
    hang = w.Observe(t, 9, [] {
      return absl::StatusOr<RunDelaySample>(
          absl::UnavailableError("no schedstat"));
    });
  }
  ASSERT_TRUE(hang.has_value());
  EXPECT_LE(t - kStart, absl::Seconds(1) + 2 * kPoll);
  EXPECT_TRUE(absl::StrContains(*hang, "host CPU wait unknown: no schedstat"))
      << *hang;
}

TEST(JiffiesWatchdogTest, BogusCounterJumpIsClampedToTheInterval) {
  // A thread whose counter leaps by an hour between two 100 ms samples is
  // credited 100 ms, not an hour: a hang is still caught soon after.
  JiffiesWatchdog w(absl::Seconds(1));
  int calls = 0;
  std::optional<std::string> hang;
  absl::Time t = kStart;
  for (; t < kStart + absl::Seconds(5) && !hang.has_value(); t += kPoll) {
    hang = w.Observe(t, 3, [&] {
      const int64_t leap =
          ++calls == 2 ? absl::ToInt64Nanoseconds(absl::Hours(1)) : 0;
      return absl::StatusOr<RunDelaySample>(RunDelaySample{{4, leap}});
    });
  }
  ASSERT_TRUE(hang.has_value());
  EXPECT_LE(t - kStart, absl::Milliseconds(1100) + 2 * kPoll);
}

TEST(JiffiesWatchdogTest, ThreadsThatCameOrWentAreNotCompared) {
  RunDelaySample before{{1, 100}, {2, 5000}};
  RunDelaySample after{{1, 300}, {3, 999999}};
  EXPECT_EQ(MaxRunDelayGrowth(before, after), absl::Nanoseconds(200));
}

}  // namespace
}  // namespace ktvm::dump
