// The host's own CPUID leaves as kvm_cpuid_entry2 records: real-world input
// for the CPUID patching tests, independent of what KVM offers.
#ifndef KTVM_VMM_X86_64_HOST_CPUID_H_
#define KTVM_VMM_X86_64_HOST_CPUID_H_

#include <linux/kvm.h>

#include <vector>

namespace ktvm::vmm::x86_64 {

// Basic and extended leaves up to the host's maxima; indexed leaves (4, 7,
// 0xb, 0xd, 0x1f) enumerated by subleaf. Virtualisation extensions
// (VMX, SVM) are hidden: KVM does not offer nested virtualisation here.
std::vector<kvm_cpuid_entry2> HostCpuidEntries();

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_HOST_CPUID_H_
