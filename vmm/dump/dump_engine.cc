#include "vmm/dump/dump_engine.h"

#include <chrono>
#include <future>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "vmm/dump/bpf_maps.h"
#include "vmm/dump/bpf_symbols.h"
#include "vmm/dump/kernel_console.h"
#include "vmm/dump/printk_log.h"
#include "vmm/dump/run_queues.h"
#include "vmm/dump/scheduler_arena.h"

namespace ktvm::dump {
namespace {

using ::ktvm::report::Diagnostic;
using ::ktvm::report::FailureDumpReport;

// VMCOREINFO appears a few seconds into boot; scanning guest RAM for it
// costs tens of milliseconds, so do not try more often than this.
constexpr absl::Duration kBootstrapRetry = absl::Milliseconds(500);
// The kernel's PANIC_CPU_INVALID.
constexpr uint32_t kNoPanicCpu = 0xffffffff;
// How long a console sched_ext error waits for its message line.
constexpr absl::Duration kScxMessageWait = absl::Milliseconds(50);
// Enough for a panic with its backtrace and the lines before it.
constexpr size_t kConsoleTailBytes = 16 * 1024;

void AddDiagnostic(FailureDumpReport& report, std::string subject,
                   const absl::Status& status,
                   Diagnostic::Severity severity = Diagnostic::SEVERITY_ERROR) {
  Diagnostic* d = report.add_diagnostics();
  d->set_subject(std::move(subject));
  d->set_reason(std::string(status.message()));
  d->set_severity(severity);
}

}  // namespace

absl::StatusOr<std::unique_ptr<DumpEngine>> DumpEngine::Create(
    backend::Backend& backend, DumpEngineOptions options, absl::Time start) {
  absl::StatusOr<btf::BtfPtr> btf =
      options.vmlinux_btf != nullptr
          ? absl::StatusOr<btf::BtfPtr>(std::move(options.vmlinux_btf))
          : LoadVmlinuxBtf(options.bootstrap);
  // Without the kernel's BTF no kernel data can be read, but a report with
  // every vCPU's registers is still worth writing (a test guest that is not
  // Linux, a kernel built without BTF).
  std::string btf_error;
  if (!btf.ok()) {
    btf_error =
        absl::StrFormat("no vmlinux BTF from %s: %s",
                        options.bootstrap.bzimage_path, btf.status().message());
  }
  std::unique_ptr<DumpEngine> engine(
      new DumpEngine(backend, std::move(options), start,
                     btf.ok() ? *std::move(btf) : btf::BtfPtr()));
  if (!btf_error.empty()) engine->bootstrap_error_ = std::move(btf_error);
  return engine;
}

DumpEngine::~DumpEngine() {
  if (bootstrap_worker_.valid()) bootstrap_worker_.wait();
}

DumpEngine::BootstrapResult DumpEngine::RunBootstrap(
    const memory::GuestMemory& memory, const struct ::btf* btf,
    VmcoreinfoScan scan) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<GuestKernel>> kernel =
      BootstrapGuestKernel(memory, btf, scan);
  return {std::move(kernel), absl::Now() - start};
}

void DumpEngine::PollBootstrap(absl::Time now) {
  if (kernel_ != nullptr || btf_ == nullptr) return;
  if (bootstrap_worker_.valid()) {
    if (bootstrap_worker_.wait_for(std::chrono::seconds(0)) !=
        std::future_status::ready) {
      return;
    }
    AdoptBootstrap(bootstrap_worker_.get(), now);
    return;
  }
  if (now < next_bootstrap_) return;
  bootstrap_worker_ =
      std::async(std::launch::async, RunBootstrap, std::cref(backend_.memory()),
                 btf_.get(), VmcoreinfoScan::kPageStarts);
}

void DumpEngine::BootstrapBeforeDump(VmcoreinfoScan scan) {
  if (kernel_ != nullptr || btf_ == nullptr) return;
  if (bootstrap_worker_.valid()) {
    AdoptBootstrap(bootstrap_worker_.get(), absl::Now());
    if (kernel_ != nullptr) return;
  }
  AdoptBootstrap(RunBootstrap(backend_.memory(), btf_.get(), scan),
                 absl::Now());
}

