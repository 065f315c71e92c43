// ACPI tables: RSDP (revision 2) -> XSDT -> {FADT -> DSDT, MADT}. The MADT
// lists one enabled local APIC per vCPU (type 0 for APIC ids up to 254,
// type 9 "Processor Local x2APIC" above), the IOAPIC and the LINT1 NMI (also
// as an x2APIC NMI entry when there are x2APIC CPUs); the FADT declares a
// hardware-reduced platform, so the kernel needs no PM timer, SCI, PIC or
// PIT (which a split irqchip does not have).
#ifndef KTVM_VMM_X86_64_ACPI_H_
#define KTVM_VMM_X86_64_ACPI_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace ktvm::vmm::x86_64 {

inline constexpr size_t kAcpiHeaderSize = 36;
inline constexpr size_t kRsdpSize = 36;
inline constexpr size_t kFadtSize = 276;  // revision 6

struct AcpiTables {
  std::vector<uint8_t> bytes;  // placed at `base`, RSDP first
  uint64_t rsdp_addr;
  uint64_t xsdt_addr;
  uint64_t madt_addr;
  uint64_t fadt_addr;
  uint64_t dsdt_addr;
};

absl::StatusOr<AcpiTables> BuildAcpiTables(int num_cpus, uint64_t base);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_ACPI_H_
