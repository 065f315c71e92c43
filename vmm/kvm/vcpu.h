// One KVM vCPU: its fd, its kvm_run page and typed wrappers for the state
// ioctls. The run loop lives in vcpu_thread.h.
#ifndef KTVM_VMM_KVM_VCPU_H_
#define KTVM_VMM_KVM_VCPU_H_

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "vmm/kvm/kvm_device.h"
#include "vmm/kvm/unique_fd.h"
#include "vmm/kvm/unique_mmap.h"
#include "vmm/kvm/vm.h"

namespace ktvm::vmm {

struct MsrValue {
  uint32_t index;
  uint64_t value;
};

class Vcpu {
 public:
  static absl::StatusOr<Vcpu> Create(const KvmDevice& kvm, const Vm& vm,
                                     int index);

  int index() const { return index_; }
  int fd() const { return fd_.get(); }
  kvm_run* run() const { return static_cast<kvm_run*>(run_map_.get()); }

  // One KVM_RUN. Ok when the guest exited (see run()->exit_reason);
  // Cancelled when a signal or immediate_exit interrupted it.
  absl::Status Run();

  absl::StatusOr<kvm_regs> GetRegs() const;
  absl::Status SetRegs(const kvm_regs& regs);
  absl::StatusOr<kvm_sregs> GetSregs() const;
  absl::Status SetSregs(const kvm_sregs& sregs);
  absl::Status SetFpu(const kvm_fpu& fpu);
  absl::Status SetCpuid(absl::Span<const kvm_cpuid_entry2> entries);
  absl::Status SetMsrs(absl::Span<const MsrValue> msrs);
  absl::StatusOr<std::vector<MsrValue>> GetMsrs(
      absl::Span<const uint32_t> indices) const;
  absl::StatusOr<kvm_lapic_state> GetLapic() const;
  absl::Status SetLapic(const kvm_lapic_state& lapic);
  absl::StatusOr<kvm_mp_state> GetMpState() const;
  absl::Status SetMpState(const kvm_mp_state& state);

 private:
  Vcpu(int index, UniqueFd fd, UniqueMmap run_map)
      : index_(index), fd_(std::move(fd)), run_map_(std::move(run_map)) {}
  absl::Status Ioctl(unsigned long request, void* arg, const char* what) const;

  int index_;
  UniqueFd fd_;
  UniqueMmap run_map_;
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_KVM_VCPU_H_
