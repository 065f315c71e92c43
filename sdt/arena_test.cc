#include "sdt/arena.h"

#include <bpf/btf.h>

#include <cstring>
#include <string>

#include "btf/type_lookup.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sdt/testing/arena_builder.h"
#include "sdt/testing/program_btf.h"

namespace ktvm::sdt {
namespace {

using ::testing::HasSubstr;
using testing::TestArena;

TEST(ArenaWindowTest, GuardAndAddressArithmetic) {
  EXPECT_EQ(ArenaGuardSize(4096), 65536u);
  EXPECT_EQ(ArenaGuardSize(65536), 131072u);
  ArenaWindow w;
  w.user_vm_start = 0x7f0000000000;
  w.user_vm_end = 0x7f0000000000 + (1ULL << 32);
  w.kern_vm_start = 0xffffc90000008000;
  EXPECT_EQ(w.KernelAddress(0x7f0000001234), 0xffffc90000009234u);
  // Upper bits are ignored exactly as by the JIT.
  EXPECT_EQ(w.KernelAddress(0xdead00001234), 0xffffc90000009234u);
  EXPECT_TRUE(ValidateArenaWindow(w).ok());
  EXPECT_EQ(w.declared_pages(), 1u << 20);
}

TEST(ArenaWindowTest, ValidationRejectsWhatNoKernelProduces) {
  ArenaWindow w;
  w.user_vm_start = 0x100000000;
  w.user_vm_end = 0x100000000 + (2ULL << 32);
  EXPECT_THAT(ValidateArenaWindow(w).message(), HasSubstr("larger than 4 GiB"));
  w.user_vm_start = 0x180000000;
  w.user_vm_end = 0x280000000;
  EXPECT_THAT(ValidateArenaWindow(w).message(),
              HasSubstr("crosses a 4 GiB boundary"));
  w.user_vm_start = 0x100000010;
  w.user_vm_end = 0x100002010;
  EXPECT_THAT(ValidateArenaWindow(w).message(), HasSubstr("not page aligned"));
  w.user_vm_end = 0x100000000;
  EXPECT_THAT(ValidateArenaWindow(w).message(), HasSubstr("below"));
  w.page_size = 3000;
  EXPECT_THAT(ValidateArenaWindow(w).message(), HasSubstr("power of two"));
}

// A struct bpf_arena laid out by the test kernel's own BTF in kernel
// memory, read back through the page tables.
TEST(ArenaWindowFromMapTest, ReadsTheWindowThroughVmlinuxOffsets) {
  absl::StatusOr<btf::BtfPtr> vmlinux = testing::LoadTestVmlinuxBtf();
  ASSERT_TRUE(vmlinux.ok()) << vmlinux.status();
  const struct ::btf* b = vmlinux->get();
  absl::StatusOr<uint32_t> arena_id = btf::RequireFullStruct(b, "bpf_arena");
  ASSERT_TRUE(arena_id.ok()) << arena_id.status();
  auto offset = [&](uint32_t id, const char* member) {
    absl::StatusOr<btf::MemberLocation> loc = btf::MemberOffset(b, id, member);
    EXPECT_TRUE(loc.ok()) << loc.status();
    return loc.ok() ? loc->byte_offset : 0;
  };
  absl::StatusOr<uint32_t> vm_id = btf::RequireFullStruct(b, "vm_struct");
  ASSERT_TRUE(vm_id.ok()) << vm_id.status();

  TestArena arena;
  constexpr uint64_t kArenaKva = 0xffff888000200000;
  constexpr uint64_t kVmStructKva = 0xffff888000300040;
  arena.MapKernelPage(kArenaKva);
  arena.MapKernelPage(kArenaKva + 4096);
  arena.MapKernelPage(kVmStructKva);
  const uint64_t map_kva = kArenaKva + offset(*arena_id, "map");
  arena.WriteKernelU64(kArenaKva + offset(*arena_id, "user_vm_start"),
                       0x7f1200000000);
  arena.WriteKernelU64(kArenaKva + offset(*arena_id, "user_vm_end"),
                       0x7f1200000000 + (64 << 20));
  arena.WriteKernelU64(kArenaKva + offset(*arena_id, "kern_vm"), kVmStructKva);
  arena.WriteKernelU64(kVmStructKva + offset(*vm_id, "addr"),
                       0xffffc90001000000);

  absl::StatusOr<ArenaWindow> w =
      ArenaWindowFromMap(arena.kernel_memory(), b, map_kva);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->user_vm_start, 0x7f1200000000u);
  EXPECT_EQ(w->user_vm_end, 0x7f1200000000u + (64 << 20));
  EXPECT_EQ(w->kern_vm_start, 0xffffc90001000000u + 0x8000);
  EXPECT_EQ(w->declared_pages(), 16384u);

