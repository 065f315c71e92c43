#include "vmm/x86_64/host_cpuid.h"

#include <cpuid.h>

#include <cstdint>

namespace ktvm::vmm::x86_64 {
namespace {

constexpr uint32_t kEcxVmx = 1u << 5;  // leaf 1
constexpr uint32_t kEcxSvm = 1u << 2;  // leaf 0x80000001
constexpr uint32_t kMaxSubleaves = 64;

kvm_cpuid_entry2 Query(uint32_t function, uint32_t index, bool indexed) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  __cpuid_count(function, index, e.eax, e.ebx, e.ecx, e.edx);
  return e;
}

bool IsIndexed(uint32_t function) {
  return function == 0x4 || function == 0x7 || function == 0xb ||
         function == 0xd || function == 0xf || function == 0x10 ||
         function == 0x12 || function == 0x14 || function == 0x17 ||
         function == 0x18 || function == 0x1f || function == 0x8000001d;
}

void AddRange(std::vector<kvm_cpuid_entry2>& out, uint32_t first) {
  const uint32_t max = Query(first, 0, false).eax;
  if (max < first || max > first + 0xff) return;
  for (uint32_t f = first; f <= max; ++f) {
    if (!IsIndexed(f)) {
      out.push_back(Query(f, 0, false));
      continue;
    }
    for (uint32_t i = 0; i < kMaxSubleaves; ++i) {
      const kvm_cpuid_entry2 e = Query(f, i, true);
      // Subleaf enumeration ends differently per leaf; an all-zero record
      // (or, for topology leaves, level type 0) ends it for all of them.
      const bool topology_end =
          (f == 0xb || f == 0x1f) && i > 0 && ((e.ecx >> 8) & 0xff) == 0;
      const bool cache_end =
          (f == 0x4 || f == 0x8000001d) && (e.eax & 0x1f) == 0;
      if ((e.eax | e.ebx | e.ecx | e.edx) == 0 && i > 0) break;
      out.push_back(e);
      if (topology_end || cache_end) break;
    }
  }
}

}  // namespace

std::vector<kvm_cpuid_entry2> HostCpuidEntries() {
  std::vector<kvm_cpuid_entry2> out;
  AddRange(out, 0);
  AddRange(out, 0x80000000);
  for (kvm_cpuid_entry2& e : out) {
    if (e.function == 1) e.ecx &= ~kEcxVmx;
    if (e.function == 0x80000001) e.ecx &= ~kEcxSvm;
  }
  return out;
}

}  // namespace ktvm::vmm::x86_64
