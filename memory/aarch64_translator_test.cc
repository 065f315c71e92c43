#include "memory/aarch64_translator.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/aarch64_page_tables.h"
#include "memory/test_ram.h"
#include "memory/virtual_memory.h"

namespace ktvm::memory {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kValid = 1, kTableOrPage = 2, kAccessFlag = 1 << 10;

uint64_t Tcr(int shift, int va_bits) {
  return Aarch64PageTables::Tcr(shift, va_bits);
}

struct Config {
  int granule_shift;
  int va_bits;
};

std::string ConfigName(const ::testing::TestParamInfo<Config>& info) {
  return absl::StrFormat("G%dK_VA%d", 1 << (info.param.granule_shift - 10),
                         info.param.va_bits);
}

constexpr uint64_t kRamSize = 64ULL << 20;

class Aarch64TranslatorTest : public ::testing::TestWithParam<Config> {
 protected:
  static TestRam MakeRam() {
    TestRam ram;
    ram.AddRegion(0, kRamSize);
    return ram;
  }

  absl::StatusOr<Aarch64Translator> Translator(uint64_t ttbr0_extra = 0) {
    return Aarch64Translator::Create(Tcr(shift(), va_bits()),
                                     low_.root() | ttbr0_extra, high_.root());
  }
  int shift() const { return GetParam().granule_shift; }
  int va_bits() const { return GetParam().va_bits; }
  uint64_t HighVa(uint64_t offset) const {
    return (~0ULL << va_bits()) | offset;
  }

  TestRam ram_ = MakeRam();
  Aarch64PageTables low_{ram_, GetParam().granule_shift, GetParam().va_bits,
                         32ULL << 20};
  Aarch64PageTables high_{ram_, GetParam().granule_shift, GetParam().va_bits,
                          48ULL << 20};
};

TEST_P(Aarch64TranslatorTest, PagesAndBlocksInBothHalves) {
  absl::StatusOr<Aarch64Translator> t = Translator();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->lower().start_level, low_.start_level());
  EXPECT_EQ(t->upper().va_bits, va_bits());
  // Every level that can hold a block or page, in both halves.
  for (int level = std::max(1, low_.start_level()); level <= 3; ++level) {
    const bool block_ok =
        level == 3 || level == 2 || (level == 1 && shift() != 14);
    if (!block_ok) continue;
    const uint64_t size = low_.LevelSize(level);
    // Slot `level` of the start table's span keeps levels apart.
    const uint64_t va = size * (4 + level) + 0x18;
    const uint64_t pa = size * (level + 1);  // May lie past RAM: only walked.
    for (Aarch64PageTables* tables : {&low_, &high_}) {
      const uint64_t addr = tables == &high_ ? HighVa(va) : va;
      tables->Map(addr & ~(size - 1), pa, level);
      absl::StatusOr<Translation> r = t->Translate(*ram_.View(), addr);
      ASSERT_TRUE(r.ok()) << absl::StrFormat("level %d va 0x%x: ", level, addr)
                          << r.status();
      EXPECT_EQ(r->phys_addr, pa + 0x18) << level;
      EXPECT_EQ(r->page_size, size) << level;
    }
  }
}

TEST_P(Aarch64TranslatorTest, InvalidAtEachLevelNamesTheLevel) {
  const uint64_t va = 5 * low_.granule() + 0x40;
  low_.Map(va & ~(low_.granule() - 1), 0x10000 * 3, 3);
  absl::StatusOr<Aarch64Translator> t = Translator();
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->Translate(*ram_.View(), va).ok());
  for (int level = low_.start_level(); level <= 3; ++level) {
    const uint64_t entry = low_.EntryAddress(va, level);
    uint64_t saved;
    std::memcpy(&saved, ram_.Host(entry, 8), 8);
    ram_.WriteU64(entry, saved & ~kValid);
    absl::StatusOr<Translation> r = t->Translate(*ram_.View(), va);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << level;
    EXPECT_THAT(r.status().message(),
                HasSubstr(absl::StrFormat("level %d descriptor", level)));
    ram_.WriteU64(entry, saved);
  }
  EXPECT_TRUE(t->Translate(*ram_.View(), va).ok());
}

