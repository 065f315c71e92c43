#include "vmm/kvm/guest_ram.h"

#include <vector>

#include "gtest/gtest.h"

namespace ktvm::vmm {
namespace {

constexpr uint64_t kHoleStart = 3ULL << 30;
constexpr uint64_t kHoleEnd = 4ULL << 30;

TEST(GuestRamTest, SmallRamIsOneRegion) {
  absl::StatusOr<GuestRam> ram =
      GuestRam::Create(64 << 20, kHoleStart, kHoleEnd);
  ASSERT_TRUE(ram.ok());
  ASSERT_EQ(ram->regions().size(), 1u);
  EXPECT_EQ(ram->regions()[0].gpa, 0u);
  EXPECT_EQ(ram->regions()[0].size, 64u << 20);
}

TEST(GuestRamTest, LargeRamSkipsTheHole) {
  // NORESERVE: 5 GiB of address space, nothing touched but two pages.
  absl::StatusOr<GuestRam> ram =
      GuestRam::Create(5ULL << 30, kHoleStart, kHoleEnd);
  ASSERT_TRUE(ram.ok()) << ram.status();
  ASSERT_EQ(ram->regions().size(), 2u);
  EXPECT_EQ(ram->regions()[0].size, kHoleStart);
  EXPECT_EQ(ram->regions()[1].gpa, kHoleEnd);
  EXPECT_EQ(ram->regions()[1].size, 2ULL << 30);
  const std::vector<uint8_t> bytes = {1, 2, 3, 4};
  ASSERT_TRUE(ram->Write(kHoleEnd + 16, bytes).ok());
  std::vector<uint8_t> back(4);
  ASSERT_TRUE(ram->Read(kHoleEnd + 16, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, bytes);
  // The hole itself and ranges crossing into it are not RAM.
  EXPECT_EQ(ram->Write(kHoleStart + 4096, bytes).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ram->Write(kHoleStart - 2, bytes).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ram->Write((6ULL << 30) - 2, bytes).code(),
            absl::StatusCode::kOutOfRange);
}

TEST(GuestRamTest, RejectsBadSizes) {
  EXPECT_FALSE(GuestRam::Create(0, kHoleStart, kHoleEnd).ok());
  EXPECT_FALSE(GuestRam::Create(4097, kHoleStart, kHoleEnd).ok());
}

}  // namespace
}  // namespace ktvm::vmm
