// Freeze-and-dump end to end: runs the real ktvm binary (QEMU TCG, the
// Debian kernel, ktvm_fifo) and reads back the FailureDumpReport it wrote.
// Each TEST boots one guest; BUILD runs them as separate targets.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/report_writer.h"

namespace ktvm::e2e {
namespace {

using ::ktvm::report::FailureDumpReport;
using ::ktvm::report::RenderedValue;

constexpr int kCpus = 2;

std::string TmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

struct KtvmRun {
  int exit_code = -1;
  std::string report_path;
  // ktvm's stdout and stderr (the console, control lines, the summary).
  std::string output;
};

// Runs ktvm with `args` plus the kernel/init/cpus every test uses; stdout
// and stderr go to the test log.
KtvmRun RunKtvm(const std::string& name, std::vector<std::string> args) {
  KtvmRun run;
  run.report_path = absl::StrCat(TmpDir(), "/", name, ".ktvm-dump");
  ::unlink(run.report_path.c_str());
  std::vector<std::string> argv = {
      "vmm/ktvm",
      "--accel=tcg",
      "--kernel=external/kernel/bzImage",
      "--guest_init=vmm/guest/init",
      absl::StrCat("--cpus=", kCpus),
      "--timeout=90s",
      "--dump=" + run.report_path,
      "--json",
  };
  argv.insert(argv.end(), args.begin(), args.end());
  std::fprintf(stderr, "running: %s\n", absl::StrJoin(argv, " ").c_str());
  const std::string output_path =
      absl::StrCat(TmpDir(), "/", name, ".ktvm-output");
  const pid_t pid = fork();
  if (pid == 0) {
    const int out =
        ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    std::vector<char*> raw;
    for (std::string& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(output_path);
  std::stringstream text;
  text << in.rdbuf();
  run.output = text.str();
  std::fprintf(stderr, "%s\n", run.output.c_str());
  return run;
}

bool QemuAvailable() {
  return access("/usr/bin/qemu-system-x86_64", X_OK) == 0 &&
         access("/bin/busybox", X_OK) == 0;
}

const RenderedValue* Member(const RenderedValue& v, const std::string& name) {
  for (const auto& m : v.struct_value().members()) {
    if (m.name() == name) return &m.value();
  }
  return nullptr;
}

const report::BpfMap* MapEndingWith(const FailureDumpReport& r,
                                    const std::string& suffix) {
  for (const report::BpfMap& m : r.bpf_maps()) {
    if (absl::EndsWith(m.name(), suffix)) return &m;
  }
  return nullptr;
}

bool LogContains(const FailureDumpReport& r, const std::string& text) {
  for (const auto& rec : r.kernel_log().records()) {
    if (absl::StrContains(rec.text(), text)) return true;
  }
  return false;
}

const report::SdtAllocatorSnapshot& TaskAllocator(const FailureDumpReport& r) {
  static const report::SdtAllocatorSnapshot kNone;
  for (const auto& s : r.sdt_allocators()) {
    if (s.allocator_name() == "task_allocator") return s;
  }
  ADD_FAILURE() << "no task_allocator among " << r.sdt_allocators_size()
                << " sdt allocators";
  return kNone;
}

// Every live slot is a struct ktvm_task_ctx carrying the magic value: freed
// slots (wiped payloads) are not listed.
void ExpectTaskPayloads(const report::SdtAllocatorSnapshot& tasks) {
  EXPECT_EQ(tasks.payload_type_name(), "struct ktvm_task_ctx");
  EXPECT_FALSE(tasks.truncated());
  EXPECT_EQ(tasks.skipped_subtrees(), 0u);
  EXPECT_GT(tasks.entries_size(), 0);
  for (const report::SdtAllocEntry& e : tasks.entries()) {
    const RenderedValue* magic = Member(e.payload(), "magic");
    ASSERT_NE(magic, nullptr) << e.DebugString();
    EXPECT_EQ(magic->uint_value(), 0xfeedc0deu) << e.DebugString();
    ASSERT_NE(Member(e.payload(), "pid"), nullptr);
    EXPECT_FALSE(e.zeroed());
  }
}

// The pid in "injected error after N enqueues (pid P)"; -1 if absent.
int ErrorPid(const std::string& msg) {
  const size_t at = msg.find("(pid ");
  if (at == std::string::npos) return -1;
  return std::atoi(msg.c_str() + at + 5);
}

// enqueues_by_pid (PERCPU_HASH): one count per CPU per pid, keys and values
// rendered through the program BTF; the pid that hit the error was counted
// before scx_bpf_error, and no more enqueues are counted than happened.
// recent_pids (QUEUE): the last 8 enqueued pids, raw 4-byte values (libbpf
// creates QUEUE/STACK maps without BTF).
void ExpectEnqueueMaps(const FailureDumpReport& r, int error_pid,
                       uint64_t nr_enqueues) {
  const report::BpfMap* by_pid = MapEndingWith(r, "enqueues_by_pid");
  ASSERT_NE(by_pid, nullptr);
  EXPECT_EQ(by_pid->type(), report::BPF_MAP_TYPE_PERCPU_HASH);
  EXPECT_GT(by_pid->entries_size(), 0);
  uint64_t total = 0, error_pid_count = 0;
  for (const report::BpfMapEntry& entry : by_pid->entries()) {
    ASSERT_EQ(entry.key().kind_case(), RenderedValue::kIntValue)
        << entry.DebugString();
    ASSERT_EQ(entry.percpu_values_size(), kCpus) << entry.DebugString();
    uint64_t sum = 0;
    for (const RenderedValue& v : entry.percpu_values()) {
      ASSERT_EQ(v.kind_case(), RenderedValue::kUintValue) << v.DebugString();
      sum += v.uint_value();
    }
    EXPECT_GT(sum, 0u) << entry.DebugString();
    total += sum;
    if (entry.key().int_value() == error_pid) error_pid_count = sum;
  }
  EXPECT_LE(total, nr_enqueues);
  EXPECT_GE(error_pid_count, 1u) << "pid " << error_pid;
  const report::BpfMap* recent = MapEndingWith(r, "recent_pids");
  ASSERT_NE(recent, nullptr);
  EXPECT_EQ(recent->type(), report::BPF_MAP_TYPE_QUEUE);
  ASSERT_EQ(recent->entries_size(), 8) << recent->DebugString();
  for (const report::BpfMapEntry& entry : recent->entries()) {
    ASSERT_EQ(entry.value().bytes_value().size(), 4u) << entry.DebugString();
    int32_t pid = 0;
    std::memcpy(&pid, entry.value().bytes_value().data(), 4);
    EXPECT_GT(pid, 0) << entry.DebugString();
  }
}

void ExpectFrozenGuestState(const FailureDumpReport& r) {
  EXPECT_EQ(r.header().backend(), report::BACKEND_QEMU_TCG);
  EXPECT_FALSE(r.header().kernel_release().empty());
  ASSERT_EQ(r.vcpus_size(), kCpus);
  for (const report::VcpuState& v : r.vcpus()) {
    EXPECT_TRUE(v.parked()) << v.note();
    EXPECT_TRUE(v.has_x86_64());
    EXPECT_FALSE(v.ip_symbol().empty());
  }
  EXPECT_EQ(r.run_queues_size(), kCpus);
  EXPECT_GT(r.kernel_log().records_size(), 50);
  EXPECT_LE(r.timings().detected_ns(), r.timings().frozen_ns());
  EXPECT_LE(r.timings().frozen_ns(), r.timings().dump_finished_ns());
  EXPECT_NE(r.guest_layout().page_offset(), 0u);
}

// Set by .bazelrc's test:asan/ubsan/tsan configurations.
bool SanitizerBuild() { return std::getenv("KTVM_SANITIZER") != nullptr; }

// Memory detection of a sched_ext error or a panic needs ktvm's kernel view,
// which its bootstrap builds in the background once the guest has published
// VMCOREINFO: ~0.2 s normally, but 5-8 s under TSan (instrumented decoding
// of ~200k kallsyms names). A guest that fails before then is caught on
// the console instead (a fallback report without scx_root's data), which
// is right for ktvm but does not exercise the memory path this test is
// about. The report proves which case it was: the view was not ready when
// the trigger was detected.
bool KernelViewCameAfterTrigger(const FailureDumpReport& r) {
  return r.trigger().detector() == "console" &&
         (r.timings().kernel_ready_ns() == 0 ||
          r.timings().kernel_ready_ns() > r.timings().detected_ns());
}

// Runs ktvm for a test about memory detection. Under a sanitizer the guest
// may win the race with the bootstrap: run again (a few times, bounded)
// until the memory path is what the report shows. A normal build must win
// it the first time.
KtvmRun RunKtvmForMemoryDetection(const std::string& name,
                                  std::vector<std::string> args) {
  const int attempts = SanitizerBuild() ? 4 : 1;
  KtvmRun run;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    run = RunKtvm(name, args);
    absl::StatusOr<FailureDumpReport> r = dump::ReadReport(run.report_path);
    if (!r.ok() || !KernelViewCameAfterTrigger(*r)) break;
    std::fprintf(stderr,
                 "attempt %d of %d: the guest failed at %.3f s, before "
                 "ktvm's kernel view was ready (%.3f s, built in %.0f ms): "
                 "console report; %s\n",
                 attempt, attempts, r->timings().detected_ns() / 1e9,
                 r->timings().kernel_ready_ns() / 1e9,
                 r->timings().kernel_bootstrap_ns() / 1e6,
                 attempt < attempts ? "running again" : "giving up");
  }
  return run;
}

TEST(DumpReportTest, SchedulerErrorGivesOneCompleteReport) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  const KtvmRun run = RunKtvmForMemoryDetection(
      "error", {"--scheduler=tests/schedulers/ktvm_fifo",
                "--sched_args=--mode=error --error_after=50",
                "--run=for i in $(seq 100); do /bin/true; done; sleep 5"});
  absl::StatusOr<FailureDumpReport> r = dump::ReadReport(run.report_path);
  EXPECT_EQ(run.exit_code, 3);
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<FailureDumpReport> json =
      dump::ReadReport(run.report_path + ".json");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->scx_exit().msg(), r->scx_exit().msg());

  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_SCHED_EXT_ERROR);
  EXPECT_EQ(r->trigger().detector(), "memory-poll");
  const report::SchedExtExitInfo& e = r->scx_exit();
  EXPECT_EQ(e.kind(), report::SCX_EXIT_ERROR_BPF);
  EXPECT_EQ(e.kind_name(), "ERROR_BPF");
  EXPECT_TRUE(e.complete());
  EXPECT_EQ(e.scheduler_name(), "ktvm_fifo");
  EXPECT_EQ(e.reason(), "scx_bpf_error");
  EXPECT_TRUE(absl::StrContains(e.msg(), "injected error after 50 enqueues"))
      << e.msg();
  bool saw_error_frame = false;
  for (const auto& f : e.backtrace()) {
    saw_error_frame |= absl::StrContains(f.symbol(), "scx_bpf_error");
  }
  EXPECT_TRUE(saw_error_frame) << e.DebugString();
  // scx_bpf_error was called from the enqueue program: its frame carries
  // the name the kernel's kallsyms gives it, not a bare address.
  const report::BacktraceFrame* enqueue_frame = nullptr;
  for (const auto& f : e.backtrace()) {
    if (f.bpf_program() == "ktvm_enqueue") enqueue_frame = &f;
  }
  ASSERT_NE(enqueue_frame, nullptr) << e.DebugString();
  EXPECT_TRUE(absl::StartsWith(enqueue_frame->symbol(), "bpf_prog_"))
      << enqueue_frame->DebugString();
  EXPECT_TRUE(absl::EndsWith(enqueue_frame->symbol(), "_ktvm_enqueue"))
      << enqueue_frame->DebugString();
  EXPECT_EQ(enqueue_frame->module(), "bpf");
  EXPECT_GT(enqueue_frame->bpf_prog_id(), 0u);
  EXPECT_LT(enqueue_frame->offset(), enqueue_frame->symbol_size());
  ExpectFrozenGuestState(*r);
  // A polled trigger: the window between the last clean poll and the one
  // that saw the error kind is recorded (a few ms at most, unless this
  // host is starved).
  EXPECT_GT(r->timings().detection_window_ns(), 0);
  EXPECT_LT(r->timings().detection_window_ns(), 5'000'000'000);
  EXPECT_TRUE(
      LogContains(*r, "sched_ext: BPF scheduler \"ktvm_fifo\" enabled"));

  // .bss rendered through the program BTF's DATASEC: counters by name.
  const report::BpfMap* bss = MapEndingWith(*r, ".bss");
  ASSERT_NE(bss, nullptr);
  EXPECT_EQ(bss->type(), report::BPF_MAP_TYPE_ARRAY);
  ASSERT_EQ(bss->entries_size(), 1);
  const RenderedValue& section = bss->entries(0).value();
  EXPECT_EQ(section.type_name(), ".bss");
  const RenderedValue* enqueues = Member(section, "nr_enqueues");
  ASSERT_NE(enqueues, nullptr) << section.DebugString().substr(0, 2000);
  EXPECT_GE(enqueues->uint_value(), 50u);
  const RenderedValue* live = Member(section, "nr_live_tasks");
  ASSERT_NE(live, nullptr);
  EXPECT_GT(live->uint_value(), 0u);
  ExpectEnqueueMaps(*r, ErrorPid(e.msg()), enqueues->uint_value());
  // .rodata holds the mode the loader chose (KTVM_MODE_ERROR = 1).
  const report::BpfMap* rodata = MapEndingWith(*r, ".rodata");
  ASSERT_NE(rodata, nullptr);
  ASSERT_EQ(rodata->entries_size(), 1);
  const RenderedValue* mode = Member(rodata->entries(0).value(), "mode");
  ASSERT_NE(mode, nullptr);
  EXPECT_EQ(mode->uint_value(), 1u);
  const report::BpfMap* data = MapEndingWith(*r, ".data");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->entries_size(), 1);
  EXPECT_TRUE(data->entries(0).value().has_struct_value());

