// Fuzzes the sdt_alloc walker over arbitrary arena contents. The input is
// the scx_allocator bytes (40) followed by arena page contents; 8-byte words
// whose low three bits are all set become pointers into the arena window,
// so random inputs still build trees that the walker descends. Invariant:
// every input ends (bounded) without a crash, entries within the cap.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "sdt/sdt_walker.h"
#include "sdt/testing/arena_builder.h"
#include "sdt/testing/program_btf.h"

namespace {

using ktvm::sdt::testing::TestArena;

constexpr uint64_t kWindowBytes = 16 * TestArena::kPageSize;
// Three quarters of the window is mapped; pointers into the rest fail.
constexpr uint64_t kMappedBytes = 12 * TestArena::kPageSize;
constexpr size_t kAllocatorBytes = 40;

struct World {
  TestArena arena{kWindowBytes, 4ULL << 20};
  ktvm::btf::BtfPtr btf;
  ktvm::sdt::SdtWalkContext ctx;
  ktvm::sdt::PayloadTypeChoice typed;

  World() {
    arena.Allocate(kMappedBytes, TestArena::kPageSize);
    absl::StatusOr<ktvm::btf::BtfPtr> b =
        ktvm::sdt::testing::LoadProgramBtf("sdt_fixture");
    if (b.ok()) {
      btf = *std::move(b);
      typed = ktvm::sdt::DiscoverPayloadBtfId(btf.get(), 16, "task_allocator");
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

uint64_t Word(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  if ((w & 7) == 7) {
    w = TestArena::kUserVmStart + ((w >> 3) % kWindowBytes & ~uint64_t{7});
  }
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& world = TheWorld();
  if (size < kAllocatorBytes) return 0;
  std::vector<uint8_t> allocator(kAllocatorBytes);
  for (size_t i = 0; i < kAllocatorBytes; i += 8) {
    const uint64_t w = Word(data + i);
    std::memcpy(allocator.data() + i, &w, 8);
  }
  // Keep elem_size small enough to be plausible half of the time.
  if (data[0] & 1) {
    const uint64_t elem = 16 + (allocator[8] % 64) * 8;
    std::memcpy(allocator.data() + 8, &elem, 8);
  }
  std::vector<uint8_t> arena_bytes(kMappedBytes, 0);
  for (size_t i = kAllocatorBytes, o = 0; i + 8 <= size && o < kMappedBytes;
       i += 8, o += 8) {
    const uint64_t w = Word(data + i);
    std::memcpy(arena_bytes.data() + o, &w, 8);
  }
  world.arena.Write(TestArena::kUserVmStart, arena_bytes);
  world.ctx.kernel_memory = &world.arena.kernel_memory();

  const ktvm::sdt::PayloadTypeChoice hex;
  const ktvm::report::SdtAllocatorSnapshot snap = ktvm::sdt::WalkSdtAllocator(
      world.ctx, "fuzz_allocator", allocator, data[1] & 1 ? world.typed : hex);
  if (snap.entries_size() > static_cast<int>(ktvm::sdt::kMaxSdtAllocEntries)) {
    std::abort();
  }
  return 0;
}
