// Throughput of the btf/ module's hot paths. Run:
//   bazel run -c opt //btf:btf_benchmark
// Anchors (from the issue): libbpf parses this kernel's BTF in ~3-9 ms;
// drgn loads kallsyms in ~24 ms.
#include <benchmark/benchmark.h>
#include <bpf/btf.h>
#include <unistd.h>

#include <cstdlib>
#include <random>

#include "btf/btf_source.h"
#include "btf/kallsyms.h"
#include "btf/kallsyms_test_table.h"
#include "btf/mapped_file.h"
#include "btf/type_lookup.h"
#include "btf/value_renderer.h"

namespace ktvm::btf {
namespace {

std::string KernelFile(const char* name) {
  for (std::string p : {std::string("external/kernel/") + name,
                        std::string("../kernel/") + name,
                        std::string(".cache/ktvm/kernel/") + name}) {
    if (access(p.c_str(), R_OK) == 0) return p;
  }
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    return std::string(ws) + "/.cache/ktvm/kernel/" + name;
  }
  return name;
}

std::string BenchCacheDir() {
  return std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
         "/ktvm-btf-bench-cache";
}

void BM_VmlinuxBtfFromBzImageCold(benchmark::State& state) {
  BzImageBtfOptions opts;
  opts.use_cache = false;
  const std::string path = KernelFile("bzImage");
  for (auto _ : state) {
    absl::StatusOr<VmlinuxBtf> v = VmlinuxBtfFromBzImage(path, opts);
    if (!v.ok()) state.SkipWithError(std::string(v.status().message()).c_str());
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_VmlinuxBtfFromBzImageCold)->Unit(benchmark::kMillisecond);

void BM_VmlinuxBtfFromCache(benchmark::State& state) {
  BzImageBtfOptions opts;
  opts.cache_dir = BenchCacheDir();
  const std::string path = KernelFile("bzImage");
  (void)VmlinuxBtfFromBzImage(path, opts);  // fill the cache
  for (auto _ : state) {
    absl::StatusOr<VmlinuxBtf> v = VmlinuxBtfFromBzImage(path, opts);
    if (!v.ok() || !v->from_cache) state.SkipWithError("cache miss");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_VmlinuxBtfFromCache)->Unit(benchmark::kMillisecond);

// The anchor itself: libbpf's btf__new over the raw bytes already in memory.
void BM_LibbpfParseRawVmlinuxBtf(benchmark::State& state) {
  absl::StatusOr<MappedFile> f = MappedFile::Open(KernelFile("vmlinux"));
  absl::StatusOr<std::vector<uint8_t>> raw = BtfSectionFromElf(f->bytes());
  for (auto _ : state) {
    absl::StatusOr<BtfPtr> b = BtfFromRawBytes(*raw);
    benchmark::DoNotOptimize(b);
  }
  state.SetBytesProcessed(state.iterations() * raw->size());
}
BENCHMARK(BM_LibbpfParseRawVmlinuxBtf)->Unit(benchmark::kMillisecond);

void BM_MemberOffsetLookup(benchmark::State& state) {
  absl::StatusOr<BtfPtr> b = BtfFromFile(KernelFile("vmlinux"));
  const uint32_t task = *RequireFullStruct(b->get(), "task_struct");
  for (auto _ : state) {
    benchmark::DoNotOptimize(MemberOffset(b->get(), task, "scx.dsq_vtime"));
  }
}
BENCHMARK(BM_MemberOffsetLookup);

void BM_RequireFullStructByName(benchmark::State& state) {
  absl::StatusOr<BtfPtr> b = BtfFromFile(KernelFile("vmlinux"));
  for (auto _ : state) {
    benchmark::DoNotOptimize(RequireFullStruct(b->get(), "scx_exit_info"));
  }
}
BENCHMARK(BM_RequireFullStructByName)->Unit(benchmark::kMicrosecond);

// No live guest image here: the table is built in memory with the same
// layout and the real kernel's symbol count (209812 seen in the QEMU test).
constexpr uint32_t kRealSymbolCount = 209812;

const testing::BuiltKallsyms& Table() {
  static const testing::BuiltKallsyms* t = new testing::BuiltKallsyms(
      testing::BuildKallsyms(kRealSymbolCount, 0xffffffff9a000000ull));
  return *t;
}

void BM_KallsymsDecodeWholeTable(benchmark::State& state) {
  const testing::BuiltKallsyms& t = Table();
  const ReadVirtualFn read = t.reader();
  for (auto _ : state) {
    absl::StatusOr<SymbolTable> s = DecodeKallsyms(read, t.tables);
    if (!s.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(s);
  }
  state.counters["symbols"] = kRealSymbolCount;
}
BENCHMARK(BM_KallsymsDecodeWholeTable)->Unit(benchmark::kMillisecond);

void BM_SymbolLookupByName(benchmark::State& state) {
  const testing::BuiltKallsyms& t = Table();
  const SymbolTable table = *DecodeKallsyms(t.reader(), t.tables);
  std::vector<std::string> names;
  std::mt19937 rng(1);
  for (int i = 0; i < 4096; ++i) {
    names.push_back(t.symbols[rng() % t.symbols.size()].name);
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.Lookup(names[i++ & 4095]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SymbolLookupByName);

void BM_SymbolizeAddress(benchmark::State& state) {
  const testing::BuiltKallsyms& t = Table();
  const SymbolTable table = *DecodeKallsyms(t.reader(), t.tables);
  std::vector<uint64_t> addrs;
  std::mt19937 rng(2);
  for (int i = 0; i < 4096; ++i) {
    addrs.push_back(t.symbols[rng() % t.symbols.size()].address + rng() % 16);
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.Symbolize(addrs[i++ & 4095]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SymbolizeAddress);

// A whole struct task_struct (zeroed; every member rendered, pointers not
// followed) from the real kernel's BTF.
void BM_RenderTaskStruct(benchmark::State& state) {
  absl::StatusOr<BtfPtr> b = BtfFromFile(KernelFile("vmlinux"));
  const uint32_t task = *RequireFullStruct(b->get(), "task_struct");
  std::vector<uint8_t> bytes(*TypeSize(b->get(), task), 0);
  RenderOptions opts;
  size_t nodes = 0;
  for (auto _ : state) {
    report::RenderedValue v = RenderValue(b->get(), task, bytes, opts);
    nodes = v.ByteSizeLong();
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(state.iterations() * bytes.size());
  state.counters["proto_bytes"] = nodes;
}
BENCHMARK(BM_RenderTaskStruct)->Unit(benchmark::kMicrosecond);

void BM_FormatTaskStruct(benchmark::State& state) {
  absl::StatusOr<BtfPtr> b = BtfFromFile(KernelFile("vmlinux"));
  const uint32_t task = *RequireFullStruct(b->get(), "task_struct");
  std::vector<uint8_t> bytes(*TypeSize(b->get(), task), 0);
  const report::RenderedValue v = RenderValue(b->get(), task, bytes, {});
  for (auto _ : state) {
    benchmark::DoNotOptimize(FormatRenderedValue(v));
  }
}
BENCHMARK(BM_FormatTaskStruct)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace ktvm::btf
