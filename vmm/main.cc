// ktvm: boots a kernel under KVM, streams its console, follows the guest
// init's control channel, and exits with a code saying how it went (see
// exit_codes.h and README.md).
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "vmm/backend/qemu_tcg.h"
#include "vmm/dump/dump_engine.h"
#include "vmm/dump/guest_watch.h"
#include "vmm/dump/kernel_bootstrap.h"
#include "vmm/dump/kernel_console.h"
#include "vmm/dump/report_writer.h"
#include "vmm/exit_codes.h"
#include "vmm/guest/control_protocol.h"
#include "vmm/guest/initramfs.h"
#include "vmm/guest/initramfs_format.h"
#include "vmm/kvm/kvm_device.h"
#include "vmm/kvm_backend.h"
#include "vmm/machine.h"
#include "vmm/parse_flags.h"
#include "vmm/sched_ext_support.h"
#include "vmm/x86_64/boot_params.h"
#include "vmm/x86_64/kernel_loader.h"
#include "vmm/x86_64/layout.h"
#include "vmm/x86_64/setup_header.h"
#include "vmm/x86_64/speed_probe.h"

ABSL_FLAG(std::string, kernel, "",
          "Kernel to boot: a bzImage (Linux x86 boot protocol >= 2.12, "
          "entered at its 64-bit entry) or an ELF vmlinux with a Xen PVH "
          "note. Default: the kernel tools/setup.sh fetched "
          "(.cache/ktvm/kernel/bzImage in the workspace).");
ABSL_FLAG(std::string, initramfs, "",
          "A ready-made initramfs (cpio, optionally compressed) passed to "
          "the kernel as is. Mutually exclusive with --scheduler/--run/"
          "--include, which make ktvm build one.");
ABSL_FLAG(std::string, scheduler, "",
          "Host path of a sched_ext scheduler binary. ktvm packs it (with its "
          "shared libraries) into a generated initramfs; the guest init "
          "starts it and waits for /sys/kernel/sched_ext/state = enabled.");
ABSL_FLAG(std::string, sched_args, "",
          "Arguments for the scheduler, split on spaces.");
ABSL_FLAG(std::string, run, "",
          "Workload command the guest init runs (with /bin/sh -c when busybox "
          "is packed) once the scheduler is enabled; its exit status becomes "
          "ktvm's result.");
ABSL_FLAG(std::vector<std::string>, include, {},
          "Extra files for the generated initramfs, host:/guest/path, "
          "comma-separated or repeated.");
ABSL_FLAG(std::string, guest_init, "",
          "The static guest init for generated initramfs images. Default: "
          "//vmm/guest:init from this binary's runfiles.");
ABSL_FLAG(int, cpus, 1,
          "Number of vCPUs: 1 up to min(KVM_CAP_MAX_VCPUS, "
          "KVM_CAP_MAX_VCPU_ID, 4096). Above 254 the guest gets x2APIC "
          "(split irqchip, ktvm's IOAPIC, MADT x2APIC entries).");
ABSL_FLAG(std::string, memory, "512M",
          "Guest RAM, bytes with an optional K/M/G suffix (minimum 32M). "
          "Above 3G the rest is placed above 4 GiB (the MMIO hole).");
ABSL_FLAG(std::string, cmdline, "",
          "Words appended to ktvm's default kernel command line "
          "(console=ttyS0 ... reboot=k panic=5).");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(10),
          "Give up (exit code 6) when the guest has not ended after this long; "
          "0 waits forever.");
ABSL_FLAG(std::string, accel, "auto",
          "auto | kvm | tcg. auto times a calibration guest under KVM and "
          "uses KVM where it runs at hardware speed (or for a tiny "
          "purpose-built guest), otherwise QEMU TCG (qemu-system-x86_64), "
          "and says which and why.");
ABSL_FLAG(std::string, dump, "",
          "Where freeze-and-dump writes its FailureDumpReport (binary "
          "protobuf) when the scheduler fails, the kernel panics, the guest "
          "hangs, --timeout passes or ktvm gets SIGUSR1/SIGINT/SIGTERM. "
          "Default: ktvm-<time>-<pid>.ktvm-dump in the working directory.");
ABSL_FLAG(bool, json, false,
          "Also write the report as proto3 JSON (--dump path + .json).");
ABSL_FLAG(bool, resume_after_dump, false,
          "After a dump let the guest run on instead of stopping it.");
ABSL_FLAG(absl::Duration, watchdog, absl::Seconds(60),
          "Dump when the guest's jiffies do not advance for this long of "
          "time the host let it run: time its host threads (ktvm's vCPU "
          "threads, or QEMU's) waited for a CPU does not count (0 disables "
          "the host watchdog).");
ABSL_FLAG(bool, print_stats, false,
          "Print boot timing and memory figures on stderr as one "
          "'ktvm-stats:' line (used by //vmm:boot_benchmark).");
ABSL_FLAG(std::string, kvm_device, ktvm::vmm::kDefaultKvmDevicePath,
          "The KVM device node.");
ABSL_FLAG(std::vector<std::string>, testing_unkickable_vcpus, {},
          "Testing only (--accel=kvm): vCPU indices whose threads keep the "
          "kick signal blocked, so a guest loop without exits on them can be "
          "neither parked nor stopped (the 'vCPU that will not park').");
ABSL_FLAG(absl::Duration, testing_report_write_pause, absl::ZeroDuration(),
          "Testing only: pause this long after writing the first half of "
          "each report file (the binary report, then the JSON one with "
          "--json) to its temporary file, so a test can kill ktvm inside "
          "the write. 0 (default): no pause.");
ABSL_FLAG(std::string, ap_start, "sipi",
          "How secondary vCPUs start: sipi (they wait for the guest's "
          "INIT-SIPI-SIPI, as Linux expects) or vmm (ktvm starts them at the "
          "kernel entry; for small test guests).");

