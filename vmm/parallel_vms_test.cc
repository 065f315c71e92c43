// Eight ktvm processes at once, each booting the real kernel (QEMU TCG here,
// KVM where native) with a generated initramfs: their temporary directories,
// QMP/serial sockets and initramfs files must not collide, so every run
// passes. They also share one --dump path and working directory.
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "vmm/exit_codes.h"
#include "vmm/ktvm_process.h"

namespace ktvm::vmm {
namespace {

using testing::KtvmResult;
using testing::RunKtvm;

constexpr int kVms = 8;
constexpr char kDebianKernel[] = "external/kernel/bzImage";

TEST(ParallelVmsTest, EightVmsAtOnceAllPass) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string shared_dump =
      absl::StrCat(tmp ? tmp : "/tmp", "/shared.ktvm-dump");
  std::vector<KtvmResult> results(kVms);
  std::vector<std::thread> threads;
  for (int i = 0; i < kVms; ++i) {
    threads.emplace_back([&results, &shared_dump, i] {
      // Each VM prints its own token so a crossed console would show.
      results[i] = RunKtvm(absl::StrCat(
          "--kernel ", kDebianKernel, " --memory 256M --timeout 600s",
          " --dump ", shared_dump, " --run 'echo parallel-vm-", i, "-ok'"));
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kVms; ++i) {
    const KtvmResult& r = results[i];
    SCOPED_TRACE(absl::StrCat("VM ", i));
    EXPECT_EQ(r.code, kExitOk) << r.output;
    EXPECT_EQ(r.error_lines, 0) << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, "workload  exit status 0"))
        << r.output;
    EXPECT_TRUE(
        absl::StrContains(r.output, absl::StrCat("parallel-vm-", i, "-ok")))
        << r.output;
    for (int j = 0; j < kVms; ++j) {
      if (j == i) continue;
      EXPECT_FALSE(
          absl::StrContains(r.output, absl::StrCat("parallel-vm-", j, "-ok")))
          << "VM " << i << " saw VM " << j << "'s console";
    }
  }
}

}  // namespace
}  // namespace ktvm::vmm