void DumpEngine::AdoptBootstrap(BootstrapResult result, absl::Time now) {
  next_bootstrap_ = now + kBootstrapRetry;
  if (!result.kernel.ok()) {
    bootstrap_error_ = std::string(result.kernel.status().message());
    return;
  }
  kernel_ = *std::move(result.kernel);
  kernel_ready_ = now;
  kernel_bootstrap_duration_ = result.took;
  bootstrap_error_.clear();
  absl::StatusOr<ScxExitMonitor> scx = ScxExitMonitor::Create(*kernel_);
  if (scx.ok()) scx_.emplace(*std::move(scx));
  if (absl::StatusOr<uint64_t> va = kernel_->Symbol("panic_cpu"); va.ok()) {
    panic_cpu_va_ = *va;
  }
  if (absl::StatusOr<uint64_t> va = kernel_->Symbol("jiffies"); va.ok()) {
    jiffies_va_ = *va;
  }
  if (options_.watchdog > absl::ZeroDuration()) {
    watchdog_.emplace(options_.watchdog);
  }
}

std::optional<DumpTrigger> DumpEngine::PollMemory(absl::Time now) {
  if (kernel_ == nullptr) return std::nullopt;
  if (scx_.has_value()) {
    absl::StatusOr<int32_t> kind = scx_->PollKind();
    if (kind.ok() && *kind >= kScxExitErrorKind) {
      const bool stall = *kind == report::SCX_EXIT_ERROR_STALL;
      return DumpTrigger{stall ? report::TRIGGER_KIND_STALL
                               : report::TRIGGER_KIND_SCHED_EXT_ERROR,
                         absl::StrFormat("scx_root->exit_kind = %d (%s)", *kind,
                                         ScxExitKindName(*kind)),
                         "memory-poll", now};
    }
  }
  if (panic_cpu_va_.has_value()) {
    absl::StatusOr<uint32_t> cpu = kernel_->ReadU32(*panic_cpu_va_);
    if (cpu.ok() && *cpu != kNoPanicCpu) {
      return DumpTrigger{report::TRIGGER_KIND_PANIC,
                         absl::StrFormat("kernel panic on CPU %d", *cpu),
                         "memory-poll", now};
    }
  }
  return std::nullopt;
}

std::optional<DumpTrigger> DumpEngine::PollConsole(absl::Time now) const {
  if (options_.console == nullptr) return std::nullopt;
  std::optional<ConsoleEvent> event = options_.console->first();
  if (!event.has_value()) return std::nullopt;
  // The kernel prints the exit message on the very next line; a freeze in
  // between would lose it for good. The scheduler is already torn down
  // when the "disabled" line appears, so waiting costs no evidence.
  if (event->scx_kind != 0 && event->scx_msg.empty() &&
      now - event->seen < kScxMessageWait) {
    return std::nullopt;
  }
  return DumpTrigger{event->kind, absl::StrFormat("console: %s", event->line),
                     "console", event->seen};
}

std::optional<DumpTrigger> DumpEngine::Poll() {
  if (fired_) return std::nullopt;
  const absl::Time now = absl::Now();
  PollBootstrap(now);
  // Memory before the console: the kernel records panic_cpu and the exit
  // kind before it prints the line, so when both fired, memory has it.
  std::optional<DumpTrigger> trigger = PollMemory(now);
  if (!trigger.has_value()) trigger = PollConsole(now);
  if (!trigger.has_value() && kernel_ != nullptr && jiffies_va_.has_value() &&
      watchdog_.has_value()) {
    if (absl::StatusOr<uint64_t> jiffies = kernel_->ReadU64(*jiffies_va_);
        jiffies.ok()) {
      if (std::optional<std::string> hang = watchdog_->Observe(
              now, *jiffies,
              [this] { return SampleRunDelay(backend_.HostThreads()); })) {
        trigger = DumpTrigger{report::TRIGGER_KIND_WATCHDOG, *std::move(hang),
                              "watchdog", now};
      }
    }
  }
  if (trigger.has_value()) fired_ = true;
  return trigger;
}

std::optional<DumpTrigger> DumpEngine::PollAfterExit() {
  if (fired_) return std::nullopt;
  // Every console byte has been read once the guest has ended.
  std::optional<DumpTrigger> trigger = PollMemory(absl::Now());
  if (!trigger.has_value()) trigger = PollConsole(absl::InfiniteFuture());
  if (trigger.has_value()) {
    trigger->summary += " (seen after the guest ended)";
    fired_ = true;
  }
  return trigger;
}

