#include "vmm/x86_64/cpuid.h"

#include <algorithm>

namespace ktvm::vmm::x86_64 {
namespace {

constexpr uint32_t kLeafFeatures = 0x1;
constexpr uint32_t kLeafCacheParams = 0x4;
constexpr uint32_t kLeafTopology = 0xb;
constexpr uint32_t kLeafTopologyV2 = 0x1f;

constexpr uint32_t kEdxHtt = 1u << 28;
constexpr uint32_t kEcxX2apic = 1u << 21;
constexpr uint32_t kEcxHypervisor = 1u << 31;
// Field widths: leaf 1 EBX[23:16], leaf 4 EAX[25:14] and EAX[31:26].
constexpr uint32_t kMaxLogicalCount = 0xff;
constexpr uint32_t kMaxCacheSharing = 0xfff;
constexpr uint32_t kMaxCoresField = 0x3f;
constexpr int kTopologySubleaves = 3;  // SMT, core, terminator

constexpr uint32_t kLevelTypeSmt = 1;
constexpr uint32_t kLevelTypeCore = 2;

void PatchTopologyLeaf(kvm_cpuid_entry2& e, const CpuTopology& topo) {
  e.edx = topo.apic_id;  // x2APIC id, every subleaf
  switch (e.index) {
    case 0:  // SMT: one thread per core
      e.eax = 0;
      e.ebx = 1;
      e.ecx = (kLevelTypeSmt << 8) | e.index;
      break;
    case 1:  // cores in the package
      e.eax = CoreIdBits(topo.num_cpus);
      e.ebx = topo.num_cpus;
      e.ecx = (kLevelTypeCore << 8) | e.index;
      break;
    default:  // invalid level terminates the enumeration
      e.eax = 0;
      e.ebx = 0;
      e.ecx = e.index;
      break;
  }
}

}  // namespace

uint32_t CoreIdBits(uint32_t n) {
  uint32_t bits = 0;
  while ((1u << bits) < n) ++bits;
  return bits;
}

const kvm_cpuid_entry2* FindCpuid(absl::Span<const kvm_cpuid_entry2> entries,
                                  uint32_t function, uint32_t index) {
  for (const kvm_cpuid_entry2& e : entries) {
    if (e.function != function) continue;
    const bool indexed = e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    if (!indexed || e.index == index) return &e;
  }
  return nullptr;
}

std::vector<kvm_cpuid_entry2> PatchCpuid(
    absl::Span<const kvm_cpuid_entry2> supported, const CpuTopology& topo) {
  std::vector<kvm_cpuid_entry2> out(supported.begin(), supported.end());
  if (topo.x2apic && FindCpuid(out, kLeafTopology, 0) == nullptr) {
    for (int i = 0; i < kTopologySubleaves; ++i) {
      kvm_cpuid_entry2 e{};
      e.function = kLeafTopology;
      e.index = i;
      e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
      out.push_back(e);  // filled in by the loop below
    }
  }
  const uint32_t others = topo.num_cpus - 1;
  for (kvm_cpuid_entry2& e : out) {
    switch (e.function) {
      case 0:
        // The guest reads leaf 0xB only when the maximum leaf reaches it.
        if (topo.x2apic && e.eax < kLeafTopology) e.eax = kLeafTopology;
        break;
      case kLeafFeatures:
        // Only the low 8 bits of the id fit; x2APIC guests use leaf 0xB.
        e.ebx = (e.ebx & 0x0000ffffu) | ((topo.apic_id & 0xff) << 24) |
                (std::min(topo.num_cpus, kMaxLogicalCount) << 16);
        if (topo.num_cpus > 1) {
          e.edx |= kEdxHtt;
        } else {
          e.edx &= ~kEdxHtt;
        }
        e.ecx |= kEcxHypervisor;
        if (topo.x2apic) e.ecx |= kEcxX2apic;
        break;
      case kLeafCacheParams: {
        if ((e.eax & 0x1f) == 0) break;  // no more caches
        const uint32_t level = (e.eax >> 5) & 0x7;
        // Each core owns its L1/L2; the last-level cache is shared.
        const uint32_t sharing =
            level >= 3 ? std::min(others, kMaxCacheSharing) : 0;
        e.eax = (e.eax & 0x3fff) | (sharing << 14) |
                (std::min(others, kMaxCoresField) << 26);
        break;
      }
      case kLeafTopology:
      case kLeafTopologyV2:
        PatchTopologyLeaf(e, topo);
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace ktvm::vmm::x86_64
