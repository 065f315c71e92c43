// Walk + render of a full-cap sdt_alloc tree (4096 live entries, payload a
// 3-field struct) in test guest memory behind real x86_64 page tables.
// Goal: under 2 ms per walk. Run: bazel run -c opt //sdt:sdt_walker_benchmark
#include <cstdlib>
#include <cstring>
#include <vector>

#include "benchmark/benchmark.h"
#include "google/protobuf/arena.h"
#include "sdt/sdt_walker.h"
#include "sdt/testing/arena_builder.h"
#include "sdt/testing/program_btf.h"

namespace ktvm::sdt {
namespace {

constexpr int kLive = 4096;
constexpr uint64_t kElemSize = 32;  // struct cgrp_ctx { u64 x3 } + header.

struct Fixture {
  testing::TestArena arena;
  btf::BtfPtr btf;
  SdtWalkContext ctx;
  std::vector<uint8_t> allocator;
  PayloadTypeChoice payload;

  explicit Fixture(bool render) {
    absl::StatusOr<btf::BtfPtr> b = testing::LoadProgramBtf("sdt_fixture");
    absl::StatusOr<SdtAllocOffsets> o =
        b.ok() ? SdtAllocOffsets::FromBtf(b->get())
               : absl::StatusOr<SdtAllocOffsets>(b.status());
    if (!o.ok()) std::abort();
    btf = *std::move(b);
    testing::SdtTreeBuilder tree(arena, kElemSize);
    for (uint64_t i = 0; i < kLive; ++i) {
      const uint64_t fields[3] = {i, i * 2, i * 3};
      uint8_t bytes[sizeof(fields)];
      std::memcpy(bytes, fields, sizeof(fields));
      tree.Alloc(bytes);
    }
    allocator = tree.AllocatorBytes();
    ctx.kernel_memory = &arena.kernel_memory();
    ctx.arena = arena.window();
    ctx.program_btf = btf.get();
    ctx.offsets = *o;
    if (render) {
      payload =
          DiscoverPayloadBtfId(btf.get(), kElemSize - 8, "cgrp_allocator");
      if (payload.btf_type_id == 0) std::abort();
    }
  }
};

void Run(benchmark::State& state, bool render) {
  Fixture f(render);
  for (auto _ : state) {
    report::SdtAllocatorSnapshot s =
        WalkSdtAllocator(f.ctx, "cgrp_allocator", f.allocator, f.payload);
    if (s.entries_size() != kLive || s.truncated()) {
      state.SkipWithError("walk did not find every entry");
      break;
    }
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations() * kLive);
}

// The snapshot on a protobuf Arena (one per walk, as a report would hold):
// entries and payload nodes are bump-allocated and freed all at once.
// `first_block` bytes are handed to each arena as its initial block, the way
// a dump engine can keep one buffer for every report: then the walk faults
// in no fresh pages (0 = the arena mallocs its blocks).
void RunOnArena(benchmark::State& state, bool render, size_t first_block) {
  Fixture f(render);
  std::vector<char> block(first_block);
  google::protobuf::ArenaOptions options;
  if (first_block != 0) {
    options.initial_block = block.data();
    options.initial_block_size = block.size();
  }
  size_t space_used = 0;
  for (auto _ : state) {
    google::protobuf::Arena arena(options);
    auto* s =
        google::protobuf::Arena::CreateMessage<report::SdtAllocatorSnapshot>(
            &arena);
    WalkSdtAllocatorInto(f.ctx, "cgrp_allocator", f.allocator, f.payload, s);
    if (s->entries_size() != kLive || s->truncated()) {
      state.SkipWithError("walk did not find every entry");
      break;
    }
    benchmark::DoNotOptimize(s);
    space_used = arena.SpaceUsed();
  }
  state.SetItemsProcessed(state.iterations() * kLive);
  state.counters["arena_bytes"] = static_cast<double>(space_used);
}

// Large enough for the rendered 4096-entry snapshot (arena_bytes counter).
constexpr size_t kReusedBlock = size_t{8} << 20;

void BM_WalkAndRender4096(benchmark::State& state) { Run(state, true); }
void BM_WalkHex4096(benchmark::State& state) { Run(state, false); }
void BM_WalkAndRender4096Arena(benchmark::State& state) {
  RunOnArena(state, true, 0);
}
void BM_WalkHex4096Arena(benchmark::State& state) {
  RunOnArena(state, false, 0);
}
void BM_WalkAndRender4096ReusedBlock(benchmark::State& state) {
  RunOnArena(state, true, kReusedBlock);
}
void BM_WalkHex4096ReusedBlock(benchmark::State& state) {
  RunOnArena(state, false, kReusedBlock);
}

BENCHMARK(BM_WalkAndRender4096)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WalkHex4096)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WalkAndRender4096Arena)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WalkHex4096Arena)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WalkAndRender4096ReusedBlock)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WalkHex4096ReusedBlock)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ktvm::sdt
