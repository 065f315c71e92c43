// Boots ktvm's test guest under the real /dev/kvm: console text, COM2
// control lines, exit reasons, SMP bring-up and the freeze kick.
#include "vmm/machine.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "vmm/kvm/kvm_device.h"
#include "vmm/x86_64/layout.h"

namespace ktvm::vmm {
namespace {

constexpr char kBzImage[] = "tests/test_guest/test_guest.bzImage";
constexpr char kPvhElf[] = "tests/test_guest/test_guest.elf";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

MachineConfig TestGuestConfig(const char* image, int cpus,
                              const std::string& cmdline) {
  MachineConfig c;
  c.kernel = ReadFile(image);
  c.num_cpus = cpus;
  c.memory_bytes = 64ULL << 20;
  c.extra_cmdline = cmdline;
  return c;
}

bool HasLine(const std::vector<std::string>& lines, const std::string& prefix) {
  for (const std::string& l : lines) {
    if (absl::StartsWith(l, prefix)) return true;
  }
  return false;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) absl::StrAppend(&s, l, "\n");
  return s;
}

class MachineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kDefaultKvmDevicePath, R_OK | W_OK) != 0) {
      GTEST_SKIP() << "NOT RUN: no accessible /dev/kvm on this host";
    }
  }
};

TEST_F(MachineTest, BootsBzImageOnOneVcpu) {
  absl::StatusOr<std::unique_ptr<Machine>> m =
      Machine::Create(TestGuestConfig(kBzImage, 1, ""));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->boot().entry_kind, x86_64::BootEntry::kBzImage64);
  EXPECT_EQ((*m)->boot().entry, 0x1000200u);
  ASSERT_TRUE((*m)->Start().ok());
  const MachineExit exit = (*m)->Wait(absl::Seconds(60));
  EXPECT_EQ(exit.reason, MachineExit::Reason::kI8042Reset) << exit.detail;
  const std::string console = (*m)->ConsoleTail(1 << 20);
  EXPECT_TRUE(
      absl::StrContains(console, "hello from vCPU 0 via the bzimage entry"))
      << console;
  EXPECT_TRUE(absl::StrContains(console, "console=ttyS0")) << console;
  EXPECT_TRUE(absl::StrContains(console, "1 of 1 vCPUs up")) << console;
  const auto lines = (*m)->ControlLines();
  EXPECT_TRUE(HasLine(lines, "KTVM test-hello entry=bzimage")) << Joined(lines);
  EXPECT_TRUE(HasLine(lines, "KTVM test-smp up=1 expected=1")) << Joined(lines);
  EXPECT_TRUE(HasLine(lines, "KTVM test-done")) << Joined(lines);
  EXPECT_NE((*m)->first_boot_timer_write_ns(), 0);
  EXPECT_GE((*m)->first_console_byte_ns(), (*m)->first_boot_timer_write_ns());
  EXPECT_EQ((*m)->io_stats().unknown_port_reads +
                (*m)->io_stats().unknown_port_writes,
            0u);
}

TEST_F(MachineTest, FourVcpusStartedByTheVmm) {
  MachineConfig c = TestGuestConfig(kBzImage, 4, "ktvm_smp=vmm");
  c.ap_start = x86_64::ApStart::kLongModeAtEntry;
  absl::StatusOr<std::unique_ptr<Machine>> m = Machine::Create(std::move(c));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE((*m)->Start().ok());
  const MachineExit exit = (*m)->Wait(absl::Seconds(60));
  EXPECT_EQ(exit.reason, MachineExit::Reason::kI8042Reset) << exit.detail;
  const std::string console = (*m)->ConsoleTail(1 << 20);
  for (int cpu = 1; cpu < 4; ++cpu) {
    EXPECT_TRUE(absl::StrContains(console, absl::StrCat("vCPU ", cpu, " up")))
        << console;
  }
  EXPECT_TRUE(absl::StrContains(console, "4 of 4 vCPUs up")) << console;
  EXPECT_TRUE(
      HasLine((*m)->ControlLines(), "KTVM test-smp up=4 expected=4 method=vmm"))
      << Joined((*m)->ControlLines());
}

