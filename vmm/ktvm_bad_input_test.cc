// The bad-input matrix of README.md ("Bad input") beyond ktvm_cli_test's
// rows: each bad flag value or file gives exactly one "ktvm: error:" line
// with the reason and the documented exit code (exit_codes.h).
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

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
using testing::WriteTempFile;

constexpr char kScheduler[] = "tests/schedulers/ktvm_fifo";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ExpectRejected(const std::string& args, int code,
                    const std::string& reason) {
  const KtvmResult r = RunKtvm(args);
  EXPECT_EQ(r.code, code) << args << "\n" << r.output;
  EXPECT_EQ(r.error_lines, 1) << args << "\n" << r.output;
  EXPECT_TRUE(absl::StrContains(r.error_line, reason))
      << "expected '" << reason << "' in: " << r.error_line << "\n"
      << r.output;
  // Rejected before any guest ran.
  EXPECT_FALSE(absl::StrContains(r.output, "ktvm: booting")) << r.output;
}

std::string WithGuest(const std::string& args) {
  return absl::StrCat("--kernel ", kTestGuest, " ", args);
}

TEST(KtvmBadInputTest, KernelIsADirectory) {
  ExpectRejected("--kernel /", kExitUsage, "--kernel /: not a regular file");
}

// An ELF --kernel is booted through its Xen PVH note: an ELF without one
// (any ordinary program) and one cut inside its headers.
TEST(KtvmBadInputTest, ElfKernelWithoutPvhOrTruncated) {
  ExpectRejected("--accel=kvm --kernel /bin/true", kExitUsage,
                 "--kernel /bin/true: ELF has no Xen PVH entry note "
                 "(XEN_ELFNOTE_PHYS32_ENTRY)");
  const std::string elf = Slurp("/bin/true");
  ASSERT_GT(elf.size(), 100u);
  const std::string cut = WriteTempFile("elf-kernel", elf.substr(0, 100));
  ExpectRejected(absl::StrCat("--accel=kvm --kernel ", cut), kExitUsage,
                 "ELF program headers lie outside the file");
}

TEST(KtvmBadInputTest, MissingOrUnusableInitramfs) {
  ExpectRejected(WithGuest("--initramfs /nonexistent/initrd"), kExitUsage,
                 "no such file");
  ExpectRejected(WithGuest("--initramfs /"), kExitUsage, "not a regular file");
  const std::string initrd = WriteTempFile("initrd", "070701");
  ExpectRejected(WithGuest(absl::StrCat("--initramfs ", initrd, " --run true")),
                 kExitUsage, "cannot be combined");
}

TEST(KtvmBadInputTest, MissingOrCorruptScheduler) {
  ExpectRejected(WithGuest("--scheduler /nonexistent/sched"), kExitUsage,
                 "does not exist");
  ExpectRejected(WithGuest(absl::StrCat(
                     "--scheduler ", WriteTempFile("script", "#!/bin/sh\n"))),
                 kExitUsage, "is not an ELF file");
  const std::string elf = Slurp(kScheduler);
  ASSERT_GT(elf.size(), 4096u);
  for (size_t keep : {size_t{100}, elf.size() / 2, elf.size() - 1}) {
    const std::string cut =
        WriteTempFile(absl::StrCat("sched_cut_", keep), elf.substr(0, keep));
    ExpectRejected(WithGuest(absl::StrCat("--scheduler ", cut)), kExitUsage,
                   "is truncated");
  }
}

TEST(KtvmBadInputTest, BadIncludes) {
  ExpectRejected(WithGuest("--include /nonexistent/file:/x"), kExitUsage,
                 "does not exist");
  ExpectRejected(WithGuest("--include nocolon"), kExitUsage, "not of the form");
  ExpectRejected(
      WithGuest("--include /etc/hostname:relative"), kExitUsage,
      "--include \"/etc/hostname:relative\": guest path \"relative\" "
      "is not absolute");
}

