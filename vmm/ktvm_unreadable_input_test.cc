// Bad-input rows for files ktvm may not read (README "Bad input"): a
// kernel, initramfs, scheduler or --include file with mode 000 gives one
// "cannot be read: Permission denied" line and the usage exit code before
// any guest runs; a --dump directory it may not write likewise. Root reads
// every file, so as root ktvm runs as uid 65534 (setpriv); that needs a
// real uid switch, hence no Bazel sandbox.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "vmm/exit_codes.h"
#include "vmm/ktvm_process.h"

namespace ktvm::vmm {
namespace {

using testing::kKtvmBinary;
using testing::kTestGuest;
using testing::KtvmResult;
using testing::RunKtvmCommand;

constexpr char kScheduler[] = "tests/schedulers/ktvm_fifo";
constexpr char kGuestInit[] = "vmm/guest/init";
constexpr char kReason[] = "cannot be read: Permission denied";

// A world-traversable directory in /tmp holding copies of the binaries (the
// runfiles live under root's home) and the unreadable inputs.
class KtvmUnreadableInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const bool root = geteuid() == 0;
    if (root && ::access("/usr/bin/setpriv", X_OK) != 0) {
      GTEST_SKIP() << "NOT RUN: root needs setpriv to drop privileges";
    }
    char dir[] = "/tmp/ktvm_unreadable_XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    ASSERT_EQ(::chmod(dir, 0755), 0);
    ktvm_ = Copy(kKtvmBinary, "ktvm", 0755);
    init_ = Copy(kGuestInit, "init", 0755);
    guest_ = Copy(kTestGuest, "guest.bzImage", 0644);
    command_ = root ? absl::StrCat(
                          "setpriv --reuid=65534 --regid=65534 "
                          "--clear-groups ",
                          ktvm_)
                    : ktvm_;
    // Proves the uid switch works here before trusting the rows below.
    const KtvmResult help = RunKtvmCommand(command_, "--help");
    if (help.code != 0) {
      GTEST_SKIP() << "NOT RUN: cannot run ktvm as an unprivileged user "
                      "here: "
                   << help.output;
    }
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string Copy(const std::string& from, const std::string& name,
                   mode_t mode) {
    const std::string to = absl::StrCat(dir_, "/", name);
    std::filesystem::copy_file(
        from, to, std::filesystem::copy_options::overwrite_existing);
    ::chmod(to.c_str(), mode);
    return to;
  }

  std::string Unreadable(const std::string& from, const std::string& name) {
    return Copy(from, name, 0);
  }

  void ExpectUnreadable(const std::string& args, const std::string& path) {
    const KtvmResult r = RunKtvmCommand(command_, args);
    EXPECT_EQ(r.code, kExitUsage) << args << "\n" << r.output;
    EXPECT_EQ(r.error_lines, 1) << args << "\n" << r.output;
    EXPECT_TRUE(absl::StrContains(r.error_line, path)) << r.output;
    EXPECT_TRUE(absl::StrContains(r.error_line, kReason)) << r.output;
    EXPECT_FALSE(absl::StrContains(r.output, "ktvm: booting")) << r.output;
  }

  std::string dir_, ktvm_, init_, guest_, command_;
};

TEST_F(KtvmUnreadableInputTest, Kernel) {
  const std::string kernel = Unreadable(kTestGuest, "kernel");
  ExpectUnreadable(absl::StrCat("--accel=kvm --kernel ", kernel), kernel);
}

TEST_F(KtvmUnreadableInputTest, Initramfs) {
  const std::string initramfs = Unreadable(kGuestInit, "initramfs");
  ExpectUnreadable(
      absl::StrCat("--accel=kvm --kernel ", guest_, " --initramfs ", initramfs),
      initramfs);
}

TEST_F(KtvmUnreadableInputTest, Scheduler) {
  const std::string scheduler = Unreadable(kScheduler, "scheduler");
  ExpectUnreadable(
      absl::StrCat("--accel=kvm --kernel ", guest_, " --guest_init ", init_,
                   " --scheduler ", scheduler),
      scheduler);
}

TEST_F(KtvmUnreadableInputTest, GuestInit) {
  const std::string init = Unreadable(kGuestInit, "unreadable-init");
  ExpectUnreadable(absl::StrCat("--accel=kvm --kernel ", guest_,
                                " --guest_init ", init, " --run true"),
                   init);
}

TEST_F(KtvmUnreadableInputTest, IncludedFile) {
  const std::string file = Unreadable(kScheduler, "included");
  ExpectUnreadable(
      absl::StrCat("--accel=kvm --kernel ", guest_, " --guest_init ", init_,
                   " --run true", " --include ", file, ":/bin/included"),
      file);
}

// A --dump directory the user may not write (root's, mode 0755): refused
// before the guest runs, since the report would be lost at the very end.
TEST_F(KtvmUnreadableInputTest, ReportDirectoryNotWritable) {
  const std::string dir = absl::StrCat(dir_, "/reports");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  if (geteuid() != 0) ASSERT_EQ(::chmod(dir.c_str(), 0555), 0);
  const std::string report = absl::StrCat(dir, "/r.ktvm-dump");
  const KtvmResult r = RunKtvmCommand(
      command_,
      absl::StrCat("--accel=kvm --kernel ", guest_, " --dump ", report));
  EXPECT_EQ(r.code, kExitUsage) << r.output;
  EXPECT_EQ(r.error_lines, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(
      r.error_line, absl::StrCat("--dump ", report, ": directory ", dir,
                                 " is not writable: Permission denied")))
      << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "ktvm: booting")) << r.output;
}

}  // namespace
}  // namespace ktvm::vmm