absl::Status DumpEngine::SettleStep() {
  if (!backend_.Resume().ok()) {
    return absl::UnavailableError("the guest could not be resumed");
  }
  absl::SleepFor(options_.settle_step);
  if (!backend_.Freeze().ok()) {
    return absl::UnavailableError("the guest could not be frozen again");
  }
  kernel_->InvalidateCaches();
  return absl::OkStatus();
}

void DumpEngine::CollectExitInfo(FailureDumpReport& report) {
  if (!scx_.has_value()) {
    AddDiagnostic(report, "scx_exit",
                  absl::NotFoundError("the kernel has no sched_ext (scx_root "
                                      "or its BTF types are missing)"),
                  Diagnostic::SEVERITY_WARNING);
    return;
  }
  // The kernel claims the kind first and writes the backtrace and message
  // afterwards: let the guest run in short steps until it has. Should the
  // scheduler be torn down meanwhile (scx_root NULL), keep the last read.
  absl::StatusOr<report::SchedExtExitInfo> info = scx_->ReadExitInfo();
  for (int step = 0;
       step < options_.max_settle_steps && info.ok() &&
       info->kind_value() >= kScxExitErrorKind && !info->complete();
       ++step) {
    if (!SettleStep().ok()) break;
    absl::StatusOr<report::SchedExtExitInfo> next = scx_->ReadExitInfo();
    if (!next.ok()) {
      AddDiagnostic(report, "scx_exit",
                    absl::Status(next.status().code(),
                                 absl::StrFormat("while settling: %s",
                                                 next.status().message())),
                    Diagnostic::SEVERITY_WARNING);
      break;
    }
    info = std::move(next);
  }
  if (!info.ok()) {
    AddDiagnostic(report, "scx_exit", info.status(), Diagnostic::SEVERITY_INFO);
    return;
  }
  *report.mutable_scx_exit() = *std::move(info);
  if (report.scx_exit().kind_value() >= kScxExitErrorKind &&
      !report.scx_exit().complete()) {
    AddDiagnostic(report, "scx_exit",
                  absl::DeadlineExceededError(
                      "the kernel had not finished writing the exit info "
                      "within the settle budget"),
                  Diagnostic::SEVERITY_WARNING);
  }
}

void DumpEngine::SettlePanicMessage(FailureDumpReport& report) {
  // panic_cpu is claimed a few instructions before vpanic() logs "Kernel
  // panic - not syncing: <reason>", and a 1 ms poll can land in between.
  // The reason is what a reader wants first, so the guest runs in short
  // steps until it is logged. The registers were read at the first freeze,
  // and the other CPUs are only stopped after the line is logged, so the
  // steps cost no evidence.
  constexpr absl::string_view kPanicLine = "Kernel panic - not syncing";
  // The line is among the newest few records once it is logged at all.
  constexpr size_t kNewestRecords = 16;
  std::string stopped_by = "within the settle budget";
  for (int step = 0;; ++step) {
    absl::StatusOr<report::KernelLog> log =
        ReadPrintkLog(*kernel_, kNewestRecords);
    if (!log.ok()) return;  // reading the whole log later says why
    for (const report::KernelLogRecord& r : log->records()) {
      if (absl::StrContains(r.text(), kPanicLine)) return;
    }
    if (step == options_.max_settle_steps) break;
    if (absl::Status settled = SettleStep(); !settled.ok()) {
      stopped_by = absl::StrCat("(", settled.message(), ")");
      break;
    }
  }
  AddDiagnostic(
      report, "kernel_log",
      absl::DeadlineExceededError(absl::StrCat(
          "the panic line (\"", kPanicLine, "\") was not logged ", stopped_by)),
      Diagnostic::SEVERITY_WARNING);
}