  // The arena snapshot holds the allocator's pages; the sdt walk finds one
  // live slot per task the scheduler counted, payloads rendered by name.
  const report::BpfMap* arena = MapEndingWith(*r, "arena");
  ASSERT_NE(arena, nullptr);
  EXPECT_EQ(arena->type(), report::BPF_MAP_TYPE_ARENA);
  EXPECT_GT(arena->arena().pages_size(), 0);
  const report::SdtAllocatorSnapshot& tasks = TaskAllocator(*r);
  EXPECT_EQ(tasks.entries_size(), static_cast<int>(live->uint_value()));
  ExpectTaskPayloads(tasks);
}

TEST(DumpReportTest, StallNamesTheStalledTask) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  const KtvmRun run = RunKtvm(
      "stall", {"--scheduler=tests/schedulers/ktvm_fifo",
                "--sched_args=--mode=stall --stall_comm=ktvm_stall "
                "--timeout_ms=4500",
                "--run=/ktvm/scheduler --spin_ms=30000 --comm=ktvm_stall"});
  EXPECT_EQ(run.exit_code, 3);
  absl::StatusOr<FailureDumpReport> r = dump::ReadReport(run.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_STALL);
  EXPECT_EQ(r->scx_exit().kind(), report::SCX_EXIT_ERROR_STALL);
  EXPECT_TRUE(r->scx_exit().complete());
  EXPECT_TRUE(absl::StrContains(r->scx_exit().msg(), "ktvm_stall["))
      << r->scx_exit().msg();
  EXPECT_TRUE(absl::StrContains(r->scx_exit().msg(), "failed to run for"));
  ExpectFrozenGuestState(*r);
}

