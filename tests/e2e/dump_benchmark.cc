// Freeze-and-dump figures on one QEMU TCG guest running ktvm_fifo with task
// churn: bootstrap, the detection poll, freeze latency, dump time by phase
// and report size, side by side with QEMU's own dump-guest-memory of the
// same frozen guest. Run: bazel run //tests/e2e:dump_benchmark
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "tests/e2e/qemu_guest.h"
#include "vmm/dump/dump_engine.h"
#include "vmm/dump/kernel_bootstrap.h"
#include "vmm/kvm_backend.h"

namespace ktvm::e2e {
namespace {

constexpr int kFreezeRounds = 20;
constexpr int kDumpRounds = 6;
constexpr int kPolls = 2000;
constexpr int kCoreDumps = 3;

struct Stats {
  std::vector<double> v;
  double Median() {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
  double Max() { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
};

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// KVM freeze latency (kick every vCPU, each snapshots its registers and
// parks) on the project's test guest spinning on every vCPU: the only
// guest KVM can run on these machines.
void KvmFreezeTable() {
  if (access("/dev/kvm", R_OK | W_OK) != 0) {
    std::printf("\nKVM: not measured (no accessible /dev/kvm)\n");
    return;
  }
  std::ifstream in("tests/test_guest/test_guest.bzImage", std::ios::binary);
  std::stringstream image;
  image << in.rdbuf();
  std::printf("\nKVM freeze (test guest spinning), %d rounds\n", kFreezeRounds);
  std::printf("%-8s %12s %12s\n", "vCPUs", "median ms", "max ms");
  for (int cpus : {1, 2, 4}) {
    vmm::MachineConfig config;
    config.kernel = image.str();
    config.num_cpus = cpus;
    config.memory_bytes = 64ULL << 20;
    config.extra_cmdline = "ktvm_smp=vmm ktvm_test=spin";
    config.ap_start = vmm::x86_64::ApStart::kLongModeAtEntry;
    auto kvm = vmm::KvmBackend::Create(std::move(config));
    if (!kvm.ok() || !(*kvm)->Start({}).ok()) {
      std::printf("%-8d not measured: %s\n", cpus,
                  kvm.ok() ? "start failed" : kvm.status().ToString().c_str());
      continue;
    }
    absl::SleepFor(absl::Milliseconds(100));
    Stats freeze;
    for (int i = 0; i < kFreezeRounds; ++i) {
      const absl::Time t0 = absl::Now();
      if (!(*kvm)->Freeze().ok()) break;
      freeze.v.push_back(Ms(absl::Now() - t0));
      (void)(*kvm)->Resume();
      absl::SleepFor(absl::Milliseconds(10));
    }
    (void)(*kvm)->Stop();
    std::printf("%-8d %12.2f %12.2f\n", cpus, freeze.Median(), freeze.Max());
  }
}

int Run() {
  GuestSpec spec;
  spec.scheduler_args = {"--mode=churn"};
  spec.run =
      "while true; do for i in $(seq 10); do /bin/true & done; wait; "
      "sleep 0.2; done";
  auto guest = MakeGuest(spec);
  if (!guest.ok()) {
    std::fprintf(stderr, "guest: %s\n", guest.status().ToString().c_str());
    return 1;
  }
  backend::QemuTcgBackend& qemu = **guest;
  const absl::Time start = absl::Now();
  dump::DumpEngineOptions options;
  options.bootstrap.bzimage_path = KernelPath();
  const absl::Time btf0 = absl::Now();
  auto engine = dump::DumpEngine::Create(qemu, std::move(options), start);
  const absl::Duration btf_load = absl::Now() - btf0;
  if (!engine.ok()) {
    std::fprintf(stderr, "engine: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  if (!qemu.Start({}).ok() ||
      !WaitForEvent(qemu, guest::ControlEventKind::kSchedulerEnabled,
                    absl::Seconds(60))) {
    std::fprintf(stderr, "the guest did not enable the scheduler\n");
    return 1;
  }
  absl::SleepFor(absl::Seconds(2));  // let churn build up some slots

  // Bootstrap from guest RAM (VMCOREINFO scan + kallsyms decode + layout).
  auto btf = dump::LoadVmlinuxBtf(options.bootstrap);
  Stats bootstrap;
  for (int i = 0; i < 5 && btf.ok(); ++i) {
    const absl::Time t0 = absl::Now();
    auto k = dump::BootstrapGuestKernel(qemu.memory(), btf->get());
    if (k.ok()) bootstrap.v.push_back(Ms(absl::Now() - t0));
  }
  Stats scan_pages, scan_bytes;
  for (int i = 0; i < 3; ++i) {
    absl::Time t0 = absl::Now();
    (void)dump::FindVmcoreinfoInMemory(qemu.memory(),
                                       dump::VmcoreinfoScan::kPageStarts);
    scan_pages.v.push_back(Ms(absl::Now() - t0));
    t0 = absl::Now();
    (void)dump::FindVmcoreinfoInMemory(qemu.memory(),
                                       dump::VmcoreinfoScan::kEveryByte);
    scan_bytes.v.push_back(Ms(absl::Now() - t0));
  }
  // The detection poll while the guest runs, once the engine's bootstrap
  // worker (started by the first poll) has delivered the kernel view.
  const absl::Time bootstrap_deadline = absl::Now() + absl::Seconds(60);
  while (!(*engine)->bootstrapped() && absl::Now() < bootstrap_deadline) {
    (*engine)->Poll();
    absl::SleepFor(absl::Milliseconds(1));
  }
  const absl::Time p0 = absl::Now();
  for (int i = 0; i < kPolls; ++i) (*engine)->Poll();
  const double poll_us = absl::ToDoubleMicroseconds(absl::Now() - p0) / kPolls;

  Stats freeze;
  for (int i = 0; i < kFreezeRounds; ++i) {
    const absl::Time t0 = absl::Now();
    if (!qemu.Freeze().ok()) break;
    freeze.v.push_back(Ms(absl::Now() - t0));
    (void)qemu.Resume();
    absl::SleepFor(absl::Milliseconds(20));
  }

  Stats total, maps, arena, sdt, serialise, regs, total_arena, total_heap;
  size_t report_bytes = 0;
  int sdt_entries = 0, arena_pages = 0;
  for (int i = 0; i < kDumpRounds; ++i) {
    const absl::Time t0 = absl::Now();
    dump::DumpTrigger trigger{report::TRIGGER_KIND_MANUAL, "benchmark",
                              "benchmark", t0};
    // The report as ktvm builds it: on an arena over the engine's
    // pre-faulted block (guest_watch). Odd rounds build it on the heap for
    // comparison.
    google::protobuf::Arena report_arena((*engine)->ReportArenaOptions());
    report::FailureDumpReport heap_report;
    report::FailureDumpReport& r =
        i % 2 == 0 ? *google::protobuf::Arena::CreateMessage<
                         report::FailureDumpReport>(&report_arena)
                   : heap_report;
    (*engine)->DumpInto(trigger, r);
    const absl::Time t1 = absl::Now();
    std::string bytes;
    r.SerializeToString(&bytes);
    serialise.v.push_back(Ms(absl::Now() - t1));
    total.v.push_back(Ms(t1 - t0));
    maps.v.push_back(r.timings().maps_ns() / 1e6);
    arena.v.push_back(r.timings().arena_ns() / 1e6);
    sdt.v.push_back(r.timings().sdt_ns() / 1e6);
    (i % 2 == 0 ? total_arena : total_heap).v.push_back(Ms(t1 - t0));
    report_bytes = bytes.size();
    sdt_entries =
        r.sdt_allocators_size() ? r.sdt_allocators(0).entries_size() : -1;
    for (const auto& m : r.bpf_maps()) {
      if (m.has_arena()) arena_pages = m.arena().pages_size();
    }
    if (i + 1 < kDumpRounds) {
      (void)qemu.Resume();
      absl::SleepFor(absl::Milliseconds(300));
    }
  }

  // QEMU's dump-guest-memory of the same (frozen) guest.
  Stats core_ms;
  off_t core_bytes = 0;
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string core =
      absl::StrCat(tmp ? tmp : "/tmp", "/bench-core-", getpid(), ".elf");
  for (int i = 0; i < kCoreDumps; ++i) {
    ::unlink(core.c_str());
    const absl::Time t0 = absl::Now();
    if (absl::Status s = qemu.DumpGuestMemory(core); !s.ok()) {
      std::fprintf(stderr, "dump-guest-memory: %s\n", s.ToString().c_str());
      break;
    }
    core_ms.v.push_back(Ms(absl::Now() - t0));
    struct stat st;
    if (::stat(core.c_str(), &st) == 0) core_bytes = st.st_size;
  }
  ::unlink(core.c_str());
  (void)qemu.Stop();

  std::printf("freeze-and-dump, QEMU TCG, 2 vCPUs, 512 MiB, ktvm_fifo churn\n");
  std::printf("%-42s %12s\n", "phase", "median");
  std::printf("%-42s %9.1f ms\n", "vmlinux BTF (bzImage, cache) at start",
              Ms(btf_load));
  std::printf("%-42s %9.1f ms\n", "bootstrap from guest RAM",
              bootstrap.Median());
  std::printf("%-42s %9.1f ms\n", "  VMCOREINFO scan, page starts",
              scan_pages.Median());
  std::printf("%-42s %9.1f ms\n", "  VMCOREINFO scan, every byte",
              scan_bytes.Median());
  std::printf("%-42s %9.2f us\n", "detection poll (scx, panic, jiffies)",
              poll_us);
  std::printf("%-42s %9.2f ms (max %.2f)\n", "freeze (QMP stop)",
              freeze.Median(), freeze.Max());
  std::printf("%-42s %9.2f ms\n", "dump total (freeze..report)",
              total.Median());
  std::printf("%-42s %9.2f ms\n", "  report on the engine's arena",
              total_arena.Median());
  std::printf("%-42s %9.2f ms\n", "  report on the heap", total_heap.Median());
  std::printf("%-42s %9.2f ms\n", "  maps (map_idr + values)", maps.Median());
  std::printf("%-42s %9.2f ms  (%d pages)\n", "  arena snapshot",
              arena.Median(), arena_pages);
  std::printf("%-42s %9.2f ms  (%d entries)\n", "  sdt walk", sdt.Median(),
              sdt_entries);
  std::printf("%-42s %9.2f ms\n", "  serialise", serialise.Median());
  std::printf("\n%-28s %12s %14s\n", "", "ktvm report", "dump-guest-mem");
  std::printf("%-28s %9.1f ms %11.1f ms   (%.0fx)\n", "time", total.Median(),
              core_ms.Median(),
              total.Median() > 0 ? core_ms.Median() / total.Median() : 0);
  std::printf(
      "%-28s %9zu KB %11lld KB   (%.0fx)\n", "size", report_bytes / 1024,
      static_cast<long long>(core_bytes / 1024),
      report_bytes > 0 ? static_cast<double>(core_bytes) / report_bytes : 0);
  return 0;
}

}  // namespace
}  // namespace ktvm::e2e

int main() {
  const int rc = ktvm::e2e::Run();
  ktvm::e2e::KvmFreezeTable();
  return rc;
}
