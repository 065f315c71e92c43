// Freeze-and-dump: watches a running guest for a reason to dump (sched_ext
// error exit, kernel panic, no progress), freezes every vCPU, and fills a
// FailureDumpReport from guest memory. The caller (vmm/main.cc) drives it
// from its wait loop with Poll() and writes the report.
#ifndef KTVM_VMM_DUMP_DUMP_ENGINE_H_
#define KTVM_VMM_DUMP_DUMP_ENGINE_H_

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "btf/btf_ptr.h"
#include "google/protobuf/arena.h"
#include "proto/failure_dump.pb.h"
#include "vmm/backend/backend.h"
#include "vmm/dump/jiffies_watchdog.h"
#include "vmm/dump/kernel_bootstrap.h"
#include "vmm/dump/kernel_console.h"
#include "vmm/dump/scx_exit_monitor.h"

namespace ktvm::dump {

struct DumpEngineOptions {
  BootstrapOptions bootstrap;
  // The kernel's BTF if the caller has loaded it already (else Create loads
  // it from bootstrap.bzimage_path).
  btf::BtfPtr vmlinux_btf;
  // No jiffies progress for this long is a hang (0: never). Time the
  // guest's host threads waited for a CPU does not count (JiffiesWatchdog).
  absl::Duration watchdog = absl::Seconds(60);
  // How long the guest may run, in steps, for the kernel to finish writing
  // the exit message after it claimed the exit kind.
  absl::Duration settle_step = absl::Milliseconds(2);
  int max_settle_steps = 200;
  size_t log_records = 256;
  // Filled into the report header as given.
  ktvm::report::ReportHeader header;
  // The kernel console seen so far (may be null: no console detection).
  // Must outlive the engine.
  const ConsoleTriggerScanner* console = nullptr;
};

// Why a dump was taken, as detected (before the freeze).
struct DumpTrigger {
  ktvm::report::TriggerKind kind = ktvm::report::TRIGGER_KIND_UNSPECIFIED;
  std::string summary;
  std::string detector;
  absl::Time detected;
  // The last poll before `detected` that found nothing: the guest recorded
  // the event between the two, so `detected - last_clear_poll` bounds the
  // detection latency. InfinitePast when no earlier poll ran.
  absl::Time last_clear_poll = absl::InfinitePast();
};

class DumpEngine {
 public:
  // Enough for the report of a scheduler with a full sdt allocator (4096
  // rendered entries take 2.8 MB) plus maps and log; more spills to
  // malloc'd arena blocks.
  static constexpr size_t kReportBlockBytes = size_t{8} << 20;

  // `backend` must outlive the engine. Loads the bzImage's BTF now, so a
  // dump never waits for it. Without BTF the engine still dumps registers,
  // with a diagnostic saying why kernel data is missing; Poll() then only
  // never fires (detection needs the kernel's symbols and types).
  static absl::StatusOr<std::unique_ptr<DumpEngine>> Create(
      backend::Backend& backend, DumpEngineOptions options, absl::Time start);
  // Waits for a bootstrap still running on its worker thread.
  ~DumpEngine();

  // Called often (about every millisecond) while the guest runs. Bootstraps
  // the kernel view when the guest has published VMCOREINFO, then checks
  // the sched_ext exit kind and panic_cpu in memory, the console, and the
  // jiffies watchdog, in that order: when memory and console both show an
  // event, memory wins (its report is richer). Returns a trigger once;
  // never blocks: the bootstrap (decoding ~200k kallsyms names, 0.1-0.2 s
  // at -c opt and seconds under sanitizers) runs on a worker thread, so the
  // console, --timeout and signals are still seen every millisecond.
  std::optional<DumpTrigger> Poll();

  // After the guest ended without a trigger (e.g. a panic whose reset beat
  // the poll): memory (still mapped) and the console once more, without
  // the watchdog. A dump then has no registers unless the backend kept them.
  std::optional<DumpTrigger> PollAfterExit();

