// Runs the ktvm binary itself: bad input gets a one-line reason and the
// documented exit code (exit_codes.h); good input boots the test guest.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "vmm/exit_codes.h"
#include "vmm/ktvm_process.h"

namespace ktvm::vmm {
namespace {

using testing::kTestGuest;
using testing::KtvmResult;
using testing::RunKtvm;
using testing::RunKtvmCommand;
using testing::WriteTempFile;

constexpr char kDebianKernel[] = "external/kernel/bzImage";
constexpr char kMainSource[] = "vmm/main.cc";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ExpectFailure(const KtvmResult& r, int code, const std::string& reason) {
  EXPECT_EQ(r.code, code) << r.output;
  EXPECT_EQ(r.error_lines, 1) << "the contract is one error line\n" << r.output;
  EXPECT_TRUE(absl::StrContains(r.error_line, reason))
      << "expected '" << reason << "' in: " << r.error_line << "\n"
      << r.output;
}

TEST(KtvmCliTest, MissingKernelFile) {
  ExpectFailure(RunKtvm("--kernel /nonexistent/bzImage"), kExitUsage,
                "no such file");
}

TEST(KtvmCliTest, NotABzImage) {
  const std::string path = WriteTempFile("text", std::string(4096, 'a'));
  ExpectFailure(RunKtvm("--kernel " + path), kExitUsage, "not a bzImage");
}

TEST(KtvmCliTest, TruncatedBzImage) {
  std::string image = ReadFile(kTestGuest);
  ASSERT_GT(image.size(), 2048u);
  image.resize(image.size() - 100);
  const std::string path = WriteTempFile("truncated", image);
  ExpectFailure(RunKtvm("--kernel " + path), kExitUsage, "truncated");
}

TEST(KtvmCliTest, ProtocolTooOld) {
  std::string image = ReadFile(kTestGuest);
  image[0x206] = 0x0b;  // 2.11
  const std::string path = WriteTempFile("old_protocol", image);
  ExpectFailure(RunKtvm("--kernel " + path), kExitUsage,
                "boot protocol 2.11 is too old");
}

TEST(KtvmCliTest, KernelTooLargeForMemory) {
  ExpectFailure(
      RunKtvm(absl::StrCat("--kernel ", kDebianKernel, " --memory 32M")),
      kExitUsage, "raise --memory");
}

TEST(KtvmCliTest, InitramfsTooLargeForMemory) {
  // NUL padding, which the kernel skips: a valid (empty) initramfs.
  const std::string initrd =
      WriteTempFile("big_initrd", std::string(40 << 20, 0));
  ExpectFailure(
      RunKtvm(absl::StrCat("--kernel ", kTestGuest, " --initramfs ", initrd,
                           " --memory 48M")),
      kExitUsage,
      absl::StrCat("--kernel ", kTestGuest, ": initramfs of ", 40 << 20,
                   " bytes does not fit between the "
                   "kernel's end"));
}

TEST(KtvmCliTest, ZeroCpus) {
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kTestGuest, " --cpus 0")),
                kExitUsage, "--cpus 0: need at least 1 vCPU");
}

TEST(KtvmCliTest, CpusAboveKvmLimit) {
  if (access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "NOT RUN: no KVM";
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kTestGuest,
                                     " --accel=kvm --cpus 100000")),
                kExitUsage, "exceeds the limit");
}

TEST(KtvmCliTest, MemoryTooSmall) {
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kTestGuest, " --memory 8M")),
                kExitUsage, "--memory 8M is below the minimum of 32 MiB");
  ExpectFailure(
      RunKtvm(absl::StrCat("--kernel ", kTestGuest, " --memory lots")),
      kExitUsage, "--memory lots is not a size like 512M or 2G");
}

TEST(KtvmCliTest, NoKvmDevice) {
  ExpectFailure(
      RunKtvm(absl::StrCat("--kernel ", kTestGuest,
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
  std::ofstream(binary, std::ios::binary) << ReadFile(testing::kKtvmBinary);
  std::ofstream(guest, std::ios::binary) << ReadFile(kTestGuest);
  ASSERT_EQ(chmod(dir, 0755), 0);
  ASSERT_EQ(chmod(binary.c_str(), 0755), 0);
  ASSERT_EQ(chmod(guest.c_str(), 0644), 0);
  const KtvmResult r = RunKtvmCommand(
      absl::StrCat("setpriv --reuid=65534 --regid=65534 --clear-groups ",
                   binary),
      absl::StrCat("--kernel ", guest, " --accel=kvm"));
  unlink(binary.c_str());
  unlink(guest.c_str());
  rmdir(dir);
  ExpectFailure(r, kExitEnvironment, "Permission denied");
}

TEST(KtvmCliTest, BadFlags) {
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kTestGuest, " --accel=xen")),
                kExitUsage, "--accel xen: expected auto, kvm or tcg");
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kTestGuest, " stray")),
                kExitUsage, "unexpected argument 'stray'");
}