namespace ktvm::vmm {
namespace {

// A guest image this small is a purpose-built test guest, which runs fine
// even where KVM only emulates.
constexpr uint64_t kTinyGuestBytes = 1 << 20;

constexpr char kDemoWorkload[] =
    "echo ktvm demo: $(uname -sr) on $(nproc) CPUs, sched_ext state: "
    "$(cat /sys/kernel/sched_ext/state); "
    "for i in $(seq 200); do /bin/true; done; sleep 2";
// The demo scheduler's mode: fail on purpose, so the demo shows a dump.
constexpr char kDemoSchedArgs[] = "--mode=error --error_after=200";

// Set by SIGUSR1/SIGINT/SIGTERM: dump now, then exit.
std::atomic<int> g_manual_signal{0};

void OnManualSignal(int signo) { g_manual_signal.store(signo); }

absl::Time g_start;
std::vector<std::string> g_command_line;

struct UsageError {
  std::string message;
};

int Fail(ExitCode code, const std::string& message) {
  std::fprintf(stderr, "ktvm: error: %s\n", message.c_str());
  return code;
}

absl::StatusOr<uint64_t> ParseMemory(const std::string& text) {
  if (text.empty()) return absl::InvalidArgumentError("--memory is empty");
  uint64_t multiplier = 1;
  std::string digits = text;
  switch (text.back()) {
    case 'K':
    case 'k':
      multiplier = 1ULL << 10;
      digits.pop_back();
      break;
    case 'M':
    case 'm':
      multiplier = 1ULL << 20;
      digits.pop_back();
      break;
    case 'G':
    case 'g':
      multiplier = 1ULL << 30;
      digits.pop_back();
      break;
    default:
      break;
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value == 0 ||
      value > (1ULL << 40) / multiplier) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--memory %s is not a size like 512M or 2G", text));
  }
  return value * multiplier;
}

// RAM plus swap of this host, or 0 if unknown.
uint64_t HostMemoryBytes() {
  struct sysinfo info;
  if (::sysinfo(&info) != 0) return 0;
  return (static_cast<uint64_t>(info.totalram) + info.totalswap) *
         info.mem_unit;
}

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     const char* what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrFormat("%s %s: no such file", what, path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s %s: not a regular file", what, path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return absl::PermissionDeniedError(
        absl::StrFormat("%s %s: cannot be read: %s", what, path,
                        err != 0 ? std::strerror(err) : "open failed"));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// --dump must name a file in an existing, writable directory (empty: the
// default name in the working directory, checked when written).
absl::Status CheckReportPath(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  struct stat st;
  if (path.back() == '/' ||
      (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--dump %s: is a directory; name the report file", path));
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--dump %s: %s is not an existing directory", path, dir));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--dump %s: directory %s is not writable: %s", path,
                        dir, std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Under `bazel run` the process starts in its runfiles tree; relative paths
// the user typed are relative to where bazel was invoked.
std::string FromUserDirectory(const std::string& path) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || cwd == nullptr) return path;
  return absl::StrCat(cwd, "/", path);
}

void ResolveUserPaths() {
  for (absl::Flag<std::string>* flag :
       {&FLAGS_kernel, &FLAGS_initramfs, &FLAGS_scheduler, &FLAGS_guest_init,
        &FLAGS_dump}) {
    absl::SetFlag(flag, FromUserDirectory(absl::GetFlag(*flag)));
  }
  std::vector<std::string> includes = absl::GetFlag(FLAGS_include);
  for (std::string& pair : includes) pair = FromUserDirectory(pair);
  absl::SetFlag(&FLAGS_include, includes);
}

std::string DefaultKernelPath() {
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string root = workspace ? workspace : ".";
  return root + "/.cache/ktvm/kernel/bzImage";
}

std::string DemoScheduler(const char* argv0) {
  for (const std::string& candidate :
       {std::string(argv0) + ".runfiles/ktvm/tests/schedulers/ktvm_fifo",
        std::string("tests/schedulers/ktvm_fifo")}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string DefaultGuestInit(const char* argv0) {
  for (const std::string& candidate :
       {std::string(argv0) + ".runfiles/ktvm/vmm/guest/init",
        std::string("vmm/guest/init")}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Memory footprint the image asks for, to tell a tiny test guest from a
// real kernel.
uint64_t ImageFootprint(const std::string& image) {
  absl::StatusOr<x86_64::BzImage> bz = x86_64::ParseBzImage(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(image.data()), image.size()));
  if (bz.ok()) return std::max<uint64_t>(bz->init_size, bz->kernel_size);
  return image.size();
}

struct GuestOutcome {
  // Set when freeze-and-dump fired.
  std::optional<report::TriggerKind> dump_trigger;
  std::string dump_path;
  bool workload_seen = false;
  int64_t workload_status = 0;
  bool scheduler_failed = false;
  std::string scheduler_reason;
};

void FollowControlLine(std::string_view line, GuestOutcome& outcome) {
  std::fprintf(stderr, "ktvm: guest: %.*s\n", static_cast<int>(line.size()),
               line.data());
  absl::StatusOr<guest::ControlEvent> event = guest::ParseControlLine(line);
  if (!event.ok()) return;
  if (event->kind == guest::ControlEventKind::kWorkloadExit) {
    outcome.workload_seen = true;
    absl::StatusOr<int64_t> status = event->GetInt("status");
    outcome.workload_status = status.ok() ? *status : 1;
  } else if (event->kind == guest::ControlEventKind::kSchedulerFailed) {
    outcome.scheduler_failed = true;
    outcome.scheduler_reason = event->Get("reason").value_or("");
    // The loader's own exit status tells a usage error from a load or
    // attach failure (tests/schedulers/README.md).
    if (std::optional<std::string> status = event->Get("status")) {
      absl::StrAppend(&outcome.scheduler_reason, " (exit status ", *status,
                      ")");
    }
  }
}

enum class Ending {
  kGuestEnded,       // poweroff, reset, i8042 reset
  kGuestCrashed,     // triple fault, failed entry, kernel panic
  kEmulationFailed,  // KVM could not emulate (kvm_pvm hosts)
  kTimeout,
  kVmmFailed,
};

struct RunResult {
  Ending ending;
  std::string detail;
  std::string console_tail;
};

struct RunSettings {
  std::string kernel_path;
  std::string kernel;
  std::string initramfs;       // bytes (KVM); written to a file for QEMU
  std::string initramfs_path;  // --initramfs as given, if any
  std::string cmdline;
  int cpus;
  uint64_t memory;
  std::string kvm_path;
  std::string ap_start;
  std::vector<int> unkickable_vcpus;
  absl::Duration timeout;
  absl::Time start;
  std::string scheduler_path;
  std::vector<std::string> command_line;
  // The kernel's BTF when the sched_ext check already loaded it; the dump
  // engine takes it over instead of loading it a second time.
  btf::BtfPtr vmlinux_btf;
};

report::ReportHeader ReportHeaderFor(const RunSettings& run,
                                     report::Backend backend,
                                     const std::string& backend_reason) {
  report::ReportHeader h;
  h.set_ktvm_version("ktvm (development build)");
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) == 0) h.set_host_name(host);
  struct utsname uts;
  if (::uname(&uts) == 0) h.set_host_kernel(uts.release);
  h.set_backend(backend);
  h.set_backend_reason(backend_reason);
  for (const std::string& arg : run.command_line) h.add_command_line(arg);
  h.set_kernel_path(run.kernel_path);
  h.set_scheduler_path(run.scheduler_path);
  h.set_guest_command_line(run.cmdline);
  return h;
}

// A resident-memory field of this process from /proc/self/status ("VmRSS",
// "RssAnon", "RssFile"), in bytes.
int64_t ResidentSetBytes(absl::string_view field = "VmRSS") {
  std::ifstream status("/proc/self/status");
  const std::string prefix = absl::StrCat(field, ":");
  for (std::string line; std::getline(status, line);) {
    if (absl::StartsWith(line, prefix)) {
      int64_t kib = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripSuffix(
                               absl::StripPrefix(line, prefix), "kB")),
                           &kib)) {
        return kib * 1024;
      }
    }
  }
  return -1;
}

