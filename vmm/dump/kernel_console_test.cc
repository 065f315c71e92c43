// Console detection: which kernel lines are reasons to dump (and which
// look alike but are not), the scanner's chunking and first-event rules, and
// console text as log records.
#include "vmm/dump/kernel_console.h"

#include <string>

#include "gtest/gtest.h"

namespace ktvm::dump {
namespace {

using ::ktvm::report::TriggerKind;

TriggerKind KindOf(std::string_view line) {
  std::optional<ConsoleEvent> e = ClassifyConsoleLine(line);
  return e.has_value() ? e->kind : report::TRIGGER_KIND_UNSPECIFIED;
}

TEST(KernelConsoleTest, PanicAndOopsLines) {
  EXPECT_EQ(KindOf("[    4.582482] Kernel panic - not syncing: VFS: Unable "
                   "to mount root fs on unknown-block(0,0)\r"),
            report::TRIGGER_KIND_PANIC);
  EXPECT_EQ(KindOf("Kernel panic - not syncing: sysrq triggered crash"),
            report::TRIGGER_KIND_PANIC);
  EXPECT_EQ(KindOf("[   12.000001] [    T1] Kernel panic - not syncing: x"),
            report::TRIGGER_KIND_PANIC)
      << "printk caller id after the timestamp";
  // Seen on this kernel: the panicking CPU's takeover of the console lost
  // the line's first character.
  EXPECT_EQ(KindOf("[    3.326587] ernel panic - not syncing: VFS: Unable to "
                   "mount root fs on unknown-block(0,0)"),
            report::TRIGGER_KIND_PANIC);
  EXPECT_EQ(KindOf("[    5.1] BUG: kernel NULL pointer dereference, address: "
                   "0000000000000000"),
            report::TRIGGER_KIND_OOPS);
  EXPECT_EQ(KindOf("[    5.2] Oops: Oops: 0002 [#1] SMP NOPTI"),
            report::TRIGGER_KIND_OOPS);
  EXPECT_EQ(KindOf("[    5.3] kernel BUG at mm/slub.c:123!"),
            report::TRIGGER_KIND_OOPS);
  EXPECT_EQ(KindOf("[   30.0] watchdog: BUG: soft lockup - CPU#0 stuck for "
                   "22s! [sh:99]"),
            report::TRIGGER_KIND_OOPS);
  // A scheduler's output without a newline ran into the kernel's line.
  EXPECT_EQ(KindOf("ktvm_fifo: exited kind=1025 enqueues=51[    5.951249] "
                   "Kernel panic - not syncing: x"),
            report::TRIGGER_KIND_PANIC);
  EXPECT_EQ(KindOf("progress 50%[   7.000001] BUG: soft lockup"),
            report::TRIGGER_KIND_OOPS);
  // "BUG:" elsewhere in a line (a workload's output, a log about a bug) is
  // not the kernel's report.
  EXPECT_EQ(KindOf("[    1.0] x86/cpu: BUG: workaround applied"),
            report::TRIGGER_KIND_UNSPECIFIED);
  EXPECT_EQ(KindOf("BUGS: none"), report::TRIGGER_KIND_UNSPECIFIED);
  EXPECT_EQ(KindOf("array[i] BUG: not a timestamp"),
            report::TRIGGER_KIND_UNSPECIFIED);
  EXPECT_EQ(KindOf(""), report::TRIGGER_KIND_UNSPECIFIED);
  EXPECT_EQ(KindOf("[ unterminated"), report::TRIGGER_KIND_UNSPECIFIED);
}

TEST(KernelConsoleTest, SchedExtErrorKindsFromTheReason) {
  std::optional<ConsoleEvent> e = ClassifyConsoleLine(
      "[    9.1] sched_ext: BPF scheduler \"ktvm_fifo\" disabled "
      "(scx_bpf_error)");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, report::TRIGGER_KIND_SCHED_EXT_ERROR);
  EXPECT_EQ(e->scx_kind, report::SCX_EXIT_ERROR_BPF);
  EXPECT_EQ(e->scx_reason, "scx_bpf_error");
  EXPECT_EQ(e->scx_scheduler, "ktvm_fifo");

  e = ClassifyConsoleLine(
      "sched_ext: BPF scheduler \"a (b)\" disabled (runnable task stall)");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, report::TRIGGER_KIND_STALL);
  EXPECT_EQ(e->scx_kind, report::SCX_EXIT_ERROR_STALL);
  EXPECT_EQ(e->scx_scheduler, "a (b)");