  // Freezes the guest (if not yet) and collects the report. Never fails:
  // whatever cannot be read becomes a diagnostic. The guest stays frozen.
  ktvm::report::FailureDumpReport Dump(const DumpTrigger& trigger);
  // Same, into `report`, which may live on a google::protobuf::Arena made
  // with ReportArenaOptions(): then the thousands of sdt entry and rendered
  // value messages are bump-allocated in memory faulted in at Create()
  // instead of malloc'd one by one while the guest is frozen.
  void DumpInto(const DumpTrigger& trigger,
                ktvm::report::FailureDumpReport& report);
  // An arena whose first block is the engine's pre-faulted buffer. At most
  // one such arena may be alive at a time.
  google::protobuf::ArenaOptions ReportArenaOptions();

  bool bootstrapped() const { return kernel_ != nullptr; }
  // When the kernel view became usable (InfinitePast: not yet), and how
  // long that bootstrap took on its worker.
  absl::Time kernel_ready() const { return kernel_ready_; }
  absl::Duration kernel_bootstrap_duration() const {
    return kernel_bootstrap_duration_;
  }
  // False when the bzImage had no usable vmlinux BTF.
  bool has_btf() const { return btf_ != nullptr; }
  const struct ::btf* btf() const { return btf_.get(); }
  // Why the last bootstrap attempt failed (empty once bootstrapped).
  const std::string& bootstrap_error() const { return bootstrap_error_; }

 private:
  DumpEngine(backend::Backend& backend, DumpEngineOptions options,
             absl::Time start, btf::BtfPtr btf)
      : backend_(backend),
        options_(std::move(options)),
        start_(start),
        btf_(std::move(btf)) {}
  struct BootstrapResult {
    absl::StatusOr<std::unique_ptr<GuestKernel>> kernel;
    absl::Duration took;
  };
  // From Poll(): takes over a finished worker's result, or starts a worker
  // when none runs and the retry time has come. Never waits.
  void PollBootstrap(absl::Time now);
  // From Dump(): waits for a running worker, then, without a kernel view,
  // bootstraps here with `scan`.
  void BootstrapBeforeDump(VmcoreinfoScan scan);
  void AdoptBootstrap(BootstrapResult result, absl::Time now);
  // The bootstrap itself; on the worker it only reads guest memory and BTF.
  static BootstrapResult RunBootstrap(const memory::GuestMemory& memory,
                                      const struct ::btf* btf,
                                      VmcoreinfoScan scan);
  int64_t SinceStart(absl::Time t) const {
    return absl::ToInt64Nanoseconds(t - start_);
  }
  std::optional<DumpTrigger> PollMemory(absl::Time now);
  std::optional<DumpTrigger> PollConsole(absl::Time now) const;
  // Lets the frozen guest run for one settle_step and freezes it again
  // (memory caches dropped); an error says which half failed.
  absl::Status SettleStep();
  void CollectExitInfo(ktvm::report::FailureDumpReport& report);
  // For a panic seen in memory: lets the guest run in settle steps until
  // the panic line is in the log (see the definition).
  void SettlePanicMessage(ktvm::report::FailureDumpReport& report);
  // What the console showed, for the parts memory could not give.
  void FillFromConsole(ktvm::report::FailureDumpReport& report) const;
  // Names backtrace frames and vCPU instruction pointers in BPF programs.
  void NameBpfCode(ktvm::report::FailureDumpReport& report,
                   std::vector<ktvm::report::Diagnostic>& diagnostics);

  backend::Backend& backend_;
  const DumpEngineOptions options_;
  // First block of the report arena; zero-filled (so faulted in) at
  // construction, before any failure.
  std::vector<char> report_block_ = std::vector<char>(kReportBlockBytes);
  const absl::Time start_;
  btf::BtfPtr btf_;
  std::unique_ptr<GuestKernel> kernel_;
  std::optional<ScxExitMonitor> scx_;
  std::optional<uint64_t> panic_cpu_va_;
  std::optional<uint64_t> jiffies_va_;
  std::optional<JiffiesWatchdog> watchdog_;
  absl::Time next_bootstrap_ = absl::InfinitePast();
  // The running bootstrap worker, if any. It reads guest memory and the BTF
  // only; the engine's state changes on the polling thread (AdoptBootstrap).
  std::future<BootstrapResult> bootstrap_worker_;
  absl::Time kernel_ready_ = absl::InfinitePast();
  absl::Duration kernel_bootstrap_duration_;
  std::string bootstrap_error_ = "not attempted";
  bool fired_ = false;
};

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_DUMP_ENGINE_H_