// The flag list comes from main.cc's ABSL_FLAG definitions, so a new flag
// without help text fails here.
TEST(KtvmCliTest, HelpExplainsEveryFlag) {
  const std::string source = ReadFile(kMainSource);
  std::set<std::string> flags;
  for (size_t at = source.find("\nABSL_FLAG("); at != std::string::npos;
       at = source.find("\nABSL_FLAG(", at + 1)) {
    // ABSL_FLAG(type, name, default, help): the name follows the first
    // top-level comma (types like std::vector<std::string> have none).
    const size_t comma = source.find(',', at);
    const size_t end = source.find(',', comma + 1);
    ASSERT_NE(end, std::string::npos);
    std::string name = source.substr(comma + 1, end - comma - 1);
    name.erase(0, name.find_first_not_of(" \n"));
    flags.insert(name);
  }
  // A floor, so a broken extraction cannot pass with an empty list.
  for (const char* known :
       {"kernel", "include", "guest_init", "watchdog", "resume_after_dump",
        "print_stats", "kvm_device", "ap_start"}) {
    EXPECT_EQ(flags.count(known), 1u) << known << " not found in main.cc";
  }
  const KtvmResult r = RunKtvm("--help");
  EXPECT_EQ(r.code, 0) << r.output;
  for (const std::string& flag : flags) {
    // Abseil prints "--name (help text); default: ..."; an empty help text
    // would leave "--name ();".
    EXPECT_TRUE(absl::StrContains(r.output, absl::StrCat("--", flag, " (")))
        << "--" << flag << " not explained in:\n"
        << r.output;
    EXPECT_FALSE(absl::StrContains(r.output, absl::StrCat("--", flag, " ();")))
        << "--" << flag << " has an empty help text";
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
  const KtvmResult r = RunKtvm(absl::StrCat("--kernel ", kTestGuest));
  EXPECT_EQ(r.code, kExitOk) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "hello from vCPU 0")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "ktvm: guest: KTVM test-done"))
      << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "guest ended: i8042-reset"))
      << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "calibration loop")) << r.output;
}

TEST_F(KtvmCliBootTest, GuestCrashIsAWorkloadFailure) {
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kTestGuest,
                                     " --cmdline ktvm_test=triple_fault")),
                kExitWorkloadFailed, "triple");
}

TEST_F(KtvmCliBootTest, Timeout) {
  ExpectFailure(RunKtvm(absl::StrCat("--kernel ", kTestGuest,
                                     " --cmdline ktvm_test=spin --timeout 1s")),
                kExitTimeout, "still running after 1s");
}

// Where KVM only emulates, auto must not pick it for a real kernel: it
// falls back to QEMU TCG, which boots the kernel; with no initramfs the
// kernel panics (no root), which ktvm reports as a crashed guest.
TEST_F(KtvmCliBootTest, AutoPicksTcgForARealKernelWhereKvmEmulates) {
  const KtvmResult r = RunKtvm(
      absl::StrCat("--kernel ", kDebianKernel, " --accel=auto --timeout 120s"));
  if (absl::StrContains(r.output, "instructions/s (hardware virtualisation)")) {
    GTEST_SKIP() << "NOT RUN: KVM runs at hardware speed here";
  }
  EXPECT_TRUE(absl::StrContains(r.output, "emulation only")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "accel: tcg (KVM here only emulates"))
      << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "under QEMU TCG")) << r.output;
  ExpectFailure(r, kExitWorkloadFailed,
                "guest crashed: stopped after the dump: ");
  // Memory says "kernel panic on CPU 0"; when the panic comes before the
  // kernel view is ready (slow sanitizer builds) the console says "Kernel
  // panic - not syncing". Either is the right reason.
  EXPECT_TRUE(
      absl::StrContains(absl::AsciiStrToLower(r.error_line), "kernel panic"))
      << r.error_line;
}

// Under auto the accelerator is known only after the probe; when it is QEMU
// TCG (KVM here only emulates, or no KVM), the backend's limit is still a
// usage error with the limit named, before QEMU starts.
TEST(KtvmCliAutoTest, AutoOnTcgRefusesTooManyCpus) {
  const KtvmResult r = RunKtvm(absl::StrCat(
      "--kernel ", kDebianKernel, " --accel=auto --cpus 300 --timeout 5s"));
  if (absl::StrContains(r.output, "ktvm: accel: kvm")) {
    GTEST_SKIP() << "NOT RUN: auto picked KVM here (hardware speed)";
  }
  ExpectFailure(r, kExitUsage,
                "QEMU TCG backend: --cpus 300: QEMU TCG runs 1..255 vCPUs");
  EXPECT_FALSE(absl::StrContains(r.output, "ktvm: booting")) << r.output;
}

// The whole path with a real scheduler (QEMU TCG here, KVM where native):
// ktvm_fifo in stall mode starves a task named ktvm_stall, the kernel's
// watchdog disables the scheduler, and ktvm exits with code 3.
TEST(KtvmCliSchedulerTest, StalledSchedulerIsExitCode3) {
  const KtvmResult r = RunKtvm(
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