  EXPECT_EQ(ScxExitKindFromReason("runtime error"), report::SCX_EXIT_ERROR);
  // A reason this table does not know is taken as an error, not missed.
  EXPECT_EQ(ScxExitKindFromReason("some future reason"),
            report::SCX_EXIT_ERROR);
  for (const char* clean :
       {"unregistered from user space", "unregistered from BPF",
        "unregistered from the main kernel", "disabled by sysrq-S",
        "parent exited"}) {
    EXPECT_EQ(ScxExitKindFromReason(clean), 0) << clean;
    EXPECT_FALSE(ClassifyConsoleLine(
                     std::string("sched_ext: BPF scheduler \"x\" disabled (") +
                     clean + ")")
                     .has_value())
        << clean;
  }
  EXPECT_FALSE(ClassifyConsoleLine("sched_ext: BPF scheduler \"x\" enabled")
                   .has_value());
}

TEST(KernelConsoleTest, ScannerJoinsChunksKeepsTheFirstAndTheMessage) {
  ConsoleTriggerScanner s;
  s.Feed("[ 1.0] sched_ext: BPF sched");
  EXPECT_FALSE(s.first().has_value()) << "no event before the newline";
  s.Feed(
      "uler \"f\" disabled (scx_bpf_error)\r\n[ 1.0] sched_ext: f: "
      "injected error after 50 enqueues\r\n");
  ASSERT_TRUE(s.first().has_value());
  EXPECT_EQ(s.first()->kind, report::TRIGGER_KIND_SCHED_EXT_ERROR);
  EXPECT_EQ(s.first()->scx_msg, "injected error after 50 enqueues");
  EXPECT_EQ(s.first()->line,
            "[ 1.0] sched_ext: BPF scheduler \"f\" disabled (scx_bpf_error)");
  s.Feed("Kernel panic - not syncing: later\n");
  EXPECT_EQ(s.first()->kind, report::TRIGGER_KIND_SCHED_EXT_ERROR);

  // A panic first; the scheduler's error after it is still remembered.
  ConsoleTriggerScanner p;
  p.Feed("BUG: unable to handle page fault\nOops: 0000 [#1]\n");
  p.Feed("sched_ext: BPF scheduler \"g\" disabled (runnable task stall)\n");
  p.Feed("sched_ext: g: ktvm_stall[99] failed to run for 4.5s\n");
  EXPECT_EQ(p.first()->kind, report::TRIGGER_KIND_OOPS);
  EXPECT_EQ(p.first()->line, "BUG: unable to handle page fault");
  ASSERT_TRUE(p.first_scx_error().has_value());
  EXPECT_EQ(p.first_scx_error()->kind, report::TRIGGER_KIND_STALL);
  EXPECT_EQ(p.first_scx_error()->scx_msg,
            "ktvm_stall[99] failed to run for 4.5s");
  EXPECT_TRUE(p.first()->scx_msg.empty());

  // A console without newlines cannot grow the line without bound, and the
  // capped line is not taken for a panic it does not start with.
  ConsoleTriggerScanner flood;
  flood.Feed(std::string(1 << 20, 'x'));
  flood.Feed("Kernel panic - not syncing\n");
  EXPECT_FALSE(flood.first().has_value());
}

TEST(KernelConsoleTest, LogRecordsFromConsoleText) {
  const report::KernelLog log = KernelLogFromConsole(
      "[    4.582482] Kernel panic - not syncing: VFS\r\n"
      "\n"
      "no timestamp here\n"
      "[ 12.5] short stamp kept as text\n"
      "[   10.000001] last");
  EXPECT_EQ(log.source(), "console");
  ASSERT_EQ(log.records_size(), 4);
  EXPECT_EQ(log.records(0).timestamp_ns(), 4582482000ull);
  EXPECT_EQ(log.records(0).text(), "Kernel panic - not syncing: VFS");
  EXPECT_EQ(log.records(1).timestamp_ns(), 0u);
  EXPECT_EQ(log.records(1).text(), "no timestamp here");
  EXPECT_EQ(log.records(2).text(), "[ 12.5] short stamp kept as text");
  EXPECT_EQ(log.records(3).timestamp_ns(), 10000001000ull);
  EXPECT_EQ(log.records(3).sequence(), 3u);
  EXPECT_EQ(KernelLogFromConsole("").records_size(), 0);
}

}  // namespace
}  // namespace ktvm::dump
