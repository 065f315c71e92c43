// Guest port I/O drives the UARTs and the i8042 directly: any sequence of
// reads and writes of any width to any port must leave the devices
// consistent. Input: records of {op, port offset, width, value}.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vmm/devices/i8042.h"
#include "vmm/devices/io_bus.h"
#include "vmm/devices/uart_8250.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ktvm::vmm;
  size_t output_bytes = 0;
  int irq_edges = 0;
  Uart8250 com1([&](std::string_view b) { output_bytes += b.size(); },
                [&](bool) { ++irq_edges; });
  Uart8250 com2([&](std::string_view b) { output_bytes += b.size(); },
                [&](bool) { ++irq_edges; });
  I8042 i8042([] {});
  IoBus bus("pio");
  if (!bus.Register(kCom1Port, kUartPortCount, &com1).ok() ||
      !bus.Register(kCom2Port, kUartPortCount, &com2).ok() ||
      !bus.Register(0x60, 5, &i8042).ok()) {
    __builtin_trap();
  }
  static constexpr uint16_t kBases[] = {kCom1Port, kCom2Port, 0x60, 0x80};
  for (size_t i = 0; i + 4 <= size; i += 4) {
    const uint8_t op = data[i];
    const uint16_t port = kBases[(op >> 1) % 4] + (data[i + 1] & 0x0f);
    const size_t width = size_t{1} << (data[i + 2] % 3);  // 1, 2 or 4
    uint8_t buf[4] = {data[i + 3], data[i + 3], 0, 0};
    if (op & 1) {
      bus.Write(port, absl::MakeConstSpan(buf, width));
    } else {
      bus.Read(port, absl::MakeSpan(buf, width));
    }
    if ((op & 0xf0) == 0xf0) com1.Receive(std::string_view("ab\n", 3));
  }
  return 0;
}
