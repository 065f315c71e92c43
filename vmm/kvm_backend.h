// The KVM Machine behind the backend interface that the sched_ext monitor
// and the dump engine use (vmm/backend/backend.h).
#ifndef KTVM_VMM_KVM_BACKEND_H_
#define KTVM_VMM_KVM_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "memory/guest_memory.h"
#include "vmm/backend/backend.h"
#include "vmm/machine.h"

namespace ktvm::vmm {

class KvmBackend : public backend::Backend {
 public:
  // `config`'s console/control_line callbacks are replaced by Start()'s.
  static absl::StatusOr<std::unique_ptr<KvmBackend>> Create(
      MachineConfig config);

  std::string_view name() const override { return "kvm"; }
  int num_vcpus() const override { return machine_->num_vcpus(); }
  absl::Status Start(backend::BackendCallbacks callbacks) override;
  absl::Status Freeze() override;
  absl::StatusOr<std::vector<ktvm::report::VcpuState>> ReadRegisters() override;
  absl::Status Resume() override;
  absl::Status Stop() override;
  // The machine's RAM (with its hole below 4 GiB); valid from Create().
  const ktvm::memory::GuestMemory& memory() const override;
  absl::StatusOr<backend::GuestExit> WaitForExit(
      absl::Duration timeout) override;
  std::string ConsoleTail(size_t max_bytes) const override;
  std::vector<std::string> ControlLines() const override;
  backend::GuestHostThreads HostThreads() const override;

  Machine& machine() { return *machine_; }
  // Time the last Freeze() took until every vCPU parked (or gave up).
  absl::Duration last_freeze_duration() const { return last_freeze_; }

  // How long Freeze() waits for each vCPU to park.
  static constexpr absl::Duration kParkTimeout = absl::Seconds(1);

 private:
  KvmBackend() = default;

  std::unique_ptr<Machine> machine_;
  ktvm::memory::GuestMemory guest_memory_;
  backend::BackendCallbacks callbacks_;
  bool started_ = false;
  bool frozen_ = false;
  std::vector<VcpuSnapshot> snapshots_;
  absl::Duration last_freeze_;
};

}  // namespace ktvm::vmm

#endif  // KTVM_VMM_KVM_BACKEND_H_