TEST(DumpReportTest, PanicPutsTheOopsInTheLogTail) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  const KtvmRun run = RunKtvmForMemoryDetection(
      "panic",
      {"--scheduler=tests/schedulers/ktvm_fifo", "--sched_args=--mode=ok",
       "--run=echo c > /proc/sysrq-trigger"});
  EXPECT_EQ(run.exit_code, 1);
  absl::StatusOr<FailureDumpReport> r = dump::ReadReport(run.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_PANIC);
  // The console also shows this panic; memory must win (richer report).
  EXPECT_EQ(r->trigger().detector(), "memory-poll");
  EXPECT_TRUE(LogContains(*r, "sysrq: Trigger a crash"));
  EXPECT_TRUE(LogContains(*r, "Kernel panic - not syncing"));
  ExpectFrozenGuestState(*r);
}

// Tasks keep exiting and new ones reuse their slots; --timeout ends the run
// with a dump while that goes on. --timeout counts from the VM's start, so a
// starved host (sanitizers, eight VMs on two cores) can spend it all on the
// boot: the workload prints a marker once it has churned, and a run whose
// timeout came before the marker is repeated with twice the time.
TEST(DumpReportTest, ChurnThenTimeoutShowsReusedSlots) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  constexpr char kChurned[] = "KTVM-TEST-CHURNED-20-ROUNDS";
  KtvmRun run;
  for (int timeout_s = 30; timeout_s <= 120; timeout_s *= 2) {
    run = RunKtvm(
        "churn",
        {"--scheduler=tests/schedulers/ktvm_fifo", "--sched_args=--mode=churn",
         absl::StrCat("--timeout=", timeout_s, "s"),
         // A starved guest's soft-lockup detector fires on host starvation
         // (seen under tsan), and sched_ext then ejects the scheduler: an
         // error exit instead of the timeout this test is about.
         "--cmdline=nosoftlockup",
         absl::StrCat("--run=n=0; while true; do for i in $(seq 20); do "
                      "/bin/true & done; wait; n=$((n+1)); [ $n = 20 ] && "
                      // Spelled so the command line itself never matches.
                      "echo KTVM-TEST-CHURNED-$n-ROUNDS; done")});
    if (absl::StrContains(run.output, kChurned)) break;
    std::fprintf(stderr,
                 "--timeout=%ds passed before the workload had churned 20 "
                 "rounds (a starved host): %s\n",
                 timeout_s, timeout_s < 120 ? "running again" : "giving up");
  }
  ASSERT_TRUE(absl::StrContains(run.output, kChurned))
      << "the workload never churned before --timeout";
  EXPECT_EQ(run.exit_code, 6);
  absl::StatusOr<FailureDumpReport> r = dump::ReadReport(run.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_TIMEOUT);
  const report::SdtAllocatorSnapshot& tasks = TaskAllocator(*r);
  ExpectTaskPayloads(tasks);
  for (const report::SdtAllocEntry& e : tasks.entries()) {
    EXPECT_GT(e.genn(), 0) << e.DebugString();
  }
  ExpectFrozenGuestState(*r);
}

