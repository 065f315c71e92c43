#include "sdt/sdt_walker.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "btf/type_lookup.h"
#include "gmock/gmock.h"
#include "google/protobuf/arena.h"
#include "gtest/gtest.h"
#include "sdt/sdt_format.h"
#include "sdt/testing/arena_builder.h"
#include "sdt/testing/program_btf.h"

namespace ktvm::sdt {
namespace {

using ::ktvm::report::RenderedValue;
using ::ktvm::report::SdtAllocatorSnapshot;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using testing::SdtTreeBuilder;
using testing::TestArena;

// struct ktvm_task_ctx of testdata/sdt_fixture.bpf.c.
struct TaskCtx {
  int32_t pid;
  uint32_t magic;
  uint64_t counter;
};
static_assert(sizeof(TaskCtx) == 16);
constexpr uint64_t kTaskElemSize = 24;

std::vector<uint8_t> Payload(int32_t pid, uint64_t counter = 0) {
  const TaskCtx ctx{pid, 0xfeed, counter};
  std::vector<uint8_t> out(sizeof(ctx));
  std::memcpy(out.data(), &ctx, sizeof(ctx));
  return out;
}

uint32_t Idx(uint32_t pos0, uint32_t pos1, uint32_t pos2) {
  return pos0 << 18 | pos1 << 9 | pos2;
}

const RenderedValue& Member(const RenderedValue& v, const std::string& name) {
  for (const auto& m : v.struct_value().members()) {
    if (m.name() == name) return m.value();
  }
  static const RenderedValue kMissing;
  ADD_FAILURE() << "no member " << name << " in " << v.DebugString();
  return kMissing;
}

std::vector<int32_t> Indices(const SdtAllocatorSnapshot& s) {
  std::vector<int32_t> out;
  for (const auto& e : s.entries()) out.push_back(e.idx());
  return out;
}

class SdtWalkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<btf::BtfPtr> b = testing::LoadProgramBtf("sdt_fixture");
    ASSERT_TRUE(b.ok()) << b.status();
    btf_ = *std::move(b);
    absl::StatusOr<SdtAllocOffsets> o = SdtAllocOffsets::FromBtf(btf_.get());
    ASSERT_TRUE(o.ok()) << o.status();
    offsets_ = *o;
    payload_ =
        DiscoverPayloadBtfId(btf_.get(), kTaskElemSize - 8, "task_allocator");
    ASSERT_EQ(payload_.type_name, "struct ktvm_task_ctx");
  }

  SdtWalkContext Context() const {
    SdtWalkContext ctx;
    ctx.kernel_memory = &arena_.kernel_memory();
    ctx.arena = arena_.window();
    ctx.program_btf = btf_.get();
    ctx.offsets = offsets_;
    return ctx;
  }

  SdtAllocatorSnapshot Walk(const SdtTreeBuilder& tree) const {
    return Walk(tree.AllocatorBytes());
  }
  SdtAllocatorSnapshot Walk(const std::vector<uint8_t>& allocator) const {
    SdtAllocatorSnapshot s =
        WalkSdtAllocator(Context(), "task_allocator", allocator, payload_);
    EXPECT_EQ(s.error(), "");
    return s;
  }

  TestArena arena_;
  btf::BtfPtr btf_;
  SdtAllocOffsets offsets_;
  PayloadTypeChoice payload_;
};

TEST_F(SdtWalkerTest, NullRootHasNoEntriesAndNoError) {
  std::vector<uint8_t> allocator = SdtTreeBuilder(arena_, 24).AllocatorBytes();
  std::memset(allocator.data() + 32, 0, 8);
  const SdtAllocatorSnapshot s = Walk(allocator);
  EXPECT_EQ(s.entries_size(), 0);
  EXPECT_EQ(s.elem_size(), 24u);
  EXPECT_EQ(s.skipped_subtrees(), 0u);
  EXPECT_FALSE(s.truncated());
}