// The guest counts CPUs in the MP table and wakes them with INIT-SIPI-SIPI;
// every AP runs the real-mode trampoline (counted) and switches to long mode
// with its own WRMSR(EFER), which needs the CPUID ktvm set (LM bit).
TEST_F(MachineTest, FourVcpusWokenByInitSipi) {
  absl::StatusOr<std::unique_ptr<Machine>> m =
      Machine::Create(TestGuestConfig(kBzImage, 4, ""));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE((*m)->Start().ok());
  const MachineExit exit = (*m)->Wait(absl::Seconds(60));
  EXPECT_EQ(exit.reason, MachineExit::Reason::kI8042Reset) << exit.detail;
  const auto lines = (*m)->ControlLines();
  EXPECT_TRUE(HasLine(lines, "KTVM test-smp up=")) << Joined(lines);
  EXPECT_TRUE(absl::StrContains(Joined(lines),
                                "expected=4 method=sipi "
                                "sipi_arrived=3"))
      << Joined(lines);
  EXPECT_TRUE(HasLine(lines, "KTVM test-smp up=4 expected=4 method=sipi"))
      << Joined(lines);
}

// Either side of the xAPIC limit: 254 vCPUs keep the full in-kernel
// irqchip and the MP table; 255 switch to x2APIC (split irqchip, ktvm's
// IOAPIC, no MP table). The guest reports every APIC id that checked in.
TEST_F(MachineTest, XapicLimitBoundary) {
  for (const int cpus : {x86_64::kMaxXapicVcpus, x86_64::kMaxXapicVcpus + 1}) {
    absl::StatusOr<std::unique_ptr<Machine>> m =
        Machine::Create(TestGuestConfig(kBzImage, cpus, ""));
    ASSERT_TRUE(m.ok()) << m.status();
    const bool x2apic = cpus > x86_64::kMaxXapicVcpus;
    EXPECT_EQ((*m)->split_irqchip(), x2apic);
    ASSERT_TRUE((*m)->Start().ok());
    const MachineExit exit = (*m)->Wait(absl::Seconds(120));
    EXPECT_EQ(exit.reason, MachineExit::Reason::kI8042Reset) << exit.detail;
    const auto lines = (*m)->ControlLines();
    EXPECT_TRUE(HasLine(
        lines, absl::StrCat("KTVM test-smp up=", cpus, " expected=", cpus)))
        << Joined(lines);
    EXPECT_TRUE(HasLine(
        lines, absl::StrCat("KTVM test-apic x2apic=", x2apic ? 1 : 0,
                            " madt_cpus=", cpus, " mp_cpus=", x2apic ? 0 : cpus,
                            " seen=", cpus, " max_id=", cpus - 1)))
        << Joined(lines);
  }
}

// COM2's IRQ 3 reaches a guest interrupt handler through the IOAPIC: KVM's
// in-kernel one (1 vCPU) and ktvm's with the split irqchip (255 vCPUs,
// x2APIC). The guest programs the redirection entry, enables the UART's
// THR-empty interrupt, takes it on vector 0x33 and EOIs its LAPIC.
TEST_F(MachineTest, UartInterruptReachesTheGuest) {
  for (const int cpus : {1, x86_64::kMaxXapicVcpus + 1}) {
    absl::StatusOr<std::unique_ptr<Machine>> m =
        Machine::Create(TestGuestConfig(kBzImage, cpus, "ktvm_test=irq"));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ((*m)->split_irqchip(), cpus > x86_64::kMaxXapicVcpus);
    ASSERT_TRUE((*m)->Start().ok());
    const MachineExit exit = (*m)->Wait(absl::Seconds(120));
    EXPECT_EQ(exit.reason, MachineExit::Reason::kI8042Reset) << exit.detail;
    const auto lines = (*m)->ControlLines();
    EXPECT_TRUE(HasLine(lines, "KTVM test-irq count=1 vector=0x33 apic_id=0"))
        << cpus << " vCPUs:\n"
        << Joined(lines);
    EXPECT_TRUE(HasLine(lines, "KTVM test-done")) << Joined(lines);
    EXPECT_EQ((*m)->io_stats().msi_errors, 0u);
  }
}

// The largest topology this KVM allows (1024 on this machine's kvm_pvm),
// capped at the test guest's 1024 CPUs, started both ways: INIT-SIPI from
// the boot CPU through the x2APIC ICR, and by ktvm. Every x2APIC id
// 0..N-1 must check in.
class LargestTopologyTest
    : public MachineTest,
      public ::testing::WithParamInterface<x86_64::ApStart> {};

