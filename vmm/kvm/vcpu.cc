#include "vmm/kvm/vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_format.h"
#include "vmm/kvm/kvm_abi.h"

namespace ktvm::vmm {

absl::StatusOr<Vcpu> Vcpu::Create(const KvmDevice& kvm, const Vm& vm,
                                  int index) {
  const int fd = ::ioctl(vm.fd(), KVM_CREATE_VCPU, index);
  if (fd < 0) {
    return absl::InternalError(absl::StrFormat("KVM_CREATE_VCPU %d failed: %s",
                                               index, std::strerror(errno)));
  }
  UniqueFd owned(fd);
  void* map = ::mmap(nullptr, kvm.vcpu_mmap_size(), PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    return absl::InternalError(absl::StrFormat(
        "mmap of vCPU %d kvm_run failed: %s", index, std::strerror(errno)));
  }
  return Vcpu(index, std::move(owned), UniqueMmap(map, kvm.vcpu_mmap_size()));
}

absl::Status Vcpu::Ioctl(unsigned long request, void* arg,
                         const char* what) const {
  if (::ioctl(fd_.get(), request, arg) < 0) {
    return absl::InternalError(absl::StrFormat("%s on vCPU %d failed: %s", what,
                                               index_, std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status Vcpu::Run() {
  if (::ioctl(fd_.get(), KVM_RUN, 0) < 0) {
    if (errno == EINTR || errno == EAGAIN) {
      return absl::CancelledError("KVM_RUN interrupted");
    }
    return absl::InternalError(absl::StrFormat("KVM_RUN on vCPU %d failed: %s",
                                               index_, std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<kvm_regs> Vcpu::GetRegs() const {
  kvm_regs regs{};
  if (absl::Status s = Ioctl(KVM_GET_REGS, &regs, "KVM_GET_REGS"); !s.ok()) {
    return s;
  }
  return regs;
}

absl::Status Vcpu::SetRegs(const kvm_regs& regs) {
  kvm_regs copy = regs;
  return Ioctl(KVM_SET_REGS, &copy, "KVM_SET_REGS");
}

absl::StatusOr<kvm_sregs> Vcpu::GetSregs() const {
  kvm_sregs sregs{};
  if (absl::Status s = Ioctl(KVM_GET_SREGS, &sregs, "KVM_GET_SREGS"); !s.ok()) {
    return s;
  }
  return sregs;
}

absl::Status Vcpu::SetSregs(const kvm_sregs& sregs) {
  kvm_sregs copy = sregs;
  return Ioctl(KVM_SET_SREGS, &copy, "KVM_SET_SREGS");
}

absl::Status Vcpu::SetFpu(const kvm_fpu& fpu) {
  kvm_fpu copy = fpu;
  return Ioctl(KVM_SET_FPU, &copy, "KVM_SET_FPU");
}

absl::Status Vcpu::SetCpuid(absl::Span<const kvm_cpuid_entry2> entries) {
  std::vector<uint8_t> buffer(kvm_abi::kEntriesOffset +
                              entries.size() * sizeof(kvm_cpuid_entry2));
  const kvm_abi::ListHeader header{static_cast<uint32_t>(entries.size()), 0};
  std::memcpy(buffer.data(), &header, sizeof(header));
  std::memcpy(buffer.data() + kvm_abi::kEntriesOffset, entries.data(),
              entries.size() * sizeof(kvm_cpuid_entry2));
  return Ioctl(kvm_abi::kSetCpuid2, buffer.data(), "KVM_SET_CPUID2");
}

absl::Status Vcpu::SetMsrs(absl::Span<const MsrValue> msrs) {
  std::vector<uint8_t> buffer(kvm_abi::kEntriesOffset +
                              msrs.size() * sizeof(kvm_msr_entry));
  const kvm_abi::ListHeader header{static_cast<uint32_t>(msrs.size()), 0};
  std::memcpy(buffer.data(), &header, sizeof(header));
  for (size_t i = 0; i < msrs.size(); ++i) {
    kvm_msr_entry entry{};
    entry.index = msrs[i].index;
    entry.data = msrs[i].value;
    std::memcpy(buffer.data() + kvm_abi::kEntriesOffset + i * sizeof(entry),
                &entry, sizeof(entry));
  }
  // KVM_SET_MSRS returns how many it set; a short count names the culprit.
  const int set = ::ioctl(fd_.get(), kvm_abi::kSetMsrs, buffer.data());
  if (set < 0) {
    return absl::InternalError(absl::StrFormat(
        "KVM_SET_MSRS on vCPU %d failed: %s", index_, std::strerror(errno)));
  }
  if (static_cast<size_t>(set) != msrs.size()) {
    return absl::InternalError(absl::StrFormat(
        "KVM_SET_MSRS on vCPU %d rejected MSR 0x%x", index_, msrs[set].index));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<MsrValue>> Vcpu::GetMsrs(
    absl::Span<const uint32_t> indices) const {
  std::vector<uint8_t> buffer(kvm_abi::kEntriesOffset +
                              indices.size() * sizeof(kvm_msr_entry));
  const kvm_abi::ListHeader header{static_cast<uint32_t>(indices.size()), 0};
  std::memcpy(buffer.data(), &header, sizeof(header));
  for (size_t i = 0; i < indices.size(); ++i) {
    kvm_msr_entry entry{};
    entry.index = indices[i];
    std::memcpy(buffer.data() + kvm_abi::kEntriesOffset + i * sizeof(entry),
                &entry, sizeof(entry));
  }
  const int got = ::ioctl(fd_.get(), kvm_abi::kGetMsrs, buffer.data());
  if (got < 0) {
    return absl::InternalError(absl::StrFormat(
        "KVM_GET_MSRS on vCPU %d failed: %s", index_, std::strerror(errno)));
  }
  std::vector<MsrValue> out;
  for (int i = 0; i < got && static_cast<size_t>(i) < indices.size(); ++i) {
    kvm_msr_entry entry;
    std::memcpy(&entry,
                buffer.data() + kvm_abi::kEntriesOffset + i * sizeof(entry),
                sizeof(entry));
    out.push_back({entry.index, entry.data});
  }
  return out;
}

absl::StatusOr<kvm_lapic_state> Vcpu::GetLapic() const {
  kvm_lapic_state lapic{};
  if (absl::Status s = Ioctl(KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC"); !s.ok()) {
    return s;
  }
  return lapic;
}

absl::Status Vcpu::SetLapic(const kvm_lapic_state& lapic) {
  kvm_lapic_state copy = lapic;
  return Ioctl(KVM_SET_LAPIC, &copy, "KVM_SET_LAPIC");
}

absl::StatusOr<kvm_mp_state> Vcpu::GetMpState() const {
  kvm_mp_state state{};
  if (absl::Status s = Ioctl(KVM_GET_MP_STATE, &state, "KVM_GET_MP_STATE");
      !s.ok()) {
    return s;
  }
  return state;
}

absl::Status Vcpu::SetMpState(const kvm_mp_state& state) {
  kvm_mp_state copy = state;
  return Ioctl(KVM_SET_MP_STATE, &copy, "KVM_SET_MP_STATE");
}

}  // namespace ktvm::vmm
