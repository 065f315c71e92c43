// Guest RAM for tests: owned buffers at chosen guest-physical addresses
// (holes between them are real holes), writable by the test, viewed through
// GuestMemory exactly as production sources are.
#ifndef KTVM_MEMORY_TEST_RAM_H_
#define KTVM_MEMORY_TEST_RAM_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "memory/guest_memory.h"

namespace ktvm::memory {

class TestRam {
 public:
  // Zero-filled RAM at [guest_phys, guest_phys + size).
  void AddRegion(uint64_t guest_phys, uint64_t size);

  // Writes must land inside the regions (a test bug otherwise: aborts);
  // Host() ranges inside one region.
  void Write(uint64_t pa, absl::Span<const uint8_t> bytes);
  void WriteU64(uint64_t pa, uint64_t value);
  uint8_t* Host(uint64_t pa, uint64_t len);

  // Shares the buffers: later writes are visible through the view.
  absl::StatusOr<GuestMemory> View() const;

 private:
  struct Region {
    uint64_t guest_phys;
    std::shared_ptr<std::vector<uint8_t>> bytes;
  };
  std::vector<Region> regions_;
};

}  // namespace ktvm::memory

#endif  // KTVM_MEMORY_TEST_RAM_H_
