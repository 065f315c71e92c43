// The test guest misbehaving on purpose (tests/test_guest/main.c actions):
// ktvm keeps serving it and ends with a clean exit reason and code.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/report_summary.h"
#include "vmm/dump/report_writer.h"
#include "vmm/exit_codes.h"
#include "vmm/ktvm_process.h"

namespace ktvm::vmm {
namespace {

using testing::kTestGuest;
using testing::KtvmResult;
using testing::RunKtvm;
using testing::RunKtvmCommand;

// A kicked vCPU must stop well within this; a hang shows as a test failure
// rather than a bazel timeout.
constexpr absl::Duration kStopBound = absl::Seconds(30);

// The count after `label` in ktvm's "guest ended: ..." line.
int64_t CountAfter(const std::string& output, const std::string& label) {
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (!absl::StartsWith(line, "ktvm: guest ended:")) continue;
    const size_t at = line.find(label);
    if (at == absl::string_view::npos) return -1;
    absl::string_view rest = line.substr(at + label.size());
    rest = rest.substr(0, rest.find_first_not_of("0123456789"));
    int64_t value = -1;
    return absl::SimpleAtoi(rest, &value) ? value : -1;
  }
  return -1;
}

KtvmResult RunAction(const std::string& action, const std::string& extra = "") {
  return RunKtvm(absl::StrCat("--kernel ", kTestGuest, " --accel=kvm",
                              " --cmdline ktvm_test=", action, " ", extra));
}

class GuestMisbehaviourTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "NOT RUN: no accessible /dev/kvm";
    }
  }
};

TEST_F(GuestMisbehaviourTest, PortFloodIsServedAndCounted) {
  const KtvmResult r = RunAction("port_flood", "--timeout 60s");
  EXPECT_EQ(r.code, kExitOk) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "KTVM test-done")) << r.output;
  EXPECT_GE(CountAfter(r.output, "unknown port accesses "), 100000) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "(last 0x1234)")) << r.output;
}

TEST_F(GuestMisbehaviourTest, EveryUnknownPortAndMmioHoleWriteIsIgnored) {
  const KtvmResult r = RunAction("unknown_io", "--timeout 60s");
  EXPECT_EQ(r.code, kExitOk) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "KTVM test-done")) << r.output;
  // 65536 ports minus the 38 the guest leaves alone (devices, resets) and
  // the few others ktvm's devices claim.
  EXPECT_GE(CountAfter(r.output, "unknown port accesses "), 65536 - 64)
      << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "(last 0xffff)")) << r.output;
  // One write per MiB from 3 GiB to the IOAPIC.
  EXPECT_EQ(CountAfter(r.output, "unknown MMIO accesses "),
            (0xfec00000 - 0xc0000000) >> 20)
      << r.output;
}

TEST_F(GuestMisbehaviourTest, SilentGuestEndsAtTimeout) {
  const absl::Time start = absl::Now();
  const KtvmResult r = RunAction("silent", "--timeout 2s");
  EXPECT_LT(absl::Now() - start, kStopBound);
  EXPECT_EQ(r.code, kExitTimeout) << r.output;
  EXPECT_EQ(r.error_lines, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.error_line, "still running after 2s"))
      << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "ktvm test guest")) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "ktvm: guest: KTVM")) << r.output;
}

// Interrupts off and a loop without exits on the boot vCPU while the other
// vCPU spins too: ktvm must end the run at --timeout, promptly, with both
// vCPUs kicked out of their loops (parked in the report) and stopped.
// ktvm starts both vCPUs and the guest is told so (ktvm_smp=vmm): this test
// once omitted that, so the guest also sent INIT-SIPI to the AP ktvm had
// started, resetting it wherever it was (e.g. holding the guest's print
// lock). That, not KVM, was behind the triple faults and the rare deadlock
// before the action line that the test used to tolerate.
TEST_F(GuestMisbehaviourTest, CliSpinningVcpusAreStopped) {
  const std::string report_path =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/cli_spin.ktvm-dump");
  const absl::Time start = absl::Now();
  const KtvmResult r = RunKtvm(absl::StrCat(
      "--kernel ", kTestGuest,
      " --accel=kvm --cpus 2 --ap_start vmm --timeout 5s --dump ", report_path,
      " --cmdline 'ktvm_smp=vmm ktvm_test=cli_spin'"));
  EXPECT_LT(absl::Now() - start, kStopBound);
  EXPECT_EQ(r.code, kExitTimeout) << r.output;
  EXPECT_EQ(r.error_lines, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.error_line, "still running after 5s"))
      << r.output;
  // Whether the second vCPU finished its greeting within the guest's
  // bounded wait depends on host load; it runs either way.
  EXPECT_TRUE(absl::StrContains(r.output, "expected=2 method=vmm")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "KTVM test-action action=cli_spin"))
      << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "triple")) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "is still inside KVM_RUN"))
      << r.output;
  absl::StatusOr<report::FailureDumpReport> report =
      dump::ReadReport(report_path);
  ASSERT_TRUE(report.ok()) << report.status() << "\n" << r.output;
  EXPECT_EQ(report->trigger().kind(), report::TRIGGER_KIND_TIMEOUT);
  ASSERT_EQ(report->vcpus_size(), 2) << report->DebugString();
  for (const report::VcpuState& v : report->vcpus()) {
    EXPECT_TRUE(v.parked()) << v.DebugString();
    ASSERT_TRUE(v.has_x86_64()) << v.DebugString();
    // In the guest's code (loaded at 16 MiB), i.e. in its spin loops.
    EXPECT_GE(v.x86_64().rip(), 0x1000000u) << v.DebugString();
    EXPECT_LT(v.x86_64().rip(), 0x1100000u) << v.DebugString();
  }
}

