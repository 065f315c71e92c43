#include "memory/x86_64_translator.h"

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/x86_64_page_tables.h"

namespace ktvm::memory {
namespace {

using ::testing::HasSubstr;
using PT = X86_64PageTables;

// RAM: [0, 16 MiB) with the table pool at 8 MiB, a hole, [4 GiB, +2 MiB).
constexpr uint64_t kLowRamSize = 16ULL << 20;
constexpr uint64_t kTablePool = 8ULL << 20;
constexpr uint64_t kHighRam = 4ULL << 30;
constexpr uint64_t kHighRamSize = 2ULL << 20;
constexpr uint64_t kHoleFrame = 1ULL << 30;  // Between the regions.

class X86_64TranslatorTest : public ::testing::TestWithParam<X86PagingMode> {
 protected:
  static TestRam MakeRam() {
    TestRam ram;
    ram.AddRegion(0, kLowRamSize);
    ram.AddRegion(kHighRam, kHighRamSize);
    return ram;
  }

  GuestMemory View() {
    absl::StatusOr<GuestMemory> m = ram_.View();
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : GuestMemory();
  }

  X86PagingMode mode() const { return GetParam(); }
  int levels() const { return mode() == X86PagingMode::kFiveLevel ? 5 : 4; }

  TestRam ram_ = MakeRam();
  PT tables_{ram_, GetParam(), kTablePool, 4ULL << 20};
};

// Addresses in both halves, including ones only 5-level paging can reach.
std::vector<uint64_t> SampleVas(X86PagingMode mode) {
  // 1 GiB aligned, each with three free 1 GiB slots after it.
  std::vector<uint64_t> vas = {0x40000000, 0x7fff00000000, 0xffff888000000000,
                               0xffffffff00000000};
  if (mode == X86PagingMode::kFiveLevel) {
    vas.push_back(0x00ff000000000000);  // Bit 55: beyond 48 bits.
    vas.push_back(0xff11000000000000);  // Kernel half, 5-level only.
  }
  return vas;
}

TEST_P(X86_64TranslatorTest, TranslatesEveryPageSize) {
  struct Case {
    uint64_t page_size;
    uint64_t frame;
  };
  const Case cases[] = {
      {PT::k4K, 0x123000}, {PT::k2M, 0x400000}, {PT::k1G, 0x40000000}};
  for (uint64_t base : SampleVas(mode())) {
    uint64_t slot = 0;
    for (const Case& c : cases) {
      // Distinct 1 GiB slots so the page sizes never share a table entry.
      const uint64_t va = base + (slot++ << 30);
      tables_.Map(va, c.frame, c.page_size);
      X86_64Translator translator(tables_.root(), mode());
      const GuestMemory memory = View();
      for (uint64_t offset :
           std::initializer_list<uint64_t>{0, 8, c.page_size - 1}) {
        absl::StatusOr<Translation> t =
            translator.Translate(memory, va + offset);
        ASSERT_TRUE(t.ok())
            << absl::StrFormat("va 0x%x: ", va + offset) << t.status();
        EXPECT_EQ(t->phys_addr, c.frame + offset);
        EXPECT_EQ(t->page_size, c.page_size);
      }
    }
  }
}

TEST_P(X86_64TranslatorTest, NonCanonicalAddressIsInvalid) {
  X86_64Translator translator(tables_.root(), mode());
  const GuestMemory memory = View();
  const uint64_t bad = mode() == X86PagingMode::kFiveLevel
                           ? 0x0100000000000000ULL
                           : 0x0000800000000000ULL;
  absl::StatusOr<Translation> t = translator.Translate(memory, bad);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("not canonical"));
  if (mode() == X86PagingMode::kFourLevel) {
    // Canonical for 5-level but not for 4-level.
    EXPECT_FALSE(translator.Translate(memory, 0xff11000000000000).ok());
  }
}

TEST_P(X86_64TranslatorTest, NonPresentAtEachLevelNamesTheLevel) {
  const char* names5[] = {"PML5", "PML4", "PDPT", "PD", "PT"};
  const char** names = names5 + (5 - levels());
  const uint64_t va = 0xffff888000123000;
  tables_.Map(va, 0x5000, PT::k4K);
  X86_64Translator translator(tables_.root(), mode());
  for (int depth = 0; depth < levels(); ++depth) {
    const uint64_t entry_pa = tables_.EntryAddress(va, depth);
    uint64_t saved;
    std::memcpy(&saved, ram_.Host(entry_pa, 8), 8);
    ram_.WriteU64(entry_pa, saved & ~1ULL);  // Clear only the present bit.
    absl::StatusOr<Translation> t = translator.Translate(View(), va);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound) << depth;
    EXPECT_THAT(t.status().message(),
                HasSubstr(absl::StrFormat("%s entry", names[depth])));
    ram_.WriteU64(entry_pa, saved);
    EXPECT_TRUE(translator.Translate(View(), va).ok());
  }
  // An untouched slot is a hole.
  EXPECT_EQ(translator.Translate(View(), 0x1000).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(X86_64TranslatorTest, TablesOutsideGuestMemoryAreOutOfRange) {
  const uint64_t va = 0xffffc90000000000;
  tables_.Map(va, 0x5000, PT::k4K);
  X86_64Translator translator(tables_.root(), mode());
  // Point the second-to-last table entry into the hole, then past all RAM,
  // then at the top of the 52-bit physical space.
  const uint64_t entry_pa = tables_.EntryAddress(va, levels() - 2);
  uint64_t saved;
  std::memcpy(&saved, ram_.Host(entry_pa, 8), 8);
  for (uint64_t target : std::initializer_list<uint64_t>{
           kHoleFrame, kHighRam + kHighRamSize, 0x000ffffffffff000ULL}) {
    ram_.WriteU64(entry_pa, target | 0x3);
    absl::StatusOr<Translation> t = translator.Translate(View(), va);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_THAT(t.status().message(), HasSubstr("outside guest memory"));
    EXPECT_THAT(t.status().message(), HasSubstr("PT table"));
  }
  ram_.WriteU64(entry_pa, saved);
  // A root outside guest memory fails at the first level.
  X86_64Translator lost(kHoleFrame, mode());
  EXPECT_EQ(lost.Translate(View(), va).status().code(),
            absl::StatusCode::kOutOfRange);
  // A leaf frame outside memory still translates: only reading it fails.
  tables_.Map(va + PT::k4K, kHoleFrame, PT::k4K);
  absl::StatusOr<Translation> t = translator.Translate(View(), va + PT::k4K);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->phys_addr, kHoleFrame);
}

TEST_P(X86_64TranslatorTest, SelfReferencingTableStaysBounded) {
  // Every entry of the root points back at the root itself: each level of
  // the walk reads the same table and the walk ends at the last level.
  for (int i = 0; i < 512; ++i) {
    ram_.WriteU64(tables_.root() + i * 8, tables_.root() | 0x3);
  }
  X86_64Translator translator(tables_.root(), mode());
  absl::StatusOr<Translation> t =
      translator.Translate(View(), 0xffff800000000ab8);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->phys_addr, tables_.root() + 0xab8);
  EXPECT_EQ(t->page_size, PT::k4K);
}

