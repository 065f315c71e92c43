// The keyboard controller, reduced to what a VMM needs: Linux's reboot path
// pulses the CPU reset line through command 0xfe, which ktvm treats as the
// guest asking to end. A minimal command set keeps the kernel's i8042 probe
// happy.
#ifndef KTVM_VMM_DEVICES_I8042_H_
#define KTVM_VMM_DEVICES_I8042_H_

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "vmm/devices/io_bus.h"

namespace ktvm::vmm {

inline constexpr uint16_t kI8042DataPort = 0x60;
inline constexpr uint16_t kI8042CommandPort = 0x64;
inline constexpr uint8_t kI8042ResetCommand = 0xfe;

class I8042 : public IoDevice {
 public:
  explicit I8042(std::function<void()> on_reset)
      : on_reset_(std::move(on_reset)) {}

  // Registered over ports 0x60..0x64; offset 0 is data, offset 4 command.
  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  bool reset_requested() const;

 private:
  std::function<void()> on_reset_;
  mutable absl::Mutex mu_;
  uint8_t command_byte_ ABSL_GUARDED_BY(mu_) = 0x45;  // translate, irqs on
  int pending_output_ ABSL_GUARDED_BY(mu_) = -1;      // -1: none
  bool expect_command_byte_ ABSL_GUARDED_BY(mu_) = false;
  bool reset_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_DEVICES_I8042_H_