void DumpEngine::FillFromConsole(FailureDumpReport& report) const {
  std::optional<ConsoleEvent> scx;
  if (options_.console != nullptr) scx = options_.console->first_scx_error();
  if (!report.has_scx_exit() && scx.has_value()) {
    report::SchedExtExitInfo* e = report.mutable_scx_exit();
    e->set_kind_value(scx->scx_kind);
    if (report::ScxExitKind_IsValid(scx->scx_kind)) {
      e->set_kind(static_cast<report::ScxExitKind>(scx->scx_kind));
    }
    e->set_kind_name(ScxExitKindName(scx->scx_kind));
    e->set_reason(scx->scx_reason);
    e->set_msg(scx->scx_msg);
    e->set_scheduler_name(scx->scx_scheduler);
    AddDiagnostic(
        report, "scx_exit",
        absl::NotFoundError("exit info taken from the console (not in guest "
                            "memory): kind from the reason text, no backtrace"),
        Diagnostic::SEVERITY_INFO);
  }
  if (report.kernel_log().records_size() == 0 &&
      !report.console_tail().empty()) {
    *report.mutable_kernel_log() = KernelLogFromConsole(report.console_tail());
    AddDiagnostic(
        report, "kernel_log",
        absl::NotFoundError("printk ring buffer not read: log records are the "
                            "console tail"),
        Diagnostic::SEVERITY_INFO);
  }
}

void DumpEngine::NameBpfCode(FailureDumpReport& report,
                             std::vector<Diagnostic>& diagnostics) {
  // Only after the exit info settled: the guest no longer runs, so the
  // programs read here are the ones the backtrace ran through.
  absl::StatusOr<BpfSymbols> bpf =
      ReadBpfSymbols(*kernel_, BpfSymbolLimits{}, diagnostics);
  if (!bpf.ok()) {
    AddDiagnostic(report, "bpf_symbols", bpf.status(),
                  Diagnostic::SEVERITY_WARNING);
    return;
  }
  if (report.has_scx_exit()) {
    SymbolizeBpfFrames(*bpf, *report.mutable_scx_exit()->mutable_backtrace());
  }
  for (report::VcpuState& v : *report.mutable_vcpus()) {
    if (!v.has_x86_64()) continue;
    std::string in_bpf = FormatBpfAddress(*bpf, v.x86_64().rip());
    if (!in_bpf.empty()) v.set_ip_symbol(std::move(in_bpf));
  }
}

FailureDumpReport DumpEngine::Dump(const DumpTrigger& trigger) {
  FailureDumpReport report;
  DumpInto(trigger, report);
  return report;
}

google::protobuf::ArenaOptions DumpEngine::ReportArenaOptions() {
  google::protobuf::ArenaOptions options;
  options.initial_block = report_block_.data();
  options.initial_block_size = report_block_.size();
  return options;
}

