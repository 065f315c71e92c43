// "A vCPU that will not park" (README, guest misbehaviour): the test guest's
// boot vCPU loops with interrupts off and no exits while its thread keeps
// the kick signal blocked, so nothing can get it out of KVM_RUN. A dump
// must still come back within the park timeout, list that vCPU as not
// parked with the reason, carry the other vCPU's registers, and the machine
// must end cleanly once the guest lets the vCPU exit again. If the guest
// never does, Stop() must give up on the vCPU instead of waiting forever.
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "proto/failure_dump.pb.h"
#include "vmm/dump/dump_engine.h"
#include "vmm/dump/report_summary.h"
#include "vmm/kvm/kvm_device.h"
#include "vmm/kvm_backend.h"

namespace ktvm::vmm {
namespace {

// The guest's spin_counters slot it polls as the release word (RELEASE_SLOT).
constexpr uint64_t kReleaseSlot = 15;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The test guest in cli_wait on 2 vCPUs, vCPU 0 unkickable, started and
// past its greeting. Skips without /dev/kvm.
class UnparkedVcpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kDefaultKvmDevicePath, R_OK | W_OK) != 0) {
      GTEST_SKIP() << "NOT RUN: no accessible /dev/kvm";
    }
    MachineConfig c;
    c.kernel = ReadFile("tests/test_guest/test_guest.bzImage");
    c.num_cpus = 2;
    c.memory_bytes = 64ULL << 20;
    c.extra_cmdline = "ktvm_smp=vmm ktvm_test=cli_wait";
    c.ap_start = x86_64::ApStart::kLongModeAtEntry;
    c.unkickable_vcpus_for_testing = {0};
    absl::StatusOr<std::unique_ptr<KvmBackend>> b =
        KvmBackend::Create(std::move(c));
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = std::move(*b);
    backend::BackendCallbacks cb;
    cb.control_line = [this](std::string_view s) {
      absl::MutexLock l(&mu_);
      lines_.emplace_back(s);
    };
    ASSERT_TRUE(backend_->Start(cb).ok());
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (!HasLine("KTVM test-action action=cli_wait") &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_TRUE(HasLine("KTVM test-action action=cli_wait"));
    absl::MutexLock l(&mu_);
    for (const std::string& line : lines_) {
      const size_t at = line.find("counters=0x");
      if (at != std::string::npos) {
        counters_ = std::stoull(line.substr(at + 11), nullptr, 16);
      }
    }
    ASSERT_NE(counters_, 0u);
  }

  bool HasLine(absl::string_view prefix) {
    absl::MutexLock l(&mu_);
    for (const std::string& line : lines_) {
      if (absl::StartsWith(line, prefix)) return true;
    }
    return false;
  }

  // vCPU 0's loop counter in guest RAM.
  uint64_t Counter0() {
    uint64_t v = 0;
    EXPECT_TRUE(
        backend_->machine()
            .ram()
            .Read(counters_, absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), 8))
            .ok());
    return v;
  }

  std::unique_ptr<KvmBackend> backend_;
  uint64_t counters_ = 0;
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

