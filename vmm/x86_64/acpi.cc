#include "vmm/x86_64/acpi.h"

#include <string_view>

#include "absl/strings/str_format.h"
#include "vmm/x86_64/layout.h"
#include "vmm/x86_64/table_writer.h"
#include "vmm/x86_64/x2apic_topology.h"

namespace ktvm::vmm::x86_64 {
namespace {

constexpr std::string_view kOemId = "KTVM  ";
constexpr std::string_view kOemTableId = "KTVMVMM ";
constexpr uint32_t kCreatorRevision = 1;

constexpr uint8_t kMadtLocalApic = 0;
constexpr uint8_t kMadtIoapic = 1;
constexpr uint8_t kMadtLocalApicNmi = 4;
constexpr uint8_t kMadtLocalX2apic = 9;
constexpr uint8_t kMadtLocalX2apicNmi = 10;
constexpr uint32_t kMadtPcatCompat = 1;  // legacy PICs present
constexpr uint32_t kLocalApicEnabled = 1;
// Type-0 entries hold 8-bit ids and 0xff means "all": ids from 255 on need
// type-9 entries (ACPI 6.5, 5.2.12.12).
constexpr int kMaxType0ApicId = 254;
constexpr uint32_t kAllProcessorsUid32 = 0xffffffff;
constexpr uint8_t kAllProcessorsUid8 = 0xff;
constexpr uint8_t kLint1 = 1;

constexpr uint32_t kFadtHwReducedAcpi = 1u << 20;
constexpr uint16_t kBootArch8042 = 1u << 1;
constexpr uint16_t kBootArchNoVga = 1u << 2;
constexpr size_t kFadtDsdtOffset = 40;
constexpr size_t kFadtFlagsOffset = 112;
constexpr size_t kFadtBootArchOffset = 109;
constexpr size_t kFadtMinorVersionOffset = 131;
constexpr size_t kFadtXDsdtOffset = 140;
constexpr size_t kFadtHypervisorIdOffset = 268;

// Starts a table: the standard 36-byte header with length/checksum fixed by
// EndTable.
size_t BeginTable(TableWriter& w, std::string_view signature,
                  uint8_t revision) {
  w.AlignTo(16);
  const size_t start = w.size();
  w.Text(signature, 4);
  w.U32(0);  // length
  w.U8(revision);
  w.U8(0);  // checksum
  w.Text(kOemId, 6);
  w.Text(kOemTableId, 8);
  w.U32(1);  // OEM revision
  w.Text("KTVM", 4);
  w.U32(kCreatorRevision);
  return start;
}

void EndTable(TableWriter& w, size_t start) {
  const size_t length = w.size() - start;
  w.PutU32At(start + 4, static_cast<uint32_t>(length));
  w.FixChecksum(start, length, start + 9);
}

}  // namespace

absl::StatusOr<AcpiTables> BuildAcpiTables(int num_cpus, uint64_t base) {
  if (num_cpus < 1 || num_cpus > kMaxAcpiCpus) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ACPI: %d CPUs outside 1..%d", num_cpus, kMaxAcpiCpus));
  }
  const bool x2apic = NeedsX2apic(num_cpus);
  AcpiTables out{};
  TableWriter w;
  // RSDP; XSDT address filled once known.
  out.rsdp_addr = base;
  w.Text("RSD PTR ", 8);
  w.U8(0);  // checksum over the first 20 bytes
  w.Text(kOemId, 6);
  w.U8(2);   // revision: ACPI 2.0+, XSDT valid
  w.U32(0);  // RSDT address: none
  w.U32(kRsdpSize);
  w.U64(0);  // XSDT address
  w.U8(0);   // extended checksum over all 36 bytes
  w.Zeros(3);

  // DSDT: no AML; the hardware-reduced platform has nothing to describe.
  const size_t dsdt = BeginTable(w, "DSDT", 2);
  EndTable(w, dsdt);
  out.dsdt_addr = base + dsdt;

  const size_t fadt = BeginTable(w, "FACP", 6);
  w.Zeros(kFadtSize - kAcpiHeaderSize);
  w.PutU32At(fadt + kFadtDsdtOffset, static_cast<uint32_t>(out.dsdt_addr));
  w.PutU64At(fadt + kFadtXDsdtOffset, out.dsdt_addr);
  w.PutU32At(fadt + kFadtFlagsOffset, kFadtHwReducedAcpi);
  w.PutU16At(fadt + kFadtBootArchOffset, kBootArch8042 | kBootArchNoVga);
  w.bytes()[fadt + kFadtMinorVersionOffset] = 0;
  for (size_t i = 0; i < 8; ++i) {
    w.bytes()[fadt + kFadtHypervisorIdOffset + i] = "KTVMVMM "[i];
  }
  EndTable(w, fadt);
  out.fadt_addr = base + fadt;

  const size_t madt = BeginTable(w, "APIC", 5);
  w.U32(static_cast<uint32_t>(kLapicAddr));
  // A split irqchip has no PIC behind ports 0x20/0xa0.
  w.U32(x2apic ? 0 : kMadtPcatCompat);
  for (int cpu = 0; cpu < num_cpus; ++cpu) {
    if (cpu <= kMaxType0ApicId) {
      w.U8(kMadtLocalApic);
      w.U8(8);
      w.U8(static_cast<uint8_t>(cpu));  // ACPI processor UID
      w.U8(static_cast<uint8_t>(cpu));  // APIC id
      w.U32(kLocalApicEnabled);
    } else {
      w.U8(kMadtLocalX2apic);
      w.U8(16);
      w.U16(0);
      w.U32(static_cast<uint32_t>(cpu));  // x2APIC id
      w.U32(kLocalApicEnabled);
      w.U32(static_cast<uint32_t>(cpu));  // ACPI processor UID
    }
  }
  w.U8(kMadtIoapic);
  w.U8(12);
  w.U8(static_cast<uint8_t>(IoapicId(num_cpus)));
  w.U8(0);
  w.U32(static_cast<uint32_t>(kIoapicAddr));
  w.U32(0);  // GSI base
  w.U8(kMadtLocalApicNmi);
  w.U8(6);
  w.U8(kAllProcessorsUid8);
  w.U16(0);  // flags: conforming
  w.U8(kLint1);
  if (num_cpus > kMaxType0ApicId + 1) {
    // Linux applies type-4 NMI entries only to type-0 CPUs.
    w.U8(kMadtLocalX2apicNmi);
    w.U8(12);
    w.U16(0);  // flags: conforming
    w.U32(kAllProcessorsUid32);
    w.U8(kLint1);
    w.Zeros(3);
  }
  EndTable(w, madt);
  out.madt_addr = base + madt;

  const size_t xsdt = BeginTable(w, "XSDT", 1);
  w.U64(out.fadt_addr);
  w.U64(out.madt_addr);
  EndTable(w, xsdt);
  out.xsdt_addr = base + xsdt;

  w.PutU64At(24, out.xsdt_addr);
  w.FixChecksum(0, 20, 8);
  w.FixChecksum(0, kRsdpSize, 32);
  if (w.size() > kAcpiMaxBytes) {
    return absl::InternalError("ACPI tables outgrew their area");
  }
  out.bytes = std::move(w.bytes());
  return out;
}

}  // namespace ktvm::vmm::x86_64