TEST_P(Aarch64TranslatorTest, AddressesOutsideBothRangesAreInvalid) {
  absl::StatusOr<Aarch64Translator> t = Translator();
  ASSERT_TRUE(t.ok());
  // Just above the low range, and just below the high range.
  for (uint64_t va :
       std::initializer_list<uint64_t>{1ULL << va_bits(), HighVa(0) - 1}) {
    absl::StatusOr<Translation> r = t->Translate(*ram_.View(), va);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << std::hex << va;
  }
}

TEST_P(Aarch64TranslatorTest, TablesOutsideMemoryAndSelfReference) {
  const uint64_t va = 3 * low_.granule();
  low_.Map(va, 0x20000, 3);
  absl::StatusOr<Aarch64Translator> t = Translator();
  ASSERT_TRUE(t.ok());
  // The level-2 descriptor points at a table past the end of RAM.
  const uint64_t l2 = low_.EntryAddress(va, 2);
  ram_.WriteU64(l2, (1ULL << 40) | kValid | kTableOrPage);
  absl::StatusOr<Translation> r = t->Translate(*ram_.View(), va);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(r.status().message(), HasSubstr("level 3 table"));
  // Every root entry points back at the root: the walk ends at level 3.
  const uint64_t entries = low_.granule() / 8;
  for (uint64_t i = 0; i < entries; ++i) {
    ram_.WriteU64(low_.root() + 8 * i, low_.root() | kValid | kTableOrPage);
  }
  // Each level reads the root again; level 3 takes the entry as a page.
  r = t->Translate(*ram_.View(), va + 0x10);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->phys_addr, low_.root() + 0x10);
  EXPECT_EQ(r->page_size, low_.granule());
}

TEST_P(Aarch64TranslatorTest, AsidAndCnpBitsInTtbrAreIgnored) {
  const uint64_t va = 7 * low_.granule();
  low_.Map(va, 0x30000, 3);
  absl::StatusOr<Aarch64Translator> t = Translator((0x1234ULL << 48) | 1);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->lower().table, low_.root());
  absl::StatusOr<Translation> r = t->Translate(*ram_.View(), va + 8);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->phys_addr, 0x30008u);
}

INSTANTIATE_TEST_SUITE_P(GranulesAndWidths, Aarch64TranslatorTest,
                         ::testing::Values(Config{12, 39}, Config{12, 48},
                                           Config{12, 42}, Config{14, 36},
                                           Config{14, 47}, Config{14, 48},
                                           Config{16, 42}, Config{16, 48},
                                           Config{16, 52}),
                         ConfigName);

TEST(Aarch64TranslatorRegisterTest, RejectsWhatItCannotWalk) {
  // LPA2.
  absl::StatusOr<Aarch64Translator> t =
      Aarch64Translator::Create(Tcr(12, 48) | (1ULL << 59), 0, 0);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(t.status().message(), HasSubstr("LPA2"));
  // TG0 = 0b11 is reserved.
  t = Aarch64Translator::Create(Tcr(12, 48) | (3ULL << 14), 0, 0);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("TG0"));
  // 52-bit VA needs the 64K granule.
  t = Aarch64Translator::Create(Tcr(12, 52), 0, 0);
  EXPECT_THAT(t.status().message(), HasSubstr("T0SZ = 12"));
  // T1SZ too large.
  t = Aarch64Translator::Create(
      (Tcr(12, 48) & ~(0x3fULL << 16)) | (45ULL << 16), 0, 0);
  EXPECT_THAT(t.status().message(), HasSubstr("T1SZ = 45"));
}

class Aarch64FormatTest : public ::testing::Test {
 protected:
  static TestRam MakeRam() {
    TestRam ram;
    ram.AddRegion(0, 16ULL << 20);
    return ram;
  }
  TestRam ram_ = MakeRam();
};

