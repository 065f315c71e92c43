// A userspace 82093AA-style IOAPIC (version 0x20, 24 pins) for KVM's split
// irqchip, where the LAPICs are in the kernel and the IOAPIC is the VMM's.
//
// Register window at its MMIO base: IOREGSEL (+0x00), IOWIN (+0x10) and the
// version-0x20 EOI register (+0x40). A pin assertion becomes an MSI in the
// format KVM expects with KVM_CAP_X2APIC_API: destination bits 0-7 in
// address bits 12-19, bits 8-31 in the high address word. The destination
// comes from RTE bits 56-63 plus, as Linux's "extended destination id"
// (KVM_FEATURE_MSI_EXT_DEST_ID), bits 8-14 from RTE bits 49-55, so x2APIC
// ids up to 32767 are reachable without interrupt remapping.
//
// Inputs are logical levels (asserted or not), as in QEMU: the polarity bit
// is stored for the guest but not applied. Edge pins fire on a rising edge;
// level pins fire while asserted and not awaiting EOI (remote IRR), and fire
// again after an EOI of their vector when still asserted.
#ifndef KTVM_VMM_DEVICES_IOAPIC_H_
#define KTVM_VMM_DEVICES_IOAPIC_H_

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "vmm/devices/io_bus.h"

namespace ktvm::vmm {

inline constexpr int kIoapicNumPins = 24;
inline constexpr uint64_t kIoapicMmioSize = 0x100;

struct MsiMessage {
  uint64_t address = 0;  // low word: 0xfee..., high word: dest bits 8-31
  uint32_t data = 0;
  bool operator==(const MsiMessage&) const = default;
};

// One unmasked pin and the MSI it sends; KVM needs these as GSI routes to
// know which vectors are the IOAPIC's level-triggered ones (EOI exits).
struct IoapicRoute {
  int pin = 0;
  MsiMessage msi;
  bool operator==(const IoapicRoute&) const = default;
};

class Ioapic : public IoDevice {
 public:
  using SendMsiFn = std::function<void(const MsiMessage&)>;
  using RoutesFn = std::function<void(const std::vector<IoapicRoute>&)>;

  // Calls `send_msi` for each interrupt and `routes_changed` whenever the
  // guest rewrites a redirection entry. Both run with the IOAPIC's lock
  // held, from whichever thread raised the pin or wrote the register.
  Ioapic(uint8_t id, SendMsiFn send_msi, RoutesFn routes_changed);

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // A device's interrupt line; pins outside 0..23 are ignored.
  void SetIrq(int pin, bool asserted);
  // The guest's EOI of `vector` (KVM_EXIT_IOAPIC_EOI or the EOI register).
  void EndOfInterrupt(uint8_t vector);

  uint64_t redirection_entry(int pin) const;
  // The MSI an entry describes (exposed for tests and route building).
  static MsiMessage MsiFor(uint64_t entry);

 private:
  uint32_t ReadRegister(uint32_t index) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void WriteRegister(uint32_t index, uint32_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends a level pin's interrupt if it is asserted, unmasked and not
  // waiting for an EOI.
  void ServiceLevel(int pin) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Deliver(int pin) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishRoutes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SendMsiFn send_msi_;
  const RoutesFn routes_changed_;
  mutable absl::Mutex mu_;
  uint32_t id_ ABSL_GUARDED_BY(mu_);
  uint32_t select_ ABSL_GUARDED_BY(mu_) = 0;
  std::array<uint64_t, kIoapicNumPins> entries_ ABSL_GUARDED_BY(mu_);
  std::array<bool, kIoapicNumPins> asserted_ ABSL_GUARDED_BY(mu_){};
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_DEVICES_IOAPIC_H_
