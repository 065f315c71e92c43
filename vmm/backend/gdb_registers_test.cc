#include "vmm/backend/gdb_registers.h"

#include "gtest/gtest.h"

namespace ktvm::backend {
namespace {

std::string Le(uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    char buf[3];
    std::snprintf(buf, sizeof(buf), "%02x",
                  static_cast<unsigned>((v >> (8 * i)) & 0xff));
    out += buf;
  }
  return out;
}

TEST(GdbRegistersTest, DecodesQemuX86_64Layout) {
  std::string hex;
  for (int i = 0; i < 16; ++i) hex += Le(0x1000 + i, 8);
  hex += Le(0xffffffff81000000ULL, 8);  // rip
  hex += Le(0x246, 4);                  // eflags
  for (int i = 0; i < 6; ++i) hex += Le(0x10 + 8 * i, 4);
  hex += Le(0x7f0000001000ULL, 8);      // fs_base
  hex += Le(0xffff888007c00000ULL, 8);  // gs_base
  hex += Le(0x5555, 8);                 // k_gs_base
  hex += Le(0x80050033, 8);             // cr0
  hex += Le(0x42, 8);                   // cr2
  hex += Le(0x1234000, 8);              // cr3
  hex += Le(0x750ef0, 8);               // cr4
  hex += Le(0xf, 8);                    // cr8
  hex += Le(0xd01, 8);                  // efer
  hex += std::string(372 * 2, '0');     // FPU/SSE state
  auto r = DecodeGdbX86Registers(hex);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->gpr[0], 0x1000u);
  EXPECT_EQ(r->gpr[15], 0x100fu);
  EXPECT_EQ(r->rip, 0xffffffff81000000ULL);
  EXPECT_EQ(r->eflags, 0x246u);
  EXPECT_EQ(r->seg[0], 0x10u);
  EXPECT_EQ(r->seg[5], 0x38u);
  EXPECT_EQ(r->fs_base, 0x7f0000001000ULL);
  EXPECT_EQ(r->gs_base, 0xffff888007c00000ULL);
  EXPECT_EQ(r->kernel_gs_base, 0x5555u);
  EXPECT_EQ(r->cr0, 0x80050033u);
  EXPECT_EQ(r->cr3, 0x1234000u);
  EXPECT_EQ(r->cr8, 0xfu);
  EXPECT_EQ(r->efer, 0xd01u);
}

TEST(GdbRegistersTest, ShortOrBadRepliesAreErrors) {
  EXPECT_FALSE(DecodeGdbX86Registers("").ok());
  EXPECT_FALSE(DecodeGdbX86Registers("E01").ok());
  EXPECT_FALSE(DecodeGdbX86Registers(std::string(400, '0')).ok());
  EXPECT_FALSE(DecodeGdbX86Registers(std::string(1216, 'z')).ok());
}

TEST(GdbRegistersTest, PacketFraming) {
  EXPECT_EQ(GdbFramePacket("g"), "$g#67");
  EXPECT_EQ(GdbFramePacket("qfThreadInfo"), "$qfThreadInfo#bb");
}

}  // namespace
}  // namespace ktvm::backend