TEST_P(LargestTopologyTest, EveryVcpuReachesTheGuest) {
  absl::StatusOr<KvmDevice> kvm = KvmDevice::Open(kDefaultKvmDevicePath);
  ASSERT_TRUE(kvm.ok()) << kvm.status();
  const x86_64::VcpuLimit limit = Machine::CpuLimit(*kvm);
  if (limit.max_vcpus <= x86_64::kMaxXapicVcpus) {
    GTEST_SKIP() << "NOT RUN: this KVM allows only " << limit.max_vcpus
                 << " vCPUs (" << limit.factors << ")";
  }
  constexpr int kTestGuestMaxCpus = 1024;
  const int cpus = std::min(limit.max_vcpus, kTestGuestMaxCpus);
  const bool vmm_start = GetParam() == x86_64::ApStart::kLongModeAtEntry;
  MachineConfig c =
      TestGuestConfig(kBzImage, cpus, vmm_start ? "ktvm_smp=vmm" : "");
  c.ap_start = GetParam();
  const absl::Time t0 = absl::Now();
  absl::StatusOr<std::unique_ptr<Machine>> m = Machine::Create(std::move(c));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE((*m)->split_irqchip());
  ASSERT_TRUE((*m)->Start().ok());
  const MachineExit exit = (*m)->Wait(absl::Seconds(180));
  std::printf("%d vCPUs (%s start, limit %d: %s): created and run in %s\n",
              cpus, vmm_start ? "vmm" : "sipi", limit.max_vcpus,
              limit.factors.c_str(),
              absl::FormatDuration(absl::Now() - t0).c_str());
  EXPECT_EQ(exit.reason, MachineExit::Reason::kI8042Reset) << exit.detail;
  const auto lines = (*m)->ControlLines();
  EXPECT_TRUE(
      HasLine(lines, absl::StrCat("KTVM test-smp up=", cpus, " expected=", cpus,
                                  " method=", vmm_start ? "vmm" : "sipi")))
      << Joined(lines);
  if (!vmm_start) {
    EXPECT_TRUE(absl::StrContains(Joined(lines),
                                  absl::StrCat(" sipi_arrived=", cpus - 1)))
        << Joined(lines);
  }
  EXPECT_TRUE(HasLine(
      lines, absl::StrCat("KTVM test-apic x2apic=1 madt_cpus=", cpus,
                          " mp_cpus=0 seen=", cpus, " max_id=", cpus - 1)))
      << Joined(lines);
  EXPECT_TRUE(HasLine(lines, "KTVM test-done")) << Joined(lines);
}

INSTANTIATE_TEST_SUITE_P(ApStart, LargestTopologyTest,
                         ::testing::Values(x86_64::ApStart::kSipi,
                                           x86_64::ApStart::kLongModeAtEntry));

TEST_F(MachineTest, TripleFaultEndsTheGuest) {
  absl::StatusOr<std::unique_ptr<Machine>> m =
      Machine::Create(TestGuestConfig(kBzImage, 1, "ktvm_test=triple_fault"));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE((*m)->Start().ok());
  const MachineExit exit = (*m)->Wait(absl::Seconds(60));
  EXPECT_EQ(exit.reason, MachineExit::Reason::kTripleFault) << exit.detail;
  EXPECT_EQ(exit.vcpu, 0);
  EXPECT_TRUE(
      HasLine((*m)->ControlLines(), "KTVM test-action action=triple_fault"));
  EXPECT_FALSE(HasLine((*m)->ControlLines(), "KTVM test-done"));
}

TEST_F(MachineTest, I8042ResetEndsTheGuest) {
  absl::StatusOr<std::unique_ptr<Machine>> m =
      Machine::Create(TestGuestConfig(kBzImage, 1, "ktvm_test=i8042_reset"));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE((*m)->Start().ok());
  const MachineExit exit = (*m)->Wait(absl::Seconds(60));
  EXPECT_EQ(exit.reason, MachineExit::Reason::kI8042Reset) << exit.detail;
  EXPECT_TRUE(
      HasLine((*m)->ControlLines(), "KTVM test-action action=i8042_reset"));
  EXPECT_FALSE(HasLine((*m)->ControlLines(), "KTVM test-done"));
}