void DumpEngine::DumpInto(const DumpTrigger& trigger,
                          FailureDumpReport& report) {
  fired_ = true;
  // Idempotent when the guest is already stopped; the caller may have
  // resumed it since an earlier dump.
  if (absl::Status s = backend_.Freeze(); !s.ok()) {
    AddDiagnostic(report, "freeze", s);
  }
  const absl::Time frozen = absl::Now();
  *report.mutable_header() = options_.header;
  report.mutable_header()->set_format_version(report::FORMAT_VERSION_1);
  report.mutable_header()->set_wall_time_unix_ns(
      absl::ToUnixNanos(absl::Now()));
  report.mutable_header()->set_vcpu_count(backend_.num_vcpus());
  report.mutable_header()->set_memory_bytes(backend_.memory().total_bytes());
  report.mutable_header()->set_arch(report::ARCH_X86_64);
  report::Trigger* t = report.mutable_trigger();
  t->set_kind(trigger.kind);
  t->set_summary(trigger.summary);
  t->set_detector(trigger.detector);
  t->set_detected_ns(SinceStart(trigger.detected));
  t->set_frozen_ns(SinceStart(frozen));
  report::Timings* timings = report.mutable_timings();
  timings->set_detected_ns(t->detected_ns());
  timings->set_frozen_ns(t->frozen_ns());
  timings->set_freeze_latency_ns(
      absl::ToInt64Nanoseconds(frozen - trigger.detected));
  if (trigger.last_clear_poll != absl::InfinitePast()) {
    timings->set_detection_window_ns(
        absl::ToInt64Nanoseconds(trigger.detected - trigger.last_clear_poll));
  }

  // Registers first: they are what the freeze captured.
  absl::StatusOr<std::vector<report::VcpuState>> vcpus =
      backend_.ReadRegisters();
  if (vcpus.ok()) {
    for (report::VcpuState& v : *vcpus) *report.add_vcpus() = std::move(v);
  } else {
    AddDiagnostic(report, "vcpus", vcpus.status());
  }

  const absl::Time bootstrap_start = absl::Now();
  // Last chance: look for the note anywhere, not only at page starts.
  BootstrapBeforeDump(VmcoreinfoScan::kEveryByte);
  timings->set_bootstrap_ns(
      absl::ToInt64Nanoseconds(absl::Now() - bootstrap_start));
  if (kernel_ != nullptr) {
    timings->set_kernel_ready_ns(SinceStart(kernel_ready_));
    timings->set_kernel_bootstrap_ns(
        absl::ToInt64Nanoseconds(kernel_bootstrap_duration_));
  }
  report.set_console_tail(backend_.ConsoleTail(kConsoleTailBytes));
  if (kernel_ == nullptr) {
    AddDiagnostic(report, "kernel",
                  absl::UnavailableError(absl::StrFormat(
                      "no kernel data from guest memory (scx exit info, "
                      "printk log, BPF maps, sdt allocators, run queues "
                      "not read): %s",
                      bootstrap_error_)));
    FillFromConsole(report);
    timings->set_dump_finished_ns(SinceStart(absl::Now()));
    return;
  }
  kernel_->InvalidateCaches();
  report.mutable_header()->set_kernel_release(kernel_->vmcoreinfo().osrelease);
  kernel_->FillLayout(*report.mutable_guest_layout());
  for (report::VcpuState& v : *report.mutable_vcpus()) {
    if (v.has_x86_64()) v.set_ip_symbol(kernel_->Symbolize(v.x86_64().rip()));
  }

  CollectExitInfo(report);
  if (trigger.kind == report::TRIGGER_KIND_PANIC &&
      trigger.detector == "memory-poll") {
    SettlePanicMessage(report);
  }

  std::vector<Diagnostic> diagnostics;
  NameBpfCode(report, diagnostics);

  absl::StatusOr<report::KernelLog> log =
      ReadPrintkLog(*kernel_, options_.log_records);
  if (log.ok()) {
    *report.mutable_kernel_log() = *std::move(log);
  } else {
    AddDiagnostic(report, "kernel_log", log.status());
  }

  const absl::Time maps_start = absl::Now();
  absl::StatusOr<BpfMapsRead> maps =
      ReadBpfMaps(*kernel_, BpfMapLimits{}, diagnostics);
  if (!maps.ok()) {
    AddDiagnostic(report, "bpf_maps", maps.status());
    maps = BpfMapsRead{};
  }
  timings->set_maps_ns(absl::ToInt64Nanoseconds(absl::Now() - maps_start));
  const absl::Time arena_start = absl::Now();
  const std::vector<sdt::ArenaWindow> arenas =
      SnapshotArenas(*kernel_, maps->maps, diagnostics);
  // Moved into heap messages the report then owns: on an arena report an
  // assignment would deep-copy every map, arena pages included.
  for (report::BpfMap& m : maps->maps) {
    report.mutable_bpf_maps()->AddAllocated(new report::BpfMap(std::move(m)));
  }
  const absl::Time sdt_start = absl::Now();
  timings->set_arena_ns(absl::ToInt64Nanoseconds(sdt_start - arena_start));
  WalkSdtAllocators(*kernel_, maps->programs, arenas,
                    *report.mutable_sdt_allocators(), diagnostics);
  timings->set_sdt_ns(absl::ToInt64Nanoseconds(absl::Now() - sdt_start));

  absl::StatusOr<std::vector<report::CpuRunQueue>> rqs =
      ReadRunQueues(*kernel_, diagnostics);
  if (rqs.ok()) {
    for (report::CpuRunQueue& q : *rqs) *report.add_run_queues() = std::move(q);
  } else {
    AddDiagnostic(report, "run_queues", rqs.status());
  }
  for (Diagnostic& d : diagnostics) *report.add_diagnostics() = std::move(d);
  FillFromConsole(report);
  timings->set_dump_finished_ns(SinceStart(absl::Now()));
}

}  // namespace ktvm::dump
