// Parses QEMU's human-monitor "info registers -a" text for x86_64 guests into
// ktvm::report::X86Registers, one per "CPU#n" section. QEMU does not print
// KERNEL_GS_BASE, LSTAR, CR8 or the APIC id there; those stay 0 and the
// backend fills what it can from other queries.
#ifndef KTVM_VMM_BACKEND_X86_REGISTER_TEXT_H_
#define KTVM_VMM_BACKEND_X86_REGISTER_TEXT_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/failure_dump.pb.h"

namespace ktvm::backend {

struct ParsedCpuRegisters {
  int cpu_index = 0;
  bool halted = false;  // "HLT=1"
  ktvm::report::X86Registers regs;
};

// Error when the text has no CPU section or a section lacks RIP, RSP, CR0,
// CR3, CR4 or EFER (so a parsed result always has those).
absl::StatusOr<std::vector<ParsedCpuRegisters>> ParseInfoRegisters(
    std::string_view text);

// VMX-style access rights (type | s<<4 | dpl<<5 | p<<7 | avl<<12 | l<<13 |
// db<<14 | g<<15 | unusable<<16) from the descriptor flags QEMU prints
// (bits 32..63 of a segment descriptor).
uint32_t VmxAttributesFromDescriptorFlags(uint32_t flags);

}  // namespace ktvm::backend

#endif  // KTVM_VMM_BACKEND_X86_REGISTER_TEXT_H_
