// Guest RAM kept in a file, e.g. QEMU's memory-backend-file with share=on:
// mapped read-only, and readable while the guest runs (reads then race the
// guest; freeze it for a consistent view).
#ifndef KTVM_MEMORY_RAM_FILE_H_
#define KTVM_MEMORY_RAM_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/guest_memory.h"

namespace ktvm::memory {

// Where a slice of the file lives in guest-physical space.
struct RamFileRegion {
  uint64_t guest_phys = 0;
  uint64_t file_offset = 0;
  uint64_t size = 0;
};

// QEMU's pc (i440fx) machine: RAM of 3.5 GiB or more keeps 3 GiB below the
// PCI hole and the rest from 4 GiB (file offset 3 GiB); smaller RAM is one
// region at 0.
std::vector<RamFileRegion> QemuPcRamLayout(uint64_t ram_bytes);

// Maps `path` and returns its regions as guest memory (the mapping lives as
// long as any copy of the result). The file must cover every region.
absl::StatusOr<GuestMemory> OpenRamFile(const std::string& path,
                                        std::vector<RamFileRegion> layout);

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_RAM_FILE_H_
