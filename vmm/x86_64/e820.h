// The guest's physical memory map as the firmware would report it through
// E820: low RAM, the EBDA and BIOS area reserved (ACPI and MP tables live
// there), RAM from 1 MiB to the 32-bit MMIO hole, and RAM above 4 GiB.
#ifndef KTVM_VMM_X86_64_E820_H_
#define KTVM_VMM_X86_64_E820_H_

#include <cstdint>
#include <vector>

namespace ktvm::vmm::x86_64 {

enum class E820Type : uint32_t { kRam = 1, kReserved = 2, kAcpi = 3 };

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  E820Type type;
};

// `ram_below_hole`: bytes of RAM from guest-physical 0; `ram_above_4g`:
// bytes from 4 GiB. ram_below_hole must exceed 1 MiB.
std::vector<E820Entry> BuildE820Map(uint64_t ram_below_hole,
                                    uint64_t ram_above_4g);

}  // namespace ktvm::vmm::x86_64

#endif  // KTVM_VMM_X86_64_E820_H_