// The kernel console as freeze-and-dump's second detector (a panic before
// the kernel can be found in memory, an error after the scheduler is gone)
// and as the fallback for the exit code.
dump::ConsoleTriggerScanner& ConsoleScanner() {
  static auto* scanner = new dump::ConsoleTriggerScanner();
  return *scanner;
}

void ToStdout(std::string_view bytes) {
  ConsoleScanner().Feed(bytes);
  std::fwrite(bytes.data(), 1, bytes.size(), stdout);
  std::fflush(stdout);
}

// Flags only ktvm's own KVM backend can honour: under QEMU TCG they would
// be dropped without a word. `why_tcg` says how TCG came to be chosen.
absl::Status CheckKvmOnlyFlags(absl::string_view why_tcg) {
  if (absl::GetFlag(FLAGS_ap_start) == "vmm") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--ap_start vmm: only under KVM (QEMU TCG starts secondary CPUs "
        "through the guest's INIT-SIPI), and ",
        why_tcg));
  }
  if (!absl::GetFlag(FLAGS_testing_unkickable_vcpus).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--testing_unkickable_vcpus: only under KVM, and ", why_tcg));
  }
  return absl::OkStatus();
}

// Runs a started-or-not backend to its end through the dump engine and the
// watch loop, the same for KVM and QEMU TCG: --timeout, SIGUSR1/SIGINT/
// SIGTERM, scx error/panic/watchdog detection, --dump/--json/
// --resume_after_dump. `cleanup` runs once the backend has started (or
// failed to). Does not Stop() the backend.
absl::StatusOr<RunResult> WatchBackend(backend::Backend& guest,
                                       RunSettings& run,
                                       report::Backend backend_kind,
                                       const std::string& backend_reason,
                                       GuestOutcome& outcome,
                                       const std::function<void()>& cleanup) {
  backend::BackendCallbacks callbacks;
  callbacks.console = ToStdout;
  callbacks.control_line = [&outcome](std::string_view line) {
    FollowControlLine(line, outcome);
  };
  // The BTF comes from the bzImage (cached), before the guest runs, so a
  // dump never waits for it. Without it a dump holds only registers.
  dump::DumpEngineOptions dump_options;
  dump_options.bootstrap.bzimage_path = run.kernel_path;
  dump_options.vmlinux_btf = std::move(run.vmlinux_btf);
  dump_options.watchdog = absl::GetFlag(FLAGS_watchdog);
  dump_options.header = ReportHeaderFor(run, backend_kind, backend_reason);
  dump_options.console = &ConsoleScanner();
  absl::StatusOr<std::unique_ptr<dump::DumpEngine>> engine =
      dump::DumpEngine::Create(guest, std::move(dump_options), run.start);
  if (!engine.ok()) {
    std::fprintf(stderr, "ktvm: warning: freeze-and-dump disabled: %s\n",
                 std::string(engine.status().message()).c_str());
  } else if (!(*engine)->has_btf()) {
    std::fprintf(stderr, "ktvm: note: dumps hold registers only (%s)\n",
                 (*engine)->bootstrap_error().c_str());
  }
  absl::Status started = guest.Start(callbacks);
  cleanup();
  if (!started.ok()) {
    return absl::Status(
        started.code(),
        absl::StrFormat("%s backend: %s", guest.name(), started.message()));
  }
  dump::WatchOptions watch;
  watch.timeout = run.timeout;
  watch.report_path = absl::GetFlag(FLAGS_dump);
  // Another ktvm started with the same --dump path may publish first; its
  // report is kept and this one goes next to it. The second of margin covers
  // file timestamps, which lag the clock by up to a timer tick.
  watch.keep_reports_since = g_start - absl::Seconds(1);
  watch.json = absl::GetFlag(FLAGS_json);
  watch.resume_after_dump = absl::GetFlag(FLAGS_resume_after_dump);
  watch.manual_signal = &g_manual_signal;
  dump::WatchResult watched =
      dump::WatchGuest(guest, engine.ok() ? engine->get() : nullptr, watch);
  if (watched.report.has_value()) {
    outcome.dump_trigger = watched.report->trigger().kind();
    outcome.dump_path = watched.report_path;
    const report::SchedExtExitInfo& scx = watched.report->scx_exit();
    if (scx.kind_value() >= dump::kScxExitErrorKind ||
        outcome.dump_trigger == report::TRIGGER_KIND_SCHED_EXT_ERROR ||
        outcome.dump_trigger == report::TRIGGER_KIND_STALL) {
      outcome.scheduler_failed = true;
      outcome.scheduler_reason = absl::StrFormat("%s (%s): %s", scx.kind_name(),
                                                 scx.reason(), scx.msg());
    }
  }
  absl::StatusOr<backend::GuestExit> exit = std::move(watched.exit);
  RunResult r;
  if (!exit.ok()) {
    r.ending = absl::IsDeadlineExceeded(exit.status()) ? Ending::kTimeout
                                                       : Ending::kVmmFailed;
    r.detail = absl::IsDeadlineExceeded(exit.status())
                   ? absl::StrFormat("guest still running after %s",
                                     absl::FormatDuration(run.timeout))
                   : std::string(exit.status().message());
  } else {
    r.detail = exit->detail;
    switch (exit->reason) {
      case backend::GuestExit::Reason::kPoweroff:
      case backend::GuestExit::Reason::kReset:
        r.ending = Ending::kGuestEnded;
        break;
      case backend::GuestExit::Reason::kStopped:
      case backend::GuestExit::Reason::kCrashed:
        r.ending = Ending::kVmmFailed;
        break;
    }
    if (outcome.dump_trigger == report::TRIGGER_KIND_PANIC ||
        outcome.dump_trigger == report::TRIGGER_KIND_OOPS ||
        outcome.dump_trigger == report::TRIGGER_KIND_WATCHDOG) {
      r.ending = Ending::kGuestCrashed;
    } else if (outcome.dump_trigger.has_value() &&
               exit->reason == backend::GuestExit::Reason::kStopped) {
      r.ending = Ending::kGuestEnded;  // ktvm stopped it after the dump
    }
  }
  r.console_tail = guest.ConsoleTail(64 * 1024);
  return r;
}

