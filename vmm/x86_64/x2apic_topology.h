// When ktvm's topology needs x2APIC, and how many vCPUs a host allows.
//
// APIC ids are the vCPU indices. Up to kMaxXapicVcpus everything is xAPIC:
// in-kernel PIC, IOAPIC and PIT, MADT type-0 entries and an MP table. Above
// that the guest needs 32-bit APIC ids, which KVM provides only with a split
// irqchip (LAPICs in the kernel, IOAPIC in ktvm) plus KVM_CAP_X2APIC_API, and
// the firmware must hand over in x2APIC mode with MADT type-9 entries.
#ifndef KTVM_VMM_X86_64_X2APIC_TOPOLOGY_H_
#define KTVM_VMM_X86_64_X2APIC_TOPOLOGY_H_

#include <string>

namespace ktvm::vmm::x86_64 {

// What /dev/kvm reports (KVM_CHECK_EXTENSION).
struct KvmVcpuCaps {
  int max_vcpus = 0;    // KVM_CAP_MAX_VCPUS
  int max_vcpu_id = 0;  // KVM_CAP_MAX_VCPU_ID (ids are < this)
  bool split_irqchip = false;
  bool x2apic_api = false;  // KVM_CAP_X2APIC_API with 32-bit ids
};

struct VcpuLimit {
  int max_vcpus = 0;
  // The factors, for the error message: "KVM_CAP_MAX_VCPUS 1024, ...".
  std::string factors;
};

// min(KVM_CAP_MAX_VCPUS, KVM_CAP_MAX_VCPU_ID, the CPUs ktvm's ACPI area
// holds) when KVM can do x2APIC; otherwise also at most kMaxXapicVcpus.
VcpuLimit MaxVcpus(const KvmVcpuCaps& caps);

// True when `num_cpus` needs x2APIC: split irqchip, KVM_CAP_X2APIC_API,
// vCPUs started in x2APIC mode, MADT x2APIC entries, no MP table.
bool NeedsX2apic(int num_cpus);

// The IOAPIC's id in the MADT, the MP table and its ID register. In xAPIC
// topologies it follows the CPUs (the MP spec shares one id space); with
// x2APIC the IOAPIC id space is separate and 8 bits wide.
int IoapicId(int num_cpus);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_X2APIC_TOPOLOGY_H_
