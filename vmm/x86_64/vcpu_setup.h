// Per-vCPU architectural state before the first KVM_RUN: CPUID for the
// topology, boot MSRs, FPU, x2APIC mode when ids exceed 254, the LAPIC LINT
// pins, and for the CPUs
// that start executing (the boot CPU, or all with VMM-started APs) the
// registers of the kernel's entry point.
#ifndef KTVM_VMM_X86_64_VCPU_SETUP_H_
#define KTVM_VMM_X86_64_VCPU_SETUP_H_

#include <linux/kvm.h>

#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/x86_64/kernel_loader.h"

namespace ktvm::vmm::x86_64 {

// How application processors start. kSipi: they wait in KVM's INIT state for
// the guest's INIT-SIPI-SIPI (what real firmware does; Linux needs this).
// kLongModeAtEntry: ktvm starts them at the kernel entry like the boot CPU
// (for small test guests that have no real-mode trampoline).
enum class ApStart { kSipi, kLongModeAtEntry };

absl::Status ConfigureVcpu(Vcpu& vcpu, int num_cpus,
                           absl::Span<const kvm_cpuid_entry2> supported_cpuid,
                           const KernelBoot& boot, ApStart ap_start);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_VCPU_SETUP_H_
