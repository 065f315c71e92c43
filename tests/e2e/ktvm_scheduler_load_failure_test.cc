// A scheduler the kernel refuses, through the real ktvm binary (QEMU TCG
// here, KVM where it runs natively): ktvm_fifo with --timeout_ms=60000 asks
// for more than sched_ext's 30 s watchdog maximum, so the kernel fails the
// struct_ops attach with E2BIG and the loader exits 4 before sched_ext is
// enabled. ktvm must say so in its one error line and exit with the
// scheduler-failed code, without running the workload.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "vmm/exit_codes.h"
#include "vmm/ktvm_process.h"

namespace ktvm {
namespace {

using vmm::testing::KtvmResult;
using vmm::testing::RunKtvm;

TEST(KtvmSchedulerLoadFailureTest, KernelRefusesTheSchedulerExitCode3) {
  const KtvmResult r = RunKtvm(
      "--kernel external/kernel/bzImage"
      " --scheduler tests/schedulers/ktvm_fifo"
      " --sched_args '--mode=ok --timeout_ms=60000'"
      " --run 'echo workload ran' --timeout 240s");
  EXPECT_EQ(r.code, vmm::kExitSchedulerFailed) << r.output;
  EXPECT_EQ(r.error_lines, 1) << r.output;
  EXPECT_EQ(r.error_line,
            "ktvm: error: scheduler failed: exited before sched_ext was "
            "enabled (exit status 4) (no report)")
      << r.output;
  // The refusal came from the kernel, not from the loader's own checks.
  EXPECT_TRUE(absl::StrContains(
      r.output,
      "ktvm_fifo: attaching the scheduler failed: Argument list "
      "too long"))
      << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "workload-started")) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "workload ran")) << r.output;
}

}  // namespace
}  // namespace ktvm
