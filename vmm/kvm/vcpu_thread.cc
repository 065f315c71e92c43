#include "vmm/kvm/vcpu_thread.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace ktvm::vmm {
namespace {

// Firecracker-style: the first real-time signal, which glibc leaves to
// applications.
void NoopHandler(int) {}

// JoinUntil's extra wait for a thread it found outside KVM_RUN: ample for
// one exit handler (microseconds), short next to the stop deadline.
constexpr absl::Duration kOutsideRunGrace = absl::Milliseconds(100);

constexpr uint32_t kSnapshotMsrs[] = {
    0xc0000100,  // FS_BASE
    0xc0000101,  // GS_BASE
    0xc0000102,  // KERNEL_GS_BASE
    0xc0000082,  // LSTAR
    0xc0000080,  // EFER
};

}  // namespace

const char* VcpuStopReasonName(VcpuStopReason reason) {
  switch (reason) {
    case VcpuStopReason::kTripleFault:
      return "triple fault (KVM_EXIT_SHUTDOWN)";
    case VcpuStopReason::kSystemShutdown:
      return "system event: shutdown";
    case VcpuStopReason::kSystemReset:
      return "system event: reset";
    case VcpuStopReason::kFailEntry:
      return "KVM_EXIT_FAIL_ENTRY";
    case VcpuStopReason::kInternalError:
      return "KVM_EXIT_INTERNAL_ERROR";
    case VcpuStopReason::kUnhandledExit:
      return "unhandled exit";
    case VcpuStopReason::kVmmError:
      return "VMM error";
  }
  return "?";
}

int VcpuThread::KickSignal() { return SIGRTMIN; }

absl::Status VcpuThread::InstallKickSignal() {
  struct sigaction sa {};
  sa.sa_handler = NoopHandler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  if (sigaction(KickSignal(), &sa, nullptr) != 0) {
    return absl::InternalError(absl::StrFormat(
        "sigaction for the vCPU kick signal failed: %s", std::strerror(errno)));
  }
  return absl::OkStatus();
}

VcpuThread::~VcpuThread() {
  RequestStop();
  Join();
}

void VcpuThread::Start() {
  started_ = true;
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
}

// kvm_run.immediate_exit is shared by the kicking thread, the vCPU thread
// and KVM: atomic accesses (a plain store here raced with the vCPU thread's
// reset, as TSan showed).
std::atomic_ref<uint8_t> VcpuThread::ImmediateExit() {
  return std::atomic_ref<uint8_t>(vcpu_->run()->immediate_exit);
}

void VcpuThread::Kick() {
  // immediate_exit covers the window before the thread enters KVM_RUN; the
  // signal interrupts a KVM_RUN already in progress. Release: a vCPU thread
  // that consumes this flag also sees the stop/pause request stored before.
  ImmediateExit().store(1, std::memory_order_release);
  if (running_.load()) {
    const pthread_t t = native_.load();
    if (t != pthread_t{}) pthread_kill(t, KickSignal());
  }
}

void VcpuThread::RequestStop() {
  stop_ = true;
  {
    absl::MutexLock lock(&mu_);
    pause_ = false;  // a parked vCPU wakes up to end
  }
  if (started_) Kick();
}

void VcpuThread::Join() {
  if (thread_.joinable()) thread_.join();
}

VcpuThread::JoinResult VcpuThread::JoinUntil(absl::Time deadline) {
  if (!thread_.joinable()) return JoinResult::kJoined;
  auto ended = [this]() { return !running_.load(); };
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&ended), deadline);
  }
  if (ended()) {
    thread_.join();
    return JoinResult::kJoined;
  }
  RunState in_run = RunState::kInKvmRun;
  if (run_state_.compare_exchange_strong(in_run, RunState::kAbandoned)) {
    thread_.detach();
    return JoinResult::kAbandonedInKvmRun;
  }
  // Outside KVM_RUN with stop_ set, a healthy thread is at most one exit
  // handler away from its end (it may have just left KVM_RUN).
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&ended), kOutsideRunGrace);
  }
  if (ended()) {
    thread_.join();
    return JoinResult::kJoined;
  }
  thread_.detach();
  return JoinResult::kAbandonedOutsideKvmRun;
}

void VcpuThread::RequestPause() {
  pause_ = true;
  Kick();
}

bool VcpuThread::WaitParked(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return parked_ || !running_.load();
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout) && parked_;
}

VcpuSnapshot VcpuThread::snapshot() const {
  absl::MutexLock lock(&mu_);
  return snapshot_;
}

void VcpuThread::Resume() {
  absl::MutexLock lock(&mu_);
  pause_ = false;
}

void VcpuThread::Park() {
  VcpuSnapshot snap;
  snap.vcpu = vcpu_->index();
  snap.parked = true;
  if (auto regs = vcpu_->GetRegs(); regs.ok()) {
    snap.regs = *regs;
  } else {
    snap.error = std::string(regs.status().message());
  }
  if (auto sregs = vcpu_->GetSregs(); sregs.ok()) {
    snap.sregs = *sregs;
  } else {
    snap.error = std::string(sregs.status().message());
  }
  if (auto msrs = vcpu_->GetMsrs(kSnapshotMsrs); msrs.ok()) {
    snap.msrs = *msrs;
  } else {
    snap.error = std::string(msrs.status().message());
  }
  absl::MutexLock lock(&mu_);
  snapshot_ = std::move(snap);
  parked_ = true;
  auto resumed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !pause_.load() || stop_.load();
  };
  mu_.Await(absl::Condition(&resumed));
  parked_ = false;
}

