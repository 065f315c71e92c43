// A user stopping ktvm by hand: once the Debian kernel runs ktvm_fifo under
// QEMU TCG, a signal goes to ktvm's whole process group, as a terminal's
// Ctrl-C does. QEMU must not get it (its own group), so ktvm can still
// freeze the guest and write a complete MANUAL report naming the signal,
// exit with 128 + the signal, and leave no QEMU behind.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/report_writer.h"
#include "vmm/ktvm_child.h"

namespace ktvm::e2e {
namespace {

using ::ktvm::report::FailureDumpReport;
using ::ktvm::vmm::testing::ChildrenOf;
using ::ktvm::vmm::testing::ExitCodeOf;
using ::ktvm::vmm::testing::IsRunning;
using ::ktvm::vmm::testing::KtvmChild;

constexpr int kCpus = 2;
// Generous: `bazel test --jobs=8 --runs_per_test=8` boots eight of these at
// once on two cores.
constexpr absl::Duration kBootTimeout = absl::Seconds(200);

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

bool QemuAvailable() {
  return access("/usr/bin/qemu-system-x86_64", X_OK) == 0 &&
         access("/bin/busybox", X_OK) == 0;
}

void StopByGroupSignal(int signo) {
  const std::string report_path =
      absl::StrCat(TmpDir(), "/signal-", signo, ".ktvm-dump");
  unlink(report_path.c_str());
  absl::StatusOr<std::unique_ptr<KtvmChild>> ktvm = KtvmChild::Start({
      "vmm/ktvm",
      "--accel=tcg",
      "--kernel=external/kernel/bzImage",
      "--guest_init=vmm/guest/init",
      absl::StrCat("--cpus=", kCpus),
      "--timeout=600s",
      "--dump=" + report_path,
      "--scheduler=tests/schedulers/ktvm_fifo",
      "--sched_args=--mode=ok",
      // Keeps the scheduler busy until the signal.
      "--run=while true; do /bin/true; sleep 0.2; done",
  });
  ASSERT_TRUE(ktvm.ok()) << ktvm.status();
  KtvmChild& child = **ktvm;
  // The console (COM1) and the control lines (COM2) arrive in either order.
  for (const char* text : {"sched_ext: BPF scheduler \"ktvm_fifo\" enabled",
                           "KTVM workload-started"}) {
    absl::StatusOr<absl::Time> seen = child.WaitForOutput(text, kBootTimeout);
    ASSERT_TRUE(seen.ok()) << seen.status() << "\n" << child.Output();
  }

  const std::vector<pid_t> qemu = ChildrenOf(child.pid());
  ASSERT_EQ(qemu.size(), 1u) << "ktvm should have one child, QEMU";
  EXPECT_NE(getpgid(qemu[0]), getpgid(child.pid()))
      << "QEMU is in ktvm's process group: a terminal's signal reaches it";
  ASSERT_TRUE(child.SignalGroup(signo));
  absl::StatusOr<int> status = child.Wait(absl::Seconds(120));
  const std::string output = child.Output();
  std::fprintf(stderr, "%s\n", output.c_str());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(ExitCodeOf(*status), 128 + signo);
  EXPECT_TRUE(absl::StrContains(
      output, absl::StrCat("stopped by signal ", signo, " after the dump")));

  absl::StatusOr<FailureDumpReport> r = dump::ReadReport(report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_MANUAL);
  EXPECT_EQ(r->trigger().summary(), absl::StrCat("signal ", signo, " to ktvm"));
  // Complete: taken from the live, frozen guest, not after QEMU quit.
  EXPECT_EQ(r->header().backend(), report::BACKEND_QEMU_TCG);
  ASSERT_EQ(r->vcpus_size(), kCpus);
  for (const report::VcpuState& v : r->vcpus()) {
    EXPECT_TRUE(v.parked()) << v.note();
    EXPECT_TRUE(v.has_x86_64());
    EXPECT_FALSE(v.ip_symbol().empty());
  }
  EXPECT_EQ(r->run_queues_size(), kCpus);
  EXPECT_GT(r->kernel_log().records_size(), 50);
  bool enabled_logged = false;
  for (const auto& rec : r->kernel_log().records()) {
    enabled_logged |= absl::StrContains(
        rec.text(), "sched_ext: BPF scheduler \"ktvm_fifo\" enabled");
  }
  EXPECT_TRUE(enabled_logged);
  bool has_bss = false;
  for (const report::BpfMap& m : r->bpf_maps()) {
    has_bss |= absl::EndsWith(m.name(), ".bss");
  }
  EXPECT_TRUE(has_bss) << "the running scheduler's maps are missing";
  EXPECT_EQ(r->sdt_allocators_size(), 1);

  // QEMU dies with ktvm; give its reaper a moment.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (IsRunning(qemu[0]) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_FALSE(IsRunning(qemu[0]))
      << "QEMU (pid " << qemu[0] << ") outlived ktvm";
}

TEST(DumpSignalTest, CtrlCToTheGroupGivesAManualReport) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  StopByGroupSignal(SIGINT);
}

TEST(DumpSignalTest, SigtermToTheGroupGivesAManualReport) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  StopByGroupSignal(SIGTERM);
}

}  // namespace
}  // namespace ktvm::e2e
