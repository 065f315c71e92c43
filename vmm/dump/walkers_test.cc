// The walkers over synthetic kernel memory laid out with the real kernel's
// BTF offsets: an XArray (map_idr), a printk ring buffer with a wrapped and
// a torn record, and random memory that must give errors, never a crash or
// a hang.
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "btf/type_lookup.h"
#include "gtest/gtest.h"
#include "vmm/dump/bpf_maps.h"
#include "vmm/dump/bpf_symbols.h"
#include "vmm/dump/kernel_bootstrap.h"
#include "vmm/dump/map_idr.h"
#include "vmm/dump/printk_log.h"
#include "vmm/dump/run_queues.h"
#include "vmm/dump/scx_exit_monitor.h"
#include "vmm/dump/testing/fake_kernel.h"

namespace ktvm::dump {
namespace {

using testing::FakeKernel;
using testing::kPageOffset;
using testing::kRamBytes;
using testing::Off;
using testing::VmlinuxBtf;

TEST(MapIdrTest, WalksNodesInIndexOrderAndStopsAtCycles) {
  ASSERT_NE(VmlinuxBtf(), nullptr) << "no BTF from external/kernel/bzImage";
  FakeKernel fake({{"map_idr", 0x1000}});
  const GuestKernel& k = fake.Build();
  const uint64_t shift = Off(k, "xa_node", "shift");
  const uint64_t slots = Off(k, "xa_node", "slots");
  const uint64_t head = Off(k, "idr", "idr_rt.xa_head");
  // Root node (shift 6) at pa 0x10000 -> leaves at 0x20000 and 0x30000.
  const uint64_t root = 0x10000, leaf_a = 0x20000, leaf_b = 0x30000;
  fake.Put<uint8_t>(root + shift, 6);
  fake.Put<uint8_t>(leaf_a + shift, 0);
  fake.Put<uint8_t>(leaf_b + shift, 0);
  fake.Put<uint64_t>(root + slots + 8 * 0, FakeKernel::Va(leaf_a) | 2);
  fake.Put<uint64_t>(root + slots + 8 * 3, FakeKernel::Va(leaf_b) | 2);
  fake.Put<uint64_t>(leaf_a + slots + 8 * 1, 0xffff888000041000ull);
  fake.Put<uint64_t>(leaf_a + slots + 8 * 2, 0xffff888000042000ull);
  fake.Put<uint64_t>(leaf_b + slots + 8 * 0, 0xffff888000043000ull);
  // A value entry and a retry entry are not maps.
  fake.Put<uint64_t>(leaf_b + slots + 8 * 5, 0x1235);
  fake.Put<uint64_t>(leaf_b + slots + 8 * 6, 0x402);
  // A leaf that points back at the root: a cycle, abandoned.
  fake.Put<uint64_t>(leaf_b + slots + 8 * 9, FakeKernel::Va(root) | 2);
  fake.Put<uint64_t>(0x1000 + head, FakeKernel::Va(root) | 2);

  uint32_t skipped = 0;
  absl::StatusOr<std::vector<uint64_t>> maps = ListBpfMaps(k, 64, &skipped);
  ASSERT_TRUE(maps.ok()) << maps.status();
  EXPECT_EQ(*maps,
            (std::vector<uint64_t>{0xffff888000041000ull, 0xffff888000042000ull,
                                   0xffff888000043000ull}));
  EXPECT_EQ(skipped, 1u);
  // The cap holds.
  maps = ListBpfMaps(k, 2, &skipped);
  ASSERT_TRUE(maps.ok());
  EXPECT_EQ(maps->size(), 2u);
}

TEST(MapIdrTest, SelfReferencingNodeTerminates) {
  ASSERT_NE(VmlinuxBtf(), nullptr);
  FakeKernel fake({{"map_idr", 0x1000}});
  const GuestKernel& k = fake.Build();
  const uint64_t shift = Off(k, "xa_node", "shift");
  const uint64_t slots = Off(k, "xa_node", "slots");
  const uint64_t node = 0x10000;
  fake.Put<uint8_t>(node + shift, 60);
  for (int i = 0; i < 64; ++i) {
    fake.Put<uint64_t>(node + slots + 8 * i, FakeKernel::Va(node) | 2);
  }
  fake.Put<uint64_t>(0x1000 + Off(k, "idr", "idr_rt.xa_head"),
                     FakeKernel::Va(node) | 2);
  uint32_t skipped = 0;
  absl::StatusOr<std::vector<uint64_t>> maps = ListBpfMaps(k, 64, &skipped);
  ASSERT_TRUE(maps.ok());
  EXPECT_TRUE(maps->empty());
  EXPECT_GT(skipped, 0u);
}

// A printk ring of 16 descriptors and a 256-byte text ring.
class PrintkRing {
 public:
  static constexpr uint64_t kPrb = 0x2000, kDescs = 0x10000, kInfos = 0x20000,
                            kData = 0x30000;
  static constexpr unsigned kCountBits = 4, kSizeBits = 8;

