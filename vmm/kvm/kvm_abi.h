// Ioctl numbers of the KVM calls whose argument ends in a flexible array.
//
// linux-libc-dev (6.1, Debian bookworm) declares those arrays with
// __DECLARE_FLEX_ARRAY, which wraps them in a struct holding an empty struct.
// An empty struct has size 0 in C but 1 in C++, so under C++ sizeof(kvm_cpuid2)
// is 12 instead of 8, and _IOW(KVMIO, 0x90, struct kvm_cpuid2) encodes the
// wrong size: the kernel does not know that number and answers EINVAL (this
// looked like "kvm_pvm refuses KVM_SET_CPUID2"; every KVM refuses it). Newer
// headers special-case C++; these constants use the C layout on either.
#ifndef KTVM_VMM_KVM_KVM_ABI_H_
#define KTVM_VMM_KVM_KVM_ABI_H_

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>

namespace ktvm::vmm::kvm_abi {

// The fixed part of kvm_cpuid2 / kvm_msrs / kvm_irq_routing as the kernel
// (C) lays it out; the array of entries follows directly.
struct ListHeader {
  uint32_t count;
  uint32_t padding;
};
static_assert(sizeof(ListHeader) == 8);
// kvm_msr_list: a count and a u32 array, no padding.
struct MsrListHeader {
  uint32_t count;
};
static_assert(sizeof(MsrListHeader) == 4);

inline constexpr unsigned long kGetSupportedCpuid =
    _IOWR(KVMIO, 0x05, ListHeader);
inline constexpr unsigned long kGetMsrIndexList =
    _IOWR(KVMIO, 0x02, MsrListHeader);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, ListHeader);
inline constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, ListHeader);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, ListHeader);
inline constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, ListHeader);

// Where the entries start in a buffer that begins with a ListHeader; the
// C++ view of the structs would put them 4 or 8 bytes too far.
inline constexpr size_t kEntriesOffset = sizeof(ListHeader);

}  // namespace ktvm::vmm::kvm_abi

#endif  // KTVM_VMM_KVM_KVM_ABI_H_