// KVM knows more about how a guest ended than the backend interface says:
// a triple fault or failed entry is a crash, and an emulation failure on a
// kvm_pvm host is this machine's limit, not the guest's fault.
void RefineKvmEnding(const MachineExit& exit, RunResult& r) {
  switch (exit.reason) {
    case MachineExit::Reason::kInternalError:
      if (KvmDevice::IsPvmHost()) {
        r.ending = Ending::kEmulationFailed;
        r.detail = "KVM failed to emulate the guest (" + exit.detail +
                   "); KVM here is kvm_pvm and cannot run a stock kernel: "
                   "use --accel=tcg";
      } else {
        r.ending = Ending::kGuestCrashed;
      }
      break;
    case MachineExit::Reason::kTripleFault:
    case MachineExit::Reason::kFailEntry:
      r.ending = Ending::kGuestCrashed;
      break;
    default:
      break;
  }
}

absl::StatusOr<RunResult> RunOnKvm(RunSettings& run, GuestOutcome& outcome) {
  MachineConfig config;
  config.kvm_device_path = run.kvm_path;
  config.num_cpus = run.cpus;
  config.memory_bytes = run.memory;
  config.kernel = std::move(run.kernel);
  config.initramfs = std::move(run.initramfs);
  config.extra_cmdline = run.cmdline;
  config.ap_start = run.ap_start == "vmm" ? x86_64::ApStart::kLongModeAtEntry
                                          : x86_64::ApStart::kSipi;
  config.unkickable_vcpus_for_testing = run.unkickable_vcpus;
  absl::StatusOr<std::unique_ptr<KvmBackend>> kvm =
      KvmBackend::Create(std::move(config));
  if (!kvm.ok()) return kvm.status();
  Machine& m = (*kvm)->machine();
  std::fprintf(stderr,
               "ktvm: booting %s (%s entry at 0x%x), %d vCPU(s), %d MiB\n",
               run.kernel_path.c_str(),
               m.boot().entry_kind == x86_64::BootEntry::kPvh32 ? "PVH 32-bit"
                                                                : "64-bit",
               m.boot().entry, run.cpus, run.memory >> 20);
  absl::StatusOr<RunResult> r =
      WatchBackend(**kvm, run, report::BACKEND_KVM, "kvm", outcome, [] {});
  if (!r.ok()) return absl::InternalError(r.status().message());
  // The first exit reason wins, so this is how the guest ended even when
  // WatchBackend stopped it after a dump.
  const MachineExit exit = m.Wait(absl::ZeroDuration());
  // A vCPU that cannot be kicked must not keep ktvm from exiting with its
  // result (the report, if any, is already written); it is named here and
  // ends with the process.
  if (absl::Status stopped = (*kvm)->Stop(); !stopped.ok()) {
    std::fprintf(stderr, "ktvm: warning: %s\n",
                 std::string(stopped.message()).c_str());
  }
  if (exit.reason != MachineExit::Reason::kTimeout) RefineKvmEnding(exit, *r);
  if (absl::GetFlag(FLAGS_print_stats)) {
    // Wall-clock ns, comparable with a parent's clock_gettime(REALTIME).
    absl::FPrintF(stderr,
                  "ktvm-stats: first_instruction_ns=%d first_console_ns=%d "
                  "vmm_rss_bytes=%d guest_resident_bytes=%d "
                  "rss_file_bytes=%d\n",
                  m.first_boot_timer_write_ns(), m.first_console_byte_ns(),
                  ResidentSetBytes(), m.GuestResidentBytes(),
                  ResidentSetBytes("RssFile"));
  }
  const IoStats io = m.io_stats();
  std::fprintf(stderr,
               "ktvm: guest ended: %s (%s); unknown port accesses %d (last "
               "0x%x), unknown MMIO accesses %d\n",
               MachineExitReasonName(exit.reason), exit.detail.c_str(),
               io.unknown_port_reads + io.unknown_port_writes,
               io.last_unknown_port,
               io.unknown_mmio_reads + io.unknown_mmio_writes);
  return r;
}

