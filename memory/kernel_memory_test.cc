#include "memory/kernel_memory.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/aarch64_page_tables.h"
#include "memory/aarch64_translator.h"
#include "memory/test_ram.h"
#include "memory/x86_64_page_tables.h"
#include "memory/x86_64_translator.h"

namespace ktvm::memory {
namespace {

using ::testing::HasSubstr;
using PT = X86_64PageTables;

// A KASLR-like layout: direct map at a random-looking base, the image
// loaded 16 MiB above its link address, a vmalloc page on a scattered frame.
constexpr uint64_t kPageOffsetBase = 0xffff9a3c40000000;
constexpr uint64_t kPhysBase = 0x1000000;
constexpr uint64_t kVmalloc = 0xffffc90000123000;
constexpr uint64_t kRam = 32ULL << 20;

class KernelMemoryTest : public ::testing::Test {
 protected:
  static TestRam MakeRam() {
    TestRam ram;
    ram.AddRegion(0, kRam);
    // Before the tables are built: their frames are zeroed as allocated.
    for (uint64_t pa = 0; pa < kRam; pa += 8) ram.WriteU64(pa, pa * 3 + 1);
    return ram;
  }

  KernelMemoryTest() {
    // The kernel's own tables agree with the arithmetic.
    tables_.MapRange(kPageOffsetBase, 0, kRam, PT::k2M);
    tables_.MapRange(0xffffffff80000000 + 0x400000, kPhysBase + 0x400000,
                     4 << 20, PT::k2M);
    tables_.Map(kVmalloc, 0x5000, PT::k4K);
    memory_ = *ram_.View();
    layout_.page_offset_base = kPageOffsetBase;
    layout_.phys_base = kPhysBase;
  }

  TestRam ram_ = MakeRam();
  PT tables_{ram_, X86PagingMode::kFourLevel, 28ULL << 20, 4ULL << 20};
  GuestMemory memory_;
  X86_64Translator translator_{tables_.root(), X86PagingMode::kFourLevel};
  X86_64KernelLayout layout_;
};

TEST_F(KernelMemoryTest, EachKindAgreesWithThePageTables) {
  KernelMemory km(memory_, translator_, layout_);
  struct Case {
    uint64_t va;
    KernelAddressKind kind;
  };
  const Case cases[] = {
      {kPageOffsetBase + 0x123458, KernelAddressKind::kDirectMap},
      {0xffffffff80000000 + 0x400010, KernelAddressKind::kKernelImage},
      {kVmalloc + 0x18, KernelAddressKind::kPageTableWalk},
  };
  for (const Case& c : cases) {
    absl::StatusOr<KernelTranslation> k = km.Translate(c.va);
    ASSERT_TRUE(k.ok()) << k.status();
    EXPECT_EQ(k->kind, c.kind);
    absl::StatusOr<Translation> walked = translator_.Translate(memory_, c.va);
    ASSERT_TRUE(walked.ok());
    EXPECT_EQ(k->phys_addr, walked->phys_addr) << std::hex << c.va;
    absl::StatusOr<uint64_t> v = km.ReadVirtualU64(c.va);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, walked->phys_addr * 3 + 1);
  }
}

TEST_F(KernelMemoryTest, ArithmeticNeedsNoPageTables) {
  // Wipe the root: only the walked kind stops working.
  for (int i = 0; i < 512; ++i) ram_.WriteU64(tables_.root() + 8 * i, 0);
  KernelMemory km(memory_, translator_, layout_);
  EXPECT_TRUE(km.ReadVirtualU64(kPageOffsetBase + 0x1000).ok());
  EXPECT_TRUE(km.ReadVirtualU64(0xffffffff80400000).ok());
  absl::StatusOr<uint64_t> v = km.ReadVirtualU64(kVmalloc);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(v.status().message(), HasSubstr("PML4 entry"));
}

TEST_F(KernelMemoryTest, DirectMapPastRamAndWrappingPhysBase) {
  KernelMemory km(memory_, translator_, layout_);
  // Past the end of RAM is not direct map any more: it is walked, and the
  // kernel's tables do not map it.
  absl::StatusOr<KernelTranslation> past = km.Translate(kPageOffsetBase + kRam);
  EXPECT_EQ(past.status().code(), absl::StatusCode::kNotFound);
  // An explicit direct-map size makes it arithmetic, and the read fails on
  // memory instead.
  X86_64KernelLayout wide = layout_;
  wide.direct_map_bytes = 1ULL << 46;
  KernelMemory km_wide(memory_, translator_, wide);
  absl::StatusOr<uint64_t> v = km_wide.ReadVirtualU64(kPageOffsetBase + kRam);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kOutOfRange);
  // phys_base below the link address wraps, as the kernel computes it.
  X86_64KernelLayout low = layout_;
  low.phys_base = static_cast<uint64_t>(-0x400000LL);
  KernelMemory km_low(memory_, translator_, low);
  absl::StatusOr<KernelTranslation> t = km_low.Translate(0xffffffff80800000);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->phys_addr, 0x400000u);
}

