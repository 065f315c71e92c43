// One KVM virtual machine: its fd, in-kernel interrupt controllers, the
// addresses KVM needs for its own structures, and guest memory slots.
#ifndef KTVM_VMM_KVM_VM_H_
#define KTVM_VMM_KVM_VM_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "vmm/kvm/kvm_device.h"
#include "vmm/kvm/unique_fd.h"

namespace ktvm::vmm {

class Vm {
 public:
  static absl::StatusOr<Vm> Create(const KvmDevice& kvm);

  int fd() const { return fd_.get(); }

  // Three pages KVM uses for a real-mode TSS on Intel (KVM_SET_TSS_ADDR) and
  // one page for its identity map; both must lie in the hole below 4 GiB.
  absl::Status SetTssAndIdentityMap(uint64_t tss_addr, uint64_t identity_addr);
  // In-kernel PIC + IOAPIC + LAPICs. With `split`, only the LAPICs are in the
  // kernel (needed for APIC ids above 254 with x2APIC).
  absl::Status CreateIrqchip(bool split, int ioapic_pins);
  // KVM_CAP_X2APIC_API: 32-bit APIC ids in LAPIC state and MSIs, and no
  // xAPIC broadcast quirk (0xff is then an ordinary x2APIC id). Needs the
  // split irqchip; before any vCPU exists.
  absl::Status EnableX2apicApi();
  // The in-kernel i8254 PIT; Linux calibrates its timer against it. KVM
  // refuses it without the in-kernel PIC (split irqchip).
  absl::Status CreatePit();
  // KVM_SIGNAL_MSI: `address` with destination bits 8-31 in the high word
  // (X2APIC_API format). False when the guest blocked it (e.g. LAPIC off).
  absl::StatusOr<bool> SignalMsi(uint64_t address, uint32_t data);
  struct MsiRoute {
    uint32_t gsi;
    uint64_t address;
    uint32_t data;
  };
  // KVM_SET_GSI_ROUTING with MSI routes only, replacing the table. With a
  // split irqchip, routes for GSIs below the reserved IOAPIC pins tell KVM
  // which vectors are level-triggered IOAPIC ones, so their EOI exits to
  // the VMM (KVM_EXIT_IOAPIC_EOI).
  absl::Status SetMsiRoutes(absl::Span<const MsiRoute> routes);
  absl::Status SetUserMemoryRegion(uint32_t slot, uint64_t guest_phys_addr,
                                   uint64_t size, void* host_addr);
  // The guest's kvmclock in ns (KVM_GET_CLOCK / KVM_SET_CLOCK; needs
  // KVM_CAP_ADJUST_CLOCK). Setting it back after a freeze hides the frozen
  // time from the guest, so its watchdogs do not fire on resume.
  absl::StatusOr<uint64_t> GetClockNs() const;
  absl::Status SetClockNs(uint64_t ns);

 private:
  explicit Vm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_KVM_VM_H_
