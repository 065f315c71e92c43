// A 16550A-compatible UART (the "8250" Linux's serial driver talks to): enough
// of the register file for the kernel console and for raw line I/O from user
// space. Transmit is instant: every byte written to THR goes to `output`.
#ifndef KTVM_VMM_DEVICES_UART_8250_H_
#define KTVM_VMM_DEVICES_UART_8250_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "vmm/devices/io_bus.h"

namespace ktvm::vmm {

inline constexpr uint16_t kCom1Port = 0x3f8;
inline constexpr uint16_t kCom2Port = 0x2f8;
inline constexpr int kCom1Irq = 4;
inline constexpr int kCom2Irq = 3;
inline constexpr uint64_t kUartPortCount = 8;

class Uart8250 : public IoDevice {
 public:
  using OutputFn = std::function<void(std::string_view bytes)>;
  // Raises (true) or lowers (false) the UART's interrupt line.
  using IrqFn = std::function<void(bool level)>;

  Uart8250(OutputFn output, IrqFn irq)
      : output_(std::move(output)), irq_(std::move(irq)) {}

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // Queues bytes for the guest to read from RBR.
  void Receive(std::string_view bytes);

 private:
  uint8_t ReadRegister(uint64_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteRegister(uint64_t offset, uint8_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint8_t InterruptId() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateIrq() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  OutputFn output_;
  IrqFn irq_;
  absl::Mutex mu_;
  uint8_t ier_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t lcr_ ABSL_GUARDED_BY(mu_) = 0x03;  // 8N1
  uint8_t mcr_ ABSL_GUARDED_BY(mu_) = 0x08;  // OUT2
  uint8_t scr_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t dll_ ABSL_GUARDED_BY(mu_) = 0x0c;  // 9600 baud
  uint8_t dlm_ ABSL_GUARDED_BY(mu_) = 0;
  // THR-empty interrupt pending; cleared by reading IIR or writing THR.
  bool thre_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool irq_level_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<uint8_t> rx_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_DEVICES_UART_8250_H_
