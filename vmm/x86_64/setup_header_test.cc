#include "vmm/x86_64/setup_header.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ktvm::vmm::x86_64 {
namespace {

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  return std::vector<uint8_t>(s.begin(), s.end());
}

template <typename T>
void Put(std::vector<uint8_t>& b, size_t off, T v) {
  std::memcpy(&b[off], &v, sizeof(v));
}

// A minimal valid bzImage: 1 setup sector + boot sector, 4 KiB kernel.
std::vector<uint8_t> CraftedImage() {
  std::vector<uint8_t> b(1024 + 4096, 0);
  b[0x1f1] = 1;                        // setup_sects
  Put<uint32_t>(b, 0x1f4, 4096 / 16);  // syssize
  Put<uint16_t>(b, 0x1fe, 0xaa55);     // boot_flag
  b[0x200] = 0xeb;
  b[0x201] = 0x66;  // header to 0x268
  std::memcpy(&b[0x202], "HdrS", 4);
  Put<uint16_t>(b, 0x206, 0x020f);  // version
  b[0x211] = LOADED_HIGH;
  Put<uint32_t>(b, 0x22c, 0x7fffffff);  // initrd_addr_max
  Put<uint32_t>(b, 0x230, 0x200000);    // kernel_alignment
  b[0x234] = 1;                         // relocatable
  Put<uint16_t>(b, 0x236, XLF_KERNEL_64);
  Put<uint32_t>(b, 0x238, 2047);       // cmdline_size
  Put<uint64_t>(b, 0x258, 0x1000000);  // pref_address
  Put<uint32_t>(b, 0x260, 0x10000);    // init_size
  return b;
}

TEST(SetupHeaderTest, ParsesTheRealDebianKernel) {
  const std::vector<uint8_t> image = ReadFile("external/kernel/bzImage");
  ASSERT_GT(image.size(), 1u << 20) << "missing @kernel//:bzImage";
  absl::StatusOr<BzImage> bz = ParseBzImage(image);
  ASSERT_TRUE(bz.ok()) << bz.status();
  EXPECT_GE(bz->protocol, kMinBootProtocol);
  EXPECT_TRUE(bz->relocatable);
  EXPECT_TRUE(bz->header.xloadflags & XLF_KERNEL_64);
  EXPECT_EQ(bz->kernel_offset, (bz->header.setup_sects + 1) * 512u);
  EXPECT_EQ(bz->kernel_offset + bz->kernel_size, image.size());
  // Decompression needs more room than the compressed image.
  EXPECT_GT(bz->init_size, bz->kernel_size);
  EXPECT_EQ(bz->kernel_alignment & (bz->kernel_alignment - 1), 0u);
  EXPECT_GE(bz->cmdline_size, 255u);
  std::printf("Debian bzImage: protocol %s, init_size 0x%x, kernel 0x%zx\n",
              ProtocolString(bz->protocol).c_str(), bz->init_size,
              bz->kernel_size);
}

TEST(SetupHeaderTest, ParsesTheTestGuest) {
  const std::vector<uint8_t> image =
      ReadFile("tests/test_guest/test_guest.bzImage");
  absl::StatusOr<BzImage> bz = ParseBzImage(image);
  ASSERT_TRUE(bz.ok()) << bz.status();
  EXPECT_EQ(bz->protocol, 0x020f);
  EXPECT_EQ(bz->pref_address, 0x1000000u);
  EXPECT_EQ(bz->kernel_offset, 1024u);
}

TEST(SetupHeaderTest, AcceptsCraftedImage) {
  absl::StatusOr<BzImage> bz = ParseBzImage(CraftedImage());
  ASSERT_TRUE(bz.ok()) << bz.status();
  EXPECT_EQ(bz->init_size, 0x10000u);
  EXPECT_EQ(bz->kernel_size, 4096u);
  EXPECT_EQ(bz->header_bytes, 0x268u - 0x1f1u);
}

TEST(SetupHeaderTest, RejectsTooShort) {
  std::vector<uint8_t> b(100, 0);
  absl::StatusOr<BzImage> bz = ParseBzImage(b);
  EXPECT_EQ(bz.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(bz.status().message().find("too short"), std::string::npos);
}

TEST(SetupHeaderTest, RejectsMissingBootFlag) {
  std::vector<uint8_t> b = CraftedImage();
  Put<uint16_t>(b, 0x1fe, 0);
  absl::StatusOr<BzImage> bz = ParseBzImage(b);
  EXPECT_EQ(bz.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bz.status().message().find("boot_flag"), std::string::npos);
}

TEST(SetupHeaderTest, RejectsMissingMagic) {
  std::vector<uint8_t> b = CraftedImage();
  std::memcpy(&b[0x202], "HdrX", 4);
  absl::StatusOr<BzImage> bz = ParseBzImage(b);
  EXPECT_EQ(bz.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bz.status().message().find("HdrS"), std::string::npos);
}

TEST(SetupHeaderTest, RejectsOldProtocol) {
  std::vector<uint8_t> b = CraftedImage();
  Put<uint16_t>(b, 0x206, 0x020b);
  absl::StatusOr<BzImage> bz = ParseBzImage(b);
  EXPECT_EQ(bz.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bz.status().message().find("2.11 is too old"), std::string::npos)
      << bz.status();
}

TEST(SetupHeaderTest, RejectsNo64BitEntry) {
  std::vector<uint8_t> b = CraftedImage();
  Put<uint16_t>(b, 0x236, 0);
  absl::StatusOr<BzImage> bz = ParseBzImage(b);
  EXPECT_NE(bz.status().message().find("XLF_KERNEL_64"), std::string::npos);
}

TEST(SetupHeaderTest, RejectsNotLoadedHigh) {
  std::vector<uint8_t> b = CraftedImage();
  b[0x211] = 0;
  EXPECT_NE(ParseBzImage(b).status().message().find("LOADED_HIGH"),
            std::string::npos);
}

TEST(SetupHeaderTest, RejectsTruncatedKernel) {
  std::vector<uint8_t> b = CraftedImage();
  b.resize(b.size() - 1);
  absl::StatusOr<BzImage> bz = ParseBzImage(b);
  EXPECT_EQ(bz.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(bz.status().message().find("truncated"), std::string::npos);
}

TEST(SetupHeaderTest, RejectsTruncatedRealKernel) {
  std::vector<uint8_t> image = ReadFile("external/kernel/bzImage");
  image.resize(image.size() / 2);
  EXPECT_EQ(ParseBzImage(image).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(SetupHeaderTest, RejectsBadAlignment) {
  std::vector<uint8_t> b = CraftedImage();
  Put<uint32_t>(b, 0x230, 0x300000);
  EXPECT_NE(ParseBzImage(b).status().message().find("power of two"),
            std::string::npos);
}

TEST(SetupHeaderTest, RejectsInitSizeBelowKernel) {
  std::vector<uint8_t> b = CraftedImage();
  Put<uint32_t>(b, 0x260, 16);
  EXPECT_NE(ParseBzImage(b).status().message().find("init_size"),
            std::string::npos);
}

}  // namespace
}  // namespace ktvm::vmm::x86_64
