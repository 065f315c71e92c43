#include "vmm/backend/guest_memory_bridge.h"

namespace ktvm::backend {

// INTERIM: //memory:guest_memory is not committed yet; until it is, the
// backend has no GuestMemory (tests read RAM through RamFileMapping).
std::shared_ptr<const ktvm::memory::GuestMemory> BuildGuestMemory(
    const RamFileMapping& ram) {
  (void)ram;
  return nullptr;
}

}  // namespace ktvm::backend