TEST_P(X86_64TranslatorTest, PageSizeBitWhereNotAllowedIsReserved) {
  const uint64_t va = 0xffff888000000000;
  tables_.Map(va, 0x5000, PT::k4K);
  ram_.WriteU64(tables_.EntryAddress(va, levels() - 4), 0x3 | (1 << 7));
  absl::StatusOr<Translation> t =
      X86_64Translator(tables_.root(), mode()).Translate(View(), va);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("PML4 entry"));
}

TEST_P(X86_64TranslatorTest, ReservedBitsInLargePagesAreRejected) {
  const uint64_t va = 0xffff888000000000;
  tables_.Map(va, 0x200000, PT::k2M);
  const uint64_t pde = tables_.EntryAddress(va, levels() - 2);
  X86_64Translator translator(tables_.root(), mode());
  // Bit 12 is PAT in a 2 MiB entry: legal, and not part of the address.
  ram_.WriteU64(pde, 0x200000 | 0x83 | (1ULL << 12));
  absl::StatusOr<Translation> t = translator.Translate(View(), va + 0x10);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->phys_addr, 0x200010u);
  ram_.WriteU64(pde, 0x200000 | 0x83 | (1ULL << 13));
  EXPECT_EQ(translator.Translate(View(), va).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(X86_64TranslatorTest, FlagBitsDoNotLeakIntoTheAddress) {
  const uint64_t va = 0xffffffff81000000;
  tables_.Map(va, 0x7000, PT::k4K);
  const uint64_t pte = tables_.EntryAddress(va, levels() - 1);
  // NX, protection key 0xf, software-available bits 52..58, A/D/G.
  ram_.WriteU64(
      pte, 0x7000 | 0x163 | (0xfULL << 59) | (0x7fULL << 52) | (1ULL << 63));
  absl::StatusOr<Translation> t =
      X86_64Translator(tables_.root(), mode()).Translate(View(), va + 0x42);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->phys_addr, 0x7042u);
}

