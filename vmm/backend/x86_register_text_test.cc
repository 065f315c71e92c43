#include "vmm/backend/x86_register_text.h"

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace ktvm::backend {
namespace {

std::string ReadTestdata() {
  std::ifstream in("vmm/backend/testdata/info_registers_2cpu.txt");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Captured from QEMU 10.0.2 (TCG, -cpu max) running the Debian kernel.
TEST(ParseInfoRegistersTest, RealQemuOutputTwoCpus) {
  const std::string text = ReadTestdata();
  ASSERT_FALSE(text.empty());
  auto cpus = ParseInfoRegisters(text);
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  ASSERT_EQ(cpus->size(), 2u);
  const auto& r0 = (*cpus)[0].regs;
  EXPECT_EQ((*cpus)[0].cpu_index, 0);
  EXPECT_EQ((*cpus)[1].cpu_index, 1);
  EXPECT_EQ(r0.rip(), 0xffffffff91d089f5ULL);
  EXPECT_EQ(r0.rsp(), 0xff40c6cf402538e0ULL);
  EXPECT_EQ(r0.rdx(), 0x40dc0u);
  EXPECT_EQ(r0.rdi(), 0xff20616643253000ULL);
  EXPECT_EQ(r0.r8(), 0xff2061664f438f00ULL);
  EXPECT_EQ(r0.r15(), 0xff75ab26000c9480ULL);
  EXPECT_EQ(r0.rflags(), 0x286u);
  EXPECT_EQ(r0.cr0(), 0x80050033u);
  EXPECT_EQ(r0.cr2(), 0x4c8000u);
  EXPECT_EQ(r0.cr3(), 0x2976000u);
  EXPECT_EQ(r0.cr4(), 0x751ef0u);
  EXPECT_EQ(r0.efer(), 0xd01u);
  EXPECT_EQ(r0.cs().selector(), 0x10u);
  // 00af9b00: type 0xb, S, DPL 0, P, L, G.
  EXPECT_EQ(r0.cs().attributes(), 0xb | 1 << 4 | 1 << 7 | 1 << 13 | 1 << 15);
  EXPECT_EQ(r0.gs().base(), 0xff206166baecb000ULL);
  EXPECT_EQ(r0.fs_base(), 0x1ca4f3c0u);
  EXPECT_EQ(r0.gs_base(), 0xff206166baecb000ULL);
  EXPECT_EQ(r0.tr().selector(), 0x40u);
  EXPECT_EQ(r0.tr().base(), 0xfffffe661ec6e000ULL);
  EXPECT_EQ(r0.gdt().base(), 0xfffffe661ec6c000ULL);
  EXPECT_EQ(r0.gdt().limit(), 0x7fu);
  EXPECT_EQ(r0.idt().limit(), 0xfffu);
  // A null data segment is not present -> unusable.
  EXPECT_EQ(r0.ds().attributes() & (1u << 16), 1u << 16);
  EXPECT_NE((*cpus)[1].regs.rip(), 0u);
  EXPECT_FALSE((*cpus)[0].halted);
}

TEST(ParseInfoRegistersTest, GarbageIsAnError) {
  EXPECT_FALSE(ParseInfoRegisters("").ok());
  EXPECT_FALSE(ParseInfoRegisters("hello world\n").ok());
  EXPECT_FALSE(ParseInfoRegisters("CPU#x\nRIP=1\n").ok());
  EXPECT_FALSE(ParseInfoRegisters("CPU#0\nRAX=0\n").ok());  // no RIP etc.
  EXPECT_FALSE(ParseInfoRegisters("CPU#0\nES =zz 0 0 0\nRIP=1 RSP=2\n").ok());
}

TEST(ParseInfoRegistersTest, TruncatedRealOutputNamesWhatIsMissing) {
  std::string text = ReadTestdata();
  text.resize(text.find("CR0="));
  auto cpus = ParseInfoRegisters(text);
  ASSERT_FALSE(cpus.ok());
  EXPECT_NE(cpus.status().message().find("CR0"), std::string::npos)
      << cpus.status();
}

TEST(VmxAttributesTest, Conversion) {
  EXPECT_EQ(VmxAttributesFromDescriptorFlags(0x00cf9300),
            0x3 | 1 << 4 | 1 << 7 | 1 << 14 | 1 << 15);
  EXPECT_EQ(VmxAttributesFromDescriptorFlags(0), 1u << 16);
}

}  // namespace
}  // namespace ktvm::backend
