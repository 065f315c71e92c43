// Initial register state of a vCPU entering a kernel: long mode for the
// bzImage 64-bit entry, flat 32-bit protected mode for the PVH entry; the
// FPU's power-on control words; the boot CPU's LAPIC LINT pins.
#ifndef KTVM_VMM_X86_64_REGS_H_
#define KTVM_VMM_X86_64_REGS_H_

#include <linux/kvm.h>

#include <cstdint>

namespace ktvm::vmm::x86_64 {

// Control registers and segments for 64-bit mode on ktvm's GDT and page
// tables. Fields other than those set keep `base`'s values (from
// KVM_GET_SREGS, e.g. the APIC base).
kvm_sregs LongModeSregs(const kvm_sregs& base);
// Paging off, protection on, flat 32-bit segments (PVH boot ABI).
kvm_sregs ProtectedMode32Sregs(const kvm_sregs& base);

// Linux 64-bit boot protocol: RIP at the entry, RSI = boot_params.
kvm_regs BzImageEntryRegs(uint64_t entry, uint64_t boot_params_addr);
// PVH: EIP at the entry, EBX = hvm_start_info.
kvm_regs PvhEntryRegs(uint64_t entry, uint64_t start_info_addr);

// x87 control word 0x37f and MXCSR 0x1f80, as after FNINIT/reset.
kvm_fpu DefaultFpu();

// LINT0 as ExtINT (the legacy PIC) and LINT1 as NMI, as firmware leaves the
// boot CPU; Linux expects this virtual-wire setup.
kvm_lapic_state WithVirtualWireLint(const kvm_lapic_state& lapic);

// LAPIC register offsets inside kvm_lapic_state.regs.
inline constexpr int kApicLvt0 = 0x350;
inline constexpr int kApicLvt1 = 0x360;
inline constexpr uint32_t kApicDeliveryExtInt = 7;
inline constexpr uint32_t kApicDeliveryNmi = 4;

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_REGS_H_
