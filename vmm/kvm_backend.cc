#include "vmm/kvm_backend.h"

#include <unistd.h>

#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "vmm/x86_64/vcpu_state.h"

namespace ktvm::vmm {

absl::StatusOr<std::unique_ptr<KvmBackend>> KvmBackend::Create(
    MachineConfig config) {
  std::unique_ptr<KvmBackend> b(new KvmBackend());
  KvmBackend* raw = b.get();
  // The machine's devices call these from vCPU threads; Start() fills the
  // callbacks before any vCPU runs.
  config.console = [raw](std::string_view bytes) {
    if (raw->callbacks_.console) raw->callbacks_.console(bytes);
  };
  config.control_line = [raw](std::string_view line) {
    if (raw->callbacks_.control_line) raw->callbacks_.control_line(line);
  };
  absl::StatusOr<std::unique_ptr<Machine>> m =
      Machine::Create(std::move(config));
  if (!m.ok()) return m.status();
  b->machine_ = std::move(*m);
  // The machine's RAM mapping lives as long as the backend, so the view
  // needs no keepalive.
  std::vector<ktvm::memory::MemoryRegion> regions;
  for (const RamRegion& r : b->machine_->ram().regions()) {
    regions.push_back({r.gpa, r.size, r.host});
  }
  absl::StatusOr<ktvm::memory::GuestMemory> memory =
      ktvm::memory::GuestMemory::FromRegions(std::move(regions));
  if (!memory.ok()) return memory.status();
  b->guest_memory_ = *std::move(memory);
  return b;
}

absl::Status KvmBackend::Start(backend::BackendCallbacks callbacks) {
  if (started_) return absl::FailedPreconditionError("already started");
  callbacks_ = std::move(callbacks);
  started_ = true;
  return machine_->Start();
}

absl::Status KvmBackend::Freeze() {
  if (!started_) return absl::FailedPreconditionError("not started");
  const absl::Time t0 = absl::Now();
  snapshots_ = machine_->Freeze(kParkTimeout);
  last_freeze_ = absl::Now() - t0;
  frozen_ = true;
  for (const VcpuSnapshot& s : snapshots_) {
    if (!s.parked) {
      return absl::DeadlineExceededError(
          absl::StrFormat("vCPU %d did not park: %s", s.vcpu, s.error));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ktvm::report::VcpuState>>
KvmBackend::ReadRegisters() {
  if (!frozen_) {
    return absl::FailedPreconditionError("ReadRegisters needs a frozen guest");
  }
  std::vector<ktvm::report::VcpuState> out;
  for (const VcpuSnapshot& s : snapshots_) {
    out.push_back(x86_64::ToVcpuState(s));
  }
  return out;
}

absl::Status KvmBackend::Resume() {
  if (!frozen_) return absl::FailedPreconditionError("not frozen");
  frozen_ = false;
  // A clock that could not be set back only makes the guest see the frozen
  // time; the vCPUs run again either way.
  return machine_->Resume();
}

absl::Status KvmBackend::Stop() {
  const std::vector<Machine::StuckVcpu> stuck = machine_->Stop();
  frozen_ = false;
  if (stuck.empty()) return absl::OkStatus();
  std::vector<std::string> names;
  for (const Machine::StuckVcpu& s : stuck) {
    names.push_back(absl::StrFormat(
        "vCPU %d is still %s", s.vcpu,
        s.in_kvm_run ? "inside KVM_RUN" : "in ktvm's exit handling"));
  }
  return absl::DeadlineExceededError(absl::StrFormat(
      "%s %s after the stop request; left running until ktvm exits",
      absl::StrJoin(names, ", "),
      absl::FormatDuration(Machine::kVcpuJoinTimeout)));
}

const ktvm::memory::GuestMemory& KvmBackend::memory() const {
  return guest_memory_;
}

absl::StatusOr<backend::GuestExit> KvmBackend::WaitForExit(
    absl::Duration timeout) {
  const MachineExit exit = machine_->Wait(timeout);
  backend::GuestExit out;
  out.detail = absl::StrFormat("%s: %s", MachineExitReasonName(exit.reason),
                               exit.detail);
  switch (exit.reason) {
    case MachineExit::Reason::kTimeout:
      return absl::DeadlineExceededError(exit.detail);
    case MachineExit::Reason::kPoweroff:
      out.reason = backend::GuestExit::Reason::kPoweroff;
      break;
    // A triple fault resets a PC; like QEMU with -no-reboot, it ends the run.
    case MachineExit::Reason::kTripleFault:
    case MachineExit::Reason::kI8042Reset:
    case MachineExit::Reason::kReset:
      out.reason = backend::GuestExit::Reason::kReset;
      break;
    case MachineExit::Reason::kStopped:
      out.reason = backend::GuestExit::Reason::kStopped;
      break;
    case MachineExit::Reason::kFailEntry:
    case MachineExit::Reason::kInternalError:
    case MachineExit::Reason::kVmmError:
      out.reason = backend::GuestExit::Reason::kCrashed;
      break;
  }
  return out;
}

std::string KvmBackend::ConsoleTail(size_t max_bytes) const {
  return machine_->ConsoleTail(max_bytes);
}

backend::GuestHostThreads KvmBackend::HostThreads() const {
  return {.pid = getpid(), .tids = machine_->VcpuHostThreadIds()};
}

std::vector<std::string> KvmBackend::ControlLines() const {
  return machine_->ControlLines();
}

}  // namespace ktvm::vmm
