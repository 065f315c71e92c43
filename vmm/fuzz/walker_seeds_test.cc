// The walker fuzzers' seeds decode, through fuzz_guest.h, into what the
// walkers' unit tests assert for the same shapes: a seed that gave an empty
// walk would start every mutation shallow.
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "vmm/dump/bpf_maps.h"
#include "vmm/dump/bpf_symbols.h"
#include "vmm/dump/printk_log.h"
#include "vmm/fuzz/fuzz_guest.h"

namespace ktvm::dump::fuzz {
namespace {

std::vector<uint8_t> ReadSeed(const std::string& name) {
  std::ifstream in("vmm/fuzz/corpus/" + name, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

class WalkerSeedsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    absl::StatusOr<std::unique_ptr<FuzzGuest>> guest =
        FuzzGuest::Create("external/kernel/bzImage", tmp ? tmp : "");
    ASSERT_TRUE(guest.ok()) << guest.status();
    guest_ = *std::move(guest);
  }
  const GuestKernel& Load(const std::string& seed) {
    const std::vector<uint8_t> bytes = ReadSeed(seed);
    EXPECT_FALSE(bytes.empty()) << seed;
    return guest_->Load(bytes);
  }

  std::unique_ptr<FuzzGuest> guest_;
};

TEST_F(WalkerSeedsTest, PrintkSeedHoldsThreeRecordsOneWrappedAndATornOne) {
  const GuestKernel& k = Load("printk/ring_wrapped_torn.bin");
  absl::StatusOr<report::KernelLog> log = ReadPrintkLog(k, 16);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->records_size(), 3);
  EXPECT_EQ(log->records(0).text(), "Run /init as init process");
  EXPECT_EQ(log->records(2).text(), "sysrq: Trigger a crash");
  EXPECT_EQ(log->dropped(), 1u);
}

TEST_F(WalkerSeedsTest, BpfSymbolsSeedNamesProgramsSubprogramsTrampoline) {
  const GuestKernel& k = Load("bpf_symbols/progs_subprogs_tramp.bin");
  std::vector<report::Diagnostic> diagnostics;
  absl::StatusOr<BpfSymbols> symbols = ReadBpfSymbols(k, {}, diagnostics);
  ASSERT_TRUE(symbols.ok()) << symbols.status();
  ASSERT_EQ(symbols->size(), 4u);
  const BpfSymbol* tramp = symbols->Find(0xffffffffc0401a00ull);
  ASSERT_NE(tramp, nullptr);
  EXPECT_EQ(tramp->name, "bpf__sched_ext_ops_enqueue");
  const BpfSymbol* dispatch = symbols->Find(0xffffffffc0401000ull);
  ASSERT_NE(dispatch, nullptr);
  EXPECT_EQ(dispatch->name, "bpf_prog_01020304a5b6c7d8_ktvm_dispatch");
  ASSERT_EQ(diagnostics.size(), 1u) << "the torn program";
}

TEST_F(WalkerSeedsTest, BpfMapsSeedHoldsFourMapsWithEntries) {
  const GuestKernel& k = Load("bpf_maps/hash_percpu_queue_stack.bin");
  std::vector<report::Diagnostic> diagnostics;
  absl::StatusOr<BpfMapsRead> read = ReadBpfMaps(k, {}, diagnostics);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->maps.size(), 4u);
  std::vector<int> entries;
  for (const report::BpfMap& m : read->maps) {
    EXPECT_EQ(m.note(), "") << m.name();
    entries.push_back(m.entries_size());
  }
  EXPECT_EQ(entries, (std::vector<int>{3, 2, 3, 2}));
  EXPECT_EQ(read->maps[0].entries(0).percpu_values_size(), 2);
  EXPECT_TRUE(diagnostics.empty());
}

}  // namespace
}  // namespace ktvm::dump::fuzz
