// Boots the Debian kernel under QEMU TCG with ktvm's init and ktvm_fifo in
// ok mode: the scheduler is enabled, the workload exits 0, the guest powers
// off, and the kernel log says the scheduler was enabled.
#include <signal.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "tests/e2e/qemu_guest.h"

namespace ktvm::e2e {
namespace {

using guest::ControlEventKind;

TEST(BootOkTest, SchedulerEnabledAndWorkloadSucceeds) {
  GuestSpec spec;
  spec.scheduler_args = {"--mode=ok"};
  spec.run =
      "for i in $(seq 20); do /bin/true; done; "
      "test \"$(cat /sys/kernel/sched_ext/state)\" = enabled";
  auto guest = MakeGuest(spec);
  ASSERT_TRUE(guest.ok()) << guest.status();
  const absl::Time start = absl::Now();
  ASSERT_TRUE((*guest)->Start({}).ok());
  auto exit = (*guest)->WaitForExit(absl::Seconds(50));
  ASSERT_TRUE(exit.ok()) << exit.status() << "\nconsole:\n"
                         << (*guest)->ConsoleTail(4000);
  std::printf("boot + ok-mode run took %s (QEMU TCG, %d vCPUs)\n",
              absl::FormatDuration(absl::Now() - start).c_str(),
              (*guest)->num_vcpus());
  const std::string console = (*guest)->ConsoleTail(1 << 20);
  EXPECT_EQ(exit->reason, backend::GuestExit::Reason::kPoweroff)
      << exit->detail;

  const auto events = ParseEvents((*guest)->ControlLines());
  ASSERT_NE(FindEvent(events, ControlEventKind::kInitStarted), nullptr)
      << console;
  ASSERT_NE(FindEvent(events, ControlEventKind::kMountsDone), nullptr);
  EXPECT_EQ(FindEvent(events, ControlEventKind::kMountFailed), nullptr)
      << console;
  const auto* enabled = FindEvent(events, ControlEventKind::kSchedulerEnabled);
  ASSERT_NE(enabled, nullptr) << console;
  EXPECT_EQ(enabled->Get("ops").value_or(""), "ktvm_fifo");
  const auto* work = FindEvent(events, ControlEventKind::kWorkloadExit);
  ASSERT_NE(work, nullptr) << console;
  EXPECT_EQ(work->GetInt("status").value_or(-1), 0) << console;
  const auto* sched_exit = FindEvent(events, ControlEventKind::kSchedulerExit);
  ASSERT_NE(sched_exit, nullptr);
  EXPECT_EQ(sched_exit->GetInt("status").value_or(-1), 0) << console;
  EXPECT_NE(FindEvent(events, ControlEventKind::kPoweroff), nullptr);
  EXPECT_EQ(events.back().kind, ControlEventKind::kPoweroff);
  // Every event is stamped with the guest's time since boot, in order.
  int64_t last_t = 0;
  for (const auto& e : events) {
    auto t = e.GetInt("t_ms");
    ASSERT_TRUE(t.ok()) << e.name << ": " << t.status();
    EXPECT_GE(*t, last_t) << e.name;
    last_t = *t;
  }
  EXPECT_GT(last_t, 500);  // the kernel took a while to reach the init

  EXPECT_NE(console.find("sched_ext: BPF scheduler \"ktvm_fifo\" enabled"),
            std::string::npos)
      << console;
  EXPECT_NE(console.find("disabled (unregistered from user space)"),
            std::string::npos)
      << console;
  EXPECT_NE(console.find(KernelVersion()), std::string::npos);
}

TEST(BootOkTest, FailingWorkloadStatusIsReported) {
  GuestSpec spec;
  spec.with_scheduler = false;
  spec.run = "echo failing on purpose; exit 7";
  auto guest = MakeGuest(spec);
  ASSERT_TRUE(guest.ok()) << guest.status();
  ASSERT_TRUE((*guest)->Start({}).ok());
  auto exit = (*guest)->WaitForExit(absl::Seconds(50));
  ASSERT_TRUE(exit.ok()) << exit.status() << "\nconsole:\n"
                         << (*guest)->ConsoleTail(1 << 16);
  const auto events = ParseEvents((*guest)->ControlLines());
  EXPECT_EQ(FindEvent(events, ControlEventKind::kSchedulerStarted), nullptr);
  const auto* work = FindEvent(events, ControlEventKind::kWorkloadExit);
  ASSERT_NE(work, nullptr) << (*guest)->ConsoleTail(4000);
  EXPECT_EQ(work->GetInt("status").value_or(-1), 7);
  EXPECT_NE((*guest)->ConsoleTail(1 << 20).find("failing on purpose"),
            std::string::npos);
}

TEST(BootOkTest, DestroyingTheBackendKillsQemuAndCleansUp) {
  GuestSpec spec;
  spec.run = "sleep 60";
  auto guest = MakeGuest(spec);
  ASSERT_TRUE(guest.ok()) << guest.status();
  ASSERT_TRUE((*guest)->Start({}).ok());
  ASSERT_TRUE(WaitForEvent(**guest, ControlEventKind::kWorkloadStarted,
                           absl::Seconds(40)));
  const pid_t pid = (*guest)->qemu_pid();
  const std::string dir = (*guest)->temp_dir();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(access(dir.c_str(), F_OK), 0);
  guest->reset();  // guest running a 60 s workload
  EXPECT_NE(kill(pid, 0), 0) << "QEMU pid " << pid << " still exists";
  EXPECT_NE(access(dir.c_str(), F_OK), 0) << dir << " still exists";
}

}  // namespace
}  // namespace ktvm::e2e