TEST_P(X86_64TranslatorTest, Cr3PcidAndNoFlushBitsAreStripped) {
  const uint64_t va = 0xffff888000001000;
  tables_.Map(va, 0x9000, PT::k4K);
  const uint64_t cr3 = tables_.root() | 0x7ff | (1ULL << 63);
  X86_64Translator translator(cr3, mode());
  EXPECT_EQ(translator.root(), tables_.root());
  absl::StatusOr<Translation> t = translator.Translate(View(), va);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->phys_addr, 0x9000u);
}

TEST_P(X86_64TranslatorTest, DescribeNamesModeAndRoot) {
  X86_64Translator translator(tables_.root(), mode());
  EXPECT_EQ(translator.Describe(), absl::StrFormat("x86_64 %d-level, root 0x%x",
                                                   levels(), tables_.root()));
}

INSTANTIATE_TEST_SUITE_P(BothModes, X86_64TranslatorTest,
                         ::testing::Values(X86PagingMode::kFourLevel,
                                           X86PagingMode::kFiveLevel),
                         [](const auto& info) {
                           return info.param == X86PagingMode::kFiveLevel
                                      ? std::string("FiveLevel")
                                      : std::string("FourLevel");
                         });

TEST(X86_64TranslatorModeTest, Cr4La57SelectsFiveLevel) {
  EXPECT_EQ(X86_64Translator::FromRegisters(0x1000, 1ULL << 12).mode(),
            X86PagingMode::kFiveLevel);
  EXPECT_EQ(
      X86_64Translator::FromRegisters(0x1000, 0x3606f0 & ~(1ULL << 12)).mode(),
      X86PagingMode::kFourLevel);
}

TEST(X86_64TranslatorModeTest, SameTablesDifferInTheTwoModes) {
  // Tables built for 4-level read as 5-level treat the PML4 as a PML5: the
  // same VA lands elsewhere (or nowhere), so the mode must come from CR4.
  TestRam ram;
  ram.AddRegion(0, 16ULL << 20);
  PT four(ram, X86PagingMode::kFourLevel, 8ULL << 20, 4ULL << 20);
  const uint64_t va = 0xffff888000001000;
  four.Map(va, 0x9000, PT::k4K);
  GuestMemory memory = *ram.View();
  EXPECT_EQ(X86_64Translator(four.root(), X86PagingMode::kFourLevel)
                .Translate(memory, va)
                ->phys_addr,
            0x9000u);
  absl::StatusOr<Translation> as_five =
      X86_64Translator(four.root(), X86PagingMode::kFiveLevel)
          .Translate(memory, va);
  EXPECT_FALSE(as_five.ok() && as_five->phys_addr == 0x9000u);
}

}  // namespace
}  // namespace ktvm::memory
