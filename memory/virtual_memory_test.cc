#include "memory/virtual_memory.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/x86_64_page_tables.h"
#include "memory/x86_64_translator.h"

namespace ktvm::memory {
namespace {

using ::testing::HasSubstr;
using PT = X86_64PageTables;

constexpr uint64_t kVa = 0xffffc90000010000;
constexpr uint64_t kFrames = 0x100000;  // Data frames live here.

// Four virtual pages mapped to frames in reverse order with a gap, so
// contiguous virtual bytes come from scattered physical frames.
class TranslatedMemoryTest : public ::testing::Test {
 protected:
  static TestRam MakeRam() {
    TestRam ram;
    ram.AddRegion(0, 4ULL << 20);
    return ram;
  }

  TranslatedMemoryTest() {
    for (int page = 0; page < 4; ++page) {
      tables_.Map(kVa + page * PT::k4K, Frame(page), PT::k4K);
      for (uint64_t i = 0; i < PT::k4K; ++i) {
        *ram_.Host(Frame(page) + i, 1) = Expected(page * PT::k4K + i);
      }
    }
    memory_ = *ram_.View();
  }

  static uint64_t Frame(int page) { return kFrames + (6 - 2 * page) * PT::k4K; }
  static uint8_t Expected(uint64_t offset) {
    return static_cast<uint8_t>(offset * 13 + (offset >> 12));
  }

  TestRam ram_ = MakeRam();
  PT tables_{ram_, X86PagingMode::kFourLevel, 2ULL << 20, 1ULL << 20};
  GuestMemory memory_;
  X86_64Translator translator_{tables_.root(), X86PagingMode::kFourLevel};
};

TEST_F(TranslatedMemoryTest, ReadCrossesPagesOntoScatteredFrames) {
  TranslatedMemory vm(memory_, translator_);
  std::vector<uint8_t> out(3 * PT::k4K);
  const uint64_t start = 0x800;  // Starts mid-page, ends mid-page.
  ASSERT_TRUE(vm.ReadVirtual(kVa + start, absl::MakeSpan(out)).ok());
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i], Expected(start + i)) << i;
  }
  // Twice: the second read comes from the cache and must agree.
  std::vector<uint8_t> again(out.size());
  ASSERT_TRUE(vm.ReadVirtual(kVa + start, absl::MakeSpan(again)).ok());
  EXPECT_EQ(again, out);
}

TEST_F(TranslatedMemoryTest, FailureNamesTheFirstBadPage) {
  TranslatedMemory vm(memory_, translator_);
  std::vector<uint8_t> out(2 * PT::k4K);
  // Page 4 is unmapped.
  absl::Status s =
      vm.ReadVirtual(kVa + 3 * PT::k4K + 0x10, absl::MakeSpan(out));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("page 0xffffc90000014000"));
  // A page whose frame is outside memory keeps the memory's error code.
  tables_.Map(kVa + 4 * PT::k4K, 1ULL << 32, PT::k4K);
  vm.InvalidateCache();
  s = vm.ReadVirtual(kVa + 3 * PT::k4K + 0x10, absl::MakeSpan(out));
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(s.message(), HasSubstr("page 0xffffc90000014000"));
}

TEST_F(TranslatedMemoryTest, BestEffortZeroFillsAndListsFailedPages) {
  TranslatedMemory vm(memory_, translator_);
  // Unmap page 1 so pages 0, 2, 3 read and 1, 4 fail.
  ram_.WriteU64(tables_.EntryAddress(kVa + PT::k4K, 3), 0);
  std::vector<uint8_t> out(5 * PT::k4K, 0xee);
  std::vector<PageFailure> failures =
      vm.ReadVirtualBestEffort(kVa, absl::MakeSpan(out));
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].va, kVa + PT::k4K);
  EXPECT_EQ(failures[1].va, kVa + 4 * PT::k4K);
  EXPECT_EQ(failures[0].status.code(), absl::StatusCode::kNotFound);
  for (uint64_t i = 0; i < out.size(); ++i) {
    const uint64_t page = i / PT::k4K;
    const uint8_t want = (page == 1 || page == 4) ? 0 : Expected(i);
    ASSERT_EQ(out[i], want) << i;
  }
}

TEST_F(TranslatedMemoryTest, CacheHoldsUntilInvalidated) {
  TranslatedMemory vm(memory_, translator_);
  ASSERT_EQ(vm.Translate(kVa)->phys_addr, Frame(0));
  // The guest "runs" and remaps page 0.
  const uint64_t pte = tables_.EntryAddress(kVa, 3);
  ram_.WriteU64(pte, Frame(1) | 0x3);
  EXPECT_EQ(vm.Translate(kVa)->phys_addr, Frame(0));  // Stale by design.
  vm.InvalidateCache();
  EXPECT_EQ(vm.Translate(kVa)->phys_addr, Frame(1));
  ram_.WriteU64(pte, 0);
  vm.InvalidateCache();
  EXPECT_EQ(vm.Translate(kVa).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TranslatedMemoryTest, CachedTranslationKeepsPageSizeAndOffset) {
  const uint64_t big_va = 0xffff888000000000;
  tables_.Map(big_va, 0x200000, PT::k2M);
  TranslatedMemory vm(memory_, translator_);
  for (int pass = 0; pass < 2; ++pass) {
    absl::StatusOr<Translation> t = vm.Translate(big_va + 0x12345);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->phys_addr, 0x212345u) << pass;
    EXPECT_EQ(t->page_size, PT::k2M) << pass;
  }
}

TEST_F(TranslatedMemoryTest, ScalarsAndWrap) {
  TranslatedMemory vm(memory_, translator_);
  const uint64_t at = kVa + PT::k4K - 4;  // Straddles pages 0 and 1.
  uint64_t want = 0;
  for (int i = 7; i >= 0; --i) want = (want << 8) | Expected(PT::k4K - 4 + i);
  EXPECT_EQ(*vm.ReadVirtualU64(at), want);
  EXPECT_EQ(*vm.ReadVirtualU32(at), static_cast<uint32_t>(want));
  std::vector<uint8_t> out(16);
  EXPECT_EQ(vm.ReadVirtual(~0ULL - 7, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(vm.ReadVirtual(kVa, absl::Span<uint8_t>()).ok());
}

}  // namespace
}  // namespace ktvm::memory
