// Intel MultiProcessor Specification 1.4 tables: a floating pointer and a
// configuration table listing every CPU, the ISA bus, the IOAPIC and the
// legacy IRQ routing, so a kernel booted with acpi=off (or one that finds no
// ACPI) still starts all CPUs.
#ifndef KTVM_VMM_X86_64_MPTABLE_H_
#define KTVM_VMM_X86_64_MPTABLE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace ktvm::vmm::x86_64 {

// Bytes to place at `base` (floating pointer first, then the table).
absl::StatusOr<std::vector<uint8_t>> BuildMpTable(int num_cpus, uint64_t base);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_MPTABLE_H_
