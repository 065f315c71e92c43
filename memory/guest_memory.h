// Guest-physical memory as a set of host-mapped regions. Every read is
// bounds-checked against the regions; nothing outside them is ever touched.
// The same type serves the VMM's own RAM mappings, a RAM backing file and
// an ELF core: each source only builds the region list (see ram_file.h and
// elf_core.h).
#ifndef KTVM_MEMORY_GUEST_MEMORY_H_
#define KTVM_MEMORY_GUEST_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ktvm::memory {

// One contiguous guest-physical range backed by host memory.
struct MemoryRegion {
  uint64_t guest_phys = 0;
  uint64_t size = 0;
  const uint8_t* host = nullptr;
};

class GuestMemory {
 public:
  // Regions may come in any order; overlapping or empty regions are an
  // error. `keepalive` owns whatever backs the host pointers (an mmap, a
  // buffer) and is released with the last copy of this object.
  static absl::StatusOr<GuestMemory> FromRegions(
      std::vector<MemoryRegion> regions,
      std::shared_ptr<const void> keepalive = nullptr);

  GuestMemory() = default;

  // Copies [pa, pa + out.size()). The range may span adjacent regions; any
  // byte outside every region makes the whole read fail (OutOfRange, naming
  // the first missing address) and leaves `out` unspecified.
  absl::Status Read(uint64_t pa, absl::Span<uint8_t> out) const;

  // Best-effort read for walkers that must keep going: bytes outside every
  // region read as zero. Returns how many bytes were really backed.
  size_t ReadZeroFill(uint64_t pa, absl::Span<uint8_t> out) const;

  absl::StatusOr<uint8_t> ReadU8(uint64_t pa) const;
  absl::StatusOr<uint16_t> ReadU16(uint64_t pa) const;
  absl::StatusOr<uint32_t> ReadU32(uint64_t pa) const;
  absl::StatusOr<uint64_t> ReadU64(uint64_t pa) const;
  // Bytes up to the first NUL, at most `max_len` of them (no NUL within the
  // cap is not an error: the capped prefix is returned).
  absl::StatusOr<std::string> ReadCString(uint64_t pa, size_t max_len) const;

  // Host view of [pa, pa + len) when it lies inside one region, else
  // nullptr. For hot paths (page-table walks) that read in place.
  const uint8_t* HostPointer(uint64_t pa, uint64_t len) const;

  bool Contains(uint64_t pa, uint64_t len) const;
  // Sorted by guest_phys.
  absl::Span<const MemoryRegion> regions() const { return regions_; }
  uint64_t total_bytes() const;

 private:
  const MemoryRegion* FindRegion(uint64_t pa) const;

  std::vector<MemoryRegion> regions_;
  std::shared_ptr<const void> keepalive_;
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_GUEST_MEMORY_H_
