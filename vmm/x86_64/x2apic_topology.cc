#include "vmm/x86_64/x2apic_topology.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "vmm/x86_64/layout.h"

namespace ktvm::vmm::x86_64 {

VcpuLimit MaxVcpus(const KvmVcpuCaps& caps) {
  VcpuLimit out;
  out.max_vcpus = std::max(caps.max_vcpus, 1);
  out.factors = absl::StrFormat("KVM_CAP_MAX_VCPUS %d", caps.max_vcpus);
  if (caps.split_irqchip && caps.x2apic_api) {
    // A KVM without KVM_CAP_MAX_VCPU_ID allows ids up to KVM_CAP_MAX_VCPUS.
    if (caps.max_vcpu_id > 0) {
      out.max_vcpus = std::min(out.max_vcpus, caps.max_vcpu_id);
      absl::StrAppendFormat(&out.factors, ", KVM_CAP_MAX_VCPU_ID %d",
                            caps.max_vcpu_id);
    }
    out.max_vcpus = std::min(out.max_vcpus, kMaxAcpiCpus);
    absl::StrAppendFormat(&out.factors, ", ktvm's ACPI tables %d",
                          kMaxAcpiCpus);
  } else {
    out.max_vcpus = std::min(out.max_vcpus, kMaxXapicVcpus);
    absl::StrAppendFormat(
        &out.factors, ", xAPIC ids only (%d): KVM lacks %s", kMaxXapicVcpus,
        !caps.split_irqchip ? "KVM_CAP_SPLIT_IRQCHIP" : "KVM_CAP_X2APIC_API");
  }
  return out;
}

bool NeedsX2apic(int num_cpus) { return num_cpus > kMaxXapicVcpus; }

int IoapicId(int num_cpus) { return NeedsX2apic(num_cpus) ? 0 : num_cpus; }

}  // namespace ktvm::vmm::x86_64
