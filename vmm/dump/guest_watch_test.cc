// The watch loop over a fake backend (no guest): --timeout and a signal to
// ktvm each give one report, written and readable, and stop the guest; a
// guest that ends by itself gives none. A kernel that cannot be found in
// memory (all-zero RAM) becomes a diagnostic, not a failure. A panic on the
// console gives a report even then, also when the guest ended before the
// next poll.
#include "vmm/dump/guest_watch.h"

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "memory/guest_memory.h"
#include "vmm/dump/report_writer.h"

namespace ktvm::dump {
namespace {

class FakeBackend : public backend::Backend {
 public:
  FakeBackend() : ram_(1 << 20) {
    memory_ =
        *memory::GuestMemory::FromRegions({{0, ram_.size(), ram_.data()}});
  }
  std::string_view name() const override { return "fake"; }
  int num_vcpus() const override { return 1; }
  absl::Status Start(backend::BackendCallbacks) override {
    return absl::OkStatus();
  }
  absl::Status Freeze() override {
    ++freezes;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<report::VcpuState>> ReadRegisters() override {
    report::VcpuState v;
    v.set_parked(true);
    v.mutable_x86_64()->set_rip(0xffffffff81000000ull);
    return std::vector<report::VcpuState>{v};
  }
  absl::Status Resume() override {
    ++resumes;
    return absl::OkStatus();
  }
  absl::Status Stop() override {
    stopped = true;
    return absl::OkStatus();
  }
  const memory::GuestMemory& memory() const override { return memory_; }
  absl::StatusOr<backend::GuestExit> WaitForExit(absl::Duration) override {
    if (exit_after_polls >= 0 && polls++ >= exit_after_polls) {
      return backend::GuestExit{backend::GuestExit::Reason::kPoweroff, "off"};
    }
    return absl::DeadlineExceededError("running");
  }
  std::string ConsoleTail(size_t) const override { return console; }
  std::vector<std::string> ControlLines() const override { return {}; }

  int freezes = 0, resumes = 0, polls = 0;
  int exit_after_polls = -1;
  bool stopped = false;
  std::string console = "console text";

 private:
  std::vector<uint8_t> ram_;
  memory::GuestMemory memory_;
};

std::string TmpPath(const std::string& name) {
  const char* d = std::getenv("TEST_TMPDIR");
  return std::string(d ? d : "/tmp") + "/" + name;
}

std::unique_ptr<DumpEngine> MakeEngine(
    FakeBackend& fake, const ConsoleTriggerScanner* console = nullptr) {
  DumpEngineOptions options;
  options.console = console;
  options.bootstrap.bzimage_path = "external/kernel/bzImage";
  options.bootstrap.btf_cache_dir = TmpPath("btf-cache");
  absl::StatusOr<std::unique_ptr<DumpEngine>> engine =
      DumpEngine::Create(fake, std::move(options), absl::Now());
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

// ktvm's sched_ext check loads the BTF before the engine exists; the
// engine must take that one over, not read the kernel image again.
TEST(GuestWatchTest, EngineUsesABtfLoadedBeforehand) {
  BootstrapOptions load;
  load.bzimage_path = "external/kernel/bzImage";
  load.btf_cache_dir = TmpPath("btf-cache");
  absl::StatusOr<btf::BtfPtr> btf = LoadVmlinuxBtf(load);
  ASSERT_TRUE(btf.ok()) << btf.status();
  const struct ::btf* loaded = btf->get();
  FakeBackend fake;
  DumpEngineOptions options;
  options.bootstrap.bzimage_path = TmpPath("no-such-bzImage");
  options.vmlinux_btf = *std::move(btf);
  absl::StatusOr<std::unique_ptr<DumpEngine>> engine =
      DumpEngine::Create(fake, std::move(options), absl::Now());
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_TRUE((*engine)->has_btf()) << (*engine)->bootstrap_error();
  EXPECT_EQ((*engine)->btf(), loaded);
}

TEST(GuestWatchTest, SignalGivesAManualReportAndStopsTheGuest) {
  FakeBackend fake;
  std::unique_ptr<DumpEngine> engine = MakeEngine(fake);
  ASSERT_NE(engine, nullptr);
  std::atomic<int> signal_seen{SIGUSR1};
  WatchOptions options;
  options.report_path = TmpPath("manual.ktvm-dump");
  options.json = true;
  options.manual_signal = &signal_seen;
  const WatchResult result = WatchGuest(fake, engine.get(), options);
  ASSERT_TRUE(result.exit.ok()) << result.exit.status();
  EXPECT_EQ(result.exit->reason, backend::GuestExit::Reason::kStopped);
  EXPECT_TRUE(fake.stopped);
  EXPECT_GE(fake.freezes, 1);
  ASSERT_TRUE(result.report.has_value());
  EXPECT_EQ(result.report_path, options.report_path);
  EXPECT_EQ(result.json_report_path, options.report_path + ".json");

  absl::StatusOr<report::FailureDumpReport> r = ReadReport(result.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_MANUAL);
  EXPECT_EQ(r->trigger().detector(), "signal");
  EXPECT_EQ(r->vcpus_size(), 1);
  EXPECT_EQ(r->console_tail(), "console text");
  // Zeroed RAM holds no kernel: said in a diagnostic, everything else kept.
  bool kernel_diagnostic = false;
  for (const auto& d : r->diagnostics()) {
    kernel_diagnostic |= d.subject() == "kernel";
  }
  EXPECT_TRUE(kernel_diagnostic) << r->DebugString();
  EXPECT_GT(r->timings().dump_finished_ns(), 0);
  // The file is the in-memory report, serialisation time included (written
  // after the serialisation it measures).
  EXPECT_GT(r->timings().serialize_ns(), 0);
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(*r, *result.report))
      << r->DebugString();
  absl::StatusOr<report::FailureDumpReport> json =
      ReadReport(result.json_report_path);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->trigger().kind(), report::TRIGGER_KIND_MANUAL);
  EXPECT_EQ(json->timings().serialize_ns(), r->timings().serialize_ns());
}

TEST(GuestWatchTest, TimeoutGivesATimeoutReport) {
  FakeBackend fake;
  std::unique_ptr<DumpEngine> engine = MakeEngine(fake);
  ASSERT_NE(engine, nullptr);
  WatchOptions options;
  options.timeout = absl::Milliseconds(30);
  options.report_path = TmpPath("timeout.ktvm-dump");
  const WatchResult result = WatchGuest(fake, engine.get(), options);
  EXPECT_TRUE(absl::IsDeadlineExceeded(result.exit.status()))
      << result.exit.status();
  EXPECT_TRUE(fake.stopped);
  absl::StatusOr<report::FailureDumpReport> r = ReadReport(result.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->trigger().kind(), report::TRIGGER_KIND_TIMEOUT);
}

TEST(GuestWatchTest, GuestThatEndsGivesNoReport) {
  FakeBackend fake;
  fake.exit_after_polls = 5;
  std::unique_ptr<DumpEngine> engine = MakeEngine(fake);
  ASSERT_NE(engine, nullptr);
  WatchOptions options;
  options.report_path = TmpPath("none.ktvm-dump");
  const WatchResult result = WatchGuest(fake, engine.get(), options);
  ASSERT_TRUE(result.exit.ok());
  EXPECT_EQ(result.exit->reason, backend::GuestExit::Reason::kPoweroff);
  EXPECT_FALSE(result.report.has_value());
  EXPECT_EQ(fake.freezes, 0);
  EXPECT_FALSE(ReadReport(options.report_path).ok());
}

constexpr char kPanicConsole[] =
    "[    4.570633] check access for rdinit=/nonexistent failed: -2\r\n"
    "[    4.582482] Kernel panic - not syncing: VFS: Unable to mount root "
    "fs on unknown-block(0,0)\r\n"
    "[    4.596064] Call Trace:\r\n";

void ExpectConsolePanicReport(const report::FailureDumpReport& r) {
  EXPECT_EQ(r.trigger().kind(), report::TRIGGER_KIND_PANIC);
  EXPECT_EQ(r.trigger().detector(), "console");
  EXPECT_NE(r.trigger().summary().find("VFS: Unable to mount root"),
            std::string::npos)
      << r.trigger().summary();
  // No kernel in RAM: the diagnostic names what could not be read and why,
  // and the log records come from the console.
  bool kernel_diagnostic = false;
  for (const auto& d : r.diagnostics()) {
    if (d.subject() != "kernel") continue;
    kernel_diagnostic = true;
    EXPECT_NE(d.reason().find("printk log, BPF maps"), std::string::npos)
        << d.reason();
    EXPECT_NE(d.reason().find("VMCOREINFO"), std::string::npos) << d.reason();
  }
  EXPECT_TRUE(kernel_diagnostic) << r.DebugString();
  EXPECT_EQ(r.kernel_log().source(), "console");
  ASSERT_EQ(r.kernel_log().records_size(), 3);
  EXPECT_EQ(r.kernel_log().records(1).timestamp_ns(), 4582482000ull);
  EXPECT_FALSE(r.has_scx_exit());
}

TEST(GuestWatchTest, ConsolePanicWithoutAKernelInMemoryGivesAReport) {
  FakeBackend fake;
  fake.exit_after_polls = 1 << 30;  // runs on; counts the polls
  fake.console = kPanicConsole;
  ConsoleTriggerScanner console;
  std::unique_ptr<DumpEngine> engine = MakeEngine(fake, &console);
  ASSERT_NE(engine, nullptr);
  WatchOptions options;
  options.timeout = absl::Seconds(30);
  options.report_path = TmpPath("console-panic.ktvm-dump");
  // Nothing on the console yet: the loop must not fire on its own; the
  // line arrives from another thread (the backend's reader) meanwhile.
  std::thread reader([&console] {
    absl::SleepFor(absl::Milliseconds(50));
    console.Feed(kPanicConsole);
  });
  const WatchResult result = WatchGuest(fake, engine.get(), options);
  reader.join();
  ASSERT_TRUE(result.exit.ok()) << result.exit.status();
  EXPECT_EQ(result.exit->reason, backend::GuestExit::Reason::kStopped);
  EXPECT_TRUE(fake.stopped);
  EXPECT_GE(fake.polls, 10) << "fired before the console said anything";
  absl::StatusOr<report::FailureDumpReport> r = ReadReport(result.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectConsolePanicReport(*r);
  ASSERT_EQ(r->vcpus_size(), 1);
  EXPECT_TRUE(r->vcpus(0).parked());
}

TEST(GuestWatchTest, PanicSeenOnlyAfterTheGuestEndedStillGivesAReport) {
  FakeBackend fake;
  fake.exit_after_polls = 0;  // ended before the first poll
  fake.console = kPanicConsole;
  ConsoleTriggerScanner console;
  console.Feed(kPanicConsole);
  std::unique_ptr<DumpEngine> engine = MakeEngine(fake, &console);
  ASSERT_NE(engine, nullptr);
  WatchOptions options;
  options.report_path = TmpPath("late-panic.ktvm-dump");
  const WatchResult result = WatchGuest(fake, engine.get(), options);
  ASSERT_TRUE(result.exit.ok()) << result.exit.status();
  EXPECT_EQ(result.exit->reason, backend::GuestExit::Reason::kPoweroff)
      << "how the guest ended is kept";
  absl::StatusOr<report::FailureDumpReport> r = ReadReport(result.report_path);
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectConsolePanicReport(*r);
  EXPECT_NE(r->trigger().summary().find("after the guest ended"),
            std::string::npos);
}

TEST(GuestWatchTest, SchedExtErrorOnTheConsoleFillsTheExitInfo) {
  FakeBackend fake;
  fake.console =
      "[    9.1] sched_ext: BPF scheduler \"ktvm_fifo\" disabled "
      "(scx_bpf_error)\n[    9.1] sched_ext: ktvm_fifo: injected error "
      "after 50 enqueues\n";
  ConsoleTriggerScanner console;
  console.Feed(fake.console);
  std::unique_ptr<DumpEngine> engine = MakeEngine(fake, &console);
  ASSERT_NE(engine, nullptr);
  WatchOptions options;
  options.report_path = TmpPath("console-scx.ktvm-dump");
  const WatchResult result = WatchGuest(fake, engine.get(), options);
  ASSERT_TRUE(result.report.has_value());
  const report::FailureDumpReport& r = *result.report;
  EXPECT_EQ(r.trigger().kind(), report::TRIGGER_KIND_SCHED_EXT_ERROR);
  EXPECT_EQ(r.scx_exit().kind(), report::SCX_EXIT_ERROR_BPF);
  EXPECT_EQ(r.scx_exit().kind_name(), "ERROR_BPF");
  EXPECT_EQ(r.scx_exit().reason(), "scx_bpf_error");
  EXPECT_EQ(r.scx_exit().scheduler_name(), "ktvm_fifo");
  EXPECT_EQ(r.scx_exit().msg(), "injected error after 50 enqueues");
  EXPECT_FALSE(r.scx_exit().complete()) << "no backtrace from the console";
}

// The message line never comes (an error without a message): the console
// trigger waits for it only briefly, then dumps without it.
TEST(GuestWatchTest, SchedExtErrorWithoutAMessageLineStillDumps) {
  FakeBackend fake;
  fake.exit_after_polls = 1 << 30;
  fake.console =
      "[    9.1] sched_ext: BPF scheduler \"ktvm_fifo\" disabled "
      "(runnable task stall)\n";
  ConsoleTriggerScanner console;
  console.Feed(fake.console);
  std::unique_ptr<DumpEngine> engine = MakeEngine(fake, &console);
  ASSERT_NE(engine, nullptr);
  WatchOptions options;
  options.timeout = absl::Seconds(30);
  options.report_path = TmpPath("console-scx-nomsg.ktvm-dump");
  const WatchResult result = WatchGuest(fake, engine.get(), options);
  ASSERT_TRUE(result.report.has_value());
  EXPECT_EQ(result.report->trigger().kind(), report::TRIGGER_KIND_STALL);
  EXPECT_EQ(result.report->scx_exit().kind(), report::SCX_EXIT_ERROR_STALL);
  EXPECT_TRUE(result.report->scx_exit().msg().empty());
}

}  // namespace
}  // namespace ktvm::dump
