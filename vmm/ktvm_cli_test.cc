// Runs the ktvm binary itself: bad input gets a one-line reason and the
// documented exit code (exit_codes.h); good input boots the test guest.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "vmm/exit_codes.h"

namespace ktvm::vmm {
namespace {

constexpr char kKtvm[] = "vmm/ktvm";
constexpr char kGuest[] = "tests/test_guest/test_guest.bzImage";
constexpr char kDebianKernel[] = "external/kernel/bzImage";

struct Result {
  int code;
  std::string output;      // stdout + stderr
  std::string error_line;  // the "ktvm: error:" line, if any
};

Result RunKtvm(const std::string& args, const std::string& prefix = "",
               const std::string& binary = kKtvm) {
  const std::string cmd =
      absl::StrCat(prefix, binary, " ", args, " 2>&1 </dev/null");
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, "", ""};
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (absl::StartsWith(line, "ktvm: error: ")) {
      EXPECT_TRUE(r.error_line.empty()) << "more than one error line";
      r.error_line = line;
    }
  }
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string WriteTemp(const std::string& name, const std::string& bytes) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

void ExpectFailure(const Result& r, int code, const std::string& reason) {
  EXPECT_EQ(r.code, code) << r.output;
  EXPECT_TRUE(absl::StrContains(r.error_line, reason))
      << "expected '" << reason << "' in: " << r.error_line << "\n"
      << r.output;
}

TEST(KtvmCliTest, MissingKernelFile) {
  ExpectFailure(RunKtvm("--kernel /nonexistent/bzImage"), kExitUsage,
                "no such file");
}

TEST(KtvmCliTest, NotABzImage) {
  const std::string path = WriteTemp("text", std::string(4096, 'a'));
  ExpectFailure(RunKtvm("--kernel " + path), kExitUsage, "not a bzImage");
}

TEST(KtvmCliTest, TruncatedBzImage) {
  std::string image = ReadFile(kGuest);
  ASSERT_GT(image.size(), 2048u);
  image.resize(image.size() - 100);
  const std::string path = WriteTemp("truncated", image);
  ExpectFailure(RunKtvm("--kernel " + path), kExitUsage, "truncated");
}

TEST(KtvmCliTest, ProtocolTooOld) {
  std::string image = ReadFile(kGuest);
  image[0x206] = 0x0b;  // 2.11
  const std::string path = WriteTemp("old_protocol", image);
  ExpectFailure(RunKtvm("--kernel " + path), kExitUsage,
                "boot protocol 2.11 is too old");
}

TEST(KtvmCliTest, KernelTooLargeForMemory) {
  ExpectFailure(
      RunKtvm(absl::StrCat("--kernel ", kDebianKernel, " --memory 32M")),
      kExitUsage, "raise --memory");
}

TEST(KtvmCliTest, InitramfsTooLargeForMemory) {
  const std::string initrd = WriteTemp("big_initrd", std::string(40 << 20, 0));
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kGuest, " --initramfs ",
                                     initrd, " --memory 48M")),
                kExitUsage, "initramfs");
}

TEST(KtvmCliTest, ZeroCpus) {
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kGuest, " --cpus 0")),
                kExitUsage, "--cpus 0");
}

TEST(KtvmCliTest, CpusAboveKvmLimit) {
  if (access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "NOT RUN: no KVM";
  ExpectFailure(
      RunKtvm(absl::StrCat("--kernel ", kGuest, " --accel=kvm --cpus 100000")),
      kExitUsage, "exceeds the limit");
}

TEST(KtvmCliTest, MemoryTooSmall) {
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kGuest, " --memory 8M")),
                kExitUsage, "below the minimum");
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kGuest, " --memory lots")),
                kExitUsage, "not a size");
}

TEST(KtvmCliTest, NoKvmDevice) {
  ExpectFailure(
      RunKtvm(absl::StrCat("--kernel ", kGuest,
                           " --accel=kvm --kvm_device /nonexistent/kvm")),
      kExitEnvironment, "cannot open /nonexistent/kvm");
}

