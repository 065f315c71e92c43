#include "vmm/x86_64/cpuid.h"

namespace ktvm::vmm::x86_64 {
namespace {

constexpr uint32_t kLeafFeatures = 0x1;
constexpr uint32_t kLeafCacheParams = 0x4;
constexpr uint32_t kLeafTopology = 0xb;
constexpr uint32_t kLeafTopologyV2 = 0x1f;

constexpr uint32_t kEdxHtt = 1u << 28;
constexpr uint32_t kEcxHypervisor = 1u << 31;

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
  for (kvm_cpuid_entry2& e : out) {
    switch (e.function) {
      case kLeafFeatures:
        e.ebx = (e.ebx & 0x0000ffffu) | (topo.apic_id << 24) |
                ((topo.num_cpus & 0xff) << 16);
        if (topo.num_cpus > 1) {
          e.edx |= kEdxHtt;
        } else {
          e.edx &= ~kEdxHtt;
        }
        e.ecx |= kEcxHypervisor;
        break;
      case kLeafCacheParams: {
        if ((e.eax & 0x1f) == 0) break;  // no more caches
        const uint32_t level = (e.eax >> 5) & 0x7;
        // Each core owns its L1/L2; the last-level cache is shared.
        const uint32_t sharing = level >= 3 ? topo.num_cpus - 1 : 0;
        e.eax = (e.eax & 0x3fff) | ((sharing & 0xfff) << 14) |
                (((topo.num_cpus - 1) & 0x3f) << 26);
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