// A panic before the kernel can be found in memory: the blacklisted initcall
// never publishes VMCOREINFO (so no memory detector can run, as when a
// kernel panics before VMCOREINFO is up), and with no init the kernel
// panics mounting a root fs, before user space. Only the console sees it.
TEST(DumpReportTest, EarlyPanicGivesAConsoleReport) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  const KtvmRun run = RunKtvm(
      "early_panic", {"--run=true",
                      "--cmdline=initcall_blacklist=crash_save_vmcoreinfo_init "
                      "rdinit=/nonexistent"});
  EXPECT_EQ(run.exit_code, 1);
  absl::StatusOr<FailureDumpReport> r = dump::ReadReport(run.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_PANIC);
  EXPECT_EQ(r->trigger().detector(), "console");
  constexpr char kPanicLine[] =
      "panic - not syncing: VFS: Unable to mount root fs";
  EXPECT_TRUE(absl::StrContains(r->trigger().summary(), kPanicLine))
      << r->trigger().summary();
  EXPECT_TRUE(absl::StrContains(r->console_tail(), kPanicLine));
  // The guest was frozen in its panic (panic=5 keeps it up), not after.
  ASSERT_EQ(r->vcpus_size(), kCpus);
  for (const report::VcpuState& v : r->vcpus()) {
    EXPECT_TRUE(v.parked()) << v.note();
    ASSERT_TRUE(v.has_x86_64());
    EXPECT_GE(v.x86_64().rip(), 0xffffffff80000000ull) << "not in the kernel";
  }
  bool kernel_diagnostic = false;
  for (const report::Diagnostic& d : r->diagnostics()) {
    if (d.subject() != "kernel") continue;
    kernel_diagnostic = true;
    EXPECT_TRUE(absl::StrContains(d.reason(), "no VMCOREINFO")) << d.reason();
    EXPECT_TRUE(absl::StrContains(d.reason(), "printk log")) << d.reason();
  }
  EXPECT_TRUE(kernel_diagnostic) << r->DebugString();
  EXPECT_EQ(r->kernel_log().source(), "console");
  EXPECT_TRUE(LogContains(*r, kPanicLine));
  EXPECT_EQ(r->bpf_maps_size(), 0);
}

