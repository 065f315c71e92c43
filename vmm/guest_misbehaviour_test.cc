// The test guest misbehaving on purpose (tests/test_guest/main.c actions):
// ktvm keeps serving it and ends with a clean exit reason and code.
#include <cstdint>
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
#include "vmm/exit_codes.h"
#include "vmm/ktvm_process.h"

namespace ktvm::vmm {
namespace {

using testing::kTestGuest;
using testing::KtvmResult;
using testing::RunKtvm;

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
// vCPU spins normally: ktvm must end the run cleanly and promptly, stopping
// both vCPUs. On kvm_pvm hosts the 2-vCPU variant triple-faults vCPU 0
// inside the cli loop after ~2.5 s (not understood yet: the 1-vCPU variant
// runs to the timeout), so a crash reported as such is accepted here too;
// what may never happen is a hang, a ktvm crash or an unexplained exit.
TEST_F(GuestMisbehaviourTest, CliSpinningVcpusAreStopped) {
  const absl::Time start = absl::Now();
  const KtvmResult r =
      RunAction("cli_spin", "--cpus 2 --ap_start vmm --timeout 5s");
  EXPECT_LT(absl::Now() - start, kStopBound);
  EXPECT_TRUE(absl::StrContains(r.output, "KTVM test-action action=cli_spin"))
      << r.output;
  // Whether the second vCPU finished its greeting within the guest's
  // bounded wait depends on host load; it runs either way.
  EXPECT_TRUE(absl::StrContains(r.output, "expected=2")) << r.output;
  EXPECT_EQ(r.error_lines, 1) << r.output;
  if (r.code == kExitTimeout) {
    EXPECT_TRUE(absl::StrContains(r.error_line, "still running after 5s"))
        << r.output;
  } else {
    EXPECT_EQ(r.code, kExitWorkloadFailed) << r.output;
    EXPECT_TRUE(absl::StrContains(r.error_line, "triple fault")) << r.output;
  }
}

}  // namespace
}  // namespace ktvm::vmm
