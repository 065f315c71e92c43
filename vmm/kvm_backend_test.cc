// The KVM backend through the Backend interface, on the test guest.
#include "vmm/kvm_backend.h"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "memory/virtual_memory.h"
#include "memory/x86_64_translator.h"
#include "vmm/dump/host_run_delay.h"
#include "vmm/kvm/kvm_device.h"
#include "vmm/x86_64/gdt.h"
#include "vmm/x86_64/vcpu_state.h"

namespace ktvm::vmm {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

MachineConfig Config(int cpus, const std::string& cmdline) {
  MachineConfig c;
  c.kernel = ReadFile("tests/test_guest/test_guest.bzImage");
  c.num_cpus = cpus;
  c.memory_bytes = 64ULL << 20;
  c.extra_cmdline = cmdline;
  c.ap_start = x86_64::ApStart::kLongModeAtEntry;
  return c;
}

TEST(VcpuStateTest, VmxAttributesOf64BitCode) {
  const kvm_segment cs =
      x86_64::SegmentFromGdtEntry(x86_64::BootGdt64()[2], 0x10);
  // type 0xb, S, present, L, G: 0xa09b.
  EXPECT_EQ(x86_64::VmxSegmentAttributes(cs), 0xa09bu);
  kvm_segment unusable{};
  unusable.unusable = 1;
  EXPECT_EQ(x86_64::VmxSegmentAttributes(unusable), 1u << 16);
}

class KvmBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kDefaultKvmDevicePath, R_OK | W_OK) != 0) {
      GTEST_SKIP() << "NOT RUN: no accessible /dev/kvm";
    }
  }
};

TEST_F(KvmBackendTest, FreezeReadRegistersResumeStop) {
  absl::StatusOr<std::unique_ptr<KvmBackend>> b =
      KvmBackend::Create(Config(4, "ktvm_smp=vmm ktvm_test=spin"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->name(), "kvm");
  EXPECT_EQ((*b)->num_vcpus(), 4);
  EXPECT_EQ((*b)->ReadRegisters().status().code(),
            absl::StatusCode::kFailedPrecondition);

  absl::Mutex mu;
  std::string console;
  std::vector<std::string> lines;
  backend::BackendCallbacks cb;
  cb.console = [&](std::string_view s) {
    absl::MutexLock l(&mu);
    console.append(s);
  };
  cb.control_line = [&](std::string_view s) {
    absl::MutexLock l(&mu);
    lines.emplace_back(s);
  };
  ASSERT_TRUE((*b)->Start(cb).ok());
  auto spinning = [&] {
    for (const auto& l : lines) {
      if (absl::StartsWith(l, "KTVM test-action action=spin")) return true;
    }
    return false;
  };
  {
    absl::MutexLock l(&mu);
    ASSERT_TRUE(
        mu.AwaitWithTimeout(absl::Condition(&spinning), absl::Seconds(60)));
  }
  // The watchdog's view of the guest: the four vCPU threads, threads of
  // this process, whose scheduler counters can be read.
  const backend::GuestHostThreads threads = (*b)->HostThreads();
  EXPECT_EQ(threads.pid, getpid());
  EXPECT_FALSE(threads.every_thread);
  ASSERT_EQ(threads.tids.size(), 4u);
  for (const int tid : threads.tids) {
    EXPECT_NE(tid, gettid());
    EXPECT_EQ(access(absl::StrCat("/proc/self/task/", tid).c_str(), F_OK), 0)
        << tid;
  }
  absl::StatusOr<dump::RunDelaySample> delays = dump::SampleRunDelay(threads);
  ASSERT_TRUE(delays.ok()) << delays.status();
  EXPECT_EQ(delays->size(), 4u);
  ASSERT_TRUE((*b)->Freeze().ok());
  std::printf("KvmBackend froze 4 vCPUs in %s\n",
              absl::FormatDuration((*b)->last_freeze_duration()).c_str());
  absl::StatusOr<std::vector<report::VcpuState>> regs = (*b)->ReadRegisters();
  ASSERT_TRUE(regs.ok()) << regs.status();
  ASSERT_EQ(regs->size(), 4u);
  for (size_t i = 0; i < regs->size(); ++i) {
    const report::VcpuState& s = (*regs)[i];
    EXPECT_EQ(s.index(), i);
    EXPECT_TRUE(s.parked());
    ASSERT_TRUE(s.has_x86_64());
    EXPECT_GE(s.x86_64().rip(), 0x1000000u);
    EXPECT_LT(s.x86_64().rip(), 0x1100000u);
    EXPECT_EQ(s.x86_64().cr3(), 0x9000u);
    EXPECT_TRUE(s.x86_64().efer() & (1u << 10)) << "long mode active";
    EXPECT_TRUE(s.x86_64().cs().attributes() & (1u << 13)) << "CS.L";
    EXPECT_EQ(s.x86_64().apic_id(), i);
    // KVM_GET_MSRS works (with the C-layout ioctl numbers of kvm_abi.h).
    EXPECT_FALSE(absl::StrContains(s.note(), "LSTAR unavailable")) << s.note();
  }
  // Guest memory is the machine's RAM, and the vCPU's own CR3 translates
  // its RIP to the bytes KVM fetched: the identity map ktvm built.
  const memory::GuestMemory& mem = (*b)->memory();
  ASSERT_EQ(mem.regions().size(), (*b)->machine().ram().regions().size());
  EXPECT_EQ(mem.total_bytes(), 64ULL << 20);
  const auto& x86 = (*regs)[0].x86_64();
  const memory::X86_64Translator translator =
      memory::X86_64Translator::FromRegisters(x86.cr3(), x86.cr4());
  absl::StatusOr<memory::Translation> t = translator.Translate(mem, x86.rip());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->phys_addr, x86.rip());
  EXPECT_EQ(t->page_size, 2u << 20);
  uint8_t via_pages[32];
  uint8_t via_ram[32];
  memory::TranslatedMemory vm(mem, translator);
  ASSERT_TRUE(vm.ReadVirtual(x86.rip(), absl::MakeSpan(via_pages)).ok());
  ASSERT_TRUE(
      (*b)->machine().ram().Read(x86.rip(), absl::MakeSpan(via_ram)).ok());
  EXPECT_EQ(0, std::memcmp(via_pages, via_ram, sizeof(via_ram)));
  ASSERT_TRUE((*b)->Resume().ok());
  EXPECT_TRUE(absl::StrContains((*b)->ConsoleTail(4096), "4 of 4 vCPUs up"));
  EXPECT_EQ((*b)->ControlLines().size(), lines.size());
  ASSERT_TRUE((*b)->Stop().ok());
  absl::StatusOr<backend::GuestExit> exit = (*b)->WaitForExit(absl::Seconds(5));
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->reason, backend::GuestExit::Reason::kStopped);
  // Ended threads are not listed (their tids may be reused).
  EXPECT_TRUE((*b)->HostThreads().tids.empty());
}