// A sched_ext error where memory cannot show it (no VMCOREINFO, as in the
// early panic test): the kernel's "disabled (scx_bpf_error)" line and the
// message after it give the trigger and the exit info.
TEST(DumpReportTest, SchedExtErrorSeenOnlyOnTheConsole) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  const KtvmRun run =
      RunKtvm("console_scx",
              {"--scheduler=tests/schedulers/ktvm_fifo",
               "--sched_args=--mode=error --error_after=50",
               "--run=for i in $(seq 100); do /bin/true; done; sleep 5",
               "--cmdline=initcall_blacklist=crash_save_vmcoreinfo_init"});
  EXPECT_EQ(run.exit_code, 3);
  absl::StatusOr<FailureDumpReport> r = dump::ReadReport(run.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_SCHED_EXT_ERROR);
  EXPECT_EQ(r->trigger().detector(), "console");
  const report::SchedExtExitInfo& e = r->scx_exit();
  EXPECT_EQ(e.kind(), report::SCX_EXIT_ERROR_BPF);
  EXPECT_EQ(e.reason(), "scx_bpf_error");
  EXPECT_EQ(e.scheduler_name(), "ktvm_fifo");
  EXPECT_TRUE(absl::StrContains(e.msg(), "injected error after 50 enqueues"))
      << e.msg();
  EXPECT_FALSE(e.complete());
  ASSERT_EQ(r->vcpus_size(), kCpus);
  for (const report::VcpuState& v : r->vcpus()) EXPECT_TRUE(v.parked());
  bool kernel_diagnostic = false;
  for (const report::Diagnostic& d : r->diagnostics()) {
    kernel_diagnostic |= d.subject() == "kernel" &&
                         absl::StrContains(d.reason(), "no VMCOREINFO");
  }
  EXPECT_TRUE(kernel_diagnostic) << r->DebugString();
}