  explicit PrintkRing(FakeKernel& fake, const GuestKernel& k)
      : fake_(fake), k_(k) {
    fake.Put<uint64_t>(0x1000, FakeKernel::Va(kPrb));  // prb
    fake.Put<uint32_t>(
        kPrb + Off(k, "printk_ringbuffer", "desc_ring.count_bits"), kCountBits);
    fake.Put<uint64_t>(kPrb + Off(k, "printk_ringbuffer", "desc_ring.descs"),
                       FakeKernel::Va(kDescs));
    fake.Put<uint64_t>(kPrb + Off(k, "printk_ringbuffer", "desc_ring.infos"),
                       FakeKernel::Va(kInfos));
    fake.Put<uint32_t>(
        kPrb + Off(k, "printk_ringbuffer", "text_data_ring.size_bits"),
        kSizeBits);
    fake.Put<uint64_t>(
        kPrb + Off(k, "printk_ringbuffer", "text_data_ring.data"),
        FakeKernel::Va(kData));
    desc_size_ =
        *btf::TypeSize(k.btf(), *btf::RequireFullStruct(k.btf(), "prb_desc"));
    info_size_ = *btf::TypeSize(
        k.btf(), *btf::RequireFullStruct(k.btf(), "printk_info"));
  }

  // Record `id` (slot id % 16) with text stored at data-ring position
  // [begin, next) (logical positions; the block starts with the id).
  void Add(uint64_t id, uint64_t seq, uint64_t begin, uint64_t next,
           std::string_view text, uint64_t state = 2,
           uint64_t block_id = ~0ull) {
    const uint64_t slot = id & 15;
    const uint64_t d = kDescs + slot * desc_size_;
    fake_.Put<uint64_t>(d + Off(k_, "prb_desc", "state_var"),
                        (state << 62) | id);
    fake_.Put<uint64_t>(d + Off(k_, "prb_desc", "text_blk_lpos.begin"), begin);
    fake_.Put<uint64_t>(d + Off(k_, "prb_desc", "text_blk_lpos.next"), next);
    const uint64_t i = kInfos + slot * info_size_;
    fake_.Put<uint64_t>(i + Off(k_, "printk_info", "seq"), seq);
    fake_.Put<uint64_t>(i + Off(k_, "printk_info", "ts_nsec"), seq * 1000);
    fake_.Put<uint16_t>(i + Off(k_, "printk_info", "text_len"), text.size());
    const bool wraps = (begin >> kSizeBits) != (next >> kSizeBits);
    const uint64_t at = wraps ? 0 : (begin & 255);
    fake_.Put<uint64_t>(kData + at, block_id == ~0ull ? id : block_id);
    fake_.PutBytes(kData + at + 8, text);
  }

 private:
  FakeKernel& fake_;
  const GuestKernel& k_;
  uint64_t desc_size_ = 0, info_size_ = 0;
};

TEST(PrintkLogTest, ReadsRecordsInSequenceOrderIncludingAWrappedOne) {
  ASSERT_NE(VmlinuxBtf(), nullptr);
  FakeKernel fake({{"prb", 0x1000}});
  const GuestKernel& k = fake.Build();
  PrintkRing ring(fake, k);
  ring.Add(/*id=*/17, /*seq=*/101, 256 + 100, 256 + 130, "second record");
  ring.Add(/*id=*/16, /*seq=*/100, 256 + 40, 256 + 70, "first record");
  // Starts near the end of the ring, stored from offset 0 of the next wrap.
  ring.Add(/*id=*/18, /*seq=*/102, 256 + 240, 512 + 40, "wrapped record");
  // A descriptor still being written (reserved) is not a record.
  ring.Add(/*id=*/19, /*seq=*/103, 512 + 60, 512 + 90, "reserved", 0);
  // A data block whose id does not match its descriptor is torn.
  ring.Add(/*id=*/20, /*seq=*/104, 512 + 150, 512 + 180, "torn", 2, 7);

  absl::StatusOr<report::KernelLog> log = ReadPrintkLog(k, 10);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->records_size(), 3);
  EXPECT_EQ(log->records(0).text(), "first record");
  EXPECT_EQ(log->records(0).sequence(), 100u);
  EXPECT_EQ(log->records(1).text(), "second record");
  EXPECT_EQ(log->records(2).text(), "wrapped record");
  EXPECT_EQ(log->dropped(), 1u);
  // The tail cap keeps the newest.
  log = ReadPrintkLog(k, 1);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->records_size(), 1);
  EXPECT_EQ(log->records(0).text(), "wrapped record");
  EXPECT_EQ(log->dropped(), 3u);  // two older records and the torn one
}

