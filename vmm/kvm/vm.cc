#include "vmm/kvm/vm.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "vmm/kvm/kvm_abi.h"

namespace ktvm::vmm {
namespace {

absl::Status IoctlError(const char* what) {
  return absl::InternalError(
      absl::StrFormat("%s failed: %s", what, std::strerror(errno)));
}

}  // namespace

absl::StatusOr<Vm> Vm::Create(const KvmDevice& kvm) {
  const int fd = ::ioctl(kvm.fd(), KVM_CREATE_VM, 0);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrFormat(
        "KVM_CREATE_VM on %s failed: %s", kvm.path(), std::strerror(errno)));
  }
  return Vm(UniqueFd(fd));
}

absl::Status Vm::SetTssAndIdentityMap(uint64_t tss_addr,
                                      uint64_t identity_addr) {
  if (::ioctl(fd(), KVM_SET_TSS_ADDR, tss_addr) < 0) {
    return IoctlError("KVM_SET_TSS_ADDR");
  }
  uint64_t identity = identity_addr;
  if (::ioctl(fd(), KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) {
    return IoctlError("KVM_SET_IDENTITY_MAP_ADDR");
  }
  return absl::OkStatus();
}

absl::Status Vm::CreateIrqchip(bool split, int ioapic_pins) {
  if (!split) {
    if (::ioctl(fd(), KVM_CREATE_IRQCHIP, 0) < 0) {
      return IoctlError("KVM_CREATE_IRQCHIP");
    }
    return absl::OkStatus();
  }
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_SPLIT_IRQCHIP;
  cap.args[0] = ioapic_pins;
  if (::ioctl(fd(), KVM_ENABLE_CAP, &cap) < 0) {
    return IoctlError("KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)");
  }
  return absl::OkStatus();
}

absl::Status Vm::EnableX2apicApi() {
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_X2APIC_API;
  cap.args[0] =
      KVM_X2APIC_API_USE_32BIT_IDS | KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK;
  if (::ioctl(fd(), KVM_ENABLE_CAP, &cap) < 0) {
    return IoctlError("KVM_ENABLE_CAP(KVM_CAP_X2APIC_API)");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Vm::SignalMsi(uint64_t address, uint32_t data) {
  kvm_msi msi{};
  msi.address_lo = static_cast<uint32_t>(address);
  msi.address_hi = static_cast<uint32_t>(address >> 32);
  msi.data = data;
  const int r = ::ioctl(fd(), KVM_SIGNAL_MSI, &msi);
  if (r < 0) return IoctlError("KVM_SIGNAL_MSI");
  return r > 0;
}

absl::Status Vm::SetMsiRoutes(absl::Span<const MsiRoute> routes) {
  // kvm_irq_routing ends in a flexible array: C layout (kvm_abi.h).
  std::vector<uint8_t> buffer(kvm_abi::kEntriesOffset +
                              routes.size() * sizeof(kvm_irq_routing_entry));
  const kvm_abi::ListHeader header{static_cast<uint32_t>(routes.size()), 0};
  std::memcpy(buffer.data(), &header, sizeof(header));
  for (size_t i = 0; i < routes.size(); ++i) {
    kvm_irq_routing_entry e{};
    e.gsi = routes[i].gsi;
    e.type = KVM_IRQ_ROUTING_MSI;
    e.u.msi.address_lo = static_cast<uint32_t>(routes[i].address);
    e.u.msi.address_hi = static_cast<uint32_t>(routes[i].address >> 32);
    e.u.msi.data = routes[i].data;
    std::memcpy(buffer.data() + kvm_abi::kEntriesOffset + i * sizeof(e), &e,
                sizeof(e));
  }
  if (::ioctl(fd(), kvm_abi::kSetGsiRouting, buffer.data()) < 0) {
    return IoctlError("KVM_SET_GSI_ROUTING");
  }
  return absl::OkStatus();
}

absl::Status Vm::CreatePit() {
  kvm_pit_config pit{};
  // Speaker port 0x61 is then emulated by KVM as well.
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  if (::ioctl(fd(), KVM_CREATE_PIT2, &pit) < 0) {
    return IoctlError("KVM_CREATE_PIT2");
  }
  return absl::OkStatus();
}

absl::Status Vm::SetUserMemoryRegion(uint32_t slot, uint64_t guest_phys_addr,
                                     uint64_t size, void* host_addr) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = guest_phys_addr;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host_addr);
  if (::ioctl(fd(), KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    return absl::InternalError(absl::StrFormat(
        "KVM_SET_USER_MEMORY_REGION slot %u gpa 0x%x size 0x%x failed: %s",
        slot, guest_phys_addr, size, std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Vm::GetClockNs() const {
  kvm_clock_data clock{};
  if (::ioctl(fd(), KVM_GET_CLOCK, &clock) < 0) {
    return IoctlError("KVM_GET_CLOCK");
  }
  return static_cast<uint64_t>(clock.clock);
}

absl::Status Vm::SetClockNs(uint64_t ns) {
  // No KVM_CLOCK_REALTIME flag: the guest continues from `ns` exactly rather
  // than catching up with the host's wall clock.
  kvm_clock_data clock{};
  clock.clock = ns;
  if (::ioctl(fd(), KVM_SET_CLOCK, &clock) < 0) {
    return IoctlError("KVM_SET_CLOCK");
  }
  return absl::OkStatus();
}

}  // namespace ktvm::vmm
