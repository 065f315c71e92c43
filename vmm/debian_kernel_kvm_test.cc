// Boots the Debian kernel tools/setup.sh fetched under KVM until the ktvm
// guest init reports in over COM2. Runs only where KVM executes guests at
// hardware speed; elsewhere (kvm_pvm, which only emulates) it says plainly
// that it did not run and why.
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "vmm/guest/initramfs.h"
#include "vmm/machine.h"
#include "vmm/x86_64/speed_probe.h"

namespace ktvm::vmm {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DebianKernelKvmTest, BootsToTheGuestInit) {
  absl::StatusOr<x86_64::SpeedProbe> probe =
      x86_64::ProbeKvmSpeed(kDefaultKvmDevicePath);
  if (!probe.ok()) {
    std::printf("NOT RUN: no usable KVM here (%s)\n",
                std::string(probe.status().message()).c_str());
    GTEST_SKIP() << "no usable KVM";
  }
  if (!probe->native) {
    std::printf(
        "NOT RUN: %s. A stock Linux kernel cannot boot at this speed (ktvm "
        "--accel=kvm ran it 30 s without a console byte: still "
        "decompressing), so this test only runs on hosts with VMX/SVM. The "
        "same kernel boots under QEMU TCG in //vmm:ktvm_cli_test.\n",
        x86_64::DescribeSpeedProbe(*probe).c_str());
    return;
  }
  guest::InitramfsSpec spec;
  spec.init_path = "vmm/guest/init";
  spec.run_command = "true";
  absl::StatusOr<std::string> initramfs = guest::BuildInitramfs(spec);
  ASSERT_TRUE(initramfs.ok()) << initramfs.status();

  MachineConfig config;
  config.kernel = ReadFile("external/kernel/bzImage");
  config.initramfs = std::move(*initramfs);
  config.num_cpus = 2;
  config.memory_bytes = 512ULL << 20;
  absl::StatusOr<std::unique_ptr<Machine>> m =
      Machine::Create(std::move(config));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE((*m)->Start().ok());
  const MachineExit exit = (*m)->Wait(absl::Minutes(3));
  const std::string console = (*m)->ConsoleTail(1 << 20);
  bool init_started = false, workload_ok = false;
  for (const std::string& line : (*m)->ControlLines()) {
    init_started |= absl::StartsWith(line, "KTVM init-started");
    workload_ok |= absl::StartsWith(line, "KTVM workload-exit status=0");
  }
  EXPECT_TRUE(init_started) << console;
  EXPECT_TRUE(workload_ok) << console;
  EXPECT_TRUE(exit.reason == MachineExit::Reason::kI8042Reset ||
              exit.reason == MachineExit::Reason::kPoweroff ||
              exit.reason == MachineExit::Reason::kReset)
      << MachineExitReasonName(exit.reason) << ": " << exit.detail;
}

}  // namespace
}  // namespace ktvm::vmm
