#include "vmm/x86_64/mptable.h"

#include "absl/strings/str_format.h"
#include "vmm/x86_64/layout.h"
#include "vmm/x86_64/table_writer.h"
#include "vmm/x86_64/x2apic_topology.h"

namespace ktvm::vmm::x86_64 {
namespace {

constexpr size_t kFloatingPointerSize = 16;
constexpr size_t kConfigHeaderSize = 44;
constexpr uint8_t kSpecRevision = 4;  // MP spec 1.4

enum EntryType : uint8_t {
  kProcessor = 0,
  kBus = 1,
  kIoapic = 2,
  kIoInterrupt = 3,
  kLocalInterrupt = 4,
};
constexpr uint8_t kCpuEnabled = 1;
constexpr uint8_t kCpuBootstrap = 2;
constexpr uint8_t kApicVersion = 0x14;
constexpr uint8_t kIoapicVersion = 0x11;
constexpr uint8_t kIntTypeInt = 0;
constexpr uint8_t kIntTypeNmi = 1;
constexpr uint8_t kIntTypeExtInt = 3;
constexpr int kLegacyIrqs = 16;
// Family 6 signature and the FPU + APIC feature bits.
constexpr uint32_t kCpuSignature = 0x600;
constexpr uint32_t kCpuFeatures = 0x201;

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildMpTable(int num_cpus, uint64_t base) {
  if (num_cpus < 1 || num_cpus > kMaxXapicVcpus) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "MP table: %d CPUs outside 1..%d", num_cpus, kMaxXapicVcpus));
  }
  TableWriter w;
  // Floating pointer.
  w.Text("_MP_", 4);
  w.U32(static_cast<uint32_t>(base + kFloatingPointerSize));
  w.U8(1);  // length in 16-byte units
  w.U8(kSpecRevision);
  w.U8(0);     // checksum
  w.Zeros(5);  // feature bytes: 0 = a configuration table follows; no IMCR
  w.FixChecksum(0, kFloatingPointerSize, 10);

  const size_t table = w.size();
  w.Text("PCMP", 4);
  w.U16(0);  // base table length, fixed below
  w.U8(kSpecRevision);
  w.U8(0);  // checksum
  w.Text("KTVM", 8);
  w.Text("KTVM-VMM", 12);
  w.U32(0);  // OEM table pointer
  w.U16(0);  // OEM table size
  w.U16(0);  // entry count, fixed below
  w.U32(static_cast<uint32_t>(kLapicAddr));
  w.U16(0);  // extended table length
  w.U8(0);   // extended table checksum
  w.U8(0);
  int entries = 0;
  for (int cpu = 0; cpu < num_cpus; ++cpu, ++entries) {
    w.U8(kProcessor);
    w.U8(static_cast<uint8_t>(cpu));  // LAPIC id
    w.U8(kApicVersion);
    w.U8(kCpuEnabled | (cpu == 0 ? kCpuBootstrap : 0));
    w.U32(kCpuSignature);
    w.U32(kCpuFeatures);
    w.Zeros(8);
  }
  w.U8(kBus);
  w.U8(0);
  w.Text("ISA", 6);
  ++entries;
  const uint8_t ioapic_id = static_cast<uint8_t>(IoapicId(num_cpus));
  w.U8(kIoapic);
  w.U8(ioapic_id);
  w.U8(kIoapicVersion);
  w.U8(1);  // enabled
  w.U32(static_cast<uint32_t>(kIoapicAddr));
  ++entries;
  for (int irq = 0; irq < kLegacyIrqs; ++irq, ++entries) {
    w.U8(kIoInterrupt);
    w.U8(kIntTypeInt);
    w.U16(0);  // conforming polarity and trigger
    w.U8(0);   // source bus: ISA
    w.U8(static_cast<uint8_t>(irq));
    w.U8(ioapic_id);
    // KVM's default routing sends ISA IRQ n to IOAPIC pin n.
    w.U8(static_cast<uint8_t>(irq));
  }
  for (const auto& [type, lint] :
       {std::pair{kIntTypeExtInt, 0}, std::pair{kIntTypeNmi, 1}}) {
    w.U8(kLocalInterrupt);
    w.U8(type);
    w.U16(0);
    w.U8(0);
    w.U8(0);
    w.U8(0xff);  // all local APICs
    w.U8(static_cast<uint8_t>(lint));
    ++entries;
  }
  const size_t length = w.size() - table;
  w.PutU16At(table + 4, static_cast<uint16_t>(length));
  w.PutU16At(table + 34, static_cast<uint16_t>(entries));
  w.FixChecksum(table, length, table + 7);
  if (w.size() > kMptableMaxBytes) {
    return absl::InternalError("MP table outgrew its area");
  }
  return std::move(w.bytes());
}

}  // namespace ktvm::vmm::x86_64
