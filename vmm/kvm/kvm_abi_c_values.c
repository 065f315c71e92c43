/* The KVM ioctl numbers as a C compiler computes them from linux/kvm.h:
 * the reference kvm_abi.h must match (kvm_abi_test). */
#include <linux/kvm.h>

const unsigned long ktvm_c_kvm_get_supported_cpuid = KVM_GET_SUPPORTED_CPUID;
const unsigned long ktvm_c_kvm_get_msr_index_list = KVM_GET_MSR_INDEX_LIST;
const unsigned long ktvm_c_kvm_set_cpuid2 = KVM_SET_CPUID2;
const unsigned long ktvm_c_kvm_get_msrs = KVM_GET_MSRS;
const unsigned long ktvm_c_kvm_set_msrs = KVM_SET_MSRS;
const unsigned long ktvm_c_kvm_set_gsi_routing = KVM_SET_GSI_ROUTING;
const unsigned long ktvm_c_cpuid2_entries_offset =
    __builtin_offsetof(struct kvm_cpuid2, entries);
const unsigned long ktvm_c_msrs_entries_offset =
    __builtin_offsetof(struct kvm_msrs, entries);
const unsigned long ktvm_c_routing_entries_offset =
    __builtin_offsetof(struct kvm_irq_routing, entries);