TEST(PrintkLogTest, ImplausibleHeaderIsAnError) {
  ASSERT_NE(VmlinuxBtf(), nullptr);
  FakeKernel fake({{"prb", 0x1000}});
  const GuestKernel& k = fake.Build();
  PrintkRing ring(fake, k);
  fake.Put<uint32_t>(
      PrintkRing::kPrb + Off(k, "printk_ringbuffer", "desc_ring.count_bits"),
      40);
  absl::StatusOr<report::KernelLog> log = ReadPrintkLog(k, 10);
  EXPECT_FALSE(log.ok());
  EXPECT_TRUE(absl::StrContains(log.status().message(), "count_bits 40"))
      << log.status();
}

// Seen while writing printk_log_fuzzer (an ASan heap-buffer-overflow on
// vmm/fuzz/corpus/printk_regressions/next_below_begin_text_len_ffff.bin): a
// descriptor whose next lies below its begin (same wrap) made the block
// length wrap around, passed the bounds check and copied up to 64 KiB from
// beyond the text ring. It is torn.
TEST(PrintkLogTest, NextBelowBeginIsTornNotReadPastTheRing) {
  ASSERT_NE(VmlinuxBtf(), nullptr);
  FakeKernel fake({{"prb", 0x1000}});
  const GuestKernel& k = fake.Build();
  PrintkRing ring(fake, k);
  ring.Add(/*id=*/16, /*seq=*/100, 256 + 100, 256 + 40, "backwards");
  fake.Put<uint16_t>(PrintkRing::kInfos + Off(k, "printk_info", "text_len"),
                     0xffff);
  absl::StatusOr<report::KernelLog> log = ReadPrintkLog(k, 10);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(log->records_size(), 0);
  EXPECT_EQ(log->dropped(), 1u);
}

// Every walker over random memory: errors or bounded output, no crash and
// no hang (the test's timeout would catch a loop).
TEST(WalkerRobustnessTest, RandomMemoryNeverCrashes) {
  ASSERT_NE(VmlinuxBtf(), nullptr);
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    FakeKernel fake({{"map_idr", 0x1000},
                     {"prb", 0x1100},
                     {"scx_root", 0x1200},
                     {"runqueues", 0x1300},
                     {"__per_cpu_offset", 0x1400},
                     {"nr_cpu_ids", 0x1500},
                     {"prog_idr", 0x1600},
                     {"bpf_kallsyms", 0x1700}});
    for (size_t i = 0; i < kRamBytes; i += 8) {
      uint64_t v = rng();
      // Half the words look like direct-map pointers into this RAM.
      if (v & 1) v = kPageOffset + (v >> 8) % kRamBytes;
      std::memcpy(fake.ram().data() + i, &v, 8);
    }
    const GuestKernel& k = fake.Build();
    std::vector<report::Diagnostic> diagnostics;
    (void)ReadPrintkLog(k, 256);
    absl::StatusOr<BpfMapsRead> maps = ReadBpfMaps(k, {}, diagnostics);
    if (maps.ok()) {
      EXPECT_LE(maps->maps.size(), 64u);
    }
    (void)ReadRunQueues(k, diagnostics);
    absl::StatusOr<BpfSymbols> bpf = ReadBpfSymbols(k, {}, diagnostics);
    if (bpf.ok()) {
      // Programs and their subprograms, plus the capped list walk.
      EXPECT_LE(bpf->size(), 1024u * 257u + 8192u);
    }
    absl::StatusOr<ScxExitMonitor> scx = ScxExitMonitor::Create(k);
    ASSERT_TRUE(scx.ok()) << scx.status();
    (void)scx->PollKind();
    absl::StatusOr<report::SchedExtExitInfo> info = scx->ReadExitInfo();
    if (info.ok()) {
      EXPECT_LE(info->backtrace_size(), 64);
    }
  }
}

}  // namespace
}  // namespace ktvm::dump
