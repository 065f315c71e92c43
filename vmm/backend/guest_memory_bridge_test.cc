// The RAM file seen through GuestMemory: the pc layout's hole below 4 GiB
// is a hole, and RAM above it comes from the right file offset.
#include "vmm/backend/guest_memory_bridge.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "memory/guest_memory.h"

namespace ktvm::backend {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(GuestMemoryBridgeTest, PcLayoutWithHighRam) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path =
      std::string(tmp ? tmp : "/tmp") + "/guest_memory_bridge_test.bin";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  // Sparse: 4 GiB of RAM costs only the pages written.
  ASSERT_EQ(ftruncate(fd, 4 * kGiB), 0);
  const uint64_t low_marker = 0x1122334455667788;
  const uint64_t high_marker = 0x8877665544332211;
  ASSERT_EQ(pwrite(fd, &low_marker, 8, 0x1000), 8);
  ASSERT_EQ(pwrite(fd, &high_marker, 8, 3 * kGiB + 0x40), 8);
  absl::StatusOr<std::unique_ptr<RamFileMapping>> ram =
      RamFileMapping::Map(path, 4 * kGiB);
  ASSERT_TRUE(ram.ok()) << ram.status();
  absl::StatusOr<std::shared_ptr<const memory::GuestMemory>> memory =
      BuildGuestMemory(**ram);
  ASSERT_TRUE(memory.ok()) << memory.status();
  const memory::GuestMemory& m = **memory;
  EXPECT_EQ(m.regions().size(), 2u);
  EXPECT_EQ(m.total_bytes(), 4 * kGiB);
  EXPECT_EQ(*m.ReadU64(0x1000), low_marker);
  EXPECT_EQ(*m.ReadU64(4 * kGiB + 0x40), high_marker);
  EXPECT_EQ(m.ReadU64(3 * kGiB + 0x40).status().code(),
            absl::StatusCode::kOutOfRange);  // The PCI hole.
  // Writes by another process (QEMU) show through the read-only view.
  const uint64_t later = 0xfeedface;
  ASSERT_EQ(pwrite(fd, &later, 8, 0x2000), 8);
  EXPECT_EQ(*m.ReadU64(0x2000), later);
  close(fd);
  unlink(path.c_str());
}

}  // namespace
}  // namespace ktvm::backend
