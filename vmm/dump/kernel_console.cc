#include "vmm/dump/kernel_console.h"

#include <array>
#include <charconv>
#include <utility>

#include "absl/time/clock.h"
#include "vmm/sched_ext_console.h"

namespace ktvm::dump {
namespace {

using ::ktvm::report::TriggerKind;

// A console without newlines must not grow the partial line without bound;
// the kernel's own lines are at most 1024 bytes (PRINTK_MESSAGE_MAX).
constexpr size_t kMaxLine = 4096;

struct ReasonKind {
  std::string_view reason;
  int32_t kind;
};
// The kernel's scx_exit_reason() texts (kernel/sched/ext.c).
constexpr std::array<ReasonKind, 8> kScxReasons = {{
    {"unregistered from user space", ktvm::report::SCX_EXIT_UNREG},
    {"unregistered from BPF", ktvm::report::SCX_EXIT_UNREG_BPF},
    {"unregistered from the main kernel", ktvm::report::SCX_EXIT_UNREG_KERN},
    {"disabled by sysrq-S", ktvm::report::SCX_EXIT_SYSRQ},
    {"parent exited", ktvm::report::SCX_EXIT_PARENT},
    {"runtime error", ktvm::report::SCX_EXIT_ERROR},
    {"scx_bpf_error", ktvm::report::SCX_EXIT_ERROR_BPF},
    {"runnable task stall", ktvm::report::SCX_EXIT_ERROR_STALL},
}};

std::string_view WithoutCarriageReturn(std::string_view line) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line;
}

std::string_view WithoutLeadingSpaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

bool ParseDecimal(std::string_view digits, uint64_t& value) {
  const char* end = digits.data() + digits.size();
  const std::from_chars_result r = std::from_chars(digits.data(), end, value);
  return r.ec == std::errc() && r.ptr == end;
}

// The line without a leading printk timestamp ("[    4.582482] ") or caller
// id ("[T1] "), either of which may be absent.
std::string_view StripPrintkPrefix(std::string_view line) {
  for (int i = 0; i < 2 && line.starts_with('['); ++i) {
    const size_t close = line.find(']');
    if (close == std::string_view::npos || close > 24) break;
    line = WithoutLeadingSpaces(line.substr(close + 1));
  }
  return line;
}

struct KernelReport {
  std::string_view text;
  TriggerKind kind;
};
// From panic()'s "Kernel panic - not syncing: %s".
constexpr std::string_view kPanicText = "panic - not syncing";
// How the kernel starts the first line of an oops or a BUG.
constexpr std::array<KernelReport, 4> kKernelReports = {{
    {"Oops:", ktvm::report::TRIGGER_KIND_OOPS},
    {"BUG: ", ktvm::report::TRIGGER_KIND_OOPS},
    {"kernel BUG at ", ktvm::report::TRIGGER_KIND_OOPS},
    {"watchdog: BUG: ", ktvm::report::TRIGGER_KIND_OOPS},
}};

// True when the kernel message `what` starts the line (after the printk
// prefix) or follows a printk timestamp inside it: a user-space write
// without a newline (a scheduler's own output) can precede the kernel's
// line on the same console line.
bool StartsKernelMessage(std::string_view line, std::string_view text,
                         std::string_view what) {
  if (text.starts_with(what)) return true;
  for (size_t at = line.find("] "); at != std::string_view::npos;
       at = line.find("] ", at + 2)) {
    const size_t open = line.rfind('[', at);
    if (open == std::string_view::npos || at - open > 24) continue;
    const std::string_view stamp = line.substr(open + 1, at - open - 1);
    if (stamp.find('.') == std::string_view::npos) continue;
    if (line.substr(at + 2).starts_with(what)) return true;
  }
  return false;
}

// "sched_ext: BPF scheduler \"NAME\" disabled (...)" -> NAME.
std::string SchedulerName(std::string_view line) {
  constexpr std::string_view kOpen = "BPF scheduler \"";
  const size_t start = line.find(kOpen);
  if (start == std::string_view::npos) return "";
  const size_t name = start + kOpen.size();
  const size_t end = line.find("\" disabled (", name);
  if (end == std::string_view::npos) return "";
  return std::string(line.substr(name, end - name));
}

}  // namespace

int32_t ScxExitKindFromReason(std::string_view reason) {
  for (const ReasonKind& r : kScxReasons) {
    if (r.reason == reason) {
      return r.kind >= ktvm::report::SCX_EXIT_ERROR ? r.kind : 0;
    }
  }
  return ktvm::report::SCX_EXIT_ERROR;
}

