#include "vmm/backend/guest_memory_bridge.h"

#include <vector>

#include "memory/guest_memory.h"

namespace ktvm::backend {

absl::StatusOr<std::shared_ptr<const ktvm::memory::GuestMemory>>
BuildGuestMemory(const RamFileMapping& ram) {
  std::vector<ktvm::memory::MemoryRegion> regions;
  for (const RamRegion& r : ram.regions()) {
    absl::Span<const uint8_t> bytes = ram.RegionBytes(r);
    regions.push_back({r.gpa, bytes.size(), bytes.data()});
  }
  // The mapping outlives the result (caller contract), so no keepalive.
  absl::StatusOr<ktvm::memory::GuestMemory> memory =
      ktvm::memory::GuestMemory::FromRegions(std::move(regions));
  if (!memory.ok()) return memory.status();
  return std::make_shared<const ktvm::memory::GuestMemory>(*std::move(memory));
}

}  // namespace ktvm::backend