TEST_F(UnparkedVcpuTest, DumpListsTheVcpuThatWillNotPark) {
  std::unique_ptr<KvmBackend>& b = backend_;
  absl::StatusOr<std::unique_ptr<dump::DumpEngine>> engine =
      dump::DumpEngine::Create(*b, dump::DumpEngineOptions{}, absl::Now());
  ASSERT_TRUE(engine.ok()) << engine.status();
  const absl::Time t0 = absl::Now();
  const report::FailureDumpReport report = (*engine)->Dump(
      {report::TRIGGER_KIND_MANUAL, "test", "unparked_vcpu_test", t0});
  // Bounded by the park timeout, not by the stuck vCPU.
  EXPECT_LT(absl::Now() - t0, KvmBackend::kParkTimeout + absl::Seconds(5));

  ASSERT_EQ(report.vcpus_size(), 2) << report.DebugString();
  EXPECT_FALSE(report.vcpus(0).parked());
  EXPECT_TRUE(absl::StrContains(report.vcpus(0).note(), "did not park"))
      << report.vcpus(0).note();
  EXPECT_TRUE(report.vcpus(1).parked()) << report.vcpus(1).note();
  ASSERT_TRUE(report.vcpus(1).has_x86_64());
  EXPECT_GE(report.vcpus(1).x86_64().rip(), 0x1000000u);
  EXPECT_LT(report.vcpus(1).x86_64().rip(), 0x1100000u);
  bool freeze_diagnostic = false;
  for (const report::Diagnostic& d : report.diagnostics()) {
    if (d.subject() == "freeze") {
      freeze_diagnostic = true;
      EXPECT_TRUE(absl::StrContains(d.reason(), "vCPU 0 did not park"))
          << d.reason();
    }
  }
  EXPECT_TRUE(freeze_diagnostic) << report.DebugString();
  EXPECT_TRUE(
      absl::StrContains(dump::FormatReportSummary(report), "NOT PARKED"))
      << dump::FormatReportSummary(report);

  // The unparked vCPU really kept running through the "freeze".
  const uint64_t before = Counter0();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_GT(Counter0(), before);

  // Let the guest's loop end: its next exit lets ktvm stop the vCPU.
  const uint64_t release = 1;
  ASSERT_TRUE(b->machine()
                  .ram()
                  .Write(counters_ + 8 * kReleaseSlot,
                         absl::MakeConstSpan(
                             reinterpret_cast<const uint8_t*>(&release), 8))
                  .ok());
  ASSERT_TRUE(b->Resume().ok());
  absl::StatusOr<backend::GuestExit> exit = b->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->reason, backend::GuestExit::Reason::kReset) << exit->detail;
  EXPECT_TRUE(HasLine("KTVM test-released"));
  EXPECT_TRUE(HasLine("KTVM test-done"));
  ASSERT_TRUE(b->Stop().ok());
}

// Stopping a machine whose vCPU cannot leave KVM_RUN: Stop() gives up on it
// after the join timeout and names it, the other vCPU's thread ends, and
// destroying the machine leaves the stuck vCPU's guest RAM mapped (it keeps
// counting in it) instead of pulling it from under KVM.
TEST_F(UnparkedVcpuTest, StopGivesUpOnTheVcpuInsideKvmRun) {
  const absl::Time t0 = absl::Now();
  const absl::Status stopped = backend_->Stop();
  const absl::Duration took = absl::Now() - t0;
  EXPECT_TRUE(absl::IsDeadlineExceeded(stopped)) << stopped;
  EXPECT_TRUE(
      absl::StrContains(stopped.message(), "vCPU 0 is still inside KVM_RUN"))
      << stopped;
  EXPECT_FALSE(absl::StrContains(stopped.message(), "vCPU 1")) << stopped;
  EXPECT_GE(took, Machine::kVcpuJoinTimeout - absl::Milliseconds(50));
  EXPECT_LT(took, Machine::kVcpuJoinTimeout + absl::Seconds(3));

  // A repeated Stop (ktvm stops twice: after the dump and at the end) names
  // the same vCPU without waiting again.
  const absl::Time t1 = absl::Now();
  EXPECT_EQ(backend_->Stop(), stopped);
  EXPECT_LT(absl::Now() - t1, absl::Milliseconds(500));

  const RamRegion low = backend_->machine().ram().regions()[0];
  ASSERT_LT(counters_ - low.gpa + 8, low.size);
  const auto* counter = reinterpret_cast<const volatile uint64_t*>(
      low.host + (counters_ - low.gpa));
  backend_.reset();
  // Read after the machine is gone: unmapped RAM would fault here.
  const uint64_t before = *counter;
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_GT(*counter, before) << "the stuck vCPU no longer runs";
}

}  // namespace
}  // namespace ktvm::vmm