std::optional<ConsoleEvent> ClassifyConsoleLine(std::string_view line) {
  line = WithoutCarriageReturn(line);
  ConsoleEvent event;
  // Anywhere in the line: the panicking CPU takes the console over from
  // the printer, and the first characters of its line can be lost (seen
  // here: "[    3.326587] ernel panic - not syncing: VFS: ...").
  if (line.find(kPanicText) != std::string_view::npos) {
    event.kind = ktvm::report::TRIGGER_KIND_PANIC;
    event.line = std::string(line);
    return event;
  }
  const std::string_view text = StripPrintkPrefix(line);
  for (const KernelReport& r : kKernelReports) {
    if (StartsKernelMessage(line, text, r.text)) {
      event.kind = r.kind;
      event.line = std::string(line);
      return event;
    }
  }
  if (std::optional<std::string> reason = vmm::SchedExtErrorReason(text)) {
    const int32_t kind = ScxExitKindFromReason(*reason);
    if (kind == 0) return std::nullopt;
    event.kind = kind == ktvm::report::SCX_EXIT_ERROR_STALL
                     ? ktvm::report::TRIGGER_KIND_STALL
                     : ktvm::report::TRIGGER_KIND_SCHED_EXT_ERROR;
    event.scx_kind = kind;
    event.line = std::string(line);
    event.scx_reason = *std::move(reason);
    event.scx_scheduler = SchedulerName(text);
    return event;
  }
  return std::nullopt;
}

void ConsoleTriggerScanner::Feed(std::string_view bytes) {
  absl::MutexLock lock(&mu_);
  for (char c : bytes) {
    if (c != '\n') {
      if (partial_.size() < kMaxLine) partial_.push_back(c);
      continue;
    }
    OnLine(partial_);
    partial_.clear();
  }
}

void ConsoleTriggerScanner::OnLine(std::string_view line) {
  // The kernel prints the exit message on the line after "disabled (...)":
  // "sched_ext: NAME: msg".
  if (scx_.has_value() && scx_->scx_msg.empty() &&
      !scx_->scx_scheduler.empty()) {
    const std::string prefix = "sched_ext: " + scx_->scx_scheduler + ": ";
    const std::string_view text =
        StripPrintkPrefix(WithoutCarriageReturn(line));
    if (text.starts_with(prefix)) {
      scx_->scx_msg = std::string(text.substr(prefix.size()));
      if (first_.has_value() && first_->scx_kind != 0) {
        first_->scx_msg = scx_->scx_msg;
      }
      return;
    }
  }
  if (first_.has_value() && scx_.has_value()) return;
  std::optional<ConsoleEvent> event = ClassifyConsoleLine(line);
  if (!event.has_value()) return;
  event->seen = absl::Now();
  if (event->scx_kind != 0 && !scx_.has_value()) scx_ = *event;
  if (!first_.has_value()) first_ = *std::move(event);
}

ktvm::report::KernelLog KernelLogFromConsole(std::string_view console) {
  ktvm::report::KernelLog log;
  log.set_source("console");
  uint64_t sequence = 0;
  while (!console.empty()) {
    const size_t end = console.find('\n');
    std::string_view line = WithoutCarriageReturn(console.substr(0, end));
    console.remove_prefix(end == std::string_view::npos ? console.size()
                                                        : end + 1);
    if (line.empty()) continue;
    ktvm::report::KernelLogRecord* record = log.add_records();
    record->set_sequence(sequence++);
    record->set_timestamp_ns(0);
    // "[    4.582482] text": seconds and exactly six digits of microseconds.
    const size_t close = line.starts_with('[') ? line.find(']') : 0;
    const std::string_view stamp =
        close == std::string_view::npos || close == 0
            ? std::string_view()
            : WithoutLeadingSpaces(line.substr(1, close - 1));
    const size_t dot = stamp.find('.');
    uint64_t seconds = 0;
    uint64_t micros = 0;
    if (dot != std::string_view::npos && dot > 0 && dot + 7 == stamp.size() &&
        ParseDecimal(stamp.substr(0, dot), seconds) &&
        ParseDecimal(stamp.substr(dot + 1), micros)) {
      record->set_timestamp_ns(seconds * 1000000000ull + micros * 1000ull);
      line = WithoutLeadingSpaces(line.substr(close + 1));
    }
    record->set_text(std::string(line));
  }
  return log;
}

std::optional<ConsoleEvent> ConsoleTriggerScanner::first() const {
  absl::MutexLock lock(&mu_);
  return first_;
}

std::optional<ConsoleEvent> ConsoleTriggerScanner::first_scx_error() const {
  absl::MutexLock lock(&mu_);
  return scx_;
}

}  // namespace ktvm::dump
