#include "memory/ram_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace ktvm::memory {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

std::string TempPath(const std::string& name) {
  const char* d = std::getenv("TEST_TMPDIR");
  return std::string(d ? d : "/tmp") + "/" + name;
}

TEST(QemuPcRamLayoutTest, SplitsAtThreeGiBFromThreeAndAHalf) {
  EXPECT_EQ(QemuPcRamLayout(512 << 20).size(), 1u);
  EXPECT_EQ(QemuPcRamLayout(3 * kGiB + kGiB / 2 - 4096).size(), 1u);
  const auto r = QemuPcRamLayout(6 * kGiB);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].size, 3 * kGiB);
  EXPECT_EQ(r[1].guest_phys, 4 * kGiB);
  EXPECT_EQ(r[1].file_offset, 3 * kGiB);
  EXPECT_EQ(r[1].size, 3 * kGiB);
}

class RamFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TempPath("ram_file_test.bin");
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    close(fd_);
    unlink(path_.c_str());
  }
  std::string path_;
  int fd_ = -1;
};

TEST_F(RamFileTest, HighRamComesFromItsFileOffsetAndLiveWritesShow) {
  ASSERT_EQ(ftruncate(fd_, 4 * kGiB), 0);  // Sparse.
  const uint64_t high = 0x1122334455667788;
  ASSERT_EQ(pwrite(fd_, &high, 8, 3 * kGiB + 8), 8);
  absl::StatusOr<GuestMemory> m = OpenRamFile(path_, QemuPcRamLayout(4 * kGiB));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m->ReadU64(4 * kGiB + 8), high);
  EXPECT_EQ(m->ReadU64(3 * kGiB + 8).status().code(),
            absl::StatusCode::kOutOfRange);
  const uint64_t later = 42;
  ASSERT_EQ(pwrite(fd_, &later, 8, 0x1000), 8);
  EXPECT_EQ(*m->ReadU64(0x1000), later);
  // The view keeps the mapping alive on its own.
  GuestMemory copy = *m;
  m = absl::UnknownError("dropped");
  EXPECT_EQ(*copy.ReadU64(0x1000), later);
}

TEST_F(RamFileTest, ShortFileAndBadLayoutsAreErrors) {
  ASSERT_EQ(ftruncate(fd_, 1 << 20), 0);
  absl::StatusOr<GuestMemory> m = OpenRamFile(path_, QemuPcRamLayout(2 << 20));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
  m = OpenRamFile(path_, {});
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  m = OpenRamFile(path_, {{0, ~0ULL - 10, 100}});
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  // Two regions at the same guest address.
  m = OpenRamFile(path_, {{0, 0, 4096}, {0, 4096, 4096}});
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenRamFile(TempPath("missing.bin"), QemuPcRamLayout(4096))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ktvm::memory
