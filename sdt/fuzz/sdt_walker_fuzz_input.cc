#include "sdt/fuzz/sdt_walker_fuzz_input.h"

#include <cstring>
#include <vector>

#include "sdt/testing/program_btf.h"

namespace ktvm::sdt::fuzz {
namespace {

using testing::TestArena;

// Built once: page tables and the BTF are the expensive part; each input
// only rewrites the mapped pages.
struct World {
  TestArena arena{kWindowBytes, 4ULL << 20};
  btf::BtfPtr btf;
  SdtWalkContext ctx;
  PayloadTypeChoice typed;

  World() {
    arena.Allocate(kMappedBytes, TestArena::kPageSize);
    absl::StatusOr<btf::BtfPtr> b = testing::LoadProgramBtf("sdt_fixture");
    if (b.ok()) {
      btf = *std::move(b);
      typed = DiscoverPayloadBtfId(btf.get(), 16, "task_allocator");
    }
    ctx.arena = arena.window();
    ctx.program_btf = btf.get();
    // The upstream layout, so the walk does not depend on the fixture.
    ctx.offsets.allocator_root = 32;
    ctx.offsets.allocator_size = 40;
    ctx.offsets.pool_elem_size = 8;
    ctx.offsets.desc_nr_free = 64;
    ctx.offsets.desc_chunk = 72;
  }
};

World& TheWorld() {
  static World* world = new World();
  return *world;
}

uint64_t WordAt(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return DecodeWord(w);
}

}  // namespace

report::SdtAllocatorSnapshot WalkFuzzInput(absl::Span<const uint8_t> input) {
  World& world = TheWorld();
  if (input.size() < kAllocatorBytes) return {};
  std::vector<uint8_t> allocator(kAllocatorBytes);
  for (size_t i = 0; i < kAllocatorBytes; i += 8) {
    const uint64_t w = WordAt(input.data() + i);
    std::memcpy(allocator.data() + i, &w, 8);
  }
  if (input[0] & 1) {
    const uint64_t elem = 16 + (allocator[8] % 64) * 8;
    std::memcpy(allocator.data() + 8, &elem, 8);
  }
  std::vector<uint8_t> arena_bytes(kMappedBytes, 0);
  for (size_t i = kAllocatorBytes, o = 0;
       i + 8 <= input.size() && o < kMappedBytes; i += 8, o += 8) {
    const uint64_t w = WordAt(input.data() + i);
    std::memcpy(arena_bytes.data() + o, &w, 8);
  }
  world.arena.Write(TestArena::kUserVmStart, arena_bytes);
  world.ctx.kernel_memory = &world.arena.kernel_memory();
  const PayloadTypeChoice hex;
  return WalkSdtAllocator(world.ctx, "fuzz_allocator", allocator,
                          input[1] & 1 ? world.typed : hex);
}

}  // namespace ktvm::sdt::fuzz
