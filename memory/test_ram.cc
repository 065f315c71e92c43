#include "memory/test_ram.h"

#include <cstdlib>
#include <cstring>

namespace ktvm::memory {

void TestRam::AddRegion(uint64_t guest_phys, uint64_t size) {
  regions_.push_back(
      {guest_phys, std::make_shared<std::vector<uint8_t>>(size, 0)});
}

uint8_t* TestRam::Host(uint64_t pa, uint64_t len) {
  for (Region& r : regions_) {
    if (pa >= r.guest_phys && pa - r.guest_phys <= r.bytes->size() &&
        len <= r.bytes->size() - (pa - r.guest_phys)) {
      return r.bytes->data() + (pa - r.guest_phys);
    }
  }
  std::abort();  // The test wrote outside its own RAM.
}

void TestRam::Write(uint64_t pa, absl::Span<const uint8_t> bytes) {
  // Byte by byte so a write may span adjacent regions.
  for (size_t i = 0; i < bytes.size(); ++i) *Host(pa + i, 1) = bytes[i];
}

void TestRam::WriteU64(uint64_t pa, uint64_t value) {
  std::memcpy(Host(pa, sizeof(value)), &value, sizeof(value));
}

absl::StatusOr<GuestMemory> TestRam::View() const {
  std::vector<MemoryRegion> regions;
  auto keep =
      std::make_shared<std::vector<std::shared_ptr<std::vector<uint8_t>>>>();
  for (const Region& r : regions_) {
    regions.push_back({r.guest_phys, r.bytes->size(), r.bytes->data()});
    keep->push_back(r.bytes);
  }
  return GuestMemory::FromRegions(std::move(regions), keep);
}

}  // namespace ktvm::memory
