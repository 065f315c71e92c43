#include "vmm/guest/initramfs_format.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "vmm/guest/compression.h"
#include "vmm/guest/cpio_writer.h"

namespace ktvm::guest {
namespace {

std::string Archive() {
  CpioWriter cpio;
  EXPECT_TRUE(cpio.AddFile("/init", "x", 0755).ok());
  return cpio.Finish();
}

TEST(InitramfsFormatTest, AcceptsWhatTheKernelUnpacks) {
  const std::string cpio = Archive();
  EXPECT_TRUE(CheckInitramfsFormat(cpio).ok());
  EXPECT_TRUE(CheckInitramfsFormat(std::string(512, '\0') + cpio).ok());
  EXPECT_TRUE(CheckInitramfsFormat(std::string(4096, '\0')).ok());
  absl::StatusOr<std::string> gz = CompressGzip(cpio);
  ASSERT_TRUE(gz.ok()) << gz.status();
  EXPECT_TRUE(CheckInitramfsFormat(*gz).ok());
  absl::StatusOr<std::string> zst = CompressZstd(cpio);
  ASSERT_TRUE(zst.ok()) << zst.status();
  EXPECT_TRUE(CheckInitramfsFormat(*zst).ok());
  EXPECT_TRUE(
      CheckInitramfsFormat(std::string("\xfd\x37\x7a\x58\x5a\x00", 6)).ok());
}

TEST(InitramfsFormatTest, RefusesAnythingElseNamingItsStart) {
  EXPECT_TRUE(absl::StrContains(CheckInitramfsFormat("").message(), "empty"));
  const absl::Status text = CheckInitramfsFormat("hello world\n");
  EXPECT_TRUE(absl::IsInvalidArgument(text)) << text;
  EXPECT_TRUE(absl::StrContains(text.message(), "68656c6c6f20776f at byte 0"))
      << text;
  const absl::Status padded = CheckInitramfsFormat(std::string(4, '\0') +
                                                   "\x7f"
                                                   "ELF");
  EXPECT_TRUE(absl::StrContains(padded.message(), "7f454c46 at byte 4"))
      << padded;
  // Old binary cpio (070707) is not newc: the kernel refuses it too.
  EXPECT_FALSE(CheckInitramfsFormat("070707").ok());
}

}  // namespace
}  // namespace ktvm::guest
