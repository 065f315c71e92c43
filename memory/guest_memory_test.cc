#include "memory/guest_memory.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/test_ram.h"

namespace ktvm::memory {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// [0x1000, 0x3000) and [0x3000, 0x4000) adjacent, a hole, [0x10000, 0x11000).
class GuestMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ram_.AddRegion(0x3000, 0x1000);
    ram_.AddRegion(0x1000, 0x2000);
    ram_.AddRegion(0x10000, 0x1000);
    for (uint64_t pa = 0x1000; pa < 0x4000; ++pa) {
      *ram_.Host(pa, 1) = static_cast<uint8_t>(pa * 7);
    }
    absl::StatusOr<GuestMemory> m = ram_.View();
    ASSERT_TRUE(m.ok()) << m.status();
    memory_ = *std::move(m);
  }

  TestRam ram_;
  GuestMemory memory_;
};

TEST_F(GuestMemoryTest, RegionsAreSorted) {
  ASSERT_EQ(memory_.regions().size(), 3u);
  EXPECT_EQ(memory_.regions()[0].guest_phys, 0x1000u);
  EXPECT_EQ(memory_.regions()[1].guest_phys, 0x3000u);
  EXPECT_EQ(memory_.regions()[2].guest_phys, 0x10000u);
  EXPECT_EQ(memory_.total_bytes(), 0x4000u);
}

TEST_F(GuestMemoryTest, ReadSpansAdjacentRegions) {
  std::vector<uint8_t> out(0x20);
  ASSERT_TRUE(memory_.Read(0x2ff0, absl::MakeSpan(out)).ok());
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i], static_cast<uint8_t>((0x2ff0 + i) * 7)) << i;
  }
}

TEST_F(GuestMemoryTest, ReadIntoHoleNamesFirstMissingAddress) {
  std::vector<uint8_t> out(0x20);
  absl::Status s = memory_.Read(0x3ff0, absl::MakeSpan(out));
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(s.message(), HasSubstr("0x4000 is outside"));
  EXPECT_EQ(memory_.Read(0x0, absl::MakeSpan(out)).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(memory_.Read(0x11000, absl::MakeSpan(out)).code(),
            absl::StatusCode::kOutOfRange);
  // Last byte of the last region is readable; one past it is not.
  EXPECT_TRUE(memory_.Read(0x10fff, absl::MakeSpan(out).subspan(0, 1)).ok());
  EXPECT_FALSE(memory_.Read(0x10fff, absl::MakeSpan(out).subspan(0, 2)).ok());
}

TEST_F(GuestMemoryTest, ReadWrappingTheAddressSpaceFails) {
  std::vector<uint8_t> out(0x10);
  EXPECT_EQ(memory_.Read(~0ULL - 4, absl::MakeSpan(out)).code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(GuestMemoryTest, ZeroFillCountsBackedBytes) {
  std::vector<uint8_t> out(0x20, 0xaa);
  EXPECT_EQ(memory_.ReadZeroFill(0x3ff0, absl::MakeSpan(out)), 0x10u);
  EXPECT_EQ(out[0], static_cast<uint8_t>(0x3ff0 * 7));
  for (size_t i = 0x10; i < out.size(); ++i) EXPECT_EQ(out[i], 0) << i;
  // A hole followed by a region: the region's bytes still arrive.
  std::vector<uint8_t> span(0x20, 0xaa);
  *ram_.Host(0x10000, 1) = 0x5a;
  EXPECT_EQ(memory_.ReadZeroFill(0xfff0, absl::MakeSpan(span)), 0x10u);
  EXPECT_EQ(span[0], 0);
  EXPECT_EQ(span[0x10], 0x5a);
}

TEST_F(GuestMemoryTest, ScalarsAreLittleEndianAndUnaligned) {
  const uint8_t bytes[] = {1, 2, 3, 4, 5, 6, 7, 8};
  ram_.Write(0x2ffd, bytes);  // Straddles the 0x3000 region boundary.
  EXPECT_EQ(*memory_.ReadU8(0x2ffd), 1);
  EXPECT_EQ(*memory_.ReadU16(0x2ffd), 0x0201);
  EXPECT_EQ(*memory_.ReadU32(0x2ffe), 0x05040302u);
  EXPECT_EQ(*memory_.ReadU64(0x2ffd), 0x0807060504030201ULL);
  EXPECT_EQ(memory_.ReadU64(0x3ffc).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(GuestMemoryTest, CStringStopsAtNulCapOrHole) {
  const char text[] = "hello";
  ram_.Write(0x2ffd, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text),
                                         sizeof(text)));
  EXPECT_EQ(*memory_.ReadCString(0x2ffd, 64), "hello");
  EXPECT_EQ(*memory_.ReadCString(0x2ffd, 3), "hel");
  EXPECT_EQ(*memory_.ReadCString(0x2ffd, 0), "");
  std::memset(ram_.Host(0x3f00, 0x100), 'x', 0x100);
  absl::StatusOr<std::string> unterminated = memory_.ReadCString(0x3f00, 4096);
  EXPECT_EQ(unterminated.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*memory_.ReadCString(0x3f00, 0x100), std::string(0x100, 'x'));
}

TEST_F(GuestMemoryTest, HostPointerOnlyWithinOneRegion) {
  EXPECT_EQ(memory_.HostPointer(0x1000, 0x2000), ram_.Host(0x1000, 1));
  EXPECT_EQ(memory_.HostPointer(0x2fff, 2), nullptr);  // Crosses regions.
  EXPECT_EQ(memory_.HostPointer(0x4000, 1), nullptr);
  EXPECT_TRUE(memory_.Contains(0x2fff, 2));
  EXPECT_TRUE(memory_.Contains(0x1000, 0x3000));
  EXPECT_FALSE(memory_.Contains(0x1000, 0x3001));
  EXPECT_FALSE(memory_.Contains(~0ULL, 2));
}

TEST(GuestMemoryFromRegionsTest, RejectsBadLayouts) {
  uint8_t buf[64];
  EXPECT_EQ(GuestMemory::FromRegions({{0x1000, 0x100, buf}, {0x10ff, 1, buf}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GuestMemory::FromRegions({{0x1000, 0, buf}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GuestMemory::FromRegions({{0x1000, 1, nullptr}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GuestMemory::FromRegions({{~0ULL - 1, 4, buf}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // The last byte of the address space is a legal region.
  EXPECT_TRUE(GuestMemory::FromRegions({{~0ULL, 1, buf}}).ok());
}

TEST(GuestMemoryFromRegionsTest, KeepaliveOutlivesTheCaller) {
  GuestMemory memory;
  {
    auto buffer = std::make_shared<std::vector<uint8_t>>(16, 0x42);
    absl::StatusOr<GuestMemory> m =
        GuestMemory::FromRegions({{0x0, 16, buffer->data()}}, buffer);
    ASSERT_TRUE(m.ok());
    memory = *m;
  }
  std::vector<uint8_t> out(4);
  ASSERT_TRUE(memory.Read(4, absl::MakeSpan(out)).ok());
  EXPECT_THAT(out, ElementsAre(0x42, 0x42, 0x42, 0x42));
}

}  // namespace
}  // namespace ktvm::memory