TEST_F(SdtWalkerTest, OneEntryRenderedThroughBtf) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  ASSERT_EQ(tree.Alloc(Payload(4242, 7)), 0u);
  const SdtAllocatorSnapshot s = Walk(tree);
  ASSERT_EQ(s.entries_size(), 1);
  const auto& e = s.entries(0);
  EXPECT_EQ(e.idx(), 0);
  EXPECT_EQ(e.genn(), 0);
  EXPECT_EQ(e.user_addr(), tree.DataAddr(0) & 0xffffffffULL);
  EXPECT_FALSE(e.zeroed());
  EXPECT_EQ(e.payload().type_name(), "struct ktvm_task_ctx");
  EXPECT_EQ(Member(e.payload(), "pid").int_value(), 4242);
  EXPECT_EQ(Member(e.payload(), "magic").uint_value(), 0xfeedu);
  EXPECT_EQ(Member(e.payload(), "counter").uint_value(), 7u);
  EXPECT_EQ(s.payload_btf_type_id(), payload_.btf_type_id);
  EXPECT_EQ(s.payload_type_name(), "struct ktvm_task_ctx");
}

// The reference walker's bug: interior bits mean "subtree full", so ten
// live tasks in two non-full level-1 subtrees have no interior bit set.
TEST_F(SdtWalkerTest, TenEntriesOverTwoLevel1SubtreesAreAllFound) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  std::vector<int32_t> want;
  for (uint32_t i = 0; i < 10; ++i) {
    const uint32_t idx = Idx(i % 2, 3 * i, i);
    tree.AllocAt(idx, Payload(100 + i));
  }
  for (uint32_t i = 0; i < 10; i += 2) want.push_back(Idx(0, 3 * i, i));
  for (uint32_t i = 1; i < 10; i += 2) want.push_back(Idx(1, 3 * i, i));
  // No interior bit is set anywhere: nothing is full.
  for (int w = 0; w < 8; ++w) {
    ASSERT_EQ(arena_.ReadU64(tree.root() + 8 * w), 0u);
  }
  const SdtAllocatorSnapshot s = Walk(tree);
  EXPECT_THAT(Indices(s), ElementsAreArray(want));
  EXPECT_EQ(s.skipped_subtrees(), 0u);
  for (const auto& e : s.entries()) {
    const uint32_t i = e.idx() & 0x1ff;
    EXPECT_EQ(Member(e.payload(), "pid").int_value(), 100 + i);
  }
}

TEST_F(SdtWalkerTest, FullLeafChunkOf512AndTheNextOne) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  for (int i = 0; i < 513; ++i) ASSERT_EQ(tree.Alloc(Payload(i)), i);
  // The full leaf set its bit in the level-1 descriptor, not in the root.
  EXPECT_EQ(arena_.ReadU64(tree.DescAddr(1, 0)) & 1, 1u);
  EXPECT_EQ(arena_.ReadU64(tree.DescAddr(1, 0) + 64), 511u);
  EXPECT_EQ(arena_.ReadU64(tree.root()), 0u);
  const SdtAllocatorSnapshot s = Walk(tree);
  ASSERT_EQ(s.entries_size(), 513);
  for (int i = 0; i < 513; ++i) {
    EXPECT_EQ(s.entries(i).idx(), i);
    EXPECT_EQ(Member(s.entries(i).payload(), "pid").int_value(), i);
  }
  EXPECT_FALSE(s.truncated());
}

TEST_F(SdtWalkerTest, FreedSlotIsNotListedAndItsReuseBumpsGenn) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  for (int i = 0; i < 3; ++i) tree.Alloc(Payload(i + 1));
  tree.Free(1);
  SdtAllocatorSnapshot s = Walk(tree);
  EXPECT_THAT(Indices(s), ElementsAreArray({0, 2}));

  ASSERT_EQ(tree.Alloc(Payload(9)), 1u);  // Reuses the slot and pointer.
  s = Walk(tree);
  ASSERT_EQ(s.entries_size(), 3);
  EXPECT_EQ(s.entries(1).idx(), 1);
  EXPECT_EQ(s.entries(1).genn(), 1);
  EXPECT_EQ(Member(s.entries(1).payload(), "pid").int_value(), 9);
}