TEST_F(KernelMemoryTest, RangesCrossKindsAndReportFailedPages) {
  KernelMemory km(memory_, translator_, layout_);
  // A vmalloc range: page 0 mapped, page 1 not.
  std::vector<uint8_t> out(2 * 4096, 0xee);
  std::vector<PageFailure> failures =
      km.ReadVirtualBestEffort(kVmalloc, absl::MakeSpan(out));
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].va, kVmalloc + 4096);
  EXPECT_EQ(out[4096], 0);
  EXPECT_EQ(out[0], (0x5000 * 3 + 1) & 0xff);
  absl::Status s = km.ReadVirtual(kVmalloc, absl::MakeSpan(out));
  EXPECT_THAT(s.message(), HasSubstr("page 0xffffc90000124000"));
}

// arm64: RAM at 1 GiB (PHYS_OFFSET), linear map by 2M blocks from
// PAGE_OFFSET, the image by 4K pages, a vmalloc page elsewhere.
TEST(Aarch64KernelMemoryTest, LinearMapAndImageAgreeWithTheTables) {
  constexpr uint64_t kPhysOffset = 1ULL << 30;
  constexpr uint64_t kArmRam = 16ULL << 20;
  constexpr uint64_t kPageOffset = 0xffff000000000000ULL;  // VA_BITS 48
  constexpr uint64_t kText = 0xffff800080000000ULL;
  constexpr uint64_t kTextPa = kPhysOffset + 0x200000;
  constexpr uint64_t kVmallocVa = 0xffff800090000000ULL;
  TestRam ram;
  ram.AddRegion(kPhysOffset, kArmRam);
  for (uint64_t pa = kPhysOffset; pa < kPhysOffset + kArmRam; pa += 8) {
    ram.WriteU64(pa, pa ^ 0x5555);
  }
  Aarch64PageTables tables(ram, 12, 48, kPhysOffset + (12ULL << 20));
  for (uint64_t off = 0; off < (8ULL << 20); off += 2ULL << 20) {
    tables.Map(kPageOffset + off, kPhysOffset + off, 2);
  }
  for (uint64_t off = 0; off < 0x10000; off += 0x1000) {
    tables.Map(kText + off, kTextPa + off, 3);
  }
  tables.Map(kVmallocVa, kPhysOffset + 0x900000, 3);
  const GuestMemory memory = *ram.View();
  absl::StatusOr<Aarch64Translator> translator = Aarch64Translator::Create(
      Aarch64PageTables::Tcr(12, 48), 0, tables.root());
  ASSERT_TRUE(translator.ok()) << translator.status();
  const KernelMemory km(memory, *translator,
                        Aarch64KernelLayout{.va_bits = 48,
                                            .phys_offset = kPhysOffset,
                                            .kimage_voffset = kText - kTextPa,
                                            .kimage_start = kText,
                                            .kimage_bytes = 0x10000});
  struct Case {
    uint64_t va;
    KernelAddressKind kind;
  };
  for (const Case& c :
       {Case{kPageOffset + 0x345678, KernelAddressKind::kDirectMap},
        Case{kText + 0x4321, KernelAddressKind::kKernelImage},
        Case{kVmallocVa + 0x10, KernelAddressKind::kPageTableWalk}}) {
    absl::StatusOr<KernelTranslation> k = km.Translate(c.va);
    ASSERT_TRUE(k.ok()) << k.status();
    EXPECT_EQ(k->kind, c.kind) << std::hex << c.va;
    absl::StatusOr<Translation> walked = translator->Translate(memory, c.va);
    ASSERT_TRUE(walked.ok()) << walked.status();
    EXPECT_EQ(k->phys_addr, walked->phys_addr) << std::hex << c.va;
    const uint64_t aligned = c.va & ~7ULL;
    EXPECT_EQ(*km.ReadVirtualU64(aligned),
              (walked->phys_addr & ~7ULL) ^ 0x5555);
  }
  // The linear map stops at the end of RAM: beyond it, the walk decides.
  absl::StatusOr<KernelTranslation> past = km.Translate(kPageOffset + kArmRam);
  EXPECT_EQ(past.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ktvm::memory
