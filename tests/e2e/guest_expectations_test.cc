// Generic end-to-end test behind the ktvm_test() Bazel macro: boots the
// kernel with ktvm's init and ktvm_fifo under QEMU TCG, runs a workload and
// checks the expectations given as flags.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/qemu_guest.h"

ABSL_FLAG(bool, with_scheduler, true, "start a scheduler");
ABSL_FLAG(std::string, scheduler, "tests/schedulers/ktvm_fifo",
          "runfiles path of the scheduler binary");
ABSL_FLAG(std::string, sched_args, "", "ktvm_fifo arguments, space separated");
ABSL_FLAG(std::string, run, "", "workload (/bin/sh -c)");
ABSL_FLAG(std::vector<std::string>, expect_console, {},
          "comma-separated texts the kernel console must contain");
ABSL_FLAG(int, expect_workload_status, 0,
          "workload exit status; -1: do not check");
ABSL_FLAG(int, expect_scheduler_status, -1,
          "scheduler exit status; -1: do not check");
ABSL_FLAG(std::string, expect_exit, "poweroff",
          "how the guest ends: poweroff, reset or any");
ABSL_FLAG(std::vector<std::string>, expect_event, {},
          "control events (e.g. scheduler-failed) that must arrive");
ABSL_FLAG(std::vector<std::string>, expect_no_event, {},
          "control events that must not arrive");
ABSL_FLAG(int, enable_timeout_ms, 30000,
          "how long the init waits for sched_ext to be enabled");
ABSL_FLAG(std::string, extra_cmdline, "",
          "appended to the kernel command line");
ABSL_FLAG(int, cpus, 2, "vCPUs");
ABSL_FLAG(int, memory_mib, 512, "guest RAM");
// A hang guard, not a speed check: healthy guests end in 10-25 s, but eight
// vCPUs on two host cores shared with a sanitizer run once took over 55 s.
// Well inside Bazel's 300 s "moderate" limit, so a hang still fails here
// with the guest's console.
ABSL_FLAG(int, timeout_s, 150, "guest time limit");

namespace ktvm::e2e {
namespace {

using guest::ControlEventKind;

TEST(GuestExpectationsTest, Run) {
  GuestSpec spec;
  spec.with_scheduler = absl::GetFlag(FLAGS_with_scheduler);
  spec.scheduler_path = absl::GetFlag(FLAGS_scheduler);
  for (absl::string_view a : absl::StrSplit(absl::GetFlag(FLAGS_sched_args),
                                            ' ', absl::SkipEmpty())) {
    spec.scheduler_args.emplace_back(a);
  }
  spec.run = absl::GetFlag(FLAGS_run);
  spec.cpus = absl::GetFlag(FLAGS_cpus);
  spec.memory_mib = absl::GetFlag(FLAGS_memory_mib);
  spec.enable_timeout_ms = absl::GetFlag(FLAGS_enable_timeout_ms);
  spec.extra_cmdline = absl::GetFlag(FLAGS_extra_cmdline);
  auto guest = MakeGuest(spec);
  ASSERT_TRUE(guest.ok()) << guest.status();
  ASSERT_TRUE((*guest)->Start({}).ok());
  auto exit =
      (*guest)->WaitForExit(absl::Seconds(absl::GetFlag(FLAGS_timeout_s)));
  const std::string console = (*guest)->ConsoleTail(1 << 20);
  ASSERT_TRUE(exit.ok()) << exit.status() << "\n" << console;
  const std::string want_exit = absl::GetFlag(FLAGS_expect_exit);
  if (want_exit == "poweroff") {
    EXPECT_EQ(exit->reason, backend::GuestExit::Reason::kPoweroff)
        << exit->detail;
  } else if (want_exit == "reset") {
    EXPECT_EQ(exit->reason, backend::GuestExit::Reason::kReset) << exit->detail;
  }
  for (const std::string& text : absl::GetFlag(FLAGS_expect_console)) {
    EXPECT_NE(console.find(text), std::string::npos)
        << "console lacks \"" << text << "\":\n"
        << console;
  }
  const auto events = ParseEvents((*guest)->ControlLines());
  auto has_event = [&](const std::string& name) {
    for (const auto& e : events) {
      if (e.name == name) return true;
    }
    return false;
  };
  for (const std::string& name : absl::GetFlag(FLAGS_expect_event)) {
    EXPECT_TRUE(has_event(name)) << "no control event " << name << "\n"
                                 << console;
  }
  for (const std::string& name : absl::GetFlag(FLAGS_expect_no_event)) {
    EXPECT_FALSE(has_event(name)) << "unexpected control event " << name;
  }
  if (const int want = absl::GetFlag(FLAGS_expect_workload_status); want >= 0) {
    const auto* work = FindEvent(events, ControlEventKind::kWorkloadExit);
    ASSERT_NE(work, nullptr) << console;
    EXPECT_EQ(work->GetInt("status").value_or(-1), want);
  }
  if (const int want = absl::GetFlag(FLAGS_expect_scheduler_status);
      want >= 0) {
    const auto* sched = FindEvent(events, ControlEventKind::kSchedulerExit);
    ASSERT_NE(sched, nullptr) << console;
    EXPECT_EQ(sched->GetInt("status").value_or(-1), want);
  }
}

}  // namespace
}  // namespace ktvm::e2e

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  absl::ParseCommandLine(argc, argv);
  return RUN_ALL_TESTS();
}
