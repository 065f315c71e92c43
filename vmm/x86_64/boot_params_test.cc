#include "vmm/x86_64/boot_params.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "vmm/x86_64/e820.h"
#include "vmm/x86_64/layout.h"

namespace ktvm::vmm::x86_64 {
namespace {

BzImage FakeImage(uint32_t init_size, uint32_t kernel_size) {
  BzImage bz{};
  bz.protocol = 0x020f;
  bz.relocatable = true;
  bz.kernel_alignment = 0x200000;
  bz.init_size = init_size;
  bz.kernel_size = kernel_size;
  bz.initrd_addr_max = 0x7fffffff;
  bz.cmdline_size = 2047;
  bz.header_bytes = 0x268 - 0x1f1;
  return bz;
}

TEST(CmdlineTest, AppendsUserWordsToDefault) {
  absl::StatusOr<std::string> line = BuildKernelCmdline("  quiet foo=1 ", 2047);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(*line, std::string(kDefaultKernelCmdline) + " quiet foo=1");
}

TEST(CmdlineTest, DefaultAlone) {
  EXPECT_EQ(*BuildKernelCmdline("", 2047), std::string(kDefaultKernelCmdline));
}

TEST(CmdlineTest, EnforcesHeaderLimit) {
  const size_t base = std::string(kDefaultKernelCmdline).size();
  // Exactly at the limit is fine, one byte more is not.
  const std::string fits(300 - base - 1, 'x');
  EXPECT_TRUE(BuildKernelCmdline(fits, 300).ok());
  absl::StatusOr<std::string> too_long = BuildKernelCmdline(fits + "x", 300);
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.status().message().find("at most 300"), std::string::npos);
}

TEST(CmdlineTest, CapsAtLinuxCommandLineSize) {
  const std::string huge(3000, 'y');
  absl::StatusOr<std::string> line = BuildKernelCmdline(huge, 0xffffffff);
  EXPECT_NE(line.status().message().find("at most 2047"), std::string::npos);
}

TEST(LoadPlanTest, PlacesKernelAndInitrd) {
  const BzImage bz = FakeImage(0x2000000, 0x800000);
  absl::StatusOr<LoadPlan> plan = PlanBzImageLoad(bz, 512ULL << 20, 12345);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->kernel_addr, kKernelLoadAddr);
  EXPECT_EQ(plan->entry64, kKernelLoadAddr + 0x200);
  EXPECT_EQ(plan->kernel_end, kKernelLoadAddr + 0x2000000);
  EXPECT_EQ(plan->initrd_addr % kPageSize, 0u);
  EXPECT_LE(plan->initrd_addr + 12345, 512ULL << 20);
  EXPECT_GE(plan->initrd_addr, plan->kernel_end);
}

TEST(LoadPlanTest, InitrdStaysBelowInitrdAddrMax) {
  BzImage bz = FakeImage(0x1000000, 0x100000);
  bz.initrd_addr_max = 0x0fffffff;  // 256 MiB
  absl::StatusOr<LoadPlan> plan = PlanBzImageLoad(bz, 1ULL << 30, 4096);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->initrd_addr, 0x10000000u - 4096);
}

TEST(LoadPlanTest, KernelTooLargeForMemory) {
  const BzImage bz = FakeImage(0x4000000, 0x800000);  // 64 MiB init_size
  absl::StatusOr<LoadPlan> plan = PlanBzImageLoad(bz, 32ULL << 20, 0);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(plan.status().message().find("raise --memory"), std::string::npos);
}

TEST(LoadPlanTest, InitrdTooLargeForMemory) {
  const BzImage bz = FakeImage(0x1000000, 0x100000);
  absl::StatusOr<LoadPlan> plan = PlanBzImageLoad(bz, 64ULL << 20, 40ULL << 20);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(plan.status().message().find("initramfs"), std::string::npos);
}

TEST(E820Test, WithoutHole) {
  const std::vector<E820Entry> map = BuildE820Map(512ULL << 20, 0);
  ASSERT_EQ(map.size(), 4u);
  EXPECT_EQ(map[0].addr, 0u);
  EXPECT_EQ(map[0].size, kEbdaStart);
  EXPECT_EQ(map[0].type, E820Type::kRam);
  EXPECT_EQ(map[1].type, E820Type::kReserved);
  EXPECT_EQ(map[2].addr, kBiosAreaStart);
  EXPECT_EQ(map[2].type, E820Type::kReserved);
  EXPECT_EQ(map[3].addr, kHighMemoryStart);
  EXPECT_EQ(map[3].addr + map[3].size, 512ULL << 20);
  uint64_t ram = 0;
  for (const E820Entry& e : map) {
    if (e.type == E820Type::kRam) ram += e.size;
  }
  EXPECT_EQ(ram, (512ULL << 20) - (kHighMemoryStart - kEbdaStart));
}

TEST(E820Test, WithHoleBelow4G) {
  const std::vector<E820Entry> map =
      BuildE820Map(kMmioHoleStart, 1ULL << 30);  // 4 GiB guest
  ASSERT_EQ(map.size(), 5u);
  EXPECT_EQ(map[3].addr + map[3].size, kMmioHoleStart);
  EXPECT_EQ(map[4].addr, kMmioHoleEnd);
  EXPECT_EQ(map[4].size, 1ULL << 30);
  // Nothing claims the hole.
  for (const E820Entry& e : map) {
    EXPECT_FALSE(e.addr < kMmioHoleEnd && e.addr + e.size > kMmioHoleStart);
  }
}

TEST(BootParamsTest, FillsZeroPage) {
  std::vector<uint8_t> image(2048, 0);
  image[0x1f1] = 1;
  const uint16_t version = 0x020f;
  std::memcpy(&image[0x206], &version, 2);
  std::memcpy(&image[0x202], "HdrS", 4);
  BzImage bz = FakeImage(0x1000000, 0x100000);
  BootParamsInput in{};
  in.image = &bz;
  in.image_bytes = image;
  in.plan = *PlanBzImageLoad(bz, 256ULL << 20, 8192);
  in.cmdline_addr = kCmdlineAddr;
  in.cmdline_size = 10;
  in.acpi_rsdp_addr = kAcpiRsdpAddr;
  in.e820 = BuildE820Map(256ULL << 20, 0);
  absl::StatusOr<boot_params> bp = BuildBootParams(in);
  ASSERT_TRUE(bp.ok()) << bp.status();
  EXPECT_EQ(bp->hdr.header, 0x53726448u);
  EXPECT_EQ(bp->hdr.version, 0x020f);
  EXPECT_EQ(bp->hdr.type_of_loader, 0xff);
  EXPECT_TRUE(bp->hdr.loadflags & LOADED_HIGH);
  EXPECT_EQ(bp->hdr.cmd_line_ptr, kCmdlineAddr);
  EXPECT_EQ(bp->hdr.ramdisk_image, in.plan.initrd_addr);
  EXPECT_EQ(bp->hdr.ramdisk_size, 8192u);
  EXPECT_EQ(bp->acpi_rsdp_addr, kAcpiRsdpAddr);
  ASSERT_EQ(bp->e820_entries, in.e820.size());
  EXPECT_EQ(bp->e820_table[3].addr, kHighMemoryStart);
  EXPECT_EQ(bp->e820_table[3].type, 1u);
}

}  // namespace
}  // namespace ktvm::vmm::x86_64
