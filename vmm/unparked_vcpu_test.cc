// "A vCPU that will not park" (README, guest misbehaviour): the test guest's
// boot vCPU loops with interrupts off and no exits while its thread keeps
// the kick signal blocked, so nothing can get it out of KVM_RUN. A dump
// must still come back within the park timeout, list that vCPU as not
// parked with the reason, carry the other vCPU's registers, and the machine
// must end cleanly once the guest lets the vCPU exit again.
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

TEST(UnparkedVcpuTest, DumpListsTheVcpuThatWillNotPark) {
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

  absl::Mutex mu;
  std::vector<std::string> lines;
  backend::BackendCallbacks cb;
  cb.control_line = [&](std::string_view s) {
    absl::MutexLock l(&mu);
    lines.emplace_back(s);
  };
  auto has_line = [&](absl::string_view prefix) {
    absl::MutexLock l(&mu);
    for (const std::string& line : lines) {
      if (absl::StartsWith(line, prefix)) return true;
    }
    return false;
  };
  ASSERT_TRUE((*b)->Start(cb).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!has_line("KTVM test-action action=cli_wait") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(has_line("KTVM test-action action=cli_wait"));
  uint64_t counters = 0;
  {
    absl::MutexLock l(&mu);
    for (const std::string& line : lines) {
      const size_t at = line.find("counters=0x");
      if (at != std::string::npos) {
        counters = std::stoull(line.substr(at + 11), nullptr, 16);
      }
    }
  }
  ASSERT_NE(counters, 0u);

  absl::StatusOr<std::unique_ptr<dump::DumpEngine>> engine =
      dump::DumpEngine::Create(**b, dump::DumpEngineOptions{}, absl::Now());
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
  auto counter0 = [&] {
    uint64_t v = 0;
    EXPECT_TRUE(
        (*b)->machine()
            .ram()
            .Read(counters, absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), 8))
            .ok());
    return v;
  };
  const uint64_t before = counter0();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_GT(counter0(), before);

  // Let the guest's loop end: its next exit lets ktvm stop the vCPU.
  const uint64_t release = 1;
  ASSERT_TRUE((*b)->machine()
                  .ram()
                  .Write(counters + 8 * kReleaseSlot,
                         absl::MakeConstSpan(
                             reinterpret_cast<const uint8_t*>(&release), 8))
                  .ok());
  ASSERT_TRUE((*b)->Resume().ok());
  absl::StatusOr<backend::GuestExit> exit =
      (*b)->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->reason, backend::GuestExit::Reason::kReset) << exit->detail;
  EXPECT_TRUE(has_line("KTVM test-released"));
  EXPECT_TRUE(has_line("KTVM test-done"));
  ASSERT_TRUE((*b)->Stop().ok());
}

}  // namespace
}  // namespace ktvm::vmm
