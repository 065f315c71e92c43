// Walk + render of a full-cap sdt_alloc tree (4096 live entries, payload a
// 3-field struct) in test guest memory behind real x86_64 page tables.
// Goal: under 2 ms per walk. Run: bazel run -c opt //sdt:sdt_walker_benchmark
#include <cstdlib>
#include <cstring>

#include "benchmark/benchmark.h"
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

void BM_WalkAndRender4096(benchmark::State& state) { Run(state, true); }
void BM_WalkHex4096(benchmark::State& state) { Run(state, false); }

BENCHMARK(BM_WalkAndRender4096)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WalkHex4096)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ktvm::sdt
