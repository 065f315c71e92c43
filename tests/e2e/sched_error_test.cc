// ktvm_fifo in error mode: the kernel disables it through scx_bpf_error with
// the scheduler's message, and the loader exits with status 1.
#include "gtest/gtest.h"
#include "tests/e2e/qemu_guest.h"

namespace ktvm::e2e {
namespace {

using guest::ControlEventKind;

TEST(SchedErrorTest, KernelPrintsTheInjectedError) {
  GuestSpec spec;
  spec.scheduler_args = {"--mode=error", "--error_after=50"};
  spec.run = "for i in $(seq 100); do /bin/true; done; sleep 1";
  auto guest = MakeGuest(spec);
  ASSERT_TRUE(guest.ok()) << guest.status();
  ASSERT_TRUE((*guest)->Start({}).ok());
  auto exit = (*guest)->WaitForExit(absl::Seconds(50));
  const std::string console = (*guest)->ConsoleTail(1 << 20);
  ASSERT_TRUE(exit.ok()) << exit.status() << "\n" << console;
  EXPECT_EQ(exit->reason, backend::GuestExit::Reason::kPoweroff)
      << exit->detail;
  EXPECT_NE(console.find("sched_ext: BPF scheduler \"ktvm_fifo\" disabled "
                         "(scx_bpf_error)"),
            std::string::npos)
      << console;
  EXPECT_NE(console.find("injected error after 50 enqueues"), std::string::npos)
      << console;
  // The loader saw the error exit (kind 1025 = SCX_EXIT_ERROR_BPF).
  EXPECT_NE(console.find("ktvm_fifo: exited kind=1025"), std::string::npos)
      << console;

  const auto events = ParseEvents((*guest)->ControlLines());
  ASSERT_NE(FindEvent(events, ControlEventKind::kSchedulerEnabled), nullptr);
  const auto* sched_exit = FindEvent(events, ControlEventKind::kSchedulerExit);
  ASSERT_NE(sched_exit, nullptr) << console;
  EXPECT_EQ(sched_exit->GetInt("status").value_or(-1), 1);
  // The workload carries on under the fair class after the error.
  const auto* work = FindEvent(events, ControlEventKind::kWorkloadExit);
  ASSERT_NE(work, nullptr);
  EXPECT_EQ(work->GetInt("status").value_or(-1), 0);
}

TEST(SchedErrorTest, StalledTaskTripsTheWatchdog) {
  GuestSpec spec;
  spec.scheduler_args = {"--mode=stall", "--stall_comm=ktvm_stall",
                         "--timeout_ms=4500"};
  spec.run = "/ktvm/scheduler --spin_ms=30000 --comm=ktvm_stall";
  auto guest = MakeGuest(spec);
  ASSERT_TRUE(guest.ok()) << guest.status();
  ASSERT_TRUE((*guest)->Start({}).ok());
  auto exit = (*guest)->WaitForExit(absl::Seconds(55));
  const std::string console = (*guest)->ConsoleTail(1 << 20);
  ASSERT_TRUE(exit.ok()) << exit.status() << "\n" << console;
  EXPECT_NE(console.find("disabled (runnable task stall)"), std::string::npos)
      << console;
  EXPECT_NE(console.find("ktvm_stall["), std::string::npos) << console;
  EXPECT_NE(console.find("failed to run for"), std::string::npos) << console;
  EXPECT_NE(console.find("ktvm_fifo: exited kind=1026"), std::string::npos)
      << console;
}

}  // namespace
}  // namespace ktvm::e2e
