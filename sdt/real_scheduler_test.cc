// The walker against the program BTF of the real test scheduler
// (tests/schedulers/ktvm_fifo.bpf.c, which links the sdt allocator and
// pulls in vmlinux.h): offsets, the allocator variable in .bss, and payload
// discovery among the kernel types that BTF also carries.
#include <cstring>
#include <vector>

#include "btf/type_lookup.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdt/sdt_walker.h"
#include "sdt/testing/arena_builder.h"
#include "sdt/testing/program_btf.h"

namespace ktvm::sdt {
namespace {

TEST(RealSchedulerTest, WalksTheTaskAllocatorOfKtvmFifo) {
  absl::StatusOr<btf::BtfPtr> b =
      testing::LoadObjectBtf("tests/schedulers/ktvm_fifo.bpf.o");
  ASSERT_TRUE(b.ok()) << b.status();
  absl::StatusOr<SdtAllocOffsets> o = SdtAllocOffsets::FromBtf(b->get());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->allocator_root, 32u);
  EXPECT_EQ(o->desc_chunk, 72u);

  testing::TestArena arena;
  testing::SdtTreeBuilder tree(arena, 24);  // round_up(16 + 8, 8)
  for (int32_t pid = 1; pid <= 3; ++pid) {
    const int32_t ctx[4] = {pid, 0x6b74766d, pid * 10, 0};
    tree.Alloc(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(ctx),
                                   sizeof(ctx)));
  }
  absl::StatusOr<std::vector<btf::DatasecVar>> vars =
      btf::DatasecVariables(b->get(), ".bss");
  ASSERT_TRUE(vars.ok()) << vars.status();
  std::vector<uint8_t> bss;
  for (const btf::DatasecVar& v : *vars) {
    bss.resize(std::max<size_t>(bss.size(), v.offset + v.size));
    if (v.name == "task_allocator") {
      const std::vector<uint8_t> a = tree.AllocatorBytes();
      ASSERT_EQ(v.size, a.size());
      std::memcpy(bss.data() + v.offset, a.data(), a.size());
    }
  }
  SdtWalkContext ctx;
  ctx.kernel_memory = &arena.kernel_memory();
  ctx.arena = arena.window();
  ctx.program_btf = b->get();
  const SectionImage sections[] = {{".bss", bss}};
  absl::StatusOr<std::vector<report::SdtAllocatorSnapshot>> all =
      WalkProgramAllocators(ctx, sections);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  const report::SdtAllocatorSnapshot& s = (*all)[0];
  EXPECT_EQ(s.allocator_name(), "task_allocator");
  EXPECT_EQ(s.payload_type_name(), "struct ktvm_task_ctx");
  ASSERT_EQ(s.entries_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const auto& members = s.entries(i).payload().struct_value().members();
    ASSERT_EQ(members.size(), 3);
    EXPECT_EQ(members[0].name(), "pid");
    EXPECT_EQ(members[0].value().int_value(), i + 1);
    EXPECT_EQ(members[2].value().uint_value(), (i + 1) * 10u);
  }
}

}  // namespace
}  // namespace ktvm::sdt
