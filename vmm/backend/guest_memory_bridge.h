// Wraps the mapped RAM file as the memory module's GuestMemory.
#ifndef KTVM_VMM_BACKEND_GUEST_MEMORY_BRIDGE_H_
#define KTVM_VMM_BACKEND_GUEST_MEMORY_BRIDGE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "vmm/backend/ram_file_mapping.h"

namespace ktvm::memory {
class GuestMemory;
}  // namespace ktvm::memory

namespace ktvm::backend {

// The returned object views `ram`, which must outlive it.
absl::StatusOr<std::shared_ptr<const ktvm::memory::GuestMemory>>
BuildGuestMemory(const RamFileMapping& ram);

}  // namespace ktvm::backend

#endif  // KTVM_VMM_BACKEND_GUEST_MEMORY_BRIDGE_H_