TEST_F(Aarch64FormatTest, SixtyFourKGranuleGives52BitOutputAddresses) {
  Aarch64PageTables low(ram_, 16, 52, 4ULL << 20);
  const uint64_t va = 0x000f000000010000;  // Needs all 52 VA bits.
  // OA[51:48] = 0xa from descriptor bits 15:12.
  ram_.WriteU64(low.EntryAddress(va, 3), 0x0000123456780000ULL |
                                             (0xaULL << 12) | kValid |
                                             kTableOrPage | kAccessFlag);
  absl::StatusOr<Aarch64Translator> t =
      Aarch64Translator::Create(Tcr(16, 52), low.root(), low.root());
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<Translation> r = t->Translate(*ram_.View(), va + 0x1234);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->phys_addr, 0x000a123456781234ULL);
}

TEST_F(Aarch64FormatTest, ReservedAndDisallowedDescriptors) {
  Aarch64PageTables low(ram_, 14, 47, 4ULL << 20);  // 16K: start level 1.
  absl::StatusOr<Aarch64Translator> t =
      Aarch64Translator::Create(Tcr(14, 47), low.root(), low.root());
  ASSERT_TRUE(t.ok());
  // A 16K level-1 block needs LPA2.
  const uint64_t va = 1ULL << 36;
  ram_.WriteU64(low.EntryAddress(va, 1), kValid | kAccessFlag);
  absl::StatusOr<Translation> r = t->Translate(*ram_.View(), va);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("level 1"));
  // Level 3 with bit 1 clear is reserved.
  const uint64_t va3 = 2ULL << 36;
  ram_.WriteU64(low.EntryAddress(va3, 3), 0x40000 | kValid);
  r = t->Translate(*ram_.View(), va3);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("reserved"));
}

TEST_F(Aarch64FormatTest, TopByteIgnoreAndDisabledHalves) {
  Aarch64PageTables high(ram_, 12, 48, 4ULL << 20);
  const uint64_t va = 0xffff000000200000;
  high.Map(va, 0x400000, 3);
  const uint64_t tbi1 = 1ULL << 38;
  absl::StatusOr<Aarch64Translator> plain =
      Aarch64Translator::Create(Tcr(12, 48), high.root(), high.root());
  absl::StatusOr<Aarch64Translator> tagged =
      Aarch64Translator::Create(Tcr(12, 48) | tbi1, high.root(), high.root());
  ASSERT_TRUE(plain.ok() && tagged.ok());
  const uint64_t tagged_va = (va & 0x00ffffffffffffffULL) | (0xf2ULL << 56);
  EXPECT_EQ(plain->Translate(*ram_.View(), tagged_va).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Translation> r =
      tagged->Translate(*ram_.View(), tagged_va + 4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->phys_addr, 0x400004u);
  // EPD1 disables TTBR1 walks.
  absl::StatusOr<Aarch64Translator> off = Aarch64Translator::Create(
      Tcr(12, 48) | (1ULL << 23), high.root(), high.root());
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->Translate(*ram_.View(), va).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(off->Describe(), HasSubstr("TTBR1: disabled"));
}

TEST_F(Aarch64FormatTest, ScatteredPagesReadThroughTranslatedMemory) {
  Aarch64PageTables high(ram_, 16, 48, 4ULL << 20);
  const uint64_t va = 0xffff800000000000;
  high.Map(va, 0x200000, 3);
  high.Map(va + 0x10000, 0x100000, 3);  // Next page, lower frame.
  for (int i = 0; i < 0x10; ++i) {
    *ram_.Host(0x20fff8 + i % 8, 1) = 0xa0 + i % 8;
    *ram_.Host(0x100000 + i % 8, 1) = 0xb0 + i % 8;
  }
  absl::StatusOr<Aarch64Translator> t =
      Aarch64Translator::Create(Tcr(16, 48), high.root(), high.root());
  ASSERT_TRUE(t.ok());
  const GuestMemory memory = *ram_.View();
  TranslatedMemory vm(memory, *t);
  uint8_t out[16];
  ASSERT_TRUE(vm.ReadVirtual(va + 0xfff8, absl::MakeSpan(out)).ok());
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(out[i], (i < 8 ? 0xa0 : 0xb0) + i % 8) << i;
  }
}

}  // namespace
}  // namespace ktvm::memory
