// The boot GDT: flat code and data segments at the selectors the Linux boot
// protocol names, plus a TSS descriptor because VMX refuses to enter a guest
// whose TR is unusable.
#ifndef KTVM_VMM_X86_64_GDT_H_
#define KTVM_VMM_X86_64_GDT_H_

#include <linux/kvm.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace ktvm::vmm::x86_64 {

// Encodes a segment descriptor. `flags` packs access byte (bits 0-7) and the
// G/D/L/AVL nibble (bits 12-15), as in the Intel SDM figure 3-8.
uint64_t GdtEntry(uint16_t flags, uint32_t base, uint32_t limit);

// The same descriptor as KVM wants it in kvm_sregs.
kvm_segment SegmentFromGdtEntry(uint64_t entry, uint16_t selector);

// null, null, 64-bit code (0x10), data (0x18), TSS (0x20).
inline constexpr size_t kBootGdtEntries = 5;
std::array<uint64_t, kBootGdtEntries> BootGdt64();
// As BootGdt64 but the code segment is 32-bit (PVH entry runs in
// 32-bit protected mode).
std::array<uint64_t, kBootGdtEntries> BootGdt32();

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_GDT_H_