TEST_F(KvmBackendTest, ExitReasons) {
  absl::StatusOr<std::unique_ptr<KvmBackend>> b =
      KvmBackend::Create(Config(1, "ktvm_test=triple_fault"));
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->Start({}).ok());
  absl::StatusOr<backend::GuestExit> exit =
      (*b)->WaitForExit(absl::Seconds(60));
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->reason, backend::GuestExit::Reason::kReset);
  EXPECT_TRUE(absl::StrContains(exit->detail, "triple-fault")) << exit->detail;

  absl::StatusOr<std::unique_ptr<KvmBackend>> spin =
      KvmBackend::Create(Config(1, "ktvm_test=spin"));
  ASSERT_TRUE(spin.ok());
  ASSERT_TRUE((*spin)->Start({}).ok());
  EXPECT_EQ((*spin)->WaitForExit(absl::Milliseconds(200)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE((*spin)->Stop().ok());
}

// The guest must not see the time it spent frozen: Resume sets the kvmclock
// back to its value at the freeze, so it advances by far less than the
// frozen time.
TEST_F(KvmBackendTest, ResumeHidesTheFrozenTimeFromKvmclock) {
  absl::StatusOr<std::unique_ptr<KvmBackend>> b =
      KvmBackend::Create(Config(2, "ktvm_smp=vmm ktvm_test=spin"));
  ASSERT_TRUE(b.ok()) << b.status();
  if (!(*b)->machine().can_adjust_clock()) {
    GTEST_SKIP() << "NOT RUN: KVM here lacks KVM_CAP_ADJUST_CLOCK";
  }
  ASSERT_TRUE((*b)->Start({}).ok());
  constexpr absl::Duration kFrozen = absl::Milliseconds(300);
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE((*b)->Freeze().ok());
    absl::StatusOr<uint64_t> at_freeze = (*b)->machine().GuestClockNs();
    ASSERT_TRUE(at_freeze.ok()) << at_freeze.status();
    absl::SleepFor(kFrozen);
    // A second freeze while frozen (the dump engine's settle loop does
    // this) must not move the saved value.
    ASSERT_TRUE((*b)->Freeze().ok());
    absl::StatusOr<uint64_t> still_frozen = (*b)->machine().GuestClockNs();
    ASSERT_TRUE(still_frozen.ok());
    EXPECT_GE(*still_frozen - *at_freeze,
              static_cast<uint64_t>(absl::ToInt64Nanoseconds(kFrozen)))
        << "the kvmclock runs on the host while frozen";
    ASSERT_TRUE((*b)->Resume().ok());
    absl::StatusOr<uint64_t> resumed = (*b)->machine().GuestClockNs();
    ASSERT_TRUE(resumed.ok());
    // Freeze saves the clock a few microseconds before at_freeze is read,
    // so right after Resume the clock may trail at_freeze by that much;
    // beyond it only host scheduling noise may pass: much less than the
    // 300 ms frozen.
    const int64_t delta =
        static_cast<int64_t>(*resumed) - static_cast<int64_t>(*at_freeze);
    EXPECT_GT(delta, -absl::ToInt64Nanoseconds(absl::Milliseconds(1)))
        << "round " << round;
    EXPECT_LT(delta, absl::ToInt64Nanoseconds(absl::Milliseconds(100)))
        << "round " << round;
  }
  ASSERT_TRUE((*b)->Stop().ok());
}

}  // namespace
}  // namespace ktvm::vmm