void VcpuThread::Report(VcpuStopReason reason, std::string detail) {
  if (on_stop_) on_stop_({vcpu_->index(), reason, std::move(detail)});
}

void VcpuThread::Loop() {
  native_ = pthread_self();
  host_tid_ = gettid();
  sigset_t kick;
  sigemptyset(&kick);
  sigaddset(&kick, KickSignal());
  pthread_sigmask(kick_blocked_ ? SIG_BLOCK : SIG_UNBLOCK, &kick, nullptr);
  while (!stop_.load()) {
    if (pause_.load()) {
      Park();
      continue;
    }
    run_state_.store(RunState::kInKvmRun);
    const absl::Status s = vcpu_->Run();
    RunState in_run = RunState::kInKvmRun;
    if (!run_state_.compare_exchange_strong(in_run, RunState::kOutside)) {
      // Abandoned by JoinUntil: the owner no longer waits for this thread
      // and may be tearing down the devices and callbacks, so it ends here
      // (this object and the Vcpu are leaked for it).
      host_tid_ = 0;
      running_ = false;
      return;
    }
    if (absl::IsCancelled(s)) {
      // Acquire pairs with Kick(): if this clears a newer kick, the loop
      // condition below sees the request that came with it.
      ImmediateExit().exchange(0, std::memory_order_acq_rel);
      continue;  // kicked: the flags decide what happens next
    }
    if (!s.ok()) {
      Report(VcpuStopReason::kVmmError, std::string(s.message()));
      break;
    }
    exits_.fetch_add(1, std::memory_order_relaxed);
    if (!HandleExit()) break;
  }
  host_tid_ = 0;  // the tid may be reused once this thread is gone
  running_ = false;
  absl::MutexLock lock(&mu_);  // wakes WaitParked callers
}

bool VcpuThread::HandleExit() {
  kvm_run* run = vcpu_->run();
  switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      auto* base = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
      for (uint32_t i = 0; i < run->io.count; ++i) {
        uint8_t* data = base + i * run->io.size;
        if (run->io.direction == KVM_EXIT_IO_OUT) {
          pio_->Write(run->io.port, absl::MakeConstSpan(data, run->io.size));
        } else {
          pio_->Read(run->io.port, absl::MakeSpan(data, run->io.size));
        }
      }
      return true;
    }
    case KVM_EXIT_MMIO:
      if (run->mmio.is_write) {
        mmio_->Write(run->mmio.phys_addr,
                     absl::MakeConstSpan(run->mmio.data, run->mmio.len));
      } else {
        mmio_->Read(run->mmio.phys_addr,
                    absl::MakeSpan(run->mmio.data, run->mmio.len));
      }
      return true;
    case KVM_EXIT_INTR:
      return true;
    case KVM_EXIT_IOAPIC_EOI:
      if (on_eoi_) on_eoi_(run->eoi.vector);
      return true;
    case KVM_EXIT_HLT:
      // Only without an in-kernel LAPIC; ktvm always has one, so a HLT
      // exit means the vCPU halted for good.
      Report(VcpuStopReason::kUnhandledExit, "vCPU halted (KVM_EXIT_HLT)");
      return false;
    case KVM_EXIT_SHUTDOWN: {
      std::string detail = "guest triple-faulted (KVM_EXIT_SHUTDOWN)";
      if (auto regs = vcpu_->GetRegs(); regs.ok()) {
        absl::StrAppendFormat(&detail, " rip=0x%x", regs->rip);
      }
      if (auto sregs = vcpu_->GetSregs(); sregs.ok()) {
        absl::StrAppendFormat(&detail, " cr0=0x%x efer=0x%x cs.l=%d",
                              sregs->cr0, sregs->efer, sregs->cs.l);
      }
      Report(VcpuStopReason::kTripleFault, detail);
      return false;
    }
    case KVM_EXIT_SYSTEM_EVENT:
      if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
        Report(VcpuStopReason::kSystemReset, "guest requested a reset");
      } else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
        Report(VcpuStopReason::kSystemShutdown, "guest powered off");
      } else {
        Report(VcpuStopReason::kUnhandledExit,
               absl::StrFormat("system event type %u", run->system_event.type));
      }
      return false;
    case KVM_EXIT_FAIL_ENTRY:
      Report(VcpuStopReason::kFailEntry,
             absl::StrFormat("hardware entry failure reason 0x%x on cpu %u",
                             run->fail_entry.hardware_entry_failure_reason,
                             run->fail_entry.cpu));
      return false;
    case KVM_EXIT_INTERNAL_ERROR: {
      std::string detail =
          absl::StrFormat("suberror %u%s", run->internal.suberror,
                          run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                              ? " (instruction emulation failed)"
                              : "");
      for (uint32_t i = 0; i < run->internal.ndata && i < 16; ++i) {
        absl::StrAppendFormat(&detail, " data[%u]=0x%x", i,
                              run->internal.data[i]);
      }
      if (auto regs = vcpu_->GetRegs(); regs.ok()) {
        absl::StrAppendFormat(&detail, " rip=0x%x", regs->rip);
      }
      Report(VcpuStopReason::kInternalError, detail);
      return false;
    }
    default:
      Report(VcpuStopReason::kUnhandledExit,
             absl::StrFormat("exit reason %u", run->exit_reason));
      return false;
  }
}

}  // namespace ktvm::vmm
