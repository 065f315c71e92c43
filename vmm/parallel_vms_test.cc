// Eight ktvm processes at once, each booting the real kernel (QEMU TCG here,
// KVM where native) with a generated initramfs and a workload, all given the
// same --dump path and working directory. Their temporary directories,
// QMP/serial sockets and initramfs files must not collide; all eight
// workloads must be running at one instant (checked from the times their
// tokens appeared and the processes ended); then each gets SIGTERM and
// dumps to the shared path: eight complete, distinct MANUAL reports, each
// holding its own VM's console and no other's.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/report_writer.h"
#include "vmm/ktvm_child.h"
#include "vmm/ktvm_process.h"

namespace ktvm::vmm {
namespace {

using ::ktvm::report::FailureDumpReport;
using testing::ExitCodeOf;
using testing::KtvmChild;
using testing::PrintedReportPath;

constexpr int kVms = 8;
constexpr char kDebianKernel[] = "external/kernel/bzImage";
// Eight TCG boots share two cores here (~1-2 min for all of them).
constexpr absl::Duration kAllUpTimeout = absl::Seconds(480);

std::string Token(int vm) { return absl::StrCat("parallel-vm-", vm, "-up"); }

TEST(ParallelVmsTest, EightVmsRunAtOnceAndDumpToOnePath) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/shared");
  std::filesystem::create_directories(dir);
  const std::string shared_dump = dir + "/shared.ktvm-dump";

  std::vector<std::unique_ptr<KtvmChild>> vms;
  for (int i = 0; i < kVms; ++i) {
    // Each VM prints its own token, then stays busy until the signal.
    absl::StatusOr<std::unique_ptr<KtvmChild>> vm = KtvmChild::Start(
        {"vmm/ktvm", absl::StrCat("--kernel=", kDebianKernel), "--memory=256M",
         "--timeout=900s", "--dump=" + shared_dump,
         absl::StrCat("--run=echo ", Token(i), "; sleep 900")});
    ASSERT_TRUE(vm.ok()) << vm.status();
    vms.push_back(*std::move(vm));
  }
  const absl::Time deadline = absl::Now() + kAllUpTimeout;
  std::vector<absl::Time> up(kVms);
  for (int i = 0; i < kVms; ++i) {
    absl::StatusOr<absl::Time> seen = vms[i]->WaitForOutput(
        Token(i), std::max(deadline - absl::Now(), absl::ZeroDuration()));
    ASSERT_TRUE(seen.ok()) << "VM " << i << ": " << seen.status() << "\n"
                           << vms[i]->Output();
    up[i] = *seen;
  }
  const absl::Time all_up = *std::max_element(up.begin(), up.end());
  for (const auto& vm : vms) ASSERT_TRUE(vm->Signal(SIGTERM));

  std::set<std::string> report_paths;
  for (int i = 0; i < kVms; ++i) {
    SCOPED_TRACE(absl::StrCat("VM ", i));
    absl::StatusOr<int> status = vms[i]->Wait(absl::Seconds(120));
    const std::string output = vms[i]->Output();
    ASSERT_TRUE(status.ok()) << status.status() << "\n" << output;
    EXPECT_EQ(ExitCodeOf(*status), 128 + SIGTERM) << output;
    // Running at the instant the last VM's workload came up.
    EXPECT_LT(vms[i]->start_time(), all_up);
    EXPECT_GT(vms[i]->exit_time(), all_up);
    for (int j = 0; j < kVms; ++j) {
      if (j == i) continue;
      EXPECT_FALSE(absl::StrContains(output, Token(j)))
          << "VM " << i << " saw VM " << j << "'s console";
    }

    const std::string path = PrintedReportPath(output);
    ASSERT_FALSE(path.empty()) << output;
    EXPECT_TRUE(path == shared_dump || absl::StartsWith(path, dir + "/shared-"))
        << path;
    report_paths.insert(path);
    absl::StatusOr<FailureDumpReport> r = dump::ReadReport(path);
    ASSERT_TRUE(r.ok()) << path << ": " << r.status();
    EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_MANUAL);
    EXPECT_EQ(r->trigger().summary(),
              absl::StrCat("signal ", SIGTERM, " to ktvm"));
    EXPECT_EQ(r->vcpus_size(), 1);
    EXPECT_GT(r->kernel_log().records_size(), 50);
    // Its own VM's report: its token (the console tail), no other.
    EXPECT_TRUE(absl::StrContains(r->console_tail(), Token(i))) << path;
    for (int j = 0; j < kVms; ++j) {
      if (j != i) EXPECT_FALSE(absl::StrContains(r->console_tail(), Token(j)));
    }
  }
  EXPECT_EQ(report_paths.size(), static_cast<size_t>(kVms));
  EXPECT_EQ(report_paths.count(shared_dump), 1u);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
    ++files;
  }
  EXPECT_EQ(files, kVms);
  std::fprintf(stderr, "all %d workloads up %s after the first VM started\n",
               kVms,
               absl::FormatDuration(all_up - vms[0]->start_time()).c_str());
}

}  // namespace
}  // namespace ktvm::vmm
