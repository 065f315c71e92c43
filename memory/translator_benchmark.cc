// Walks per second for each translator and guest-virtual copy throughput.
// Tables live in guest memory built by the test builders, so every walk
// reads real descriptors through GuestMemory.
//   bazel run -c opt //memory:translator_benchmark
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "memory/aarch64_page_tables.h"
#include "memory/aarch64_translator.h"
#include "memory/kernel_memory.h"
#include "memory/test_ram.h"
#include "memory/virtual_memory.h"
#include "memory/x86_64_page_tables.h"
#include "memory/x86_64_translator.h"

namespace ktvm::memory {
namespace {

constexpr uint64_t kRamBytes = 64ULL << 20;
constexpr uint64_t kTablePool = 48ULL << 20;
constexpr int kPages = 4096;  // Spread over 8 page tables: misses caches.
constexpr uint64_t kX86Base = 0xffffc90000000000ULL;

// Scattered frames: page i goes to a pseudo-random frame below 32 MiB.
uint64_t Frame(int i, uint64_t page) {
  return (static_cast<uint64_t>(i) * 2654435761u % kPages) * page %
         (32ULL << 20) / page * page;
}

struct X86Setup {
  explicit X86Setup(X86PagingMode mode) {
    ram.AddRegion(0, kRamBytes);
    X86_64PageTables tables(ram, mode, kTablePool, 8ULL << 20);
    for (int i = 0; i < kPages; ++i) {
      tables.Map(kX86Base + i * 4096ULL, Frame(i, 4096), X86_64PageTables::k4K);
    }
    // 1 MiB for the 2 MiB-page copy.
    tables.Map(kX86Base + (1ULL << 30), 0x200000, X86_64PageTables::k2M);
    memory = *ram.View();
    translator = std::make_unique<X86_64Translator>(tables.root(), mode);
  }
  TestRam ram;
  GuestMemory memory;
  std::unique_ptr<X86_64Translator> translator;
};

X86Setup& FourLevel() {
  static X86Setup* s = new X86Setup(X86PagingMode::kFourLevel);
  return *s;
}
X86Setup& FiveLevel() {
  static X86Setup* s = new X86Setup(X86PagingMode::kFiveLevel);
  return *s;
}

struct Aarch64Setup {
  Aarch64Setup(int granule_shift) : page(1ULL << granule_shift) {
    ram.AddRegion(0, kRamBytes);
    Aarch64PageTables tables(ram, granule_shift, 48, kTablePool);
    base = ~0ULL << 48;
    for (int i = 0; i < kPages; ++i) {
      tables.Map(base + i * page, Frame(i, page), 3);
    }
    memory = *ram.View();
    translator = std::make_unique<Aarch64Translator>(
        *Aarch64Translator::Create(Aarch64PageTables::Tcr(granule_shift, 48),
                                   tables.root(), tables.root()));
  }
  uint64_t page;
  uint64_t base;
  TestRam ram;
  GuestMemory memory;
  std::unique_ptr<Aarch64Translator> translator;
};

void WalkX86(benchmark::State& state, X86Setup& s) {
  int i = 0;
  for (auto _ : state) {
    auto t = s.translator->Translate(s.memory, kX86Base + i * 4096ULL + 8);
    if (!t.ok()) {
      state.SkipWithError(std::string(t.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(t);
    i = (i + 1) % kPages;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_X86FourLevelWalk(benchmark::State& state) {
  WalkX86(state, FourLevel());
}
void BM_X86FiveLevelWalk(benchmark::State& state) {
  WalkX86(state, FiveLevel());
}

void BM_X86FourLevelCached(benchmark::State& state) {
  X86Setup& s = FourLevel();
  TranslatedMemory vm(s.memory, *s.translator);
  int i = 0;
  for (auto _ : state) {
    // 256 consecutive pages: exactly the cache's size.
    auto t = vm.Translate(kX86Base + i * 4096ULL + 8);
    benchmark::DoNotOptimize(t);
    i = (i + 1) % 256;
  }
  state.SetItemsProcessed(state.iterations());
}

void WalkAarch64(benchmark::State& state, int granule_shift) {
  static Aarch64Setup* g4 = new Aarch64Setup(12);
  static Aarch64Setup* g64 = new Aarch64Setup(16);
  Aarch64Setup& s = granule_shift == 12 ? *g4 : *g64;
  int i = 0;
  for (auto _ : state) {
    auto t = s.translator->Translate(s.memory, s.base + i * s.page + 8);
    if (!t.ok()) {
      state.SkipWithError(std::string(t.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(t);
    i = (i + 1) % kPages;
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_Aarch64Walk4K(benchmark::State& state) { WalkAarch64(state, 12); }
void BM_Aarch64Walk64K(benchmark::State& state) { WalkAarch64(state, 16); }

constexpr size_t kCopyBytes = 1 << 20;

// 256 scattered 4 KiB pages; arg 1 = drop the cache every time (the first
// read after a resume), 0 = warm.
void BM_CopyVirtual1MiB4KPages(benchmark::State& state) {
  X86Setup& s = FourLevel();
  TranslatedMemory vm(s.memory, *s.translator);
  std::vector<uint8_t> out(kCopyBytes);
  for (auto _ : state) {
    if (state.range(0)) vm.InvalidateCache();
    benchmark::DoNotOptimize(vm.ReadVirtual(kX86Base, absl::MakeSpan(out)));
  }
  state.SetBytesProcessed(state.iterations() * kCopyBytes);
}

void BM_CopyVirtual1MiB2MPage(benchmark::State& state) {
  X86Setup& s = FourLevel();
  TranslatedMemory vm(s.memory, *s.translator);
  std::vector<uint8_t> out(kCopyBytes);
  for (auto _ : state) {
    if (state.range(0)) vm.InvalidateCache();
    benchmark::DoNotOptimize(
        vm.ReadVirtual(kX86Base + (1ULL << 30), absl::MakeSpan(out)));
  }
  state.SetBytesProcessed(state.iterations() * kCopyBytes);
}

void BM_CopyDirectMap1MiB(benchmark::State& state) {
  X86Setup& s = FourLevel();
  KernelMemory km(s.memory, *s.translator,
                  {.page_offset_base = 0xffff888000000000ULL});
  std::vector<uint8_t> out(kCopyBytes);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        km.ReadVirtual(0xffff888000100000ULL, absl::MakeSpan(out)));
  }
  state.SetBytesProcessed(state.iterations() * kCopyBytes);
}

// The floor: one bounds-checked physical copy of the same size.
void BM_CopyPhysical1MiB(benchmark::State& state) {
  X86Setup& s = FourLevel();
  std::vector<uint8_t> out(kCopyBytes);
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.memory.Read(0x100000, absl::MakeSpan(out)));
  }
  state.SetBytesProcessed(state.iterations() * kCopyBytes);
}

BENCHMARK(BM_X86FourLevelWalk);
BENCHMARK(BM_X86FourLevelCached);
BENCHMARK(BM_X86FiveLevelWalk);
BENCHMARK(BM_Aarch64Walk4K);
BENCHMARK(BM_Aarch64Walk64K);
BENCHMARK(BM_CopyVirtual1MiB4KPages)->Arg(0)->Arg(1);
BENCHMARK(BM_CopyVirtual1MiB2MPage)->Arg(0)->Arg(1);
BENCHMARK(BM_CopyDirectMap1MiB);
BENCHMARK(BM_CopyPhysical1MiB);

}  // namespace
}  // namespace ktvm::memory
