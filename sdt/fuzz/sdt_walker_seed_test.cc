#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "btf/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdt/fuzz/sdt_walker_fuzz_input.h"

namespace ktvm::sdt::fuzz {
namespace {

using ::testing::ElementsAre;

std::vector<uint8_t> ReadSeed(const std::string& name) {
  std::ifstream in(
      btf::testing::RunfilePath("sdt/fuzz/corpus/" + name + ".bin"),
      std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::vector<int> Indices(const report::SdtAllocatorSnapshot& s) {
  std::vector<int> out;
  for (const auto& e : s.entries()) out.push_back(e.idx());
  return out;
}

TEST(SdtWalkerSeedTest, OneLeafWithAFreedSlotRendersTyped) {
  const report::SdtAllocatorSnapshot s =
      WalkFuzzInput(ReadSeed("one_leaf_with_free"));
  EXPECT_THAT(Indices(s), ElementsAre(0, 1, 3, 4));
  EXPECT_EQ(s.skipped_subtrees(), 0u);
  ASSERT_EQ(s.entries_size(), 4);
  EXPECT_EQ(s.entries(0).payload().type_name(), "struct ktvm_task_ctx");
}

TEST(SdtWalkerSeedTest, TwoLevel1SubtreesInHex) {
  const report::SdtAllocatorSnapshot s =
      WalkFuzzInput(ReadSeed("two_level1_subtrees"));
  EXPECT_THAT(Indices(s),
              ElementsAre(0, 2, 4, 1 << 18 | 1, 1 << 18 | 3, 1 << 18 | 5));
  ASSERT_EQ(s.entries_size(), 6);
  EXPECT_EQ(s.entries(0).payload().bytes_value().size(), 16u);
}

}  // namespace
}  // namespace ktvm::sdt::fuzz
