#include "vmm/devices/ioapic.h"

#include <algorithm>
#include <cstring>

namespace ktvm::vmm {
namespace {

constexpr uint64_t kRegSelect = 0x00;
constexpr uint64_t kRegWindow = 0x10;
constexpr uint64_t kRegEoi = 0x40;

constexpr uint32_t kIndexId = 0x00;
constexpr uint32_t kIndexVersion = 0x01;
constexpr uint32_t kIndexArbitration = 0x02;
constexpr uint32_t kIndexRedirBase = 0x10;
// Version 0x20 has the EOI register; bits 16-23 = highest pin.
constexpr uint32_t kVersion = 0x20 | ((kIoapicNumPins - 1) << 16);

constexpr uint64_t kVectorMask = 0xff;
constexpr int kDeliveryModeShift = 8;
constexpr uint64_t kDestModeLogical = 1ULL << 11;
constexpr uint64_t kRemoteIrr = 1ULL << 14;
constexpr uint64_t kTriggerLevel = 1ULL << 15;
constexpr uint64_t kMasked = 1ULL << 16;
constexpr int kExtDestShift = 49;  // 7 bits: destination bits 8-14
constexpr int kDestShift = 56;
// Bits the guest cannot write: delivery status (12) and remote IRR (14).
constexpr uint64_t kReadOnlyBits = (1ULL << 12) | kRemoteIrr;

constexpr uint64_t kMsiBase = 0xfee00000;
constexpr int kMsiDestShift = 12;
constexpr int kMsiDestModeShift = 2;
constexpr uint32_t kMsiLevelAssert = 1u << 14;
constexpr uint32_t kMsiTriggerLevel = 1u << 15;

uint32_t LoadU32(absl::Span<const uint8_t> data) {
  uint32_t v = 0;
  std::memcpy(&v, data.data(), std::min<size_t>(data.size(), sizeof(v)));
  return v;
}

}  // namespace

Ioapic::Ioapic(uint8_t id, SendMsiFn send_msi, RoutesFn routes_changed)
    : send_msi_(std::move(send_msi)),
      routes_changed_(std::move(routes_changed)),
      id_(id) {
  entries_.fill(kMasked);  // every pin masked at reset
}

MsiMessage Ioapic::MsiFor(uint64_t entry) {
  const uint32_t dest =
      static_cast<uint32_t>((entry >> kDestShift) & 0xff) |
      static_cast<uint32_t>(((entry >> kExtDestShift) & 0x7f) << 8);
  MsiMessage msi;
  msi.address = kMsiBase | (uint64_t{dest & 0xff} << kMsiDestShift) |
                (entry & kDestModeLogical ? 1ULL << kMsiDestModeShift : 0) |
                (uint64_t{dest & 0xffffff00u} << 32);
  msi.data = static_cast<uint32_t>(entry & kVectorMask) |
             (static_cast<uint32_t>((entry >> kDeliveryModeShift) & 0x7) << 8);
  if (entry & kTriggerLevel) msi.data |= kMsiTriggerLevel | kMsiLevelAssert;
  return msi;
}

void Ioapic::Read(uint64_t offset, absl::Span<uint8_t> data) {
  uint32_t value = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    if (offset == kRegSelect) {
      value = select_;
    } else if (offset == kRegWindow) {
      value = ReadRegister(select_);
    }
  }
  std::memset(data.data(), 0, data.size());
  std::memcpy(data.data(), &value, std::min(data.size(), sizeof(value)));
}

void Ioapic::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (data.empty()) return;
  const uint32_t value = LoadU32(data);
  if (offset == kRegEoi) {
    EndOfInterrupt(static_cast<uint8_t>(value));
    return;
  }
  absl::MutexLock lock(&mu_);
  if (offset == kRegSelect) {
    select_ = value & 0xff;
  } else if (offset == kRegWindow) {
    WriteRegister(select_, value);
  }
}

uint32_t Ioapic::ReadRegister(uint32_t index) const {
  switch (index) {
    case kIndexId:
    case kIndexArbitration:
      return id_ << 24;
    case kIndexVersion:
      return kVersion;
    default:
      break;
  }
  if (index < kIndexRedirBase) return 0;
  const uint32_t pin = (index - kIndexRedirBase) / 2;
  if (pin >= kIoapicNumPins) return 0;
  const uint64_t entry = entries_[pin];
  return (index & 1) ? static_cast<uint32_t>(entry >> 32)
                     : static_cast<uint32_t>(entry);
}

void Ioapic::WriteRegister(uint32_t index, uint32_t value) {
  if (index == kIndexId) {
    id_ = (value >> 24) & 0xf;
    return;
  }
  if (index < kIndexRedirBase) return;  // version/arbitration: read-only
  const uint32_t pin = (index - kIndexRedirBase) / 2;
  if (pin >= kIoapicNumPins) return;
  uint64_t entry = entries_[pin];
  if (index & 1) {
    entry = (entry & 0xffffffffULL) | (uint64_t{value} << 32);
  } else {
    entry = (entry & 0xffffffff00000000ULL) | value;
    entry = (entry & ~kReadOnlyBits) | (entries_[pin] & kReadOnlyBits);
  }
  // An edge-triggered entry has no EOI to wait for.
  if (!(entry & kTriggerLevel)) entry &= ~kRemoteIrr;
  entries_[pin] = entry;
  PublishRoutes();
  if (entry & kTriggerLevel) ServiceLevel(static_cast<int>(pin));
}

void Ioapic::SetIrq(int pin, bool asserted) {
  if (pin < 0 || pin >= kIoapicNumPins) return;
  absl::MutexLock lock(&mu_);
  const bool rising = asserted && !asserted_[pin];
  asserted_[pin] = asserted;
  const uint64_t entry = entries_[pin];
  if (entry & kTriggerLevel) {
    ServiceLevel(pin);
  } else if (rising && !(entry & kMasked)) {
    Deliver(pin);
  }
}

void Ioapic::EndOfInterrupt(uint8_t vector) {
  absl::MutexLock lock(&mu_);
  for (int pin = 0; pin < kIoapicNumPins; ++pin) {
    uint64_t& entry = entries_[pin];
    if ((entry & kVectorMask) != vector || !(entry & kRemoteIrr)) continue;
    entry &= ~kRemoteIrr;
    ServiceLevel(pin);
  }
}

void Ioapic::ServiceLevel(int pin) {
  uint64_t& entry = entries_[pin];
  if (!asserted_[pin] || (entry & kMasked) || (entry & kRemoteIrr)) return;
  entry |= kRemoteIrr;
  Deliver(pin);
}

void Ioapic::Deliver(int pin) {
  if (send_msi_) send_msi_(MsiFor(entries_[pin]));
}

void Ioapic::PublishRoutes() {
  if (!routes_changed_) return;
  std::vector<IoapicRoute> routes;
  for (int pin = 0; pin < kIoapicNumPins; ++pin) {
    if (entries_[pin] & kMasked) continue;
    routes.push_back({pin, MsiFor(entries_[pin])});
  }
  routes_changed_(routes);
}

uint64_t Ioapic::redirection_entry(int pin) const {
  absl::ReaderMutexLock lock(&mu_);
  if (pin < 0 || pin >= kIoapicNumPins) return 0;
  return entries_[pin];
}

}  // namespace ktvm::vmm