absl::StatusOr<RunResult> RunOnTcg(RunSettings& run, GuestOutcome& outcome) {
  backend::QemuTcgOptions options;
  options.kernel = run.kernel_path;
  options.cpus = run.cpus;
  options.memory_mib = run.memory >> 20;
  // TCG on a loaded host can miss the kernel's IO-APIC timer check ("IO-APIC
  // + timer doesn't work!" panic in early boot); the timer itself works.
  absl::StatusOr<std::string> cmdline =
      x86_64::BuildKernelCmdline(absl::StrCat("no_timer_check ", run.cmdline),
                                 x86_64::kCmdlineMaxBytes - 1);
  if (!cmdline.ok()) return cmdline.status();
  options.cmdline = *cmdline;
  std::string temp_initrd;
  if (!run.initramfs_path.empty()) {
    options.initrd = run.initramfs_path;
  } else if (!run.initramfs.empty()) {
    char path[] = "/tmp/ktvm-initramfs-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) return absl::InternalError("cannot create a temporary file");
    const bool written =
        ::write(fd, run.initramfs.data(), run.initramfs.size()) ==
        static_cast<ssize_t>(run.initramfs.size());
    ::close(fd);
    temp_initrd = path;
    if (!written) {
      ::unlink(path);
      return absl::InternalError("cannot write the temporary initramfs");
    }
    options.initrd = temp_initrd;
  }
  absl::StatusOr<std::unique_ptr<backend::QemuTcgBackend>> qemu =
      backend::QemuTcgBackend::Create(options);
  if (!qemu.ok()) {
    if (!temp_initrd.empty()) ::unlink(temp_initrd.c_str());
    // Keep the code: a limit is the user's (usage), no QEMU is the host's.
    return absl::Status(
        qemu.status().code(),
        absl::StrCat("QEMU TCG backend: ", qemu.status().message()));
  }
  std::fprintf(stderr, "ktvm: booting %s under QEMU TCG, %d vCPU(s), %d MiB\n",
               run.kernel_path.c_str(), run.cpus, run.memory >> 20);
  absl::StatusOr<RunResult> r =
      WatchBackend(**qemu, run, report::BACKEND_QEMU_TCG, "qemu-tcg", outcome,
                   [&temp_initrd] {
                     if (!temp_initrd.empty()) ::unlink(temp_initrd.c_str());
                   });
  if (!r.ok()) return absl::FailedPreconditionError(r.status().message());
  (void)(*qemu)->Stop();
  return r;
}