// ktvm's own files and an earlier --include are not overwritten.
TEST(KtvmBadInputTest, IncludeOntoAPathAlreadyInTheInitramfs) {
  for (const char* guest_path : {"/init", "/ktvm/config", "/dev/console"}) {
    ExpectRejected(WithGuest(absl::StrCat("--run true --include /etc/hostname:",
                                          guest_path)),
                   kExitUsage,
                   absl::StrCat("--include /etc/hostname:", guest_path, ": ",
                                guest_path, " is already in the initramfs"));
  }
  // Repeated and comma-separated --include both accumulate.
  ExpectRejected(WithGuest("--run true --include /etc/hostname:/x "
                           "--include=/etc/hosts:/x"),
                 kExitUsage, "--include /etc/hosts:/x: /x is already in");
  ExpectRejected(WithGuest("--run true --include /etc/hostname:/x,"
                           "/etc/hosts:/x"),
                 kExitUsage, "--include /etc/hosts:/x: /x is already in");
}

// The init must exist and be a static ELF program the guest can exec.
TEST(KtvmBadInputTest, GuestInitMissingOrNotAProgram) {
  ExpectRejected(WithGuest("--run true --guest_init /nonexistent/init"),
                 kExitUsage,
                 "init \"/nonexistent/init\" does not exist or is not a "
                 "regular file");
  const std::string script = WriteTempFile("init.sh", "#!/bin/sh\nexit 0\n");
  ExpectRejected(WithGuest(absl::StrCat("--run true --guest_init ", script)),
                 kExitUsage,
                 absl::StrCat("init ", script, " is not an ELF file"));
  // The host's /bin/true needs its shared libraries, which the initramfs
  // does not carry for the init.
  ExpectRejected(WithGuest("--run true --guest_init /bin/true"), kExitUsage,
                 "init \"/bin/true\" is dynamically linked");
}

// Readable but not an initramfs: refused instead of a kernel panic later.
TEST(KtvmBadInputTest, CorruptInitramfs) {
  const std::string text = WriteTempFile("not_an_initramfs", "hello world\n");
  ExpectRejected(WithGuest(absl::StrCat("--initramfs ", text)), kExitUsage,
                 absl::StrCat("--initramfs ", text,
                              ": is not a cpio archive or a compressed one "
                              "the kernel can unpack (starts with "
                              "68656c6c6f20776f at byte 0)"));
  const std::string empty = WriteTempFile("empty_initramfs", "");
  ExpectRejected(WithGuest(absl::StrCat("--initramfs ", empty)), kExitUsage,
                 absl::StrCat("--initramfs ", empty, ": is empty"));
}

TEST(KtvmBadInputTest, MemoryNotWholePages) {
  ExpectRejected(WithGuest("--memory 536870913"), kExitUsage,
                 "--memory 536870913: 536870913 bytes is not a multiple of "
                 "4 KiB");
  ExpectRejected(WithGuest("--memory 100001K"), kExitUsage,
                 "102401024 bytes is not a multiple of 4 KiB");
  // Whole pages but not whole MiB: QEMU's -m would round it down.
  ExpectRejected(WithGuest("--accel=tcg --memory 100004K"), kExitUsage,
                 "--memory 102404096 bytes: QEMU TCG takes whole MiB");
}

// A node that is not KVM: an environment error naming it.
TEST(KtvmBadInputTest, KvmDeviceThatIsNotKvm) {
  ExpectRejected(WithGuest("--accel=kvm --kvm_device=/dev/null"),
                 kExitEnvironment,
                 "/dev/null is not a KVM device (KVM_GET_API_VERSION: "
                 "Inappropriate ioctl for device)");
}

// QEMU is looked up on PATH; without it --accel=tcg is an environment error.
TEST(KtvmBadInputTest, TcgWithoutQemu) {
  const KtvmResult r = testing::RunKtvmCommand(
      absl::StrCat("env PATH=/nonexistent ", testing::kKtvmBinary),
      WithGuest("--accel=tcg"));
  EXPECT_EQ(r.code, kExitEnvironment) << r.output;
  EXPECT_EQ(r.error_lines, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(
      r.error_line,
      "QEMU TCG backend: qemu-system-x86_64 not found: install "
      "qemu-system-x86"))
      << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "ktvm: booting")) << r.output;
}

TEST(KtvmBadInputTest, BadNumbersAndChoices) {
  ExpectRejected(WithGuest("--cpus -1"), kExitUsage,
                 "--cpus -1: need at least 1 vCPU");
  ExpectRejected(WithGuest("--memory 0"), kExitUsage,
                 "--memory 0 is not a size like 512M or 2G");
  ExpectRejected(WithGuest("--memory 2000G"), kExitUsage,
                 "--memory 2000G is not a size like 512M or 2G");
  ExpectRejected(WithGuest("--ap_start later"), kExitUsage,
                 "--ap_start later: expected sipi or vmm");
  ExpectRejected(WithGuest(absl::StrCat("--cmdline ", std::string(3000, 'x'))),
                 kExitUsage, "the kernel accepts at most");
}