TEST_F(MachineTest, PvhEntryGetsStartInfo) {
  absl::StatusOr<std::unique_ptr<Machine>> m =
      Machine::Create(TestGuestConfig(kPvhElf, 1, ""));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->boot().entry_kind, x86_64::BootEntry::kPvh32);
  ASSERT_TRUE((*m)->Start().ok());
  const MachineExit exit = (*m)->Wait(absl::Seconds(60));
  const auto lines = (*m)->ControlLines();
  // Written in 32-bit protected mode after checking the start-info magic.
  EXPECT_TRUE(HasLine(lines, "KTVM test-pvh-entry start_info=ok"))
      << Joined(lines);
  EXPECT_NE((*m)->first_boot_timer_write_ns(), 0);
  // Then its own switch to long mode (WRMSR EFER) and the usual run.
  EXPECT_EQ(exit.reason, MachineExit::Reason::kI8042Reset) << exit.detail;
  EXPECT_TRUE(HasLine(lines, "KTVM test-hello entry=pvh")) << Joined(lines);
  EXPECT_TRUE(HasLine(lines, "KTVM test-done")) << Joined(lines);
}

TEST_F(MachineTest, FreezeParksEverySpinningVcpu) {
  MachineConfig c = TestGuestConfig(kBzImage, 4, "ktvm_smp=vmm ktvm_test=spin");
  c.ap_start = x86_64::ApStart::kLongModeAtEntry;
  absl::StatusOr<std::unique_ptr<Machine>> m = Machine::Create(std::move(c));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE((*m)->Start().ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!HasLine((*m)->ControlLines(), "KTVM test-action action=spin") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(HasLine((*m)->ControlLines(), "KTVM test-action action=spin"));
  absl::SleepFor(absl::Milliseconds(50));

  const absl::Time t0 = absl::Now();
  std::vector<VcpuSnapshot> snaps = (*m)->Freeze(absl::Seconds(5));
  const absl::Duration freeze = absl::Now() - t0;
  std::printf("froze 4 spinning vCPUs in %s\n",
              absl::FormatDuration(freeze).c_str());
  ASSERT_EQ(snaps.size(), 4u);
  for (const VcpuSnapshot& s : snaps) {
    EXPECT_TRUE(s.parked) << "vCPU " << s.vcpu << ": " << s.error;
    // Spinning inside the guest image (linked at 16 MiB).
    EXPECT_GE(s.regs.rip, 0x1000000u) << "vCPU " << s.vcpu;
    EXPECT_LT(s.regs.rip, 0x1100000u) << "vCPU " << s.vcpu;
    EXPECT_EQ(s.sregs.cr3, 0x9000u);
  }
  // Frozen: the per-CPU counters in guest RAM stand still.
  uint64_t counters_addr = 0;
  for (const std::string& l : (*m)->ControlLines()) {
    const size_t at = l.find("counters=0x");
    if (at != std::string::npos) {
      counters_addr = std::stoull(l.substr(at + 11), nullptr, 16);
    }
  }
  ASSERT_NE(counters_addr, 0u);
  auto read_counters = [&] {
    std::vector<uint64_t> v(4);
    EXPECT_TRUE((*m)->ram()
                    .Read(counters_addr,
                          absl::MakeSpan(reinterpret_cast<uint8_t*>(v.data()),
                                         v.size() * 8))
                    .ok());
    return v;
  };
  const std::vector<uint64_t> frozen = read_counters();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(read_counters(), frozen);
  ASSERT_TRUE((*m)->Resume().ok());
  absl::SleepFor(absl::Milliseconds(300));
  const std::vector<uint64_t> resumed = read_counters();
  for (int cpu = 0; cpu < 4; ++cpu) {
    EXPECT_GT(resumed[cpu], frozen[cpu]) << "vCPU " << cpu << " runs again";
  }
  (*m)->Stop();
  EXPECT_EQ((*m)->Wait(absl::Seconds(5)).reason, MachineExit::Reason::kStopped);
}

TEST_F(MachineTest, RejectsBadConfigurations) {
  MachineConfig zero = TestGuestConfig(kBzImage, 0, "");
  EXPECT_EQ(Machine::Create(std::move(zero)).status().code(),
            absl::StatusCode::kInvalidArgument);
  MachineConfig many = TestGuestConfig(kBzImage, 10000, "");
  absl::Status s = Machine::Create(std::move(many)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "exceeds the limit")) << s;
  MachineConfig small = TestGuestConfig(kBzImage, 1, "");
  small.memory_bytes = 16ULL << 20;
  EXPECT_EQ(Machine::Create(std::move(small)).status().code(),
            absl::StatusCode::kInvalidArgument);
  MachineConfig missing_kvm = TestGuestConfig(kBzImage, 1, "");
  missing_kvm.kvm_device_path = "/nonexistent/kvm";
  EXPECT_EQ(Machine::Create(std::move(missing_kvm)).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ktvm::vmm
