// Routes port-I/O or MMIO exits to the device registered for the address.
// Accesses nobody claims are ignored (reads see all-ones, like an empty bus)
// and counted, so a guest probing absent hardware neither crashes the VMM nor
// goes unnoticed.
#ifndef KTVM_VMM_DEVICES_IO_BUS_H_
#define KTVM_VMM_DEVICES_IO_BUS_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace ktvm::vmm {

// A device on an I/O bus. Called from any vCPU thread: implementations guard
// their own state.
class IoDevice {
 public:
  virtual ~IoDevice() = default;
  // `offset` is relative to the registered base.
  virtual void Read(uint64_t offset, absl::Span<uint8_t> data) = 0;
  virtual void Write(uint64_t offset, absl::Span<const uint8_t> data) = 0;
};

class IoBus {
 public:
  explicit IoBus(std::string name) : name_(std::move(name)) {}

  // Registration happens before any vCPU runs; ranges must not overlap.
  absl::Status Register(uint64_t base, uint64_t length, IoDevice* device);

  // Returns false (and counts) when no device claims `addr`.
  bool Read(uint64_t addr, absl::Span<uint8_t> data);
  bool Write(uint64_t addr, absl::Span<const uint8_t> data);

  uint64_t unknown_reads() const { return unknown_reads_.load(); }
  uint64_t unknown_writes() const { return unknown_writes_.load(); }
  // Address of the most recent unclaimed access, for diagnostics.
  uint64_t last_unknown_addr() const { return last_unknown_addr_.load(); }

 private:
  struct Range {
    uint64_t base;
    uint64_t length;
    IoDevice* device;
  };
  const Range* Find(uint64_t addr) const;

  std::string name_;
  std::vector<Range> ranges_;  // sorted by base
  std::atomic<uint64_t> unknown_reads_{0};
  std::atomic<uint64_t> unknown_writes_{0};
  std::atomic<uint64_t> last_unknown_addr_{0};
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_DEVICES_IO_BUS_H_
