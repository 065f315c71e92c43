// A read-only shared mapping of a RAM backing file whose offsets follow
// QEMU's pc-machine layout: RAM below 4 GiB up to the low-memory limit, the
// rest from 4 GiB (file offset = low-memory size).
#ifndef KTVM_VMM_BACKEND_RAM_FILE_MAPPING_H_
#define KTVM_VMM_BACKEND_RAM_FILE_MAPPING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ktvm::backend {

struct RamRegion {
  uint64_t gpa;
  uint64_t file_offset;
  uint64_t size;
};

// QEMU pc (i440fx): RAM >= 3.5 GiB is split at 3 GiB; the remainder lives at
// 4 GiB. Smaller RAM is one region at 0.
std::vector<RamRegion> PcMachineRamLayout(uint64_t ram_bytes);

class RamFileMapping {
 public:
  static absl::StatusOr<std::unique_ptr<RamFileMapping>> Map(
      const std::string& path, uint64_t ram_bytes);
  ~RamFileMapping();
  RamFileMapping(const RamFileMapping&) = delete;
  RamFileMapping& operator=(const RamFileMapping&) = delete;

  const std::vector<RamRegion>& regions() const { return regions_; }
  uint64_t size() const { return size_; }
  // Bytes of one region (host view); file offset order.
  absl::Span<const uint8_t> RegionBytes(const RamRegion& r) const;
  // Copies guest-physical [gpa, gpa + out.size()); error outside RAM.
  absl::Status Read(uint64_t gpa, absl::Span<uint8_t> out) const;

 private:
  RamFileMapping(const uint8_t* base, uint64_t size,
                 std::vector<RamRegion> regions)
      : base_(base), size_(size), regions_(std::move(regions)) {}
  const uint8_t* base_;
  uint64_t size_;
  std::vector<RamRegion> regions_;
};

}  // namespace ktvm::backend

#endif  // KTVM_VMM_BACKEND_RAM_FILE_MAPPING_H_
