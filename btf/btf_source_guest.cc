// BtfFromGuestMemory over memory::VirtualMemoryReader, kept apart so the
// ReadVirtualFn form stays usable without the memory module.
#include "btf/btf_source.h"
#include "memory/virtual_memory.h"

namespace ktvm::btf {

absl::StatusOr<BtfPtr> BtfFromGuestMemory(
    const memory::VirtualMemoryReader& mem, uint64_t start_va,
    uint64_t stop_va) {
  return BtfFromGuestMemory(
      [&mem](uint64_t va, absl::Span<uint8_t> out) {
        return mem.ReadVirtual(va, out);
      },
      start_va, stop_va);
}

}  // namespace ktvm::btf
