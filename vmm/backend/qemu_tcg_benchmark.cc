// Freeze/register/resume costs of the QEMU TCG backend on the real Debian
// kernel with ktvm's init (idle guest, workload "sleep"). One guest is booted
// for the whole run.
//   bazel run -c opt //vmm/backend:qemu_tcg_benchmark
#include <cstdio>
#include <cstring>
#include <memory>

#include "benchmark/benchmark.h"
#include "vmm/backend/qemu_tcg.h"
#include "vmm/guest/initramfs.h"

namespace ktvm::backend {
namespace {

QemuTcgBackend* Guest(int cpus) {
  static std::unique_ptr<QemuTcgBackend> guest;
  static int booted_cpus = 0;
  if (guest && booted_cpus == cpus) return guest.get();
  guest.reset();
  guest::InitramfsSpec spec;
  spec.init_path = "vmm/guest/init";
  spec.run_command = "sleep 600";
  const std::string initrd = "/tmp/ktvm-bench-initramfs.img";
  if (auto s = guest::WriteInitramfs(spec, initrd); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return nullptr;
  }
  QemuTcgOptions o;
  o.kernel = "external/kernel/bzImage";
  o.initrd = initrd;
  o.cmdline = "console=ttyS0 quiet";
  o.cpus = cpus;
  auto b = QemuTcgBackend::Create(o);
  if (!b.ok() || !(*b)->Start({}).ok()) {
    std::fprintf(stderr, "cannot start QEMU\n");
    return nullptr;
  }
  // Wait until the init reports the workload, so the guest is idle.
  for (int i = 0; i < 600; ++i) {
    bool started = false;
    for (const auto& l : (*b)->ControlLines()) {
      started |= l.find("workload-started") != std::string::npos;
    }
    if (started) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  guest = *std::move(b);
  booted_cpus = cpus;
  return guest.get();
}

void BM_FreezeResume(benchmark::State& state) {
  QemuTcgBackend* g = Guest(static_cast<int>(state.range(0)));
  if (g == nullptr) return state.SkipWithError("guest did not boot");
  for (auto _ : state) {
    if (!g->Freeze().ok() || !g->Resume().ok()) {
      return state.SkipWithError("freeze/resume failed");
    }
  }
}
BENCHMARK(BM_FreezeResume)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Unit(benchmark::kMillisecond);

void BM_FreezeReadRegistersResume(benchmark::State& state) {
  QemuTcgBackend* g = Guest(static_cast<int>(state.range(0)));
  if (g == nullptr) return state.SkipWithError("guest did not boot");
  for (auto _ : state) {
    if (!g->Freeze().ok()) return state.SkipWithError("freeze failed");
    auto regs = g->ReadRegisters();
    if (!regs.ok()) return state.SkipWithError("registers failed");
    benchmark::DoNotOptimize(regs->size());
    if (!g->Resume().ok()) return state.SkipWithError("resume failed");
  }
}
BENCHMARK(BM_FreezeReadRegistersResume)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Unit(benchmark::kMillisecond);

void BM_ReadGuestRam(benchmark::State& state) {
  QemuTcgBackend* g = Guest(2);
  if (g == nullptr) return state.SkipWithError("guest did not boot");
  std::vector<uint8_t> buf(state.range(0));
  uint64_t gpa = 1 << 20;
  for (auto _ : state) {
    if (!g->ram().Read(gpa, absl::MakeSpan(buf)).ok()) {
      return state.SkipWithError("read failed");
    }
    gpa = (gpa + buf.size()) % (256 << 20) + (1 << 20);
  }
  state.SetBytesProcessed(state.iterations() * buf.size());
}
BENCHMARK(BM_ReadGuestRam)->Arg(4096)->Arg(1 << 20);

}  // namespace
}  // namespace ktvm::backend

BENCHMARK_MAIN();
