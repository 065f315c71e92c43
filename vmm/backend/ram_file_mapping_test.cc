#include "vmm/backend/ram_file_mapping.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ktvm::backend {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(PcMachineRamLayoutTest, SmallRamIsOneRegion) {
  auto r = PcMachineRamLayout(512 << 20);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].gpa, 0u);
  EXPECT_EQ(r[0].size, 512u << 20);
  EXPECT_EQ(PcMachineRamLayout(3 * kGiB).size(), 1u);
}

TEST(PcMachineRamLayoutTest, LargeRamSplitsAtThreeGiB) {
  auto r = PcMachineRamLayout(4 * kGiB);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].size, 3 * kGiB);
  EXPECT_EQ(r[1].gpa, 4 * kGiB);
  EXPECT_EQ(r[1].file_offset, 3 * kGiB);
  EXPECT_EQ(r[1].size, kGiB);
}

TEST(RamFileMappingTest, ReadsThroughTheFile) {
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR")
                                             : "/tmp") +
      "/ram_file_mapping_test.bin";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> data(1 << 20);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<uint8_t>(i * 7);
  ASSERT_EQ(write(fd, data.data(), data.size()),
            static_cast<ssize_t>(data.size()));
  auto ram = RamFileMapping::Map(path, data.size());
  ASSERT_TRUE(ram.ok()) << ram.status();
  uint8_t out[16];
  ASSERT_TRUE((*ram)->Read(0x1234, absl::MakeSpan(out)).ok());
  for (int i = 0; i < 16; ++i) EXPECT_EQ(out[i], data[0x1234 + i]);
  // Writes by another mapping (QEMU's) show up: the mapping is shared.
  const uint8_t marker = 0xa5;
  ASSERT_EQ(pwrite(fd, &marker, 1, 0x10), 1);
  uint8_t b;
  ASSERT_TRUE((*ram)->Read(0x10, absl::MakeSpan(&b, 1)).ok());
  EXPECT_EQ(b, 0xa5);
  EXPECT_FALSE((*ram)->Read(data.size() - 8, absl::MakeSpan(out)).ok());
  EXPECT_FALSE((*ram)->Read(uint64_t{1} << 40, absl::MakeSpan(out)).ok());
  close(fd);
  // Asking for more RAM than the file has is an error, not a SIGBUS later.
  EXPECT_FALSE(RamFileMapping::Map(path, data.size() * 2).ok());
  EXPECT_FALSE(RamFileMapping::Map(path + ".missing", 4096).ok());
  unlink(path.c_str());
}

}  // namespace
}  // namespace ktvm::backend
