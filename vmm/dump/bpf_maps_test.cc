// Map values over synthetic kernel memory laid out with the real kernel's
// BTF offsets: PERCPU_HASH (a value per CPU per element, one element's
// per-CPU pointer unreadable), QUEUE and STACK rings in pop order, and a
// torn queue header. Maps carry no program BTF here, so values are raw
// bytes.
#include "vmm/dump/bpf_maps.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "vmm/dump/testing/fake_kernel.h"

namespace ktvm::dump {
namespace {

using testing::FakeKernel;
using testing::Off;
using testing::SizeOf;
using testing::VmlinuxBtf;

constexpr uint64_t kMapIdr = 0x1000;
constexpr uint64_t kPerCpuOffset = 0x1400;
constexpr uint64_t kNrCpuIds = 0x1500;
constexpr uint64_t kIdrNode = 0x10000;
// CPU 1's copy of a per-CPU variable lies this far above CPU 0's.
constexpr uint64_t kCpu1Offset = 0x10000;
// hlist_nulls chains end at an odd marker.
constexpr uint64_t kNulls = 1;

uint64_t AsU64(const report::RenderedValue& v) {
  uint64_t out = 0;
  std::memcpy(&out, v.bytes_value().data(),
              std::min<size_t>(8, v.bytes_value().size()));
  return out;
}

class BpfMapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(VmlinuxBtf(), nullptr) << "no BTF from external/kernel/bzImage";
    k_ = &fake_.Build();
    fake_.Put<uint64_t>(kPerCpuOffset, 0);
    fake_.Put<uint64_t>(kPerCpuOffset + 8, kCpu1Offset);
    fake_.Put<uint32_t>(kNrCpuIds, 2);
    fake_.Put<uint8_t>(kIdrNode + Off(*k_, "xa_node", "shift"), 0);
    fake_.Put<uint64_t>(kMapIdr + Off(*k_, "idr", "idr_rt.xa_head"),
                        FakeKernel::Va(kIdrNode) | 2);
  }

  // struct bpf_map at `map`, listed in map_idr under id `id`.
  void PutMap(uint64_t map, uint32_t id, report::BpfMapType type,
              uint32_t key_size, uint32_t value_size, uint32_t max_entries,
              std::string_view name) {
    const GuestKernel& k = *k_;
    fake_.Put<uint32_t>(map + Off(k, "bpf_map", "map_type"), type);
    fake_.Put<uint32_t>(map + Off(k, "bpf_map", "key_size"), key_size);
    fake_.Put<uint32_t>(map + Off(k, "bpf_map", "value_size"), value_size);
    fake_.Put<uint32_t>(map + Off(k, "bpf_map", "max_entries"), max_entries);
    fake_.Put<uint32_t>(map + Off(k, "bpf_map", "id"), id);
    fake_.PutBytes(map + Off(k, "bpf_map", "name"), name);
    fake_.Put<uint64_t>(kIdrNode + Off(k, "xa_node", "slots") + 8 * id,
                        FakeKernel::Va(map));
  }

  void PutQueueStack(uint64_t map, uint32_t head, uint32_t tail,
                     uint32_t size) {
    fake_.Put<uint32_t>(map + Off(*k_, "bpf_queue_stack", "head"), head);
    fake_.Put<uint32_t>(map + Off(*k_, "bpf_queue_stack", "tail"), tail);
    fake_.Put<uint32_t>(map + Off(*k_, "bpf_queue_stack", "size"), size);
  }

  void PutQueueSlot(uint64_t map, uint32_t slot, uint32_t value) {
    fake_.Put<uint32_t>(
        map + Off(*k_, "bpf_queue_stack", "elements") + 4 * slot, value);
  }

  const report::BpfMap* Named(const BpfMapsRead& read, std::string_view name) {
    for (const report::BpfMap& m : read.maps) {
      if (m.name() == name) return &m;
    }
    ADD_FAILURE() << "no map " << name;
    return nullptr;
  }

  FakeKernel fake_{{{"map_idr", kMapIdr},
                    {"__per_cpu_offset", kPerCpuOffset},
                    {"nr_cpu_ids", kNrCpuIds}}};
  const GuestKernel* k_ = nullptr;
};

