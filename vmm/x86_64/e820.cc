#include "vmm/x86_64/e820.h"

#include "vmm/x86_64/layout.h"

namespace ktvm::vmm::x86_64 {

std::vector<E820Entry> BuildE820Map(uint64_t ram_below_hole,
                                    uint64_t ram_above_4g) {
  std::vector<E820Entry> map;
  map.push_back({0, kEbdaStart, E820Type::kRam});
  map.push_back({kEbdaStart, kLowRamEnd - kEbdaStart, E820Type::kReserved});
  map.push_back(
      {kBiosAreaStart, kBiosAreaEnd - kBiosAreaStart, E820Type::kReserved});
  if (ram_below_hole > kHighMemoryStart) {
    map.push_back(
        {kHighMemoryStart, ram_below_hole - kHighMemoryStart, E820Type::kRam});
  }
  if (ram_above_4g > 0) {
    map.push_back({kMmioHoleEnd, ram_above_4g, E820Type::kRam});
  }
  return map;
}

}  // namespace ktvm::vmm::x86_64
