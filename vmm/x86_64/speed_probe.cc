#include "vmm/x86_64/speed_probe.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "vmm/kvm/guest_ram.h"
#include "vmm/kvm/kvm_device.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/kvm/vm.h"
#include "vmm/x86_64/gdt.h"
#include "vmm/x86_64/layout.h"
#include "vmm/x86_64/page_tables.h"
#include "vmm/x86_64/regs.h"

namespace ktvm::vmm::x86_64 {
namespace {

constexpr uint64_t kProbeRamBytes = 1 << 20;
constexpr uint64_t kProbeCodeAddr = 0x1000;
constexpr uint64_t kInstructionsPerIteration = 3;

// mov ecx, N; 1: nop; dec ecx; jnz 1b; hlt
std::vector<uint8_t> ProbeCode(uint32_t iterations) {
  std::vector<uint8_t> code = {0xb9};
  for (int i = 0; i < 4; ++i) code.push_back((iterations >> (8 * i)) & 0xff);
  const uint8_t loop[] = {0x90, 0xff, 0xc9, 0x75, 0xfb, 0xf4};
  code.insert(code.end(), loop, loop + sizeof(loop));
  return code;
}

}  // namespace

absl::StatusOr<SpeedProbe> ProbeKvmSpeed(const std::string& kvm_device_path,
                                         uint32_t loop_iterations) {
  absl::StatusOr<KvmDevice> kvm = KvmDevice::Open(kvm_device_path);
  if (!kvm.ok()) return kvm.status();
  absl::StatusOr<Vm> vm = Vm::Create(*kvm);
  if (!vm.ok()) return vm.status();
  absl::StatusOr<GuestRam> ram =
      GuestRam::Create(kProbeRamBytes, kMmioHoleStart, kMmioHoleEnd);
  if (!ram.ok()) return ram.status();
  if (absl::Status s =
          vm->SetTssAndIdentityMap(kKvmTssAddr, kKvmIdentityMapAddr);
      !s.ok()) {
    return s;
  }
  const RamRegion& r = ram->regions()[0];
  if (absl::Status s = vm->SetUserMemoryRegion(0, r.gpa, r.size, r.host);
      !s.ok()) {
    return s;
  }
  const auto gdt = BootGdt64();
  if (absl::Status s = ram->Write(
          kGdtAddr,
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(gdt.data()),
                              sizeof(gdt)));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ram->Write(kPml4Addr, BuildIdentityPageTables());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ram->Write(kProbeCodeAddr, ProbeCode(loop_iterations));
      !s.ok()) {
    return s;
  }
  // No in-kernel irqchip: HLT then exits to us, ending the probe.
  absl::StatusOr<Vcpu> vcpu = Vcpu::Create(*kvm, *vm, 0);
  if (!vcpu.ok()) return vcpu.status();
  absl::StatusOr<kvm_sregs> sregs = vcpu->GetSregs();
  if (!sregs.ok()) return sregs.status();
  if (absl::Status s = vcpu->SetSregs(LongModeSregs(*sregs)); !s.ok()) {
    return s;
  }
  if (absl::Status s = vcpu->SetRegs(BzImageEntryRegs(kProbeCodeAddr, 0));
      !s.ok()) {
    return s;
  }
  const absl::Time start = absl::Now();
  // A handful of exits is allowed (e.g. a spurious interrupt window).
  for (int exits = 0; exits < 16; ++exits) {
    absl::Status s = vcpu->Run();
    if (absl::IsCancelled(s)) continue;
    if (!s.ok()) return s;
    const uint32_t reason = vcpu->run()->exit_reason;
    if (reason == KVM_EXIT_HLT) {
      SpeedProbe probe{};
      probe.elapsed = absl::Now() - start;
      probe.instructions =
          uint64_t{loop_iterations} * kInstructionsPerIteration + 2;
      probe.instructions_per_second =
          probe.instructions /
          std::max(1e-9, absl::ToDoubleSeconds(probe.elapsed));
      probe.pvm_module_loaded = KvmDevice::IsPvmHost();
      probe.native = probe.instructions_per_second >= kNativeThreshold;
      return probe;
    }
    if (reason != KVM_EXIT_INTR) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "KVM calibration guest stopped with exit reason %u instead of HLT",
          reason));
    }
  }
  return absl::FailedPreconditionError(
      "KVM calibration guest did not reach its HLT");
}

std::string DescribeSpeedProbe(const SpeedProbe& probe) {
  return absl::StrFormat(
      "KVM ran the %d-instruction calibration loop in %s: %.3g "
      "instructions/s (%s)%s",
      probe.instructions, absl::FormatDuration(probe.elapsed),
      probe.instructions_per_second,
      probe.native ? "hardware virtualisation"
                   : "emulation only, far too slow for a Linux kernel",
      probe.pvm_module_loaded ? "; /dev/kvm is served by kvm_pvm" : "");
}

}  // namespace ktvm::vmm::x86_64
