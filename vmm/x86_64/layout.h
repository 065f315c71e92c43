// Every fixed guest-physical address ktvm uses on x86_64, in one place.
//
//   0x0000_0500  GDT (boot)            0x0000_9000  PML4
//   0x0000_0520  IDT (empty)           0x0000_a000  PDPT
//   0x0000_6000  PVH hvm_start_info    0x0000_b000  4 page directories (4 GiB)
//   0x0000_6040  PVH memory map        0x0002_0000  kernel command line
//   0x0000_7000  boot_params (zero page)
//   0x0009_fc00  EBDA (reserved, empty)
//   0x000e_0000  ACPI tables, RSDP first (BIOS area scanned by Linux)
//   0x000f_0000  MP floating pointer + MP table (BIOS ROM area, scanned)
//   0x0010_0000  1 MiB: RAM from here
//   0x0100_0000  16 MiB: kernel load address (bzImage protected-mode part)
//   0xc000_0000  3 GiB: start of the 32-bit MMIO hole (no RAM until 4 GiB)
//   0xfec0_0000  IOAPIC, 0xfee0_0000 LAPIC; 0xfffb_c000 KVM identity map
//   0xfffb_d000  KVM TSS (3 pages)
//   0x1_0000_0000  RAM above the hole
#ifndef KTVM_VMM_X86_64_LAYOUT_H_
#define KTVM_VMM_X86_64_LAYOUT_H_

#include <cstdint>

namespace ktvm::vmm::x86_64 {

inline constexpr uint64_t kPageSize = 0x1000;

inline constexpr uint64_t kGdtAddr = 0x500;
inline constexpr uint64_t kIdtAddr = 0x520;
inline constexpr uint64_t kPvhStartInfoAddr = 0x6000;
inline constexpr uint64_t kPvhMemmapAddr = 0x6040;
inline constexpr uint64_t kPvhMemmapMaxEntries = 64;
inline constexpr uint64_t kZeroPageAddr = 0x7000;
inline constexpr uint64_t kPml4Addr = 0x9000;
inline constexpr uint64_t kPdptAddr = 0xa000;
inline constexpr uint64_t kPdAddr = 0xb000;  // 4 pages: identity map of 4 GiB
inline constexpr uint64_t kIdentityMappedBytes = 4ULL << 30;
inline constexpr uint64_t kCmdlineAddr = 0x20000;
// Linux's COMMAND_LINE_SIZE on x86 is 2048; the setup header may allow less.
inline constexpr uint64_t kCmdlineMaxBytes = 2048;

inline constexpr uint64_t kEbdaStart = 0x9fc00;
inline constexpr uint64_t kLowRamEnd = 0xa0000;  // 640 KiB: VGA/BIOS above
inline constexpr uint64_t kBiosAreaStart = 0xe0000;
inline constexpr uint64_t kAcpiRsdpAddr = kBiosAreaStart;
inline constexpr uint64_t kAcpiMaxBytes = 0x10000;
// Most CPUs ktvm puts in the MADT: 4096 x2APIC ids (KVM's usual
// KVM_CAP_MAX_VCPU_ID) fit kAcpiMaxBytes (tables_test builds them).
inline constexpr int kMaxAcpiCpus = 4096;
inline constexpr uint64_t kMptableAddr = 0xf0000;
inline constexpr uint64_t kMptableMaxBytes = 0x10000;
inline constexpr uint64_t kBiosAreaEnd = 0x100000;
inline constexpr uint64_t kHighMemoryStart = 0x100000;  // 1 MiB

inline constexpr uint64_t kKernelLoadAddr = 0x1000000;  // 16 MiB

inline constexpr uint64_t kMmioHoleStart = 0xc0000000;  // 3 GiB
inline constexpr uint64_t kMmioHoleEnd = 0x100000000;   // 4 GiB
inline constexpr uint64_t kIoapicAddr = 0xfec00000;
inline constexpr uint64_t kLapicAddr = 0xfee00000;
inline constexpr uint64_t kKvmIdentityMapAddr = 0xfffbc000;
inline constexpr uint64_t kKvmTssAddr = 0xfffbd000;

// ktvm numbers APIC ids by vCPU index. xAPIC ids are 8 bits with 0xff as
// broadcast, and the MP table gives the IOAPIC the id after the last CPU:
// up to 254 vCPUs fit the xAPIC world (in-kernel PIC/IOAPIC/PIT, MP table).
// Beyond that ktvm switches to x2APIC (x2apic_topology.h).
inline constexpr int kMaxXapicVcpus = 254;

// Segment selectors the Linux boot protocol requires (__BOOT_CS/__BOOT_DS).
inline constexpr uint16_t kBootCodeSelector = 0x10;
inline constexpr uint16_t kBootDataSelector = 0x18;
inline constexpr uint16_t kBootTssSelector = 0x20;

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_LAYOUT_H_
