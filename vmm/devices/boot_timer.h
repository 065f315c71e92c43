// A write-only port the guest touches at chosen moments (ktvm's test guest:
// its very first instruction). The VMM records when the first write arrived,
// so boot latency is measured from inside the guest rather than guessed.
#ifndef KTVM_VMM_DEVICES_BOOT_TIMER_H_
#define KTVM_VMM_DEVICES_BOOT_TIMER_H_

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "vmm/devices/io_bus.h"

namespace ktvm::vmm {

inline constexpr uint16_t kBootTimerPort = 0x440;

class BootTimer : public IoDevice {
 public:
  void Read(uint64_t, absl::Span<uint8_t> data) override {
    for (uint8_t& b : data) b = 0;
  }
  void Write(uint64_t, absl::Span<const uint8_t>) override {
    int64_t expected = 0;
    first_write_ns_.compare_exchange_strong(expected,
                                            absl::GetCurrentTimeNanos());
    writes_.fetch_add(1);
  }
  // 0 when the guest never wrote.
  int64_t first_write_ns() const { return first_write_ns_.load(); }
  uint64_t writes() const { return writes_.load(); }

 private:
  std::atomic<int64_t> first_write_ns_{0};
  std::atomic<uint64_t> writes_{0};
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_DEVICES_BOOT_TIMER_H_