int Run(const char* argv0) {
  ResolveUserPaths();
  // --- flags ---
  absl::StatusOr<uint64_t> memory = ParseMemory(absl::GetFlag(FLAGS_memory));
  if (!memory.ok())
    return Fail(kExitUsage, std::string(memory.status().message()));
  if (*memory < kMinMemoryBytes) {
    return Fail(
        kExitUsage,
        absl::StrFormat("--memory %s is below the minimum of %d MiB",
                        absl::GetFlag(FLAGS_memory), kMinMemoryBytes >> 20));
  }
  // Guest RAM is whole pages on every backend; KVM would refuse it only
  // after the accelerator was chosen (and TCG would round it down).
  if (*memory % x86_64::kPageSize != 0) {
    return Fail(kExitUsage,
                absl::StrFormat("--memory %s: %d bytes is not a multiple of "
                                "4 KiB",
                                absl::GetFlag(FLAGS_memory), *memory));
  }
  // Guest RAM is mapped lazily, so an impossible size would only fail deep
  // into the boot (OOM kill); say so up front instead.
  if (const uint64_t host = HostMemoryBytes(); host != 0 && *memory > host) {
    return Fail(kExitUsage,
                absl::StrFormat("--memory %s exceeds this host's RAM + swap "
                                "(%d MiB)",
                                absl::GetFlag(FLAGS_memory), host >> 20));
  }
  const int cpus = absl::GetFlag(FLAGS_cpus);
  if (cpus < 1) {
    return Fail(kExitUsage,
                absl::StrFormat("--cpus %d: need at least 1 vCPU", cpus));
  }
  const std::string accel = absl::GetFlag(FLAGS_accel);
  if (accel != "auto" && accel != "kvm" && accel != "tcg") {
    return Fail(
        kExitUsage,
        absl::StrFormat("--accel %s: expected auto, kvm or tcg", accel));
  }
  // QEMU would refuse these only once started (or ktvm's TCG backend once
  // created); with --accel=tcg the choice is known now. Under auto the
  // backend's own check gives the same message and exit code.
  if (accel == "tcg") {
    if (absl::Status s = backend::ValidateQemuTcgLimits(cpus, *memory);
        !s.ok()) {
      return Fail(kExitUsage, std::string(s.message()));
    }
  }
  const std::string ap_start = absl::GetFlag(FLAGS_ap_start);
  if (ap_start != "sipi" && ap_start != "vmm") {
    return Fail(
        kExitUsage,
        absl::StrFormat("--ap_start %s: expected sipi or vmm", ap_start));
  }
  if (accel == "tcg") {
    if (absl::Status s = CheckKvmOnlyFlags("--accel=tcg"); !s.ok()) {
      return Fail(kExitUsage, std::string(s.message()));
    }
  }
  struct DurationFlag {
    const char* name;
    absl::Flag<absl::Duration>* flag;
    const char* zero_means;
  };
  for (const DurationFlag& d :
       {DurationFlag{"--timeout", &FLAGS_timeout, "no limit"},
        DurationFlag{"--watchdog", &FLAGS_watchdog, "no watchdog"},
        DurationFlag{"--testing_report_write_pause",
                     &FLAGS_testing_report_write_pause, "no pause"}}) {
    if (absl::GetFlag(*d.flag) < absl::ZeroDuration()) {
      return Fail(
          kExitUsage,
          absl::StrFormat("%s %s: must not be negative (0 means %s)", d.name,
                          absl::FormatDuration(absl::GetFlag(*d.flag)),
                          d.zero_means));
    }
  }
  // An endless pause would hold ktvm inside its report write for good.
  if (absl::GetFlag(FLAGS_testing_report_write_pause) ==
      absl::InfiniteDuration()) {
    return Fail(kExitUsage, "--testing_report_write_pause inf: must be finite");
  }
  std::vector<int> unkickable_vcpus;
  for (const std::string& text :
       absl::GetFlag(FLAGS_testing_unkickable_vcpus)) {
    int vcpu = -1;
    if (!absl::SimpleAtoi(text, &vcpu) || vcpu < 0 || vcpu >= cpus) {
      return Fail(kExitUsage,
                  absl::StrFormat("--testing_unkickable_vcpus %s: expected a "
                                  "vCPU index below --cpus %d",
                                  text, cpus));
    }
    unkickable_vcpus.push_back(vcpu);
  }
  dump::SetReportWritePauseForTesting(
      absl::GetFlag(FLAGS_testing_report_write_pause));
  // The report is written at the very end of a failed run; a path that can
  // never take it must fail now, not after the guest ran into the failure.
  if (absl::Status s = CheckReportPath(absl::GetFlag(FLAGS_dump)); !s.ok()) {
    return Fail(kExitUsage, std::string(s.message()));
  }
  // No inputs at all: the demo (the kernel setup fetched, the bundled
  // ktvm_fifo scheduler failing on purpose, freeze-and-dump writing a
  // report).
  const bool demo = absl::GetFlag(FLAGS_kernel).empty() &&
                    absl::GetFlag(FLAGS_initramfs).empty() &&
                    absl::GetFlag(FLAGS_scheduler).empty() &&
                    absl::GetFlag(FLAGS_run).empty() &&
                    absl::GetFlag(FLAGS_include).empty();
  if (demo) {
    absl::SetFlag(&FLAGS_run, kDemoWorkload);
    const std::string scheduler = DemoScheduler(argv0);
    if (!scheduler.empty()) {
      absl::SetFlag(&FLAGS_scheduler, scheduler);
      absl::SetFlag(&FLAGS_sched_args, kDemoSchedArgs);
    }
    std::fprintf(
        stderr,
        "ktvm: no --kernel given: demo run of the kernel "
        "tools/setup.sh fetched with the ktvm_fifo scheduler (%s) "
        "in error mode\n",
        scheduler.empty() ? "not found in the runfiles" : scheduler.c_str());
  }
  const bool build_initramfs = !absl::GetFlag(FLAGS_scheduler).empty() ||
                               !absl::GetFlag(FLAGS_run).empty() ||
                               !absl::GetFlag(FLAGS_include).empty();
  if (build_initramfs && !absl::GetFlag(FLAGS_initramfs).empty()) {
    return Fail(kExitUsage,
                "--initramfs cannot be combined with --scheduler/--run/"
                "--include (those build the initramfs)");
  }
  // Flags that would otherwise be dropped without a word.
  if (!absl::GetFlag(FLAGS_sched_args).empty() &&
      absl::GetFlag(FLAGS_scheduler).empty()) {
    return Fail(kExitUsage,
                "--sched_args needs --scheduler (they are its arguments)");
  }
  if (!absl::GetFlag(FLAGS_guest_init).empty() && !build_initramfs) {
    return Fail(kExitUsage,
                "--guest_init needs --scheduler, --run or --include (it is the "
                "init of the initramfs those build)");
  }

  // --- inputs ---
  std::string kernel_path = absl::GetFlag(FLAGS_kernel);
  if (kernel_path.empty()) kernel_path = DefaultKernelPath();
  absl::StatusOr<std::string> kernel = ReadFile(kernel_path, "--kernel");
  if (!kernel.ok())
    return Fail(kExitUsage, std::string(kernel.status().message()));
  std::string initramfs;
  if (!absl::GetFlag(FLAGS_initramfs).empty()) {
    absl::StatusOr<std::string> bytes =
        ReadFile(absl::GetFlag(FLAGS_initramfs), "--initramfs");
    if (!bytes.ok())
      return Fail(kExitUsage, std::string(bytes.status().message()));
    if (absl::Status s = guest::CheckInitramfsFormat(*bytes); !s.ok()) {
      return Fail(kExitUsage,
                  absl::StrFormat("--initramfs %s: %s",
                                  absl::GetFlag(FLAGS_initramfs), s.message()));
    }
    initramfs = std::move(*bytes);
  } else if (build_initramfs) {
    guest::InitramfsSpec spec;
    spec.init_path = absl::GetFlag(FLAGS_guest_init);
    if (spec.init_path.empty()) spec.init_path = DefaultGuestInit(argv0);
    if (spec.init_path.empty()) {
      return Fail(kExitUsage,
                  "cannot find the guest init; pass --guest_init (built by "
                  "//vmm/guest:init)");
    }
    spec.scheduler_path = absl::GetFlag(FLAGS_scheduler);
    for (absl::string_view arg : absl::StrSplit(absl::GetFlag(FLAGS_sched_args),
                                                ' ', absl::SkipEmpty())) {
      spec.scheduler_args.emplace_back(arg);
    }
    spec.run_command = absl::GetFlag(FLAGS_run);
    for (const std::string& pair : absl::GetFlag(FLAGS_include)) {
      absl::StatusOr<guest::IncludeFile> inc = guest::ParseIncludePair(pair);
      if (!inc.ok())
        return Fail(kExitUsage, std::string(inc.status().message()));
      spec.includes.push_back(*inc);
    }
    absl::StatusOr<std::string> built = guest::BuildInitramfs(spec);
    if (!built.ok()) {
      return Fail(
          ExitCodeForSetupError(built.status()),
          "building the initramfs: " + std::string(built.status().message()));
    }
    initramfs = std::move(*built);
  }

  // Bad images are the user's problem whatever the accelerator.
  if (absl::Status s = x86_64::CheckKernelFits(
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(kernel->data()),
                              kernel->size()),
          initramfs.size(), *memory);
      !s.ok()) {
    return Fail(kExitUsage,
                absl::StrFormat("--kernel %s: %s", kernel_path, s.message()));
  }

  // A scheduler needs sched_ext in the kernel; without it the run would
  // only fail late as a scheduler that never attaches.
  btf::BtfPtr checked_btf;
  if (!absl::GetFlag(FLAGS_scheduler).empty()) {
    dump::BootstrapOptions btf_options;
    btf_options.bzimage_path = kernel_path;
    absl::StatusOr<btf::BtfPtr> btf = dump::LoadVmlinuxBtf(btf_options);
    if (!btf.ok()) {
      std::fprintf(stderr,
                   "ktvm: warning: cannot check --kernel %s for sched_ext "
                   "(no BTF: %s); going on\n",
                   kernel_path.c_str(),
                   std::string(btf.status().message()).c_str());
    } else if (absl::Status s = CheckSchedExtInBtf(
                   btf->get(), kernel_path,
                   KernelRelease(absl::MakeConstSpan(
                       reinterpret_cast<const uint8_t*>(kernel->data()),
                       kernel->size())));
               !s.ok()) {
      return Fail(ExitCodeForSetupError(s), std::string(s.message()));
    } else {
      checked_btf = *std::move(btf);
    }
  }

  // --- accelerator ---
  const std::string kvm_path = absl::GetFlag(FLAGS_kvm_device);
  bool use_tcg = accel == "tcg";
  if (accel == "auto") {
    absl::StatusOr<x86_64::SpeedProbe> probe = x86_64::ProbeKvmSpeed(kvm_path);
    if (!probe.ok()) {
      std::fprintf(stderr, "ktvm: KVM unusable: %s\n",
                   std::string(probe.status().message()).c_str());
      std::fprintf(stderr, "ktvm: accel: tcg (no usable KVM)\n");
      use_tcg = true;
    } else {
      std::fprintf(stderr, "ktvm: %s\n", DescribeSpeedProbe(*probe).c_str());
      const uint64_t footprint = ImageFootprint(*kernel);
      if (probe->native) {
        std::fprintf(stderr, "ktvm: accel: kvm\n");
      } else if (footprint + initramfs.size() <= kTinyGuestBytes) {
        std::fprintf(stderr,
                     "ktvm: accel: kvm (emulating, but this %d-byte guest is "
                     "a small purpose-built one)\n",
                     footprint);
      } else {
        std::fprintf(stderr,
                     "ktvm: accel: tcg (KVM here only emulates; a %d-byte "
                     "kernel needs hardware virtualisation or QEMU TCG)\n",
                     footprint);
        use_tcg = true;
      }
    }
    if (use_tcg) {
      if (absl::Status s = CheckKvmOnlyFlags("--accel=auto chose QEMU TCG");
          !s.ok()) {
        return Fail(kExitUsage, std::string(s.message()));
      }
    }
  } else if (accel == "kvm" && KvmDevice::IsPvmHost()) {
    std::fprintf(stderr,
                 "ktvm: warning: /dev/kvm is served by kvm_pvm here and only "
                 "emulates non-PVM guests; a Linux kernel will not boot\n");
  }

  GuestOutcome outcome;
  RunSettings run;
  run.kernel_path = kernel_path;
  run.kernel = std::move(*kernel);
  run.initramfs = std::move(initramfs);
  run.initramfs_path = absl::GetFlag(FLAGS_initramfs);
  run.cmdline = absl::GetFlag(FLAGS_cmdline);
  run.cpus = cpus;
  run.memory = *memory;
  run.kvm_path = kvm_path;
  run.ap_start = ap_start;
  run.unkickable_vcpus = std::move(unkickable_vcpus);
  run.timeout = absl::GetFlag(FLAGS_timeout);
  run.start = g_start;
  run.scheduler_path = absl::GetFlag(FLAGS_scheduler);
  run.command_line = g_command_line;
  run.vmlinux_btf = std::move(checked_btf);
  for (int signo : {SIGUSR1, SIGINT, SIGTERM}) ::signal(signo, OnManualSignal);
  if (run.timeout <= absl::ZeroDuration())
    run.timeout = absl::InfiniteDuration();
  const absl::Time start = absl::Now();
  absl::StatusOr<RunResult> result =
      use_tcg ? RunOnTcg(run, outcome) : RunOnKvm(run, outcome);
  if (!result.ok()) {
    return Fail(ExitCodeForSetupError(result.status()),
                std::string(result.status().message()));
  }
  const absl::Duration elapsed = absl::Now() - start;
  if (absl::StrContains(result->console_tail, "Kernel panic - not syncing") &&
      result->ending == Ending::kGuestEnded) {
    result->ending = Ending::kGuestCrashed;
    result->detail = "kernel panic (see the console)";
  }

  if (!outcome.scheduler_failed) {
    if (std::optional<dump::ConsoleEvent> scx =
            ConsoleScanner().first_scx_error()) {
      outcome.scheduler_failed = true;
      outcome.scheduler_reason =
          "the kernel disabled the BPF scheduler (" + scx->scx_reason + ")";
    }
  }
  // --- one-screen summary ---
  std::fprintf(stderr,
               "ktvm: ---- summary ----\n"
               "ktvm:   backend   %s, %d vCPU(s), %d MiB\n"
               "ktvm:   kernel    %s\n"
               "ktvm:   ended     %s after %s\n",
               use_tcg ? "qemu-tcg" : "kvm", cpus, *memory >> 20,
               kernel_path.c_str(), result->detail.c_str(),
               absl::FormatDuration(elapsed).c_str());
  if (outcome.workload_seen) {
    std::fprintf(stderr, "ktvm:   workload  exit status %d\n",
                 static_cast<int>(outcome.workload_status));
  }
  if (outcome.scheduler_failed) {
    std::fprintf(stderr, "ktvm:   scheduler failed: %s\n",
                 outcome.scheduler_reason.c_str());
  }

  // --- result ---
  if (outcome.dump_trigger == report::TRIGGER_KIND_MANUAL) {
    const int signo = g_manual_signal.load();
    std::fprintf(stderr, "ktvm: stopped by signal %d after the dump\n", signo);
    return 128 + signo;
  }
  if (outcome.scheduler_failed) {
    return Fail(kExitSchedulerFailed,
                "scheduler failed: " + outcome.scheduler_reason +
                    (outcome.dump_path.empty()
                         ? std::string(" (no report)")
                         : " (report: " + outcome.dump_path + ")"));
  }
  // A report for a panic, an oops or a hang fails the run even when
  // --resume_after_dump let the workload finish afterwards.
  if (outcome.dump_trigger == report::TRIGGER_KIND_PANIC ||
      outcome.dump_trigger == report::TRIGGER_KIND_OOPS ||
      outcome.dump_trigger == report::TRIGGER_KIND_WATCHDOG) {
    return Fail(
        kExitWorkloadFailed,
        absl::StrFormat(
            "guest %s: %s (report: %s)",
            outcome.dump_trigger == report::TRIGGER_KIND_WATCHDOG ? "hung"
                                                                  : "crashed",
            result->detail,
            outcome.dump_path.empty() ? "not written" : outcome.dump_path));
  }
  if (outcome.workload_seen) {
    if (outcome.workload_status == 0) return kExitOk;
    return Fail(kExitWorkloadFailed,
                absl::StrFormat("workload exited with status %d",
                                outcome.workload_status));
  }
  switch (result->ending) {
    case Ending::kGuestEnded:
      if (!absl::GetFlag(FLAGS_run).empty()) {
        return Fail(kExitWorkloadFailed,
                    "the guest ended without reporting the workload's exit");
      }
      return kExitOk;
    case Ending::kTimeout:
      return Fail(kExitTimeout, result->detail);
    case Ending::kEmulationFailed:
      return Fail(kExitEnvironment, result->detail);
    case Ending::kGuestCrashed:
      return Fail(kExitWorkloadFailed, "guest crashed: " + result->detail);
    case Ending::kVmmFailed:
      return Fail(kExitInternal, result->detail);
  }
  return kExitInternal;
}

}  // namespace
}  // namespace ktvm::vmm

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "boots a kernel under KVM for sched_ext scheduler testing.\n"
      "  ktvm --kernel bzImage [--scheduler BIN --run CMD] [--cpus N] "
      "[--memory 512M]\n"
      "Exit codes: 0 ok, 1 workload failed/guest crashed, 2 usage error, "
      "3 scheduler failed, 4 environment error (KVM/accelerator), "
      "5 internal error, 6 timeout.");
  absl::FlagsUsageConfig usage;
  // --help lists the flags defined in this file.
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "vmm/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  ktvm::vmm::g_start = absl::Now();
  for (int i = 0; i < argc; ++i)
    ktvm::vmm::g_command_line.emplace_back(argv[i]);
  std::vector<char*> rest =
      ktvm::vmm::ParseFlagsWithExitCodes(argc, argv, ktvm::vmm::kExitUsage);
  // --include may be repeated (Abseil alone would keep only the last one).
  if (const std::vector<std::string> includes =
          ktvm::vmm::RepeatedFlagValues(argc, argv, "include");
      includes.size() > 1) {
    std::vector<std::string> all;
    for (const std::string& value : includes) {
      for (absl::string_view pair :
           absl::StrSplit(value, ',', absl::SkipEmpty())) {
        all.emplace_back(pair);
      }
    }
    absl::SetFlag(&FLAGS_include, all);
  }
  if (rest.size() > 1) {
    std::fprintf(stderr, "ktvm: error: unexpected argument '%s'\n", rest[1]);
    return ktvm::vmm::kExitUsage;
  }
  return ktvm::vmm::Run(argv[0]);
}