TEST_F(SdtWalkerTest, FreeOfAFullLeafClearsTheInteriorBit) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  for (int i = 0; i < 512; ++i) tree.Alloc(Payload(i));
  tree.Free(100);
  EXPECT_EQ(arena_.ReadU64(tree.DescAddr(1, 0)) & 1, 0u);
  const SdtAllocatorSnapshot s = Walk(tree);
  EXPECT_EQ(s.entries_size(), 511);
}

TEST_F(SdtWalkerTest, LiveSlotWithAllZeroPayloadIsListedAsZeroed) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  tree.Alloc(Payload(1));
  tree.Alloc(std::vector<uint8_t>(16, 0));
  const SdtAllocatorSnapshot s = Walk(tree);
  ASSERT_EQ(s.entries_size(), 2);
  EXPECT_FALSE(s.entries(0).zeroed());
  EXPECT_TRUE(s.entries(1).zeroed());
  EXPECT_EQ(Member(s.entries(1).payload(), "pid").int_value(), 0);
  EXPECT_THAT(FormatSdtAllocEntry(s.entries(1)), HasSubstr("(zeroed)"));
}

TEST_F(SdtWalkerTest, BitSetButDataNullIsSkippedSilently) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  tree.Alloc(Payload(1));
  const uint64_t leaf = tree.DescAddr(2, 0);
  arena_.WriteU64(leaf, arena_.ReadU64(leaf) | (1ULL << 5));
  ASSERT_EQ(tree.DataAddr(5), 0u);
  const SdtAllocatorSnapshot s = Walk(tree);
  EXPECT_THAT(Indices(s), ElementsAreArray({0}));
  EXPECT_EQ(s.skipped_subtrees(), 0u);
}

TEST_F(SdtWalkerTest, CorruptNrFreeSkipsOnlyThatSubtree) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  tree.AllocAt(Idx(0, 0, 0), Payload(1));
  tree.AllocAt(Idx(1, 0, 0), Payload(2));
  arena_.WriteU64(tree.DescAddr(1, Idx(0, 0, 0)) + 64, 513);
  const SdtAllocatorSnapshot s = Walk(tree);
  EXPECT_THAT(Indices(s), ElementsAreArray({static_cast<int>(Idx(1, 0, 0))}));
  EXPECT_EQ(s.skipped_subtrees(), 1u);
  EXPECT_THAT(FormatSdtAllocatorSnapshot(s), HasSubstr("1 subtrees skipped"));
}

TEST_F(SdtWalkerTest, NullChunkIsASkippedSubtree) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  tree.AllocAt(Idx(0, 0, 0), Payload(1));
  tree.AllocAt(Idx(0, 1, 0), Payload(2));
  arena_.WriteU64(tree.DescAddr(2, Idx(0, 1, 0)) + 72, 0);
  const SdtAllocatorSnapshot s = Walk(tree);
  EXPECT_THAT(Indices(s), ElementsAreArray({0}));
  EXPECT_EQ(s.skipped_subtrees(), 1u);
}

TEST_F(SdtWalkerTest, PointersOutsideTheArenaMappingAreSkipped) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  for (int i = 0; i < 3; ++i) tree.Alloc(Payload(i));
  const uint64_t unmapped = arena_.unmapped_user_addr() + (1 << 20);
  // A level-1 child that is not mapped, and a live slot whose data is not.
  arena_.WriteU64(tree.ChunkSlotAddr(0, 0, 7), unmapped);
  arena_.WriteU64(tree.ChunkSlotAddr(2, 0, 2), unmapped + 0x40);
  const SdtAllocatorSnapshot s = Walk(tree);
  EXPECT_THAT(Indices(s), ElementsAreArray({0, 1}));
  EXPECT_EQ(s.skipped_subtrees(), 2u);
}

TEST_F(SdtWalkerTest, UpperPointerBitsAreIgnoredLikeTheJit) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  tree.Alloc(Payload(5));
  const uint64_t slot = tree.ChunkSlotAddr(2, 0, 0);
  arena_.WriteU64(slot, arena_.ReadU64(slot) | 0xdead000000000000ULL);
  const SdtAllocatorSnapshot s = Walk(tree);
  ASSERT_EQ(s.entries_size(), 1);
  EXPECT_EQ(Member(s.entries(0).payload(), "pid").int_value(), 5);
  EXPECT_EQ(s.entries(0).user_addr(), tree.DataAddr(0) & 0xffffffffULL);
}

