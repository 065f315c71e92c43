// The sched_ext check on two real Debian kernels: trixie-backports' 7.x
// (CONFIG_SCHED_CLASS_EXT=y) passes, bookworm's 6.1 (built without it, but
// with BTF) is refused with its release and the config named.
#include "vmm/sched_ext_support.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "btf/btf_source.h"
#include "gtest/gtest.h"

namespace ktvm::vmm {
namespace {

constexpr char kSchedExtKernel[] = "external/kernel/bzImage";
constexpr char kSchedExtVersion[] = "external/kernel/VERSION";
constexpr char kNoSchedExtKernel[] = "external/kernel_no_scx/bzImage";
constexpr char kNoSchedExtVersion[] = "external/kernel_no_scx/VERSION";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()),
                             s.size());
}

btf::BtfPtr BtfOf(const std::string& bzimage) {
  btf::BzImageBtfOptions options;
  options.cache_dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/btf");
  absl::StatusOr<btf::VmlinuxBtf> loaded =
      btf::VmlinuxBtfFromBzImage(bzimage, options);
  EXPECT_TRUE(loaded.ok()) << bzimage << ": " << loaded.status();
  return loaded.ok() ? std::move(loaded->btf) : nullptr;
}

TEST(SchedExtSupportTest, ReleaseComesFromTheSetupHeader) {
  EXPECT_EQ(KernelRelease(Bytes(Slurp(kSchedExtKernel))),
            absl::StripAsciiWhitespace(Slurp(kSchedExtVersion)));
  EXPECT_EQ(KernelRelease(Bytes(Slurp(kNoSchedExtKernel))),
            absl::StripAsciiWhitespace(Slurp(kNoSchedExtVersion)));
}

TEST(SchedExtSupportTest, ReleaseOfAnythingElseIsEmpty) {
  EXPECT_EQ(KernelRelease(Bytes(std::string(4096, 'a'))), "");
  // A kernel_version offset pointing past the end of the file.
  std::string image = Slurp(kSchedExtKernel);
  image.resize(0x1000);
  image[0x20e] = '\xff';
  image[0x20f] = '\x7f';
  EXPECT_EQ(KernelRelease(Bytes(image)), "");
}

TEST(SchedExtSupportTest, KernelWithSchedExtPasses) {
  btf::BtfPtr btf = BtfOf(kSchedExtKernel);
  ASSERT_NE(btf, nullptr);
  EXPECT_TRUE(CheckSchedExtInBtf(btf.get(), kSchedExtKernel, "x").ok());
}

TEST(SchedExtSupportTest, KernelWithoutSchedExtIsRefused) {
  btf::BtfPtr btf = BtfOf(kNoSchedExtKernel);
  ASSERT_NE(btf, nullptr);
  const std::string release = KernelRelease(Bytes(Slurp(kNoSchedExtKernel)));
  const absl::Status s =
      CheckSchedExtInBtf(btf.get(), kNoSchedExtKernel, release);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), release)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "CONFIG_SCHED_CLASS_EXT")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), kNoSchedExtKernel)) << s;
}

}  // namespace
}  // namespace ktvm::vmm