// "A vCPU that will not park", end to end: vCPU 0 loops with interrupts off
// and no exits while its thread keeps the kick signal blocked, so neither
// the dump's freeze nor the final stop can get it out of KVM_RUN. ktvm must
// still write a complete --timeout report listing it NOT PARKED, name it on
// stderr, and exit 6 shortly after, instead of waiting for it forever.
TEST_F(GuestMisbehaviourTest, UnstoppableVcpuDoesNotHoldUpTheExit) {
  const std::string report_path =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/unstoppable.ktvm-dump");
  const absl::Time start = absl::Now();
  // Without the bounded stop ktvm would hang: the coreutils timeout turns
  // that into a failure (code -1) instead of a bazel timeout.
  const KtvmResult r = RunKtvmCommand(
      absl::StrCat("timeout -s KILL ", absl::ToInt64Seconds(2 * kStopBound),
                   " ", testing::kKtvmBinary),
      absl::StrCat("--kernel ", kTestGuest,
                   " --accel=kvm --cpus 2 --ap_start vmm"
                   " --cmdline 'ktvm_smp=vmm ktvm_test=cli_wait'"
                   " --testing_unkickable_vcpus=0 --timeout 3s --dump ",
                   report_path));
  const absl::Duration took = absl::Now() - start;
  // --timeout, the freeze's park timeout, the stop's join timeout, and
  // room for a loaded host.
  EXPECT_LT(took, kStopBound) << r.output;
  EXPECT_EQ(r.code, kExitTimeout) << r.output;
  EXPECT_EQ(r.error_lines, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.error_line, "still running after 3s"))
      << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "KTVM test-action action=cli_wait"))
      << r.output;
  EXPECT_TRUE(absl::StrContains(
      r.output,
      "ktvm: warning: vCPU 0 is still inside KVM_RUN 2s after the "
      "stop request"))
      << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "vCPU 1 is still")) << r.output;
  // The summary printed once the report is on disk.
  EXPECT_TRUE(absl::StrContains(r.output, "NOT PARKED")) << r.output;

  absl::StatusOr<report::FailureDumpReport> report =
      dump::ReadReport(report_path);
  ASSERT_TRUE(report.ok()) << report.status() << "\n" << r.output;
  EXPECT_EQ(report->trigger().kind(), report::TRIGGER_KIND_TIMEOUT);
  ASSERT_EQ(report->vcpus_size(), 2) << report->DebugString();
  EXPECT_FALSE(report->vcpus(0).parked());
  EXPECT_TRUE(absl::StrContains(report->vcpus(0).note(), "did not park"))
      << report->vcpus(0).note();
  EXPECT_TRUE(report->vcpus(1).parked()) << report->vcpus(1).note();
  ASSERT_TRUE(report->vcpus(1).has_x86_64());
  // vCPU 1 spins in the guest's code (loaded at 16 MiB).
  EXPECT_GE(report->vcpus(1).x86_64().rip(), 0x1000000u);
  EXPECT_LT(report->vcpus(1).x86_64().rip(), 0x1100000u);
  EXPECT_TRUE(
      absl::StrContains(dump::FormatReportSummary(*report), "NOT PARKED"));
}

TEST_F(GuestMisbehaviourTest, UnkickableVcpuFlagIsChecked) {
  const KtvmResult r =
      RunAction("exit", "--cpus 2 --testing_unkickable_vcpus=2");
  EXPECT_EQ(r.code, kExitUsage) << r.output;
  EXPECT_EQ(r.error_lines, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.error_line,
                                "--testing_unkickable_vcpus 2: expected a "
                                "vCPU index below --cpus 2"))
      << r.output;
}

}  // namespace
}  // namespace ktvm::vmm