TEST_F(SdtWalkerTest, DescriptorPointingBackAtAnAncestorTerminates) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  tree.Alloc(Payload(1));
  tree.Alloc(Payload(2));
  arena_.WriteU64(tree.ChunkSlotAddr(1, 0, 9), tree.root());
  arena_.WriteU64(tree.ChunkSlotAddr(1, 0, 10), tree.DescAddr(1, 0));
  arena_.WriteU64(tree.ChunkSlotAddr(0, 0, 11), tree.DescAddr(1, 0));
  const SdtAllocatorSnapshot s = Walk(tree);
  EXPECT_THAT(Indices(s), ElementsAreArray({0, 1}));
  EXPECT_EQ(s.skipped_subtrees(), 3u);
}

// Bits everywhere, every data pointer unreadable: not a tree. The walk
// gives up at the skip cap instead of trying all 33 * 512 slots.
TEST_F(SdtWalkerTest, GarbageTreeIsAbandonedAtTheSkipCap) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  const uint64_t unmapped = arena_.unmapped_user_addr() + (1 << 20);
  for (uint32_t leaf = 0; leaf < 33; ++leaf) {
    tree.AllocAt(Idx(0, leaf, 0), Payload(1));
    const uint64_t desc = tree.DescAddr(2, Idx(0, leaf, 0));
    for (int w = 0; w < 8; ++w) arena_.WriteU64(desc + 8 * w, ~0ULL);
    for (uint32_t pos = 0; pos < 512; ++pos) {
      arena_.WriteU64(tree.ChunkSlotAddr(2, Idx(0, leaf, 0), pos), unmapped);
    }
  }
  const SdtAllocatorSnapshot s = WalkSdtAllocator(
      Context(), "task_allocator", tree.AllocatorBytes(), payload_);
  EXPECT_EQ(s.entries_size(), 0);
  EXPECT_EQ(s.skipped_subtrees(), kMaxSdtSkips);
  EXPECT_THAT(s.error(), HasSubstr("walk abandoned after 16384 skipped"));
}

TEST_F(SdtWalkerTest, MoreThan4096LiveListsExactly4096AndTruncated) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  for (int i = 0; i < 4100; ++i) tree.Alloc(Payload(i));
  const SdtAllocatorSnapshot s = Walk(tree);
  ASSERT_EQ(s.entries_size(), 4096);
  EXPECT_TRUE(s.truncated());
  EXPECT_EQ(s.entries(4095).idx(), 4095);
  EXPECT_THAT(FormatSdtAllocatorSnapshot(s),
              HasSubstr("4096 live (truncated)"));
}

TEST_F(SdtWalkerTest, Exactly4096LiveIsComplete) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  for (int i = 0; i < 4097; ++i) tree.Alloc(Payload(i));
  tree.Free(77);
  const SdtAllocatorSnapshot s = Walk(tree);
  EXPECT_EQ(s.entries_size(), 4096);
  EXPECT_FALSE(s.truncated());
}

TEST_F(SdtWalkerTest, ArenaPointersInPayloadsAreFollowedThroughTheWindow) {
  SdtTreeBuilder tasks(arena_, kTaskElemSize);
  tasks.Alloc(Payload(808));
  SdtTreeBuilder links(arena_, 24);
  const uint64_t peer = tasks.DataAddr(0) + 8;  // Payloads are what BPF sees.
  const uint64_t to_task[2] = {peer, 1};
  const uint64_t to_nowhere[2] = {arena_.unmapped_user_addr() + (1 << 20), 2};
  links.Alloc(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(to_task),
                                  sizeof(to_task)));
  links.Alloc(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(to_nowhere),
                                  sizeof(to_nowhere)));
  const PayloadTypeChoice link =
      DiscoverPayloadBtfId(btf_.get(), 16, "link_allocator");
  ASSERT_EQ(link.type_name, "struct ktvm_link_ctx");
  const SdtAllocatorSnapshot s = WalkSdtAllocator(Context(), "link_allocator",
                                                  links.AllocatorBytes(), link);
  ASSERT_EQ(s.entries_size(), 2);
  const auto& followed = Member(s.entries(0).payload(), "peer").pointer_value();
  EXPECT_EQ(followed.address(), peer);
  ASSERT_TRUE(followed.has_target()) << followed.skip_reason();
  EXPECT_EQ(Member(followed.target(), "pid").int_value(), 808);
  const auto& dangling = Member(s.entries(1).payload(), "peer").pointer_value();
  EXPECT_FALSE(dangling.has_target());
  EXPECT_NE(dangling.skip_reason(), "");
}

