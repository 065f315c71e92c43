// Per-vCPU CPUID: KVM_GET_SUPPORTED_CPUID adjusted so the guest sees ktvm's
// topology (one package, N cores of one thread each) and its own APIC id.
#ifndef KTVM_VMM_X86_64_CPUID_H_
#define KTVM_VMM_X86_64_CPUID_H_

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace ktvm::vmm::x86_64 {

struct CpuTopology {
  uint32_t apic_id;  // == vCPU index
  uint32_t num_cpus;
  // The guest starts in x2APIC mode (ids above 254): leaf 0x1 must then
  // advertise x2APIC and leaf 0xB must exist, since it is the only place
  // the guest finds its full 32-bit id.
  bool x2apic = false;
};

// Leaf 0x1: initial APIC id (its low 8 bits), logical count (saturated at
// 255), HTT and the hypervisor bit, x2APIC when asked; leaf 0x4: cores per
// package and cache sharing (saturated to their 6/12-bit fields); leaves 0xB
// and 0x1F: SMT and core levels with the x2APIC id (0xB is added when KVM
// did not list it and the topology is x2APIC).
std::vector<kvm_cpuid_entry2> PatchCpuid(
    absl::Span<const kvm_cpuid_entry2> supported, const CpuTopology& topo);

// Bits needed to number `n` cores (the x2APIC-id shift of the core level).
uint32_t CoreIdBits(uint32_t n);

// Finds leaf/subleaf; nullptr when absent.
const kvm_cpuid_entry2* FindCpuid(absl::Span<const kvm_cpuid_entry2> entries,
                                  uint32_t function, uint32_t index);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_CPUID_H_
