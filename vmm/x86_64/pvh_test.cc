#include "vmm/x86_64/pvh.h"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "gtest/gtest.h"
#include "vmm/x86_64/layout.h"

namespace ktvm::vmm::x86_64 {
namespace {

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST(PvhTest, FindsTheTestGuestEntry) {
  const std::vector<uint8_t> elf = ReadFile("tests/test_guest/test_guest.elf");
  ASSERT_TRUE(LooksLikeElf(elf));
  absl::StatusOr<PvhKernel> k = ParsePvhElf(elf);
  ASSERT_TRUE(k.ok()) << k.status();
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof(eh));
  // The linker script makes pvh_start32 the ELF entry as well.
  EXPECT_EQ(k->entry32, eh.e_entry);
  ASSERT_EQ(k->segments.size(), 1u);
  EXPECT_EQ(k->segments[0].paddr, 0x1000000u);
  EXPECT_GT(k->segments[0].mem_size, k->segments[0].file_size) << ".bss";
}

TEST(PvhTest, FindsTheDebianVmlinuxEntry) {
  const std::vector<uint8_t> elf = ReadFile("external/kernel/vmlinux");
  ASSERT_GT(elf.size(), 1u << 20) << "missing @kernel//:vmlinux";
  absl::StatusOr<PvhKernel> k = ParsePvhElf(elf);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_GE(k->entry32, 0x1000000u);
  EXPECT_LT(k->entry32, k->end);
  std::printf("vmlinux PVH entry 0x%lx, %zu PT_LOAD, end 0x%lx\n",
              static_cast<unsigned long>(k->entry32), k->segments.size(),
              static_cast<unsigned long>(k->end));
}

TEST(PvhTest, RejectsNonElfAndMissingNote) {
  EXPECT_FALSE(ParsePvhElf(std::vector<uint8_t>(100, 0)).ok());
  std::vector<uint8_t> elf = ReadFile("tests/test_guest/test_guest.elf");
  // Corrupt the note name "Xen" -> "Xem".
  for (size_t i = 0; i + 4 < elf.size(); ++i) {
    if (std::memcmp(&elf[i], "Xen\0", 4) == 0) elf[i + 2] = 'm';
  }
  absl::StatusOr<PvhKernel> k = ParsePvhElf(elf);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(k.status().message().find("PVH"), std::string::npos);
}

TEST(PvhTest, RejectsTruncatedElf) {
  std::vector<uint8_t> elf = ReadFile("tests/test_guest/test_guest.elf");
  elf.resize(0x1100);  // cuts the PT_LOAD contents
  EXPECT_EQ(ParsePvhElf(elf).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(PvhTest, StartInfoLayout) {
  PvhStartInfoInput in{};
  in.cmdline_addr = kCmdlineAddr;
  in.rsdp_addr = kAcpiRsdpAddr;
  in.initrd_addr = 0x5000000;
  in.initrd_size = 0x1234;
  in.memmap = {{0, 0x9fc00, E820Type::kRam},
               {0x100000, 0x1000000, E820Type::kRam}};
  absl::StatusOr<std::vector<uint8_t>> page = BuildPvhStartInfo(in);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), kPageSize);
  auto u32 = [&](size_t o) {
    uint32_t v;
    std::memcpy(&v, page->data() + o, 4);
    return v;
  };
  auto u64 = [&](size_t o) {
    uint64_t v;
    std::memcpy(&v, page->data() + o, 8);
    return v;
  };
  EXPECT_EQ(u32(0), kHvmStartMagic);
  EXPECT_EQ(u32(4), 1u);
  EXPECT_EQ(u32(12), 1u) << "one module";
  EXPECT_EQ(u64(24), kCmdlineAddr);
  EXPECT_EQ(u64(32), kAcpiRsdpAddr);
  EXPECT_EQ(u64(40), kPvhMemmapAddr);
  EXPECT_EQ(u32(48), 2u);
  const size_t mm = kPvhMemmapAddr - kPvhStartInfoAddr;
  EXPECT_EQ(u64(mm + 24), 0x100000u);
  EXPECT_EQ(u32(mm + 24 + 16), 1u);
  const size_t mod = u64(16) - kPvhStartInfoAddr;
  EXPECT_EQ(u64(mod), 0x5000000u);
  EXPECT_EQ(u64(mod + 8), 0x1234u);
}

}  // namespace
}  // namespace ktvm::vmm::x86_64
