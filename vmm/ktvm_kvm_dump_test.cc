// Freeze-and-dump on the KVM path of the real ktvm binary: the test guest
// (not Linux, so no kernel data) spinning on 2 vCPUs, ended by --timeout or
// by SIGTERM; the report must hold both vCPUs' registers and say why kernel
// data is missing.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
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
#include "vmm/exit_codes.h"
#include "vmm/ktvm_process.h"

namespace ktvm::vmm {
namespace {

using testing::PrintedReportPath;

constexpr char kKtvm[] = "vmm/ktvm";
constexpr char kGuest[] = "tests/test_guest/test_guest.bzImage";
// The test guest's code is linked at 16 MiB.
constexpr uint64_t kGuestCodeStart = 0x1000000;
constexpr uint64_t kGuestCodeEnd = 0x1100000;

struct KtvmRun {
  int code = -1;
  std::string output;
};

// Runs ktvm on the spinning test guest, with `send_sigterm` sending it
// SIGTERM once the guest says its vCPUs spin. Bounded at 120 s.
KtvmRun RunSpinningGuest(const std::string& report, const std::string& timeout,
                         bool send_sigterm) {
  std::vector<std::string> args = {
      kKtvm,
      "--accel=kvm",
      absl::StrCat("--kernel=", kGuest),
      "--cpus=2",
      "--ap_start=vmm",
      "--cmdline=ktvm_smp=vmm ktvm_test=spin",
      absl::StrCat("--timeout=", timeout),
      absl::StrCat("--dump=", report),
      "--json",
  };
  int out[2];
  KtvmRun r;
  if (::pipe(out) != 0) return r;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::close(out[0]);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(kKtvm, argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  bool signalled = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (absl::Now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) < 0) break;
    if (p.revents != 0) {
      char buf[4096];
      const ssize_t n = ::read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      r.output.append(buf, n);
    }
    if (send_sigterm && !signalled &&
        absl::StrContains(r.output, "KTVM test-action action=spin")) {
      ::kill(pid, SIGTERM);
      signalled = true;
    }
  }
  ::close(out[0]);
  if (absl::Now() >= deadline) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

void ExpectRegistersOnlyReport(const report::FailureDumpReport& report) {
  EXPECT_EQ(report.header().backend(), report::BACKEND_KVM);
  EXPECT_EQ(report.header().vcpu_count(), 2u);
  ASSERT_EQ(report.vcpus_size(), 2);
  for (int i = 0; i < report.vcpus_size(); ++i) {
    const report::VcpuState& v = report.vcpus(i);
    EXPECT_EQ(v.index(), static_cast<uint32_t>(i));
    EXPECT_TRUE(v.parked()) << "vCPU " << i;
    ASSERT_TRUE(v.has_x86_64());
    // Both vCPUs spin in the guest's own code, in long mode.
    EXPECT_GE(v.x86_64().rip(), kGuestCodeStart) << "vCPU " << i;
    EXPECT_LT(v.x86_64().rip(), kGuestCodeEnd) << "vCPU " << i;
    EXPECT_TRUE(v.x86_64().efer() & (1u << 10)) << "vCPU " << i;
    EXPECT_EQ(v.x86_64().apic_id(), static_cast<uint32_t>(i));
  }
  bool kernel_diagnostic = false;
  for (const report::Diagnostic& d : report.diagnostics()) {
    if (d.subject() == "kernel") {
      kernel_diagnostic = true;
      EXPECT_TRUE(absl::StrContains(d.reason(), "no vmlinux BTF"))
          << d.reason();
    }
  }
  EXPECT_TRUE(kernel_diagnostic) << report.DebugString();
  EXPECT_TRUE(absl::StrContains(report.console_tail(), "2 of 2 vCPUs up"))
      << report.console_tail();
}

class KtvmKvmDumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "NOT RUN: no accessible /dev/kvm";
    }
    const char* dir = std::getenv("TEST_TMPDIR");
    dir_ = dir != nullptr ? dir : "/tmp";
  }
  std::string dir_;
};