TEST(KtvmCliTest, NoKvmPermission) {
  // Drop to an unprivileged user; /dev/kvm is root-only on these hosts.
  if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0) {
    GTEST_SKIP() << "NOT RUN: needs root and setpriv to drop privileges";
  }
  // The runfiles live under root's home; give nobody its own copies.
  char dir[] = "/tmp/ktvm_cli_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string binary = absl::StrCat(dir, "/ktvm");
  const std::string guest = absl::StrCat(dir, "/guest.bzImage");
  std::ofstream(binary, std::ios::binary) << ReadFile(kKtvm);
  std::ofstream(guest, std::ios::binary) << ReadFile(kGuest);
  ASSERT_EQ(chmod(dir, 0755), 0);
  ASSERT_EQ(chmod(binary.c_str(), 0755), 0);
  ASSERT_EQ(chmod(guest.c_str(), 0644), 0);
  const Result r = RunKtvm(absl::StrCat("--kernel ", guest, " --accel=kvm"),
                           "setpriv --reuid=65534 --regid=65534 "
                           "--clear-groups ",
                           binary);
  unlink(binary.c_str());
  unlink(guest.c_str());
  rmdir(dir);
  ExpectFailure(r, kExitEnvironment, "Permission denied");
}

TEST(KtvmCliTest, BadFlags) {
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kGuest, " --accel=xen")),
                kExitUsage, "--accel xen");
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kGuest, " stray")),
                kExitUsage, "unexpected argument");
}

TEST(KtvmCliTest, HelpExplainsEveryFlag) {
  const Result r = RunKtvm("--help");
  for (const char* flag :
       {"--kernel", "--initramfs", "--scheduler", "--sched_args", "--run",
        "--include", "--cpus", "--memory", "--cmdline", "--timeout", "--accel",
        "--dump", "--json"}) {
    EXPECT_TRUE(absl::StrContains(r.output, std::string(flag) + " ("))
        << flag << " not explained in:\n"
        << r.output;
  }
  EXPECT_TRUE(absl::StrContains(r.output, "Exit codes"));
}

class KtvmCliBootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "NOT RUN: no accessible /dev/kvm";
    }
  }
};

TEST_F(KtvmCliBootTest, BootsTheTestGuest) {
  const Result r = RunKtvm(absl::StrCat("--kernel ", kGuest));
  EXPECT_EQ(r.code, kExitOk) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "hello from vCPU 0")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "ktvm: guest: KTVM test-done"))
      << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "guest ended: i8042-reset"))
      << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "calibration loop")) << r.output;
}

TEST_F(KtvmCliBootTest, GuestCrashIsAWorkloadFailure) {
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kGuest,
                                     " --cmdline ktvm_test=triple_fault")),
                kExitWorkloadFailed, "triple");
}

TEST_F(KtvmCliBootTest, Timeout) {
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kGuest,
                                     " --cmdline ktvm_test=spin --timeout 1s")),
                kExitTimeout, "still running after 1s");
}

// Where KVM only emulates, auto must not pick it for a real kernel: it
// falls back to QEMU TCG, which boots the kernel; with no initramfs the
// kernel panics (no root), which ktvm reports as a crashed guest.
TEST_F(KtvmCliBootTest, AutoPicksTcgForARealKernelWhereKvmEmulates) {
  const Result r = RunKtvm(
      absl::StrCat("--kernel ", kDebianKernel, " --accel=auto --timeout 120s"));
  if (absl::StrContains(r.output, "instructions/s (hardware virtualisation)")) {
    GTEST_SKIP() << "NOT RUN: KVM runs at hardware speed here";
  }
  EXPECT_TRUE(absl::StrContains(r.output, "emulation only")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "accel: tcg (KVM here only emulates"))
      << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "under QEMU TCG")) << r.output;
  ExpectFailure(r, kExitWorkloadFailed, "kernel panic");
}

// The whole path with a real scheduler (QEMU TCG here, KVM where native):
// ktvm_fifo in stall mode starves a task named ktvm_stall, the kernel's
// watchdog disables the scheduler, and ktvm exits with code 3.
TEST(KtvmCliSchedulerTest, StalledSchedulerIsExitCode3) {
  const Result r = RunKtvm(
      absl::StrCat("--kernel ", kDebianKernel,
                   " --scheduler tests/schedulers/ktvm_fifo"
                   " --sched_args '--mode=stall --timeout_ms=5000'"
                   " --run '/ktvm/scheduler --spin_ms=9000 --comm=ktvm_stall'"
                   " --cpus 2 --timeout 240s"));
  ExpectFailure(r, kExitSchedulerFailed, "runnable task stall");
  EXPECT_TRUE(absl::StrContains(r.output, "KTVM scheduler-enabled"))
      << r.output;
}

}  // namespace
}  // namespace ktvm::vmm
