// The arena fuzzer's seeds decode to real walks: the two pages with frames
// of their own are captured, the aliased and empty ones are not, in both
// paging modes (a seed that decoded to nothing would start every mutation
// shallow).
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sdt/fuzz/arena_fuzz_input.h"

namespace ktvm::sdt::fuzz {
namespace {

std::vector<uint8_t> ReadSeed(const std::string& name) {
  std::ifstream f("sdt/fuzz/corpus/arena/" + name, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(ArenaSeedTest, SeedsCaptureTheMappedPages) {
  for (const char* seed : {"four_level.bin", "five_level.bin"}) {
    SCOPED_TRACE(seed);
    const std::vector<uint8_t> bytes = ReadSeed(seed);
    ASSERT_GT(bytes.size(), sizeof(ArenaFuzzHeader));
    const std::optional<ArenaFuzzRun> run = RunArenaFuzzInput(bytes);
    ASSERT_TRUE(run.has_value());
    EXPECT_TRUE(run->window_valid);
    ASSERT_TRUE(run->snapshot.ok()) << run->snapshot.status();
    const report::ArenaSnapshot& s = *run->snapshot;
    ASSERT_EQ(s.pages_size(), 2);
    EXPECT_EQ(s.pages(0).user_addr(), run->window.user_vm_start);
    EXPECT_EQ(s.pages(1).user_addr(), run->window.user_vm_start + 3 * 4096);
    EXPECT_EQ(s.pages(0).data(), std::string(4096, '\xa0'));
    EXPECT_EQ(s.pages(1).data(), std::string(4096, '\xa2'));
    EXPECT_EQ(s.unmapped_pages(), 6u);
  }
}

}  // namespace
}  // namespace ktvm::sdt::fuzz
