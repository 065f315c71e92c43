#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "vmm/devices/byte_ring.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/io_bus.h"
#include "vmm/devices/uart_8250.h"

namespace ktvm::vmm {
namespace {

uint8_t In(IoBus& bus, uint64_t port) {
  uint8_t v = 0;
  bus.Read(port, absl::MakeSpan(&v, 1));
  return v;
}
void Out(IoBus& bus, uint64_t port, uint8_t v) {
  bus.Write(port, absl::MakeConstSpan(&v, 1));
}

struct UartFixture {
  std::string out;
  std::vector<bool> irq;
  Uart8250 uart{[this](std::string_view b) { out.append(b); },
                [this](bool level) { irq.push_back(level); }};
  IoBus bus{"port"};
  UartFixture() { EXPECT_TRUE(bus.Register(kCom1Port, 8, &uart).ok()); }
};

TEST(Uart8250Test, TransmitsBytesAndReportsEmpty) {
  UartFixture f;
  EXPECT_EQ(In(f.bus, kCom1Port + 5) & 0x60, 0x60) << "THR and TX empty";
  for (char c : std::string("hi\n")) Out(f.bus, kCom1Port, c);
  EXPECT_EQ(f.out, "hi\n");
}

TEST(Uart8250Test, DivisorLatchDoesNotTransmit) {
  UartFixture f;
  Out(f.bus, kCom1Port + 3, 0x80);  // DLAB
  Out(f.bus, kCom1Port, 0x01);
  Out(f.bus, kCom1Port + 1, 0x00);
  EXPECT_EQ(In(f.bus, kCom1Port), 0x01);
  Out(f.bus, kCom1Port + 3, 0x03);
  EXPECT_EQ(f.out, "");
  EXPECT_EQ(In(f.bus, kCom1Port + 3), 0x03);
}

TEST(Uart8250Test, ThrEmptyInterrupt) {
  UartFixture f;
  EXPECT_EQ(In(f.bus, kCom1Port + 2) & 0x0f, 0x01) << "no interrupt";
  Out(f.bus, kCom1Port + 1, 0x02);  // IER: THRI
  ASSERT_FALSE(f.irq.empty());
  EXPECT_TRUE(f.irq.back()) << "raised at once: THR is empty";
  EXPECT_EQ(In(f.bus, kCom1Port + 2) & 0x0f, 0x02) << "THRI pending";
  EXPECT_FALSE(f.irq.back()) << "reading IIR acknowledges";
  Out(f.bus, kCom1Port, 'x');
  EXPECT_TRUE(f.irq.back()) << "raised again after a byte";
}

TEST(Uart8250Test, ReceivesQueuedBytes) {
  UartFixture f;
  f.uart.Receive("ab");
  EXPECT_EQ(In(f.bus, kCom1Port + 5) & 1, 1);
  EXPECT_EQ(In(f.bus, kCom1Port), 'a');
  EXPECT_EQ(In(f.bus, kCom1Port), 'b');
  EXPECT_EQ(In(f.bus, kCom1Port + 5) & 1, 0);
}

TEST(Uart8250Test, ScratchRegisterAndLoopback) {
  UartFixture f;
  Out(f.bus, kCom1Port + 7, 0x5a);
  EXPECT_EQ(In(f.bus, kCom1Port + 7), 0x5a);
  Out(f.bus, kCom1Port + 4, 0x10);  // loopback
  Out(f.bus, kCom1Port, 'q');
  EXPECT_EQ(f.out, "") << "loopback keeps bytes inside";
  EXPECT_EQ(In(f.bus, kCom1Port), 'q');
}

TEST(I8042Test, ResetCommandFiresOnce) {
  int resets = 0;
  I8042 dev([&] { ++resets; });
  IoBus bus("port");
  ASSERT_TRUE(bus.Register(kI8042DataPort, 5, &dev).ok());
  Out(bus, kI8042CommandPort, 0xaa);  // self test
  EXPECT_EQ(In(bus, kI8042CommandPort) & 1, 1);
  EXPECT_EQ(In(bus, kI8042DataPort), 0x55);
  Out(bus, kI8042CommandPort, 0x20);
  EXPECT_EQ(In(bus, kI8042DataPort), 0x45);
  EXPECT_EQ(resets, 0);
  EXPECT_FALSE(dev.reset_requested());
  Out(bus, kI8042CommandPort, kI8042ResetCommand);
  Out(bus, kI8042CommandPort, kI8042ResetCommand);
  EXPECT_EQ(resets, 1);
  EXPECT_TRUE(dev.reset_requested());
}

TEST(IoBusTest, CountsUnclaimedAccesses) {
  IoBus bus("port");
  uint8_t v[2] = {0, 0};
  EXPECT_FALSE(bus.Read(0x80, absl::MakeSpan(v)));
  EXPECT_EQ(v[0], 0xff);
  EXPECT_EQ(v[1], 0xff);
  EXPECT_FALSE(bus.Write(0x1234, absl::MakeConstSpan(v)));
  EXPECT_EQ(bus.unknown_reads(), 1u);
  EXPECT_EQ(bus.unknown_writes(), 1u);
  EXPECT_EQ(bus.last_unknown_addr(), 0x1234u);
}

TEST(IoBusTest, RejectsOverlapsAndDispatchesByOffset) {
  std::string out;
  Uart8250 a([&](std::string_view b) { out.append("a:").append(b); }, nullptr);
  Uart8250 b([&](std::string_view s) { out.append("b:").append(s); }, nullptr);
  IoBus bus("port");
  ASSERT_TRUE(bus.Register(0x3f8, 8, &a).ok());
  EXPECT_FALSE(bus.Register(0x3ff, 2, &b).ok());
  EXPECT_FALSE(bus.Register(0x3f0, 0, &b).ok());
  ASSERT_TRUE(bus.Register(0x2f8, 8, &b).ok());
  Out(bus, 0x2f8, 'y');
  Out(bus, 0x3f8, 'x');
  EXPECT_EQ(out, "b:ya:x");
  EXPECT_EQ(bus.unknown_writes(), 0u);
}

TEST(ByteRingTest, KeepsTheNewestBytes) {
  ByteRing ring(8);
  ring.Append("hello ");
  ring.Append("world!");
  EXPECT_EQ(ring.Tail(100), "o world!");
  EXPECT_EQ(ring.Tail(3), "ld!");
  EXPECT_EQ(ring.total_bytes(), 12u);
  for (int i = 0; i < 100; ++i) ring.Append("0123");
  EXPECT_EQ(ring.Tail(8), "01230123");
  ring.Append(std::string(20, 'z'));
  EXPECT_EQ(ring.Tail(100), std::string(8, 'z'));
}

}  // namespace
}  // namespace ktvm::vmm
