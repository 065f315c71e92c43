// ACPI tables: RSDP (revision 2) -> XSDT -> {FADT -> DSDT, MADT}. The MADT
// lists one enabled local APIC per vCPU and the IOAPIC; the FADT declares a
// hardware-reduced platform, so the kernel needs no PM timer or SCI.
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
