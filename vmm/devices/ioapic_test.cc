#include "vmm/devices/ioapic.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace ktvm::vmm {
namespace {

class IoapicTest : public ::testing::Test {
 protected:
  IoapicTest()
      : ioapic_(
            /*id=*/0, [this](const MsiMessage& m) { sent_.push_back(m); },
            [this](const std::vector<IoapicRoute>& r) { routes_ = r; }) {}

  void WriteReg(uint32_t index, uint32_t value) {
    ioapic_.Write(0x00, AsBytes(index));
    ioapic_.Write(0x10, AsBytes(value));
  }
  uint32_t ReadReg(uint32_t index) {
    ioapic_.Write(0x00, AsBytes(index));
    uint32_t v = 0;
    ioapic_.Read(0x10, absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  // Programs pin's entry as Linux does: high word first, low word last.
  void Program(int pin, uint64_t entry) {
    WriteReg(0x10 + 2 * pin + 1, static_cast<uint32_t>(entry >> 32));
    WriteReg(0x10 + 2 * pin, static_cast<uint32_t>(entry));
  }
  static absl::Span<const uint8_t> AsBytes(const uint32_t& v) {
    return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&v), 4);
  }

  std::vector<MsiMessage> sent_;
  std::vector<IoapicRoute> routes_;
  Ioapic ioapic_;
};

TEST_F(IoapicTest, IdentityRegisters) {
  EXPECT_EQ(ReadReg(0x01), 0x00170020u) << "version 0x20, 24 pins";
  EXPECT_EQ(ReadReg(0x00), 0u);
  WriteReg(0x00, 0x05000000);
  EXPECT_EQ(ReadReg(0x00), 0x05000000u);
  WriteReg(0x01, 0xffffffff);
  EXPECT_EQ(ReadReg(0x01), 0x00170020u) << "version is read-only";
  EXPECT_EQ(ReadReg(0x10 + 2 * 30), 0u) << "beyond the last pin";
}

TEST_F(IoapicTest, PinsStartMaskedAndSendNothing) {
  for (int pin = 0; pin < kIoapicNumPins; ++pin) {
    EXPECT_EQ(ioapic_.redirection_entry(pin), 1ULL << 16);
    ioapic_.SetIrq(pin, true);
  }
  EXPECT_TRUE(sent_.empty());
}

// COM1 as Linux programs it: pin 4, edge, fixed delivery, physical
// destination APIC 3, vector 0x24.
TEST_F(IoapicTest, EdgePinSendsOneMsiPerRisingEdge) {
  Program(4, (3ULL << 56) | 0x24);
  ASSERT_EQ(routes_.size(), 1u);
  EXPECT_EQ(routes_[0].pin, 4);
  ioapic_.SetIrq(4, true);
  ioapic_.SetIrq(4, true);  // still high: no new edge
  ioapic_.SetIrq(4, false);
  ioapic_.SetIrq(4, true);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0].address, 0xfee03000u);
  EXPECT_EQ(sent_[0].data, 0x24u);
  EXPECT_EQ(sent_[0], routes_[0].msi);
  EXPECT_EQ(ioapic_.redirection_entry(4) & (1ULL << 14), 0u) << "no IRR";
}

// x2APIC destination 0x2c5 (vCPU 709): bits 0-7 in RTE 56-63, bits 8-14 in
// RTE 49-55 (Linux's extended destination id); KVM wants bits 8-31 in the
// high address word.
TEST_F(IoapicTest, ExtendedDestinationIdReachesX2apicIds) {
  const uint32_t dest = 709;
  Program(3,
          (uint64_t{dest & 0xff} << 56) | (uint64_t{dest >> 8} << 49) | 0x31);
  ioapic_.SetIrq(3, true);
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].address & 0xffffffffu, 0xfee00000u | (0xc5u << 12));
  EXPECT_EQ(sent_[0].address >> 32, 0x200u) << "dest bits 8-31 at 8-31";
  EXPECT_EQ(sent_[0].data, 0x31u);
}

TEST_F(IoapicTest, LogicalModeAndDeliveryModeInTheMessage) {
  // NMI delivery (4), logical destination 0x0f.
  Program(9, (0x0fULL << 56) | (1ULL << 11) | (4ULL << 8) | 0x02);
  ioapic_.SetIrq(9, true);
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].address, 0xfee0f004u) << "DM bit 2";
  EXPECT_EQ(sent_[0].data, 0x402u);
}

TEST_F(IoapicTest, LevelPinWaitsForEoiAndRefiresWhileAsserted) {
  Program(10, (1ULL << 15) | 0x40);  // level, vector 0x40, APIC 0
  ioapic_.SetIrq(10, true);
  ioapic_.SetIrq(10, true);
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].data, 0x40u | (1u << 15) | (1u << 14));
  EXPECT_TRUE(ioapic_.redirection_entry(10) & (1ULL << 14)) << "remote IRR";
  ioapic_.EndOfInterrupt(0x41);  // another vector: nothing
  EXPECT_EQ(sent_.size(), 1u);
  ioapic_.EndOfInterrupt(0x40);  // still asserted: fires again
  EXPECT_EQ(sent_.size(), 2u);
  ioapic_.SetIrq(10, false);
  uint32_t eoi = 0x40;
  ioapic_.Write(0x40, absl::MakeConstSpan(reinterpret_cast<uint8_t*>(&eoi), 4));
  EXPECT_EQ(sent_.size(), 2u) << "deasserted: EOI only clears remote IRR";
  EXPECT_FALSE(ioapic_.redirection_entry(10) & (1ULL << 14));
}

TEST_F(IoapicTest, UnmaskingAnAssertedLevelPinFires) {
  ioapic_.SetIrq(11, true);
  Program(11, (1ULL << 16) | (1ULL << 15) | 0x50);
  EXPECT_TRUE(sent_.empty());
  EXPECT_TRUE(routes_.empty()) << "masked pins are not routed";
  Program(11, (1ULL << 15) | 0x50);
  EXPECT_EQ(sent_.size(), 1u);
  EXPECT_EQ(routes_.size(), 1u);
}

TEST_F(IoapicTest, GuestCannotWriteRemoteIrrOrDeliveryStatus) {
  Program(5, (1ULL << 15) | (1ULL << 14) | (1ULL << 12) | 0x60);
  EXPECT_EQ(ioapic_.redirection_entry(5) & ((1ULL << 14) | (1ULL << 12)), 0u);
}

TEST_F(IoapicTest, OutOfRangeInputsAreIgnored) {
  ioapic_.SetIrq(-1, true);
  ioapic_.SetIrq(kIoapicNumPins, true);
  ioapic_.Write(0x20, AsBytes(0xffffffffu));  // no register there
  ioapic_.Write(0x10, {});                    // zero-length access
  uint8_t byte = 0xaa;
  ioapic_.Read(0x30, absl::MakeSpan(&byte, 1));
  EXPECT_EQ(byte, 0);
  EXPECT_TRUE(sent_.empty());
}

}  // namespace
}  // namespace ktvm::vmm