struct ElemSizeCase {
  uint64_t elem_size;
  bool walkable;
};

class ElemSizeTest : public SdtWalkerTest,
                     public ::testing::WithParamInterface<ElemSizeCase> {};

TEST_P(ElemSizeTest, BoundsAndHexPayloads) {
  const ElemSizeCase c = GetParam();
  SdtTreeBuilder tree(arena_, c.walkable ? c.elem_size : 24);
  std::vector<uint8_t> payload(c.walkable ? c.elem_size - 8 : 16);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = i * 7 + 1;
  tree.Alloc(payload);
  tree.Alloc(payload);
  std::vector<uint8_t> allocator = tree.AllocatorBytes();
  std::memcpy(allocator.data() + 8, &c.elem_size, 8);

  const PayloadTypeChoice hex =
      DiscoverPayloadBtfId(btf_.get(), c.elem_size - 8, "task_allocator");
  const SdtAllocatorSnapshot s =
      WalkSdtAllocator(Context(), "task_allocator", allocator, hex);
  EXPECT_EQ(s.elem_size(), c.elem_size);
  if (!c.walkable) {
    EXPECT_EQ(s.entries_size(), 0);
    EXPECT_THAT(s.error(),
                HasSubstr(absl::StrFormat(
                    "pool.elem_size %d outside [16, 4096]", c.elem_size)));
    return;
  }
  EXPECT_EQ(s.error(), "");
  EXPECT_EQ(s.payload_btf_type_id(), 0u);
  EXPECT_EQ(s.payload_type_reason(),
            absl::StrFormat("no candidate of size %d", c.elem_size - 8));
  ASSERT_EQ(s.entries_size(), 2);
  for (const auto& e : s.entries()) {
    const std::string& bytes = e.payload().bytes_value();
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), payload);
  }
  EXPECT_EQ(s.entries(1).user_addr() - s.entries(0).user_addr(), c.elem_size);
}

INSTANTIATE_TEST_SUITE_P(Sizes, ElemSizeTest,
                         ::testing::Values(ElemSizeCase{8, false},
                                           ElemSizeCase{16, true},
                                           ElemSizeCase{4096, true},
                                           ElemSizeCase{4097, false}));

TEST_F(SdtWalkerTest, UnreadablePayloadIsUnsupportedWithTheTid) {
  SdtTreeBuilder tree(arena_, 4096);
  tree.Alloc(std::vector<uint8_t>(8, 1));
  // The last page handed out; the page after it is never mapped. Move the
  // slot so its header ends that page and its payload starts the next.
  const uint64_t page = arena_.Allocate(8, 4096);
  const uint64_t slot = page + 4096 - 8;
  arena_.WriteU64(slot, uint64_t{3} << 32);
  arena_.WriteU64(tree.ChunkSlotAddr(2, 0, 0), slot);
  const PayloadTypeChoice hex = DiscoverPayloadBtfId(btf_.get(), 4088);
  const SdtAllocatorSnapshot s =
      WalkSdtAllocator(Context(), "task_allocator", tree.AllocatorBytes(), hex);
  ASSERT_EQ(s.entries_size(), 1);
  EXPECT_EQ(s.entries(0).genn(), 3);
  EXPECT_EQ(s.entries(0).user_addr(), slot & 0xffffffffULL);
  EXPECT_THAT(s.entries(0).payload().unsupported().reason(),
              HasSubstr("payload read failed"));
  EXPECT_EQ(s.skipped_subtrees(), 0u);
}

