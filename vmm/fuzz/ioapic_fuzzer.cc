// The IOAPIC's registers are written by the guest (MMIO through the bus),
// its pins by devices and its EOIs by KVM, in any order and from any vCPU.
// Input: 6-byte records {op, arg, value (4 bytes, little endian)}; op % 5
// picks the operation (make_ioapic_seeds.py writes the same encoding):
//  0 MMIO write of 1 << (op / 8 % 4) bytes at offset arg,
//  1 MMIO read, the same way,
//  2 SetIrq(arg % 26 - 1, value & 1): pins -1 and 24 must be ignored,
//  3 EndOfInterrupt(arg),
//  4 register write: IOREGSEL = arg, IOWIN = value, read back.
// After every operation the
// interrupt contract must hold:
//  - every MSI sent came from an unmasked pin's entry;
//  - a level pin that is asserted and unmasked is in service (remote IRR):
//    its interrupt was sent and is waiting for the EOI, never lost;
//  - an edge pin never waits for an EOI, and its rising edge sends one MSI;
//  - the routes last published to KVM are exactly the unmasked pins;
//  - the version register is constant and a redirection entry reads back
//    what the guest wrote, except the read-only bits.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "vmm/devices/io_bus.h"
#include "vmm/devices/ioapic.h"
#include "vmm/x86_64/layout.h"

namespace {

using ktvm::vmm::Ioapic;
using ktvm::vmm::IoapicRoute;
using ktvm::vmm::kIoapicNumPins;
using ktvm::vmm::MsiMessage;

enum Op : uint8_t { kMmioWrite, kMmioRead, kSetIrq, kEoi, kRegister, kOpCount };
constexpr size_t kRecordBytes = 6;
size_t Width(uint8_t op) { return size_t{1} << (op / 8 % 4); }

constexpr uint64_t kBase = ktvm::vmm::x86_64::kIoapicAddr;
constexpr uint64_t kMasked = 1ULL << 16;
constexpr uint64_t kRemoteIrr = 1ULL << 14;
constexpr uint64_t kLevel = 1ULL << 15;
constexpr uint64_t kReadOnlyLow = (1ULL << 12) | kRemoteIrr;
constexpr uint32_t kVersion = 0x00170020;

class Harness {
 public:
  Harness()
      : ioapic_(
            0, [this](const MsiMessage& m) { sent_.push_back(m); },
            [this](const std::vector<IoapicRoute>& r) { routes_ = r; }) {
    if (!bus_.Register(kBase, ktvm::vmm::kIoapicMmioSize, &ioapic_).ok()) {
      __builtin_trap();
    }
  }

  void Run(const uint8_t* rec) {
    const uint8_t op = rec[0];
    const uint8_t arg = rec[1];
    uint32_t value;
    std::memcpy(&value, rec + 2, 4);
    sent_.clear();
    switch (op % kOpCount) {
      case kMmioWrite: {
        uint8_t buf[8];
        std::memcpy(buf, &value, 4);
        std::memcpy(buf + 4, &value, 4);
        bus_.Write(kBase + arg, absl::MakeConstSpan(buf, Width(op)));
        break;
      }
      case kMmioRead: {
        uint8_t buf[8];
        bus_.Read(kBase + arg, absl::MakeSpan(buf, Width(op)));
        break;
      }
      case kSetIrq: {
        // Pins -1..24: the ones outside 0..23 must be ignored.
        const int pin = arg % (kIoapicNumPins + 2) - 1;
        const bool level = value & 1;
        const bool rising =
            pin >= 0 && pin < kIoapicNumPins && level && !asserted_[pin];
        const uint64_t entry = pin >= 0 && pin < kIoapicNumPins
                                   ? ioapic_.redirection_entry(pin)
                                   : 0;
        ioapic_.SetIrq(pin, level);
        if (pin >= 0 && pin < kIoapicNumPins) asserted_[pin] = level;
        if (rising && !(entry & kLevel) && !(entry & kMasked) &&
            (sent_.size() != 1 || !(sent_[0] == Ioapic::MsiFor(entry)))) {
          __builtin_trap();  // a lost or wrong edge interrupt
        }
        break;
      }
      case kEoi:
        ioapic_.EndOfInterrupt(arg);
        break;
      case kRegister:
        WriteRegisterChecked(arg, value);
        break;
    }
    Check();
  }

 private:
  void MmioWrite32(uint64_t offset, uint32_t v) {
    bus_.Write(kBase + offset,
               absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&v), 4));
  }
  uint32_t MmioRead32(uint64_t offset) {
    uint32_t v = 0;
    bus_.Read(kBase + offset,
              absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }

  // IOREGSEL then IOWIN, as every guest driver does.
  void WriteRegisterChecked(uint8_t index, uint32_t value) {
    MmioWrite32(0x00, index);
    MmioWrite32(0x10, value);
    if (MmioRead32(0x00) != index) __builtin_trap();
    const uint32_t back = MmioRead32(0x10);
    if (index < 0x10 || index >= 0x10 + 2 * kIoapicNumPins) return;
    const uint32_t mask =
        index & 1 ? ~0u : ~static_cast<uint32_t>(kReadOnlyLow);
    if ((back & mask) != (value & mask)) __builtin_trap();
  }

  void Check() {
    if (sent_.size() > kIoapicNumPins) __builtin_trap();
    std::array<uint64_t, kIoapicNumPins> entries;
    for (int pin = 0; pin < kIoapicNumPins; ++pin) {
      entries[pin] = ioapic_.redirection_entry(pin);
    }
    for (const MsiMessage& m : sent_) {
      if (std::none_of(entries.begin(), entries.end(), [&](uint64_t e) {
            return !(e & kMasked) && Ioapic::MsiFor(e) == m;
          })) {
        __builtin_trap();  // an interrupt no unmasked pin describes
      }
    }
    std::vector<IoapicRoute> expected;
    for (int pin = 0; pin < kIoapicNumPins; ++pin) {
      const uint64_t e = entries[pin];
      if (!(e & kLevel) && (e & kRemoteIrr)) __builtin_trap();
      if ((e & kLevel) && !(e & kMasked) && asserted_[pin] &&
          !(e & kRemoteIrr)) {
        __builtin_trap();  // an asserted level interrupt was lost
      }
      if (!(e & kMasked)) expected.push_back({pin, Ioapic::MsiFor(e)});
    }
    if (routes_.has_value() && *routes_ != expected) __builtin_trap();
    const uint32_t select = MmioRead32(0x00);
    MmioWrite32(0x00, 0x01);
    if (MmioRead32(0x10) != kVersion) __builtin_trap();
    MmioWrite32(0x00, select);
  }

  std::vector<MsiMessage> sent_;
  std::optional<std::vector<IoapicRoute>> routes_;
  std::array<bool, kIoapicNumPins> asserted_{};
  Ioapic ioapic_;
  ktvm::vmm::IoBus bus_{"mmio"};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness h;
  for (size_t i = 0; i + kRecordBytes <= size; i += kRecordBytes) {
    h.Run(data + i);
  }
  return 0;
}
