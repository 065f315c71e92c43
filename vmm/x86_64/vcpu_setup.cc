#include "vmm/x86_64/vcpu_setup.h"

#include "vmm/x86_64/cpuid.h"
#include "vmm/x86_64/msrs.h"
#include "vmm/x86_64/regs.h"
#include "vmm/x86_64/x2apic_topology.h"

namespace ktvm::vmm::x86_64 {
namespace {

// IA32_APIC_BASE bits.
constexpr uint64_t kApicBaseX2apicEnable = 1ULL << 10;
constexpr uint64_t kApicBaseEnable = 1ULL << 11;

}  // namespace

absl::Status ConfigureVcpu(Vcpu& vcpu, int num_cpus,
                           absl::Span<const kvm_cpuid_entry2> supported_cpuid,
                           const KernelBoot& boot, ApStart ap_start) {
  const bool is_boot_cpu = vcpu.index() == 0;
  const bool x2apic = NeedsX2apic(num_cpus);
  const std::vector<kvm_cpuid_entry2> cpuid = PatchCpuid(
      supported_cpuid, CpuTopology{static_cast<uint32_t>(vcpu.index()),
                                   static_cast<uint32_t>(num_cpus), x2apic});
  if (absl::Status s = vcpu.SetCpuid(cpuid); !s.ok()) return s;
  if (absl::Status s = vcpu.SetMsrs(BootMsrs()); !s.ok()) return s;
  if (absl::Status s = vcpu.SetFpu(DefaultFpu()); !s.ok()) return s;
  if (x2apic) {
    // Firmware must hand over in x2APIC mode when APIC ids exceed 254
    // (Intel SDM 10.12.5.1; Linux keeps a pre-enabled x2APIC): an xAPIC
    // LAPIC cannot even show such an id. KVM accepts the mode only after
    // the CPUID above advertises x2APIC.
    absl::StatusOr<kvm_sregs> sregs = vcpu.GetSregs();
    if (!sregs.ok()) return sregs.status();
    sregs->apic_base |= kApicBaseEnable | kApicBaseX2apicEnable;
    if (absl::Status s = vcpu.SetSregs(*sregs); !s.ok()) return s;
  }
  absl::StatusOr<kvm_lapic_state> lapic = vcpu.GetLapic();
  if (!lapic.ok()) return lapic.status();
  if (absl::Status s = vcpu.SetLapic(WithVirtualWireLint(*lapic)); !s.ok()) {
    return s;
  }
  if (!is_boot_cpu && ap_start == ApStart::kSipi) {
    // Wait for INIT-SIPI. KVM already starts an AP with an in-kernel LAPIC
    // this way; saying it explicitly keeps the boot independent of that.
    return vcpu.SetMpState(kvm_mp_state{KVM_MP_STATE_UNINITIALIZED});
  }

  absl::StatusOr<kvm_sregs> sregs = vcpu.GetSregs();
  if (!sregs.ok()) return sregs.status();
  const bool pvh = boot.entry_kind == BootEntry::kPvh32;
  if (absl::Status s = vcpu.SetSregs(pvh ? ProtectedMode32Sregs(*sregs)
                                         : LongModeSregs(*sregs));
      !s.ok()) {
    return s;
  }
  const kvm_regs regs = pvh ? PvhEntryRegs(boot.entry, boot.boot_info)
                            : BzImageEntryRegs(boot.entry, boot.boot_info);
  if (absl::Status s = vcpu.SetRegs(regs); !s.ok()) return s;
  if (!is_boot_cpu) {
    kvm_mp_state runnable{KVM_MP_STATE_RUNNABLE};
    if (absl::Status s = vcpu.SetMpState(runnable); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace ktvm::vmm::x86_64