// KVM's vCPU limit is read from /dev/kvm (KVM_CAP_MAX_VCPUS and friends).
TEST(KtvmBadInputTest, CpusAboveTheKvmLimit) {
  if (access("/dev/kvm", F_OK) != 0) {
    GTEST_SKIP() << "NOT RUN: no /dev/kvm, so no KVM vCPU limit to exceed";
  }
  ExpectRejected(WithGuest("--accel=kvm --cpus 5000"), kExitUsage,
                 "exceeds the limit");
}

// What QEMU TCG cannot take is refused before QEMU starts (no QEMU needed).
TEST(KtvmBadInputTest, OutsideQemuTcgLimits) {
  ExpectRejected(WithGuest("--accel=tcg --cpus 300"), kExitUsage,
                 "--cpus 300: QEMU TCG runs 1..255 vCPUs");
  ExpectRejected(WithGuest("--accel=tcg --memory 40M"), kExitUsage,
                 "--memory 40 MiB: QEMU TCG guests take 64 MiB..1024 GiB");
}

TEST(KtvmBadInputTest, NegativeDurations) {
  ExpectRejected(WithGuest("--timeout -1s"), kExitUsage,
                 "--timeout -1s: must not be negative");
  ExpectRejected(WithGuest("--watchdog -5s"), kExitUsage,
                 "--watchdog -5s: must not be negative");
  ExpectRejected(WithGuest("--testing_report_write_pause=-2s"), kExitUsage,
                 "--testing_report_write_pause -2s: must not be negative (0 "
                 "means no pause)");
  ExpectRejected(WithGuest("--testing_report_write_pause=inf"), kExitUsage,
                 "--testing_report_write_pause inf: must be finite");
}

// Flags ktvm would otherwise drop without a word.
TEST(KtvmBadInputTest, FlagsThatWouldBeIgnored) {
  ExpectRejected(WithGuest("--sched_args=--mode=ok"), kExitUsage,
                 "--sched_args needs --scheduler (they are its arguments)");
  ExpectRejected(WithGuest("--guest_init vmm/guest/init"), kExitUsage,
                 "--guest_init needs --scheduler, --run or --include");
  const std::string initrd = WriteTempFile("initrd-for-init", "070701");
  ExpectRejected(WithGuest(absl::StrCat("--initramfs ", initrd,
                                        " --guest_init vmm/guest/init")),
                 kExitUsage, "--guest_init needs --scheduler");
  // KVM-only flags under QEMU TCG (no QEMU or KVM needed: refused first).
  ExpectRejected(WithGuest("--accel=tcg --ap_start vmm"), kExitUsage,
                 "--ap_start vmm: only under KVM (QEMU TCG starts secondary "
                 "CPUs through the guest's INIT-SIPI), and --accel=tcg");
  ExpectRejected(WithGuest("--accel=tcg --testing_unkickable_vcpus=0"),
                 kExitUsage,
                 "--testing_unkickable_vcpus: only under KVM, and --accel=tcg");
}

TEST(KtvmBadInputTest, UnkickableVcpuIndices) {
  for (const char* bad : {"abc", "-1", "2"}) {
    ExpectRejected(
        WithGuest(absl::StrCat("--cpus 2 --testing_unkickable_vcpus=", bad)),
        kExitUsage,
        absl::StrCat("--testing_unkickable_vcpus ", bad,
                     ": expected a vCPU index below --cpus 2"));
  }
}

// The report is written only when the run fails; a --dump path that cannot
// take it is refused before the guest runs.
TEST(KtvmBadInputTest, UnusableReportPath) {
  ExpectRejected(WithGuest("--dump /nonexistent/dir/r.ktvm-dump"), kExitUsage,
                 "/nonexistent/dir is not an existing directory");
  const std::string file = WriteTempFile("plain_file", "x");
  ExpectRejected(WithGuest(absl::StrCat("--dump ", file, "/r.ktvm-dump")),
                 kExitUsage, "is not an existing directory");
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  ExpectRejected(WithGuest(absl::StrCat("--dump ", dir)), kExitUsage,
                 "is a directory");
  ExpectRejected(WithGuest(absl::StrCat("--dump ", dir, "/")), kExitUsage,
                 "is a directory");
}