TEST_F(KtvmKvmDumpTest, TimeoutWritesARegistersReport) {
  const std::string path = dir_ + "/timeout.ktvm-dump";
  const KtvmRun r = RunSpinningGuest(path, "2s", /*send_sigterm=*/false);
  EXPECT_EQ(r.code, kExitTimeout) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "dumps hold registers only"))
      << r.output;
  absl::StatusOr<report::FailureDumpReport> report = dump::ReadReport(path);
  ASSERT_TRUE(report.ok()) << report.status() << "\n" << r.output;
  EXPECT_EQ(report->trigger().kind(), report::TRIGGER_KIND_TIMEOUT);
  EXPECT_TRUE(absl::StrContains(report->trigger().summary(), "--timeout 2s"))
      << report->trigger().summary();
  ExpectRegistersOnlyReport(*report);
  // --json writes the same report as proto3 JSON.
  absl::StatusOr<report::FailureDumpReport> json =
      dump::ReadReport(path + ".json");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->vcpus_size(), 2);
  EXPECT_EQ(json->trigger().kind(), report::TRIGGER_KIND_TIMEOUT);
}

TEST_F(KtvmKvmDumpTest, SigtermWritesAManualReport) {
  const std::string path = dir_ + "/sigterm.ktvm-dump";
  const KtvmRun r = RunSpinningGuest(path, "100s", /*send_sigterm=*/true);
  EXPECT_EQ(r.code, 128 + SIGTERM) << r.output;
  absl::StatusOr<report::FailureDumpReport> report = dump::ReadReport(path);
  ASSERT_TRUE(report.ok()) << report.status() << "\n" << r.output;
  EXPECT_EQ(report->trigger().kind(), report::TRIGGER_KIND_MANUAL);
  EXPECT_TRUE(absl::StrContains(report->trigger().summary(),
                                absl::StrCat("signal ", SIGTERM)))
      << report->trigger().summary();
  ExpectRegistersOnlyReport(*report);
}

// Two VMs given the same --dump path time out at the same moment: both
// reports survive intact (the later one next to the first, under the name
// ktvm prints), and a stale report from an earlier run is replaced, not
// kept. No temporary file is left behind.
TEST_F(KtvmKvmDumpTest, TwoVmsDumpingToOnePathKeepBothReports) {
  const std::string dir = dir_ + "/shared";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/shared.ktvm-dump";
  std::ofstream(path) << "report of an earlier run";
  const timespec old[2] = {{1, 0}, {1, 0}};  // 1970: long before both runs
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), old, 0), 0);

  KtvmRun runs[2];
  std::thread first([&] { runs[0] = RunSpinningGuest(path, "2s", false); });
  runs[1] = RunSpinningGuest(path, "2s", false);
  first.join();

  std::vector<std::string> printed;
  for (const KtvmRun& r : runs) {
    EXPECT_EQ(r.code, kExitTimeout) << r.output;
    printed.push_back(PrintedReportPath(r.output));
    ASSERT_FALSE(printed.back().empty()) << r.output;
    EXPECT_TRUE(absl::StartsWith(printed.back(), dir + "/shared-") ||
                printed.back() == path)
        << printed.back();
  }
  EXPECT_NE(printed[0], printed[1]);
  EXPECT_TRUE(printed[0] == path || printed[1] == path)
      << printed[0] << " " << printed[1];
  for (const std::string& p : printed) {
    absl::StatusOr<report::FailureDumpReport> report = dump::ReadReport(p);
    ASSERT_TRUE(report.ok()) << p << ": " << report.status();
    EXPECT_EQ(report->trigger().kind(), report::TRIGGER_KIND_TIMEOUT);
    ExpectRegistersOnlyReport(*report);
    absl::StatusOr<report::FailureDumpReport> json =
        dump::ReadReport(p + ".json");
    ASSERT_TRUE(json.ok()) << p << ".json: " << json.status();
    EXPECT_EQ(json->header().wall_time_unix_ns(),
              report->header().wall_time_unix_ns());
  }
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
    ++files;
  }
  EXPECT_EQ(files, 4);  // two reports, each with its JSON twin
}

}  // namespace
}  // namespace ktvm::vmm
