// The kernel console (COM1) as a source for detection and for the report:
// the lines the kernel prints for a panic, an oops or BUG, and a sched_ext
// error exit, and log records when guest memory cannot give the printk ring
// buffer. It backs up the memory detectors, which need VMCOREINFO, kallsyms and
// BTF of a booted kernel (a panic before that, or with VMCOREINFO missing, is
// invisible to them) and cannot see a sched_ext error once the scheduler is
// gone (scx_root NULL).
#ifndef KTVM_VMM_DUMP_KERNEL_CONSOLE_H_
#define KTVM_VMM_DUMP_KERNEL_CONSOLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/failure_dump.pb.h"

namespace ktvm::dump {

// One console line that is a reason to dump.
struct ConsoleEvent {
  ktvm::report::TriggerKind kind = ktvm::report::TRIGGER_KIND_UNSPECIFIED;
  // The line as printed (printk timestamp kept, trailing '\r' removed).
  std::string line;
  // sched_ext only: the exit kind the reason text stands for (1024-1026),
  // the reason, the scheduler's name, and the message the kernel prints on
  // the next line ("sched_ext: NAME: msg"), once that line has arrived.
  int32_t scx_kind = 0;
  std::string scx_reason;
  std::string scx_scheduler;
  std::string scx_msg;
  // When the host saw the line.
  absl::Time seen;
};

// What `line` (one console line without its newline) reports, if anything:
// "panic - not syncing" anywhere (panic's first characters can be lost on
// the console) -> PANIC; "Oops:", "BUG: ", "kernel BUG at" at the start of
// a kernel message -> OOPS; "sched_ext: BPF scheduler "X"
// disabled (R)" with an error reason -> SCHED_EXT_ERROR, or STALL for
// "runnable task stall". `seen` is left unset.
std::optional<ConsoleEvent> ClassifyConsoleLine(std::string_view line);

// The sched_ext exit kind (kernel enum scx_exit_kind) that the kernel's
// reason text stands for; 0 for a clean exit (unregistered, sysrq-S);
// SCX_EXIT_ERROR for a reason this table does not know, so a new error
// is not missed.
int32_t ScxExitKindFromReason(std::string_view reason);

// Fed with console bytes in any chunking from the backend's reader thread;
// read from the watch loop. Keeps the first event (and the sched_ext
// message line that follows it). Lines are capped, so a console without
// newlines cannot grow memory.
class ConsoleTriggerScanner {
 public:
  void Feed(std::string_view bytes);
  std::optional<ConsoleEvent> first() const;
  // The first sched_ext error seen, even when another event came first
  // (the exit code of ktvm depends on it).
  std::optional<ConsoleEvent> first_scx_error() const;

 private:
  void OnLine(std::string_view line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::string partial_ ABSL_GUARDED_BY(mu_);
  std::optional<ConsoleEvent> first_ ABSL_GUARDED_BY(mu_);
  std::optional<ConsoleEvent> scx_ ABSL_GUARDED_BY(mu_);
};

// Log records from console text, oldest first, source "console": one per
// line, the printk timestamp ("[    4.582482] ") parsed into timestamp_ns
// where present.
ktvm::report::KernelLog KernelLogFromConsole(std::string_view console);

}  // namespace ktvm::dump

#endif  // KTVM_VMM_DUMP_KERNEL_CONSOLE_H_