// The host watchdog: the kernel's suspend test (pm_test=core) spins in
// mdelay with interrupts off on the only online CPU, so jiffies stop for
// 15 s; --watchdog=3s must dump in that window (else the guest resumes and
// the workload exits 0).
TEST(DumpReportTest, WatchdogFiresWhenJiffiesStop) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  const KtvmRun run = RunKtvm(
      "watchdog", {"--watchdog=3s",
                   "--run=echo core > /sys/power/pm_test && "
                   "echo 15 > /sys/module/suspend/parameters/pm_test_delay && "
                   "echo mem > /sys/power/state"});
  EXPECT_EQ(run.exit_code, 1);
  absl::StatusOr<FailureDumpReport> r = dump::ReadReport(run.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_WATCHDOG);
  EXPECT_EQ(r->trigger().detector(), "watchdog");
  EXPECT_TRUE(absl::StrContains(r->trigger().summary(), "jiffies stuck"))
      << r->trigger().summary();
  EXPECT_TRUE(LogContains(*r, "suspend debug: Waiting for 15 second(s)"));
  bool in_delay = false;
  for (const report::VcpuState& v : r->vcpus()) {
    in_delay |= absl::StrContains(v.ip_symbol(), "delay");
  }
  EXPECT_TRUE(in_delay) << "no vCPU in the suspend test's mdelay";
  ExpectFrozenGuestState(*r);
  EXPECT_FALSE(absl::StrContains(run.output, "KTVM workload-exit"));
}

