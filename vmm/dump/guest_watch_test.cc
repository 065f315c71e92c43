// The watch loop over a fake backend (no guest): --timeout and a signal to
// ktvm each give one report, written and readable, and stop the guest; a
// guest that ends by itself gives none. A kernel that cannot be found in
// memory (all-zero RAM) becomes a diagnostic, not a failure.
#include "vmm/dump/guest_watch.h"

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <vector>

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
  std::string ConsoleTail(size_t) const override { return "console text"; }
  std::vector<std::string> ControlLines() const override { return {}; }

  int freezes = 0, resumes = 0, polls = 0;
  int exit_after_polls = -1;
  bool stopped = false;

 private:
  std::vector<uint8_t> ram_;
  memory::GuestMemory memory_;
};

std::string TmpPath(const std::string& name) {
  const char* d = std::getenv("TEST_TMPDIR");
  return std::string(d ? d : "/tmp") + "/" + name;
}

std::unique_ptr<DumpEngine> MakeEngine(FakeBackend& fake) {
  DumpEngineOptions options;
  options.bootstrap.bzimage_path = "external/kernel/bzImage";
  options.bootstrap.btf_cache_dir = TmpPath("btf-cache");
  absl::StatusOr<std::unique_ptr<DumpEngine>> engine =
      DumpEngine::Create(fake, options, absl::Now());
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
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
  absl::StatusOr<report::FailureDumpReport> json =
      ReadReport(result.json_report_path);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->trigger().kind(), report::TRIGGER_KIND_MANUAL);
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

}  // namespace
}  // namespace ktvm::dump