  // A NULL kern_vm, then an unmapped one, then a torn window.
  arena.WriteKernelU64(kArenaKva + offset(*arena_id, "kern_vm"), 0);
  EXPECT_THAT(
      ArenaWindowFromMap(arena.kernel_memory(), b, map_kva).status().message(),
      HasSubstr("NULL kern_vm"));
  arena.WriteKernelU64(kArenaKva + offset(*arena_id, "kern_vm"),
                       0xffff888077000000);
  EXPECT_THAT(
      ArenaWindowFromMap(arena.kernel_memory(), b, map_kva).status().message(),
      HasSubstr("vm_struct.addr"));
  arena.WriteKernelU64(kArenaKva + offset(*arena_id, "kern_vm"), kVmStructKva);
  arena.WriteKernelU64(kArenaKva + offset(*arena_id, "user_vm_end"), 1);
  absl::StatusOr<ArenaWindow> torn =
      ArenaWindowFromMap(arena.kernel_memory(), b, map_kva);
  EXPECT_EQ(torn.status().code(), absl::StatusCode::kDataLoss);
  // An unmapped bpf_map address.
  EXPECT_FALSE(
      ArenaWindowFromMap(arena.kernel_memory(), b, 0xffff888066000000).ok());
}

std::string PageBytes(const TestArena& arena, uint64_t user_page) {
  std::string out(4096, '\0');
  for (uint64_t i = 0; i < 4096; i += 8) {
    const uint64_t v = arena.ReadU64(user_page + i);
    std::memcpy(out.data() + i, &v, 8);
  }
  return out;
}

TEST(SnapshotArenaTest, CapturesEveryPopulatedPage) {
  TestArena arena(1 << 20);  // 256 declared pages.
  const uint64_t a = arena.Allocate(4096, 4096);
  const uint64_t b = arena.Allocate(8192, 4096);
  for (uint64_t p = a; p < b + 8192; p += 8) arena.WriteU64(p, p * 3);
  absl::StatusOr<report::ArenaSnapshot> s =
      SnapshotArena(arena.memory(), arena.translator(), arena.window());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->declared_pages(), 256u);
  EXPECT_EQ(s->page_size(), 4096u);
  EXPECT_EQ(s->user_vm_start(), TestArena::kUserVmStart);
  EXPECT_EQ(s->kern_vm_start(), arena.window().kern_vm_start);
  ASSERT_EQ(s->pages_size(), 3);
  EXPECT_EQ(s->unmapped_pages(), 253u);
  EXPECT_FALSE(s->truncated());
  for (int i = 0; i < 3; ++i) {
    const uint64_t user = a + 4096 * i;
    EXPECT_EQ(s->pages(i).user_addr(), user);
    EXPECT_EQ(s->pages(i).data(), PageBytes(arena, user));
  }
}

TEST(SnapshotArenaTest, SharedScratchFrameIsNotArenaData) {
  TestArena arena(1 << 20);
  const uint64_t a = arena.Allocate(4096, 4096);
  arena.WriteU64(a, 0x1111);
  // Two more window pages both land on one frame, like the kernel's
  // scratch page for faulting addresses.
  const uint64_t scratch = arena.Allocate(4096, 4096);
  arena.AliasPage(TestArena::kUserVmStart + (100 << 12), scratch);
  absl::StatusOr<report::ArenaSnapshot> s =
      SnapshotArena(arena.memory(), arena.translator(), arena.window());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->pages_size(), 1);
  EXPECT_EQ(s->pages(0).user_addr(), a);
  EXPECT_EQ(s->unmapped_pages(), 255u);
}

TEST(SnapshotArenaTest, CapsTruncate) {
  TestArena arena(1 << 20);
  arena.Allocate(5 * 4096, 4096);
  ArenaSnapshotOptions bytes_cap;
  bytes_cap.max_captured_bytes = 2 * 4096 + 100;
  absl::StatusOr<report::ArenaSnapshot> s = SnapshotArena(
      arena.memory(), arena.translator(), arena.window(), bytes_cap);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->pages_size(), 2);
  EXPECT_TRUE(s->truncated());
  EXPECT_EQ(s->captured_bytes_cap(), 2u * 4096 + 100);

  ArenaSnapshotOptions scan_cap;
  scan_cap.max_scanned_pages = 3;
  s = SnapshotArena(arena.memory(), arena.translator(), arena.window(),
                    scan_cap);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->pages_size(), 3);
  EXPECT_EQ(s->unmapped_pages(), 0u);
  EXPECT_TRUE(s->truncated());
}

TEST(SnapshotArenaTest, InvalidWindowIsAnError) {
  TestArena arena(1 << 20);
  ArenaWindow w = arena.window();
  w.user_vm_end = w.user_vm_start - 4096;
  EXPECT_FALSE(SnapshotArena(arena.memory(), arena.translator(), w).ok());
}

}  // namespace
}  // namespace ktvm::sdt