// Abseil's parser rejects these itself (its "ERROR: ..." line, not
// ktvm's); vmm/parse_flags.h maps its exit to the usage code, and --help to 0.
TEST(KtvmBadInputTest, MalformedTypedFlagsAndHelp) {
  for (const auto& [args, line] :
       std::vector<std::pair<std::string, std::string>>{
           {"--cpus abc",
            "ERROR: Illegal value 'abc' specified for flag 'cpus'"},
           {"--timeout xyz",
            "ERROR: Illegal value 'xyz' specified for flag 'timeout'"},
           {"--watchdog 5 --run true",
            "ERROR: Illegal value '5' specified for flag 'watchdog'"},
           {"--watchdog=soon",
            "ERROR: Illegal value 'soon' specified for flag 'watchdog'"},
           {"--json=maybe",
            "ERROR: Illegal value 'maybe' specified for flag 'json'"},
           {"--resume_after_dump=2",
            "ERROR: Illegal value '2' specified for flag 'resume_after_dump'"},
           {"--print_stats=perhaps",
            "ERROR: Illegal value 'perhaps' specified for flag 'print_stats'"},
           {"--no_such_flag",
            "ERROR: Unknown command line flag 'no_such_flag'"},
       }) {
    const KtvmResult r = RunKtvm(WithGuest(args));
    EXPECT_EQ(r.code, kExitUsage) << args << "\n" << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, line))
        << args << ": expected '" << line << "' in:\n"
        << r.output;
    EXPECT_FALSE(absl::StrContains(r.output, "ktvm: booting")) << r.output;
  }
  const KtvmResult help = RunKtvm("--help");
  EXPECT_EQ(help.code, 0) << help.output;
  EXPECT_TRUE(absl::StrContains(help.output, "--kernel")) << help.output;
}

TEST(KtvmBadInputTest, MemoryLargerThanTheHost) {
  struct sysinfo info;
  ASSERT_EQ(sysinfo(&info), 0);
  const uint64_t host_gib =
      (uint64_t{info.totalram} + info.totalswap) * info.mem_unit >> 30;
  if (host_gib >= 1000) GTEST_SKIP() << "NOT RUN: host has >= 1000 GiB";
  ExpectRejected(WithGuest("--memory 1000G"), kExitUsage,
                 "exceeds this host's RAM + swap");
}

// Bookworm's own kernel has BTF but no sched_ext: a --scheduler is refused
// from the BTF before anything boots, naming the release and the config.
TEST(KtvmBadInputTest, KernelWithoutSchedExt) {
  const std::string release = std::string(
      absl::StripAsciiWhitespace(Slurp("external/kernel_no_scx/VERSION")));
  ASSERT_FALSE(release.empty());
  const std::string args =
      absl::StrCat("--kernel external/kernel_no_scx/bzImage --scheduler ",
                   kScheduler, " --run true");
  ExpectRejected(args, kExitUsage,
                 absl::StrCat("Linux ", release, " has no sched_ext"));
  ExpectRejected(args, kExitUsage, "CONFIG_SCHED_CLASS_EXT=y");
}

// The test guest has no BTF (and no sched_ext): ktvm cannot check it, warns
// and boots it; the guest ignores the initramfs and ends without the init
// ever reporting, which is a workload failure.
TEST(KtvmBadInputTest, KernelWithoutBtfWarnsAndGoesOn) {
  if (access("/dev/kvm", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "NOT RUN: no accessible /dev/kvm";
  }
  const KtvmResult r = RunKtvm(WithGuest(absl::StrCat(
      "--accel=kvm --scheduler ", kScheduler, " --run true --timeout 60s")));
  EXPECT_TRUE(absl::StrContains(
      r.output, absl::StrCat("ktvm: warning: cannot check --kernel ",
                             kTestGuest, " for sched_ext (no BTF")))
      << r.output;
  EXPECT_EQ(r.code, kExitWorkloadFailed) << r.output;
  EXPECT_EQ(r.error_lines, 1) << r.output;
  EXPECT_TRUE(absl::StrContains(r.error_line,
                                "ended without reporting the workload's exit"))
      << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "scheduler-enabled")) << r.output;
}

}  // namespace
}  // namespace ktvm::vmm
