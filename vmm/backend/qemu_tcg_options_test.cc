// Option validation of the QEMU backend (no QEMU is started here; the
// end-to-end tests in tests/e2e boot real kernels).
#include <fstream>

#include "gtest/gtest.h"
#include "vmm/backend/qemu_tcg.h"

namespace ktvm::backend {
namespace {

std::string MakeFile(const std::string& name) {
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/" + name;
  std::ofstream(path) << "x";
  return path;
}

TEST(QemuTcgOptionsTest, RejectsBadOptionsWithReasons) {
  QemuTcgOptions o;
  o.kernel = "/nonexistent/bzImage";
  auto b = QemuTcgBackend::Create(o);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("/nonexistent/bzImage"),
            std::string::npos);

  o.kernel = MakeFile("kernel");
  o.initrd = "/nonexistent/initrd";
  EXPECT_FALSE(QemuTcgBackend::Create(o).ok());
  o.initrd = "";

  o.cpus = 0;
  b = QemuTcgBackend::Create(o);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("--cpus 0"), std::string::npos);
  o.cpus = 2;

  o.memory_mib = 16;
  EXPECT_FALSE(QemuTcgBackend::Create(o).ok());
  o.memory_mib = 256;

  o.qemu_binary = "no-such-qemu-binary";
  b = QemuTcgBackend::Create(o);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("no-such-qemu-binary"),
            std::string::npos);
}

TEST(QemuTcgOptionsTest, QemuThatFailsToStartGivesItsLog) {
  QemuTcgOptions o;
  o.kernel = MakeFile("not-a-kernel");
  o.memory_mib = 64;
  o.start_timeout = absl::Seconds(20);
  auto b = QemuTcgBackend::Create(o);
  ASSERT_TRUE(b.ok()) << b.status();
  // QEMU accepts the file at start-up and only fails when loading it, so
  // Start() either fails with QEMU's message or the guest ends at once.
  absl::Status s = (*b)->Start({});
  if (s.ok()) {
    auto exit = (*b)->WaitForExit(absl::Seconds(30));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(exit->reason, GuestExit::Reason::kCrashed) << exit->detail;
  } else {
    EXPECT_NE(s.message().find("QEMU"), std::string::npos) << s;
  }
}

TEST(QemuTcgOptionsTest, FreezeBeforeStartIsAnError) {
  QemuTcgOptions o;
  o.kernel = MakeFile("kernel2");
  auto b = QemuTcgBackend::Create(o);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE((*b)->Freeze().ok());
  EXPECT_FALSE((*b)->ReadRegisters().ok());
  EXPECT_FALSE((*b)->WaitForExit(absl::Milliseconds(1)).ok());
  EXPECT_TRUE((*b)->Stop().ok());
}

TEST(QemuTcgOptionsTest, LimitsNameTheFlagAndTheBound) {
  EXPECT_TRUE(ValidateQemuTcgLimits(1, 64ULL << 20).ok());
  EXPECT_TRUE(ValidateQemuTcgLimits(255, 1ULL << 40).ok());
  absl::Status s = ValidateQemuTcgLimits(256, 512ULL << 20);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("--cpus 256: QEMU TCG runs 1..255 vCPUs"),
            std::string::npos)
      << s;
  EXPECT_FALSE(ValidateQemuTcgLimits(0, 512ULL << 20).ok());
  s = ValidateQemuTcgLimits(1, (64ULL << 20) + 4096);
  EXPECT_NE(s.message().find("QEMU TCG takes whole MiB"), std::string::npos)
      << s;
  s = ValidateQemuTcgLimits(1, 63ULL << 20);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("--memory 63 MiB: QEMU TCG guests take 64 MiB"),
            std::string::npos)
      << s;
  EXPECT_FALSE(ValidateQemuTcgLimits(1, (1ULL << 40) + (1ULL << 20)).ok());
}

}  // namespace
}  // namespace ktvm::backend
