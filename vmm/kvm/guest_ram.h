// Guest RAM for the KVM VM: one anonymous mapping split into a region below
// the 32-bit MMIO hole and, when RAM does not fit there, a region from 4 GiB.
#ifndef KTVM_VMM_KVM_GUEST_RAM_H_
#define KTVM_VMM_KVM_GUEST_RAM_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "vmm/kvm/unique_mmap.h"

namespace ktvm::vmm {

struct RamRegion {
  uint64_t gpa;
  uint64_t size;
  uint8_t* host;
};

class GuestRam {
 public:
  // `total_bytes` of RAM; whatever does not fit below `hole_start` is placed
  // from `hole_end` on.
  static absl::StatusOr<GuestRam> Create(uint64_t total_bytes,
                                         uint64_t hole_start,
                                         uint64_t hole_end);

  absl::Span<const RamRegion> regions() const { return regions_; }
  uint64_t total_bytes() const { return mapping_.size(); }
  // A host view of [gpa, gpa+len); error unless it lies inside one region.
  absl::StatusOr<absl::Span<uint8_t>> Slice(uint64_t gpa, uint64_t len) const;
  absl::Status Write(uint64_t gpa, absl::Span<const uint8_t> bytes) const;
  absl::Status Read(uint64_t gpa, absl::Span<uint8_t> out) const;

 private:
  GuestRam(UniqueMmap mapping, std::vector<RamRegion> regions)
      : mapping_(std::move(mapping)), regions_(std::move(regions)) {}

  UniqueMmap mapping_;
  std::vector<RamRegion> regions_;
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_KVM_GUEST_RAM_H_