TEST_F(SdtWalkerTest, AllocatorBytesTooShortIsAnError) {
  const std::vector<uint8_t> allocator(12, 0);
  const SdtAllocatorSnapshot s =
      WalkSdtAllocator(Context(), "task_allocator", allocator, payload_);
  EXPECT_THAT(s.error(), HasSubstr("beyond the 12 allocator bytes"));
}

// Into a snapshot on a protobuf Arena, already holding an older walk: the
// result is exactly the by-value walk's, nothing of the old one left.
TEST_F(SdtWalkerTest, WalkIntoArenaSnapshotMatchesByValueWalk) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  for (int i = 0; i < 700; ++i) tree.Alloc(Payload(100 + i, i % 3));
  const SdtAllocatorSnapshot by_value = Walk(tree);
  ASSERT_EQ(by_value.entries_size(), 700);

  google::protobuf::Arena proto_arena;
  auto* into = google::protobuf::Arena::CreateMessage<SdtAllocatorSnapshot>(
      &proto_arena);
  into->set_error("stale");
  into->add_entries()->set_idx(12345);
  WalkSdtAllocatorInto(Context(), "task_allocator", tree.AllocatorBytes(),
                       payload_, into);
  EXPECT_EQ(into->error(), "");
  EXPECT_EQ(into->SerializeAsString(), by_value.SerializeAsString());
  EXPECT_THAT(FormatSdtAllocatorSnapshot(*into), HasSubstr("pid = 799"));
}

TEST_F(SdtWalkerTest, TextForm) {
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  tree.Alloc(Payload(31, 2));
  const std::string text = FormatSdtAllocatorSnapshot(Walk(tree));
  EXPECT_THAT(text, HasSubstr(absl::StrFormat(
                        "sdt_alloc task_allocator (elem_size=24, "
                        "btf_type_id=%d, type=struct ktvm_task_ctx): 1 live",
                        payload_.btf_type_id)));
  EXPECT_THAT(text, HasSubstr("\n  idx=0 genn=0 user_addr=0x"));
  EXPECT_THAT(text, HasSubstr("pid = 31"));
}

// Every struct scx_allocator variable of .bss and .data, by name, each with
// its own payload type.
TEST_F(SdtWalkerTest, WalkProgramAllocatorsFindsEveryAllocatorVariable) {
  SdtTreeBuilder tasks(arena_, kTaskElemSize);
  tasks.Alloc(Payload(11));
  tasks.Alloc(Payload(12));
  SdtTreeBuilder cgroups(arena_, 32);
  const uint64_t cgrp[3] = {100, 4, 1};
  tasks.Free(0);
  cgroups.Alloc(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(cgrp),
                                    sizeof(cgrp)));

  auto image = [&](const char* section, const char* var,
                   const std::vector<uint8_t>& allocator) {
    absl::StatusOr<std::vector<btf::DatasecVar>> vars =
        btf::DatasecVariables(btf_.get(), section);
    EXPECT_TRUE(vars.ok()) << vars.status();
    std::vector<uint8_t> bytes(4096, 0);
    for (const btf::DatasecVar& v : *vars) {
      if (v.name == var) {
        std::memcpy(bytes.data() + v.offset, allocator.data(),
                    allocator.size());
      }
    }
    return bytes;
  };
  const std::vector<uint8_t> bss =
      image(".bss", "task_allocator", tasks.AllocatorBytes());
  const std::vector<uint8_t> data =
      image(".data", "cgrp_allocator", cgroups.AllocatorBytes());
  const SectionImage sections[] = {{".bss", bss}, {".data", data}};

  SdtWalkContext ctx = Context();
  ctx.offsets = {};
  absl::StatusOr<std::vector<SdtAllocatorSnapshot>> all =
      WalkProgramAllocators(ctx, sections);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  const SdtAllocatorSnapshot& t = (*all)[0];
  EXPECT_EQ(t.allocator_name(), "task_allocator");
  EXPECT_EQ(t.payload_type_name(), "struct ktvm_task_ctx");
  ASSERT_EQ(t.entries_size(), 1);
  EXPECT_EQ(Member(t.entries(0).payload(), "pid").int_value(), 12);
  const SdtAllocatorSnapshot& c = (*all)[1];
  EXPECT_EQ(c.allocator_name(), "cgrp_allocator");
  // node_arena_ctx has the same size; the allocator's own name wins.
  EXPECT_EQ(c.payload_type_name(), "struct cgrp_ctx");
  ASSERT_EQ(c.entries_size(), 1);
  EXPECT_EQ(Member(c.entries(0).payload(), "weight").uint_value(), 100u);
}