TEST_F(BpfMapsTest, PerCpuHashHasOneValuePerCpuPerElement) {
  const GuestKernel& k = *k_;
  const uint64_t map = 0x40000, buckets = 0x48000;
  PutMap(map, 1, report::BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 16, "enq_per_pid");
  fake_.Put<uint64_t>(map + Off(k, "bpf_htab", "buckets"),
                      FakeKernel::Va(buckets));
  fake_.Put<uint32_t>(map + Off(k, "bpf_htab", "n_buckets"), 4);
  const uint64_t bucket = SizeOf(k, "bucket");
  const uint64_t key = Off(k, "htab_elem", "key");
  // Buckets 0 and 3 are empty; 1 holds pid 42; 2 holds pid 7 -> pid 9.
  const uint64_t pid42 = 0x49000, pid7 = 0x49100, pid9 = 0x49200;
  fake_.Put<uint64_t>(buckets + 0 * bucket, kNulls);
  fake_.Put<uint64_t>(buckets + 1 * bucket, FakeKernel::Va(pid42));
  fake_.Put<uint64_t>(buckets + 2 * bucket, FakeKernel::Va(pid7));
  fake_.Put<uint64_t>(buckets + 3 * bucket, kNulls);
  fake_.Put<uint64_t>(pid42, kNulls);
  fake_.Put<uint64_t>(pid7, FakeKernel::Va(pid9));
  fake_.Put<uint64_t>(pid9, kNulls);
  // Keys, then (at the key rounded up to 8) the per-CPU pointer.
  const uint64_t values42 = 0x4a000, values7 = 0x4a100;
  fake_.Put<uint32_t>(pid42 + key, 42);
  fake_.Put<uint64_t>(pid42 + key + 8, FakeKernel::Va(values42));
  fake_.Put<uint32_t>(pid7 + key, 7);
  fake_.Put<uint64_t>(pid7 + key + 8, FakeKernel::Va(values7));
  fake_.Put<uint32_t>(pid9 + key, 9);
  // pid 9's per-CPU area lies outside guest RAM on both CPUs.
  fake_.Put<uint64_t>(pid9 + key + 8, FakeKernel::Va(testing::kRamBytes));
  fake_.Put<uint64_t>(values42, 3);
  fake_.Put<uint64_t>(values42 + kCpu1Offset, 5);
  fake_.Put<uint64_t>(values7, 11);
  fake_.Put<uint64_t>(values7 + kCpu1Offset, 13);

  std::vector<report::Diagnostic> diagnostics;
  absl::StatusOr<BpfMapsRead> read = ReadBpfMaps(k, {}, diagnostics);
  ASSERT_TRUE(read.ok()) << read.status();
  const report::BpfMap* m = Named(*read, "enq_per_pid");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->note(), "");
  ASSERT_EQ(m->entries_size(), 3);
  EXPECT_EQ(m->entries_omitted(), 0u);
  EXPECT_EQ(AsU64(m->entries(0).key()), 42u);
  ASSERT_EQ(m->entries(0).percpu_values_size(), 2);
  EXPECT_EQ(AsU64(m->entries(0).percpu_values(0)), 3u);
  EXPECT_EQ(AsU64(m->entries(0).percpu_values(1)), 5u);
  EXPECT_EQ(AsU64(m->entries(1).key()), 7u);
  EXPECT_EQ(AsU64(m->entries(1).percpu_values(0)), 11u);
  EXPECT_EQ(AsU64(m->entries(1).percpu_values(1)), 13u);
  EXPECT_FALSE(m->entries(1).has_value());
  // Listed with empty values (index = CPU) and reported.
  EXPECT_EQ(AsU64(m->entries(2).key()), 9u);
  ASSERT_EQ(m->entries(2).percpu_values_size(), 2);
  EXPECT_EQ(m->entries(2).percpu_values(0).ByteSizeLong(), 0u);
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].subject(), "bpf_maps[enq_per_pid]");
  EXPECT_TRUE(
      absl::StrContains(diagnostics[0].reason(), "2 per-CPU values unreadable"))
      << diagnostics[0].reason();
}