// --resume_after_dump: the complete error report, then the guest runs on,
// the kernel falls back to the fair class, the workload finishes and the
// guest powers off; the run still fails with the scheduler's exit code.
TEST(DumpReportTest, ResumeAfterDumpLetsTheWorkloadFinish) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  const KtvmRun run =
      RunKtvm("resume", {"--scheduler=tests/schedulers/ktvm_fifo",
                         "--sched_args=--mode=error --error_after=50",
                         "--resume_after_dump",
                         "--run=for i in $(seq 100); do /bin/true; done; "
                         "echo workload-finished"});
  EXPECT_EQ(run.exit_code, 3);
  absl::StatusOr<FailureDumpReport> r = dump::ReadReport(run.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_SCHED_EXT_ERROR);
  EXPECT_EQ(r->scx_exit().kind(), report::SCX_EXIT_ERROR_BPF);
  EXPECT_TRUE(r->scx_exit().complete());
  EXPECT_TRUE(absl::StrContains(r->scx_exit().msg(),
                                "injected error after 50 enqueues"));
  EXPECT_GT(r->scx_exit().backtrace_size(), 0);
  EXPECT_EQ(r->sdt_allocators_size(), 1);
  ExpectFrozenGuestState(*r);
  // After the report: the workload ran to its end and the guest shut down.
  const size_t report_at = run.output.find("freeze-and-dump");
  const size_t finished_at = run.output.find("workload-finished");
  ASSERT_NE(report_at, std::string::npos);
  ASSERT_NE(finished_at, std::string::npos) << "the workload did not finish";
  EXPECT_LT(report_at, finished_at);
  EXPECT_TRUE(absl::StrContains(run.output,
                                "ktvm: guest: KTVM workload-exit status=0"));
  EXPECT_TRUE(absl::StrContains(run.output, "ktvm: guest: KTVM poweroff"));
  EXPECT_TRUE(absl::StrContains(run.output, "guest-shutdown"));
}

TEST(DumpReportTest, HealthySchedulerWritesNoReport) {
  if (!QemuAvailable()) GTEST_SKIP() << "NOT RUN: qemu or busybox missing";
  const KtvmRun run = RunKtvm(
      "ok", {"--scheduler=tests/schedulers/ktvm_fifo", "--sched_args=--mode=ok",
             "--run=for i in $(seq 100); do /bin/true; done"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(access(run.report_path.c_str(), F_OK), 0)
      << "a report was written for a healthy run";
}

}  // namespace
}  // namespace ktvm::e2e