TEST_F(SdtWalkerTest, SectionImageTooShortNamesTheVariable) {
  const std::vector<uint8_t> tiny(8, 0);
  const SectionImage sections[] = {{".bss", tiny}};
  absl::StatusOr<std::vector<SdtAllocatorSnapshot>> all =
      WalkProgramAllocators(Context(), sections);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].allocator_name(), "task_allocator");
  EXPECT_THAT((*all)[0].error(), HasSubstr("beyond the 8-byte section image"));
}

TEST_F(SdtWalkerTest, ForwardDeclaredDataAndChunkStillWalk) {
  absl::StatusOr<btf::BtfPtr> fwd = testing::LoadProgramBtf("sdt_fwd_fixture");
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  SdtTreeBuilder tree(arena_, kTaskElemSize);
  tree.Alloc(Payload(77));
  absl::StatusOr<std::vector<btf::DatasecVar>> vars =
      btf::DatasecVariables(fwd->get(), ".bss");
  ASSERT_TRUE(vars.ok()) << vars.status();
  std::vector<uint8_t> bss(4096, 0);
  for (const btf::DatasecVar& v : *vars) {
    if (v.name == "task_allocator") {
      const std::vector<uint8_t> a = tree.AllocatorBytes();
      std::memcpy(bss.data() + v.offset, a.data(), a.size());
    }
  }
  SdtWalkContext ctx = Context();
  ctx.program_btf = fwd->get();
  const SectionImage sections[] = {{".bss", bss}};
  absl::StatusOr<std::vector<SdtAllocatorSnapshot>> all =
      WalkProgramAllocators(ctx, sections);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  ASSERT_EQ((*all)[0].entries_size(), 1);
  EXPECT_EQ(Member((*all)[0].entries(0).payload(), "pid").int_value(), 77);
}

TEST_F(SdtWalkerTest, ForwardDeclaredAllocatorIsAClearError) {
  absl::StatusOr<btf::BtfPtr> fwd =
      testing::LoadProgramBtf("sdt_fwd_allocator_fixture");
  ASSERT_TRUE(fwd.ok()) << fwd.status();
  SdtWalkContext ctx = Context();
  ctx.program_btf = fwd->get();
  absl::StatusOr<std::vector<SdtAllocatorSnapshot>> all =
      WalkProgramAllocators(ctx, {});
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(all.status().message(),
              HasSubstr("struct scx_allocator present only as BTF_KIND_FWD"));
}

TEST_F(SdtWalkerTest, AmbiguousPayloadTypeFallsBackToHexWithTheReason) {
  absl::StatusOr<btf::BtfPtr> types =
      testing::LoadProgramBtf("payload_types_fixture");
  ASSERT_TRUE(types.ok()) << types.status();
  SdtTreeBuilder tree(arena_, 40);
  tree.Alloc(std::vector<uint8_t>(32, 0xab));
  const PayloadTypeChoice choice =
      DiscoverPayloadBtfId(types->get(), 32, "stats_allocator");
  ASSERT_EQ(choice.reason, "ambiguous: 2 candidates");
  const SdtAllocatorSnapshot s = WalkSdtAllocator(
      Context(), "stats_allocator", tree.AllocatorBytes(), choice);
  ASSERT_EQ(s.entries_size(), 1);
  EXPECT_EQ(s.payload_type_reason(), "ambiguous: 2 candidates");
  EXPECT_EQ(s.entries(0).payload().bytes_value(), std::string(32, '\xab'));
  EXPECT_THAT(FormatSdtAllocatorSnapshot(s),
              HasSubstr("reason=ambiguous: 2 candidates"));
}

}  // namespace
}  // namespace ktvm::sdt