TEST_F(BpfMapsTest, QueueAndStackListValuesInPopOrder) {
  // A queue of 4 (5 slots) that wrapped: tail 3, head 1 -> slots 3, 4, 0.
  const uint64_t queue = 0x60000;
  PutMap(queue, 2, report::BPF_MAP_TYPE_QUEUE, 0, 4, 4, "fifo");
  PutQueueStack(queue, /*head=*/1, /*tail=*/3, /*size=*/5);
  PutQueueSlot(queue, 3, 30);
  PutQueueSlot(queue, 4, 40);
  PutQueueSlot(queue, 0, 50);
  PutQueueSlot(queue, 1, 666);  // free slot
  // A stack with two pushes: head 2 -> slots 1, 0.
  const uint64_t stack = 0x68000;
  PutMap(stack, 3, report::BPF_MAP_TYPE_STACK, 0, 4, 4, "lifo");
  PutQueueStack(stack, /*head=*/2, /*tail=*/0, /*size=*/5);
  PutQueueSlot(stack, 0, 10);
  PutQueueSlot(stack, 1, 11);
  // A torn header: size does not match max_entries + 1.
  const uint64_t torn = 0x70000;
  PutMap(torn, 4, report::BPF_MAP_TYPE_QUEUE, 0, 4, 4, "torn");
  PutQueueStack(torn, 1, 0, 99);

  std::vector<report::Diagnostic> diagnostics;
  absl::StatusOr<BpfMapsRead> read = ReadBpfMaps(*k_, {}, diagnostics);
  ASSERT_TRUE(read.ok()) << read.status();
  const report::BpfMap* fifo = Named(*read, "fifo");
  ASSERT_NE(fifo, nullptr);
  ASSERT_EQ(fifo->entries_size(), 3) << fifo->DebugString();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(fifo->entries(i).key().uint_value(), static_cast<uint64_t>(i));
  }
  EXPECT_EQ(AsU64(fifo->entries(0).value()), 30u);
  EXPECT_EQ(AsU64(fifo->entries(1).value()), 40u);
  EXPECT_EQ(AsU64(fifo->entries(2).value()), 50u);
  const report::BpfMap* lifo = Named(*read, "lifo");
  ASSERT_NE(lifo, nullptr);
  ASSERT_EQ(lifo->entries_size(), 2);
  EXPECT_EQ(AsU64(lifo->entries(0).value()), 11u);
  EXPECT_EQ(AsU64(lifo->entries(1).value()), 10u);
  const report::BpfMap* bad = Named(*read, "torn");
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->entries_size(), 0);
  EXPECT_TRUE(absl::StrContains(bad->note(), "torn: head 1 tail 0 size 99"))
      << bad->note();
}

// Every bucket of a torn table points into one cycle: each chain stops at
// the chain cap, and the whole table at the read budget, not after
// n_buckets * chain-cap reads.
TEST_F(BpfMapsTest, HashWalkStopsAtItsReadBudget) {
  const GuestKernel& k = *k_;
  const uint64_t map = 0x40000, buckets = 0x48000, loop = 0x80000;
  constexpr uint32_t kBuckets = 512;
  PutMap(map, 1, report::BPF_MAP_TYPE_HASH, 4, 4, kBuckets, "cycles");
  fake_.Put<uint64_t>(map + Off(k, "bpf_htab", "buckets"),
                      FakeKernel::Va(buckets));
  fake_.Put<uint32_t>(map + Off(k, "bpf_htab", "n_buckets"), kBuckets);
  const uint64_t bucket = SizeOf(k, "bucket");
  for (uint32_t b = 0; b < kBuckets; ++b) {
    fake_.Put<uint64_t>(buckets + b * bucket, FakeKernel::Va(loop));
  }
  fake_.Put<uint64_t>(loop, FakeKernel::Va(loop));  // next = itself

  std::vector<report::Diagnostic> diagnostics;
  absl::StatusOr<BpfMapsRead> read = ReadBpfMaps(k, {}, diagnostics);
  ASSERT_TRUE(read.ok()) << read.status();
  const report::BpfMap* m = Named(*read, "cycles");
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(absl::StartsWith(m->note(), "walk stopped at bucket 256 of 512"))
      << m->note();
  EXPECT_EQ(m->entries_size(), 256);
}

TEST_F(BpfMapsTest, EntryCapCountsTheRestAsOmitted) {
  const uint64_t queue = 0x60000;
  PutMap(queue, 2, report::BPF_MAP_TYPE_QUEUE, 0, 4, 8, "fifo");
  PutQueueStack(queue, /*head=*/6, /*tail=*/0, /*size=*/9);
  BpfMapLimits limits;
  limits.max_entries = 4;
  std::vector<report::Diagnostic> diagnostics;
  absl::StatusOr<BpfMapsRead> read = ReadBpfMaps(*k_, limits, diagnostics);
  ASSERT_TRUE(read.ok()) << read.status();
  const report::BpfMap* fifo = Named(*read, "fifo");
  ASSERT_NE(fifo, nullptr);
  EXPECT_EQ(fifo->entries_size(), 4);
  EXPECT_EQ(fifo->entries_omitted(), 2u);
}

}  // namespace
}  // namespace ktvm::dump
